//! ASTM E1394 (CLSI LIS2-A2) message text for a work item, in a profile's dialect.
//!
//! Record layout (LIS2-A2 §6–§12): `H` header with the dialect's delimiters, then `P`/`O`/`R`
//! (+ `C`) for patient results, `P`/`O`/`R` with action code `Q` and processing id `Q` for QC runs,
//! `Q` for host queries, and `L|1|N`. Records end with the profile's record terminator.

use crate::message::{ExpectedObservation, SimMessage, expected_of, stamp};
use crate::profile::{AstmDialect, Profile, WireProtocol};
use crate::text::{encode, escape_astm};
use crate::traffic::{ResultValue, Work};
use labwire_event::EventKind;

struct Writer<'a> {
    d: [u8; 4],
    dialect: &'a AstmDialect,
    out: String,
}

impl Writer<'_> {
    fn f(&self) -> char {
        char::from(self.d[0])
    }
    fn r(&self) -> char {
        char::from(self.d[1])
    }
    fn c(&self) -> char {
        char::from(self.d[2])
    }
    fn esc(&self, v: &str) -> String {
        escape_astm(v, self.d)
    }
    /// Writes one record from already-escaped fields, dropping trailing empty fields.
    fn record(&mut self, fields: &[String]) {
        let last = fields.iter().rposition(|f| !f.is_empty()).unwrap_or(0);
        let sep = self.f().to_string();
        let joined = fields.get(..=last).unwrap_or(fields).join(&sep);
        self.out.push_str(&joined);
        self.out.push_str(&self.dialect.record_terminator);
    }
    fn test_id(&self, r: &ResultValue) -> String {
        let c = self.c().to_string();
        // The template uses `^` for components; map to the dialect's component delimiter.
        self.dialect
            .test_id
            .replace('^', &c)
            .replace("{code}", &self.esc(&r.code))
            .replace("{name}", &self.esc(&r.name))
    }
    fn header(&mut self, profile: &Profile, control_id: &str, processing: &str, at: &str) {
        let s = &profile.sender;
        let c = self.c();
        let delims: String = self.d.iter().skip(1).map(|b| char::from(*b)).collect();
        let sender = format!(
            "{}{c}{}{c}{}",
            s.name,
            self.esc(&s.version),
            self.esc(&s.serial)
        );
        let fields = [
            "H".to_owned(),
            delims,
            self.esc(control_id),
            String::new(),
            sender,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            "host".to_owned(),
            String::new(),
            processing.to_owned(),
            self.esc(&self.dialect.version),
            at.to_owned(),
        ];
        self.record(&fields);
    }
    fn results(&mut self, results: &[ResultValue], at: &str) {
        for (i, r) in results.iter().enumerate() {
            let flag = if r.flag == "N" && r.range.is_empty() {
                String::new()
            } else {
                r.flag.clone()
            };
            let fields = [
                "R".to_owned(),
                (i + 1).to_string(),
                self.test_id(r),
                self.esc(&r.value),
                self.esc(&r.units),
                self.esc(&r.range),
                flag,
                String::new(),
                "F".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                at.to_owned(),
            ];
            self.record(&fields);
            if self.dialect.result_comments {
                let text = format!("Instrument Flag {}", r.flag);
                self.record(&[
                    "C".into(),
                    "1".into(),
                    "I".into(),
                    self.esc(&text),
                    "I".into(),
                ]);
            }
        }
    }
    fn order(&mut self, specimen: &str, results: &[ResultValue], action: &str, at: &str) {
        let r = self.r().to_string();
        let tests: Vec<String> = results.iter().map(|x| self.test_id(x)).collect();
        let mut fields = vec![String::new(); 27];
        let set = |fields: &mut Vec<String>, i: usize, v: String| {
            if let Some(slot) = fields.get_mut(i) {
                *slot = v;
            }
        };
        set(&mut fields, 0, "O".into());
        set(&mut fields, 1, "1".into());
        set(&mut fields, 2, self.esc(specimen));
        set(&mut fields, 4, tests.join(&r));
        set(&mut fields, 5, "R".into());
        set(&mut fields, 6, at.to_owned());
        set(&mut fields, 7, at.to_owned());
        set(&mut fields, 11, action.to_owned());
        set(&mut fields, 15, self.esc(&self.dialect.specimen_type));
        set(&mut fields, 25, "F".into());
        self.record(&fields);
    }
}

