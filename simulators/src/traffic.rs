//! Deterministic traffic: patients, specimens, panels, values flagged against reference ranges,
//! QC runs and host queries, all drawn from one seeded random generator.
//!
//! The same seed, profile, instrument number and start time always give the same sequence of
//! work items and therefore the same message bytes (`rand` `StdRng`, stable within rand 0.9).
//! Names are synthetic. For a PHI-canary test, [`TrafficConfig::canary`] puts a marker into every
//! identifying field (patient id, names, physician, specimen id, comment); see [`Identity`].

use crate::profile::{Profile, TestDef, WireCharset};
use jiff::civil::DateTime;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// Inputs of a traffic generator.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    /// Random seed.
    pub seed: u64,
    /// Number of this instrument within a run (keeps specimen ids unique across instruments).
    pub instrument_index: u32,
    /// Timestamp of the first work item (messages carry times derived from it).
    pub start: DateTime,
    /// When set, every identifying field carries this marker (letters, digits and `-` only).
    pub canary: Option<String>,
}

/// The identifying data of one patient specimen. With a canary, every field below except
/// `birth_date` and `sex` contains the marker.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// Patient id (MRN).
    pub patient_id: String,
    /// Family name.
    pub last_name: String,
    /// Given name.
    pub first_name: String,
    /// Birth date `YYYYMMDD`.
    pub birth_date: String,
    /// `M`, `F` or `U`.
    pub sex: String,
    /// Ordering / attending physician.
    pub physician: String,
    /// A free-text comment about the specimen.
    pub comment: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

/// One measured value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultValue {
    /// Test code (profile menu).
    pub code: String,
    /// Test name.
    pub name: String,
    /// Value as sent.
    pub value: String,
    /// Units.
    pub units: String,
    /// Reference range as sent (`3.9-6.1`), empty for qualitative tests.
    pub range: String,
    /// Abnormal flag: `N`, `L`, `H` or `A`.
    pub flag: String,
}

/// A patient specimen with its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientSample {
    /// Specimen id (barcode), unique within a run.
    pub specimen_id: String,
    /// Who it belongs to.
    pub identity: Identity,
    /// The results.
    pub results: Vec<ResultValue>,
    /// When the tests completed.
    pub completed_at: DateTime,
}

/// A quality-control run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcRun {
    /// Control specimen id, unique within a run.
    pub control_id: String,
    /// Control material lot.
    pub lot: String,
    /// Control level (1, 2, 3).
    pub level: u8,
    /// The results.
    pub results: Vec<ResultValue>,
    /// When the run completed.
    pub completed_at: DateTime,
}

/// A host query: the instrument asks which tests to run on specimens it has just loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWork {
    /// Specimens asked about.
    pub specimen_ids: Vec<String>,
    /// When the query was made.
    pub at: DateTime,
}

/// One unit of work an instrument reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Patient results.
    Patient(PatientSample),
    /// QC results.
    Qc(QcRun),
    /// A host query that expects orders back.
    Query(QueryWork),
}

impl Work {
    /// Specimen / control ids this work is about (the verifier's fallback correlation key).
    pub fn specimen_ids(&self) -> Vec<String> {
        match self {
            Self::Patient(p) => vec![p.specimen_id.clone()],
            Self::Qc(q) => vec![q.control_id.clone()],
            Self::Query(q) => q.specimen_ids.clone(),
        }
    }
}

const LAST_ASCII: &[&str] = &[
    "Smith",
    "Okafor",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Ibrahim",
    "Fischer",
    "Rossi",
    "Kaplan",
    "Mensah",
    "Larsen",
];
const FIRST_ASCII: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noor", "Oskar", "Priya",
];
const LAST_LATIN1: &[&str] = &[
    "Müller",
    "Sánchez",
    "Gonçalves",
    "Øberg",
    "Åström",
    "Ibáñez",
    "Größer",
    "Nuñez",
];
const FIRST_LATIN1: &[&str] = &[
    "José", "Renée", "Zoë", "Søren", "Inês", "Jürgen", "Chloé", "Ángel",
];
const LAST_UTF8_ONLY: &[&str] = &["Dvořák", "Łukasiewicz", "Şahin", "Čapek"];
const PHYSICIANS: &[&str] = &["DR.HOLM", "DR.ABARA", "DR.VEGA", "DR.WEISS"];

/// A deterministic generator of [`Work`] for one instrument.
pub struct Traffic {
    rng: StdRng,
    profile: Profile,
    cfg: TrafficConfig,
    counter: u64,
    now: DateTime,
}