/// Builds the E1394 text for `work`.
pub(crate) fn build(profile: &Profile, work: &Work, seq: u64) -> SimMessage {
    let fallback = crate::profile::AstmDialect {
        delimiters: "|\\^&".into(),
        record_terminator: "\r".into(),
        framing: crate::profile::AstmFraming::SingleFrame,
        max_frame_text: 240,
        version: "LIS2-A2".into(),
        test_id: "^^^{code}".into(),
        result_comments: false,
        specimen_type: String::new(),
    };
    let dialect = profile.astm.as_ref().unwrap_or(&fallback);
    let d = profile.astm_delimiters().unwrap_or(*b"|\\^&");
    let mut w = Writer {
        d,
        dialect,
        out: String::new(),
    };
    let control_id = format!("{seq}");
    let (kind, expected): (EventKind, Vec<ExpectedObservation>) = match work {
        Work::Patient(p) => {
            let at = stamp(p.completed_at);
            w.header(profile, &control_id, "P", &at);
            let i = &p.identity;
            let c = w.c();
            let name = format!("{}{c}{}", w.esc(&i.last_name), w.esc(&i.first_name));
            let mut fields = vec![String::new(); 14];
            for (idx, v) in [
                (0, "P".to_owned()),
                (1, "1".to_owned()),
                (2, w.esc(&i.patient_id)),
                (5, name),
                (7, i.birth_date.clone()),
                (8, i.sex.clone()),
                (13, w.esc(&i.physician)),
            ] {
                if let Some(slot) = fields.get_mut(idx) {
                    *slot = v;
                }
            }
            w.record(&fields);
            w.order(&p.specimen_id, &p.results, "N", &at);
            let comment = w.esc(&i.comment);
            w.record(&["C".into(), "1".into(), "L".into(), comment, "G".into()]);
            w.results(&p.results, &at);
            (EventKind::Result, expected_of(&p.results))
        }
        Work::Qc(q) => {
            let at = stamp(q.completed_at);
            w.header(profile, &control_id, "Q", &at);
            w.record(&["P".into(), "1".into()]);
            w.order(&q.control_id, &q.results, "Q", &at);
            let text = format!("QC lot {} level {}", q.lot, q.level);
            let text = w.esc(&text);
            w.record(&["C".into(), "1".into(), "I".into(), text, "G".into()]);
            w.results(&q.results, &at);
            (EventKind::Qc, expected_of(&q.results))
        }
        Work::Query(q) => {
            let at = stamp(q.at);
            w.header(profile, &control_id, "P", &at);
            let c = w.c();
            let r = w.r().to_string();
            let ids: Vec<String> = q
                .specimen_ids
                .iter()
                .map(|s| format!("{c}{}", w.esc(s)))
                .collect();
            let mut fields = vec![String::new(); 13];
            for (idx, v) in [
                (0, "Q".to_owned()),
                (1, "1".to_owned()),
                (2, ids.join(&r)),
                (4, "ALL".to_owned()),
                (12, "O".to_owned()),
            ] {
                if let Some(slot) = fields.get_mut(idx) {
                    *slot = v;
                }
            }
            w.record(&fields);
            (EventKind::Query, Vec::new())
        }
    };
    w.record(&["L".into(), "1".into(), "N".into()]);
    SimMessage {
        protocol: WireProtocol::Astm,
        kind,
        bytes: encode(&w.out, profile.charset),
        control_id,
        specimen_ids: work.specimen_ids(),
        expected,
        event_count: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use crate::traffic::{Traffic, TrafficConfig};

    fn first_patient(profile: &str) -> (Profile, SimMessage) {
        let p = Profile::load(profile).unwrap();
        let mut t = Traffic::new(
            p.clone(),
            TrafficConfig {
                seed: 11,
                instrument_index: 0,
                start: "2026-11-26T08:00:00".parse().unwrap(),
                canary: None,
            },
        );
        let work = Work::Patient(t.next_patient());
        let m = SimMessage::build(&p, &work, 1);
        (p, m)
    }

    #[test]
    fn header_carries_the_dialect_delimiters() {
        for (profile, head) in [
            ("cobas-c111", &b"H|\\^&|1|"[..]),
            ("erba-xl", b"H|`^&|1|"),
            ("genexpert", b"H|@^\\|1|"),
        ] {
            let (_, m) = first_patient(profile);
            assert!(
                m.bytes.starts_with(head),
                "{profile}: {:?}",
                String::from_utf8_lossy(&m.bytes)
            );
            assert!(m.bytes.ends_with(b"L|1|N\r"));
        }
    }

    #[test]
    fn lf_profile_terminates_records_with_lf_and_writes_latin1() {
        let (_, m) = first_patient("vision-lf-latin1");
        assert!(!m.bytes.contains(&b'\r'));
        assert_eq!(
            m.bytes.iter().filter(|b| **b == b'\n').count(),
            7,
            "H P O C R R L"
        );
        assert!(m.bytes.ends_with(b"L|1|N\n"));
    }

    #[test]
    fn sysmex_test_ids_repeat_with_the_repeat_delimiter() {
        let (_, m) = first_patient("sysmex-xn");
        let text = String::from_utf8(m.bytes).unwrap();
        assert!(text.contains("|^^^^WBC^1\\^^^^RBC^1\\"), "{text}");
        assert!(text.contains("\rR|1|^^^^WBC^1|"), "{text}");
    }
}