impl Traffic {
    /// A generator for `profile` with `cfg`.
    pub fn new(profile: Profile, cfg: TrafficConfig) -> Self {
        let mixed = cfg
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(cfg.instrument_index));
        Self {
            rng: StdRng::seed_from_u64(mixed),
            now: cfg.start,
            profile,
            cfg,
            counter: 0,
        }
    }

    /// The profile this generator draws from.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The next work item, drawn by the profile's `[traffic]` mix.
    pub fn next_work(&mut self) -> Work {
        let roll: f64 = self.rng.random();
        let mix = &self.profile.traffic;
        if roll < mix.qc_probability {
            Work::Qc(self.next_qc())
        } else if roll < mix.qc_probability + mix.query_probability {
            Work::Query(self.next_query())
        } else {
            Work::Patient(self.next_patient())
        }
    }

    /// The next patient specimen with results.
    pub fn next_patient(&mut self) -> PatientSample {
        let n = self.tick();
        let identity = self.identity(n);
        let specimen_id = self.id_with_prefix("S", n);
        let tests = self.pick_tests();
        let results = tests.iter().map(|t| self.value_for(t, false)).collect();
        PatientSample {
            specimen_id,
            identity,
            results,
            completed_at: self.now,
        }
    }

    /// The next QC run (whole menu, values near the middle of the range).
    pub fn next_qc(&mut self) -> QcRun {
        let n = self.tick();
        let level = self.rng.random_range(1..=3u8);
        let tests = self.profile.tests.clone();
        let results = tests.iter().map(|t| self.value_for(t, true)).collect();
        QcRun {
            control_id: format!("QC{}-{:05}", self.cfg.instrument_index, n),
            lot: format!("LOT{:04}", self.rng.random_range(1000..10_000u32)),
            level,
            results,
            completed_at: self.now,
        }
    }

    /// The next host query, about one or two freshly loaded specimens.
    pub fn next_query(&mut self) -> QueryWork {
        let n = self.tick();
        let count = if self.rng.random_bool(0.2) { 2 } else { 1 };
        let specimen_ids = (0..count)
            .map(|i| self.id_with_prefix("Q", n * 10 + i))
            .collect();
        QueryWork {
            specimen_ids,
            at: self.now,
        }
    }

    fn tick(&mut self) -> u64 {
        self.counter += 1;
        let secs = self.rng.random_range(5..90i64);
        self.now = self
            .now
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap_or(self.now);
        self.counter
    }

    fn id_with_prefix(&self, kind: &str, n: u64) -> String {
        let base = format!(
            "{kind}{:04}{:02}{n:06}",
            self.cfg.seed % 10_000,
            self.cfg.instrument_index % 100
        );
        match &self.cfg.canary {
            Some(marker) => format!("{marker}{base}"),
            None => base,
        }
    }

    fn identity(&mut self, n: u64) -> Identity {
        let (lasts, firsts): (Vec<&str>, Vec<&str>) = match self.profile.charset {
            WireCharset::Ascii => (LAST_ASCII.to_vec(), FIRST_ASCII.to_vec()),
            WireCharset::Latin1 => (
                [LAST_ASCII, LAST_LATIN1].concat(),
                [FIRST_ASCII, FIRST_LATIN1].concat(),
            ),
            WireCharset::Utf8 => (
                [LAST_ASCII, LAST_LATIN1, LAST_UTF8_ONLY].concat(),
                [FIRST_ASCII, FIRST_LATIN1].concat(),
            ),
        };
        let last = lasts.choose(&mut self.rng).copied().unwrap_or("Doe");
        let first = firsts.choose(&mut self.rng).copied().unwrap_or("Alex");
        let physician = PHYSICIANS.choose(&mut self.rng).copied().unwrap_or("DR.X");
        let year = self.rng.random_range(1935..2020);
        let month = self.rng.random_range(1..=12);
        let day = self.rng.random_range(1..=28);
        let sex = ["M", "F", "U"]
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("U")
            .to_owned();
        let birth_date = format!("{year:04}{month:02}{day:02}");
        let patient_id = self.id_with_prefix("P", n);
        match &self.cfg.canary {
            Some(m) => Identity {
                patient_id,
                last_name: format!("{m}LAST"),
                first_name: format!("{m}FIRST"),
                birth_date,
                sex,
                physician: format!("{m}DOC"),
                comment: format!("{m} hemolysed"),
            },
            None => Identity {
                patient_id,
                last_name: last.to_owned(),
                first_name: first.to_owned(),
                birth_date,
                sex,
                physician: physician.to_owned(),
                comment: "hemolysed".to_owned(),
            },
        }
    }

    fn pick_tests(&mut self) -> Vec<TestDef> {
        let menu = &self.profile.tests;
        let max = self.profile.traffic.max_tests_per_specimen;
        if max == 0 || max >= menu.len() {
            return menu.clone();
        }
        let k = self.rng.random_range(1..=max);
        let mut chosen: Vec<usize> =
            rand::seq::index::sample(&mut self.rng, menu.len(), k).into_vec();
        chosen.sort_unstable();
        chosen
            .into_iter()
            .filter_map(|i| menu.get(i).cloned())
            .collect()
    }

    fn value_for(&mut self, t: &TestDef, qc: bool) -> ResultValue {
        let base = ResultValue {
            code: t.code.clone(),
            name: t.name.clone(),
            value: String::new(),
            units: t.units.clone(),
            range: String::new(),
            flag: "N".to_owned(),
        };
        if let Some(normal) = t.qualitative.first() {
            let abnormal = !qc && t.qualitative.len() > 1 && self.rng.random_bool(0.15);
            let value = if abnormal {
                t.qualitative
                    .get(1..)
                    .and_then(|rest| rest.choose(&mut self.rng))
                    .unwrap_or(normal)
            } else {
                normal
            };
            return ResultValue {
                value: value.clone(),
                flag: if abnormal { "A" } else { "N" }.to_owned(),
                ..base
            };
        }
        let low = t.low.unwrap_or(0.0);
        let high = t.high.unwrap_or(low + 1.0).max(low + f64::EPSILON);
        let roll: f64 = self.rng.random();
        let span = high - low;
        let x = if qc {
            low + span * self.rng.random_range(0.35..0.65)
        } else if roll < 0.1 && low > 0.0 {
            low * self.rng.random_range(0.5..0.98)
        } else if roll < 0.2 {
            high + span * self.rng.random_range(0.02..0.8)
        } else {
            low + span * self.rng.random_range(0.0..1.0)
        };
        let d = usize::from(t.decimals);
        let value = format!("{x:.d$}");
        // Flag against the range as the instrument shows it (after rounding).
        let shown: f64 = value.parse().unwrap_or(x);
        let flag = if shown < low {
            "L"
        } else if shown > high {
            "H"
        } else {
            "N"
        };
        ResultValue {
            value,
            range: format!("{low:.d$}-{high:.d$}"),
            flag: flag.to_owned(),
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(seed: u64, canary: Option<&str>) -> TrafficConfig {
        TrafficConfig {
            seed,
            instrument_index: 0,
            start: "2026-11-26T08:00:00".parse().unwrap(),
            canary: canary.map(str::to_owned),
        }
    }

    fn work(profile: &str, seed: u64, n: usize) -> Vec<Work> {
        let p = Profile::load(profile).unwrap();
        let mut t = Traffic::new(p, cfg(seed, None));
        (0..n).map(|_| t.next_work()).collect()
    }

    #[test]
    fn same_seed_same_traffic_other_seed_other_traffic() {
        assert_eq!(work("cobas-c111", 7, 50), work("cobas-c111", 7, 50));
        assert_ne!(work("cobas-c111", 7, 50), work("cobas-c111", 8, 50));
    }

    #[test]
    fn flags_agree_with_the_reference_range() {
        let p = Profile::load("sysmex-xn").unwrap();
        let mut t = Traffic::new(p, cfg(1, None));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            for r in t.next_patient().results {
                let v: f64 = r.value.parse().unwrap();
                let (lo, hi) = r.range.split_once('-').unwrap();
                let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
                let want = if v < lo {
                    "L"
                } else if v > hi {
                    "H"
                } else {
                    "N"
                };
                assert_eq!(r.flag, want, "{r:?}");
                seen.insert(r.flag);
            }
        }
        assert_eq!(
            seen.len(),
            3,
            "normal, low and high values all occur: {seen:?}"
        );
    }

    #[test]
    fn specimen_ids_are_unique_across_instruments() {
        let p = Profile::load("ba400").unwrap();
        let mut ids = std::collections::HashSet::new();
        for idx in 0..3 {
            let mut c = cfg(5, None);
            c.instrument_index = idx;
            let mut t = Traffic::new(p.clone(), c);
            for _ in 0..100 {
                for id in t.next_work().specimen_ids() {
                    assert!(ids.insert(id.clone()), "duplicate {id}");
                }
            }
        }
    }

    #[test]
    fn canary_reaches_every_identifying_field() {
        let p = Profile::load("vision-lf-latin1").unwrap();
        let mut t = Traffic::new(p, cfg(3, Some("CANARY7")));
        let s = t.next_patient();
        let i = &s.identity;
        for f in [
            &i.patient_id,
            &i.last_name,
            &i.first_name,
            &i.physician,
            &i.comment,
            &s.specimen_id,
        ] {
            assert!(f.contains("CANARY7"), "{f}");
        }
    }

    #[test]
    fn latin1_profiles_draw_accented_names() {
        let p = Profile::load("vision-lf-latin1").unwrap();
        let mut t = Traffic::new(p, cfg(3, None));
        let any = (0..100).any(|_| {
            let i = t.next_patient().identity;
            !(i.last_name.is_ascii() && i.first_name.is_ascii())
        });
        assert!(any);
    }
}
