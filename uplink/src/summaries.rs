//! Period summaries: QC statistics and result volumes per UTC hour, built when the hour closes.
//!
//! Inputs are typed samples: an instrument id from the site config, a [`TestCode`] and, for QC
//! only, a [`QcSample`] whose fields passed [`crate::code`] and whose value is a plain decimal
//! number ([`QcSample::parse`]). A sample that fails is dropped and counted.
//! Patient results contribute a count only: their values are never read. Times are the edge's
//! arrival times, never a time from the message, and every published period starts on the
//! hour.
//!
//! Memory is bounded: at most [`MAX_KEYS`] distinct (instrument, test, level) keys per period;
//! samples for further keys are dropped and counted.

use crate::code::{ControlLevel, InstrumentRef, SiteRef, TestCode, Unit};
use crate::id::seal;
use crate::record::{Body, InstrumentVolume, Period, QcSummary, Record, TestVolume, Volume};
use crate::volume::suppress;
use crate::westgard::{MIN_TARGET_N, Target, evaluate, mean_sd};
use std::collections::BTreeMap;

/// Most distinct keys kept per period (QC and volume each).
pub const MAX_KEYS: usize = 4096;
/// Most QC values kept per key and period.
pub const MAX_QC_VALUES: usize = 1024;
/// The longest numeric QC value text accepted.
pub const MAX_VALUE_LEN: usize = 24;

const HOUR_S: i64 = 3600;

type QcKey = (InstrumentRef, TestCode, Option<ControlLevel>);

#[derive(Debug, Default)]
struct QcSeries {
    unit: Option<Unit>,
    values: Vec<f64>,
}

#[derive(Debug, Default)]
struct Running {
    n: u64,
    sum: f64,
    sum_sq: f64,
}

impl Running {
    fn target(&self) -> Option<Target> {
        if self.n < MIN_TARGET_N {
            return None;
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq - n * mean * mean) / (n - 1.0);
        (var > 0.0).then(|| Target {
            mean,
            sd: var.sqrt(),
        })
    }
}

/// Why a sample did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The test code, unit or level failed its pattern.
    BadCode,
    /// The QC value is not a plain decimal number.
    BadValue,
    /// The period already holds [`MAX_KEYS`] keys, or the key [`MAX_QC_VALUES`] values.
    Full,
}

/// The open period's samples and the established QC targets.
#[derive(Debug)]
pub struct Summaries {
    site: SiteRef,
    min_cell: u64,
    period_start: Option<i64>,
    qc: BTreeMap<QcKey, QcSeries>,
    volume: BTreeMap<(InstrumentRef, TestCode), u64>,
    targets: BTreeMap<QcKey, Running>,
    refused: u64,
}

/// The hour holding `at`, as unix seconds of its start.
fn hour_of(at: jiff::Timestamp) -> i64 {
    at.as_second().div_euclid(HOUR_S) * HOUR_S
}

/// A plain decimal number (`-1.25`, `7`, `+0.5`), bounded; anything else is refused.
fn parse_value(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() || t.len() > MAX_VALUE_LEN {
        return None;
    }
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let mut dots = 0;
    for b in body.bytes() {
        match b {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => return None,
        }
    }
    if dots > 1 || body.is_empty() || body == "." {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl Summaries {
    /// Empty summaries for `site`, suppressing volume cells below `min_cell`.
    pub fn new(site: SiteRef, min_cell: u64) -> Self {
        Self {
            site,
            min_cell,
            period_start: None,
            qc: BTreeMap::new(),
            volume: BTreeMap::new(),
            targets: BTreeMap::new(),
            refused: 0,
        }
    }

    /// Samples refused since start (full; see also [`Summaries::count_refused`]).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Counts a sample refused before it got here (bad code or value).
    pub fn count_refused(&mut self) {
        self.refused += 1;
    }

    /// Closes the open period if `at` is past it, returning its records. A sample dated
    /// before the open period (the clock went back) counts in the open period.
    fn roll(&mut self, at: jiff::Timestamp) -> Vec<Record> {
        let hour = hour_of(at);
        match self.period_start {
            Some(start) if start < hour => {
                let closed = self.close_period();
                self.period_start = Some(hour);
                closed
            }
            Some(_) => Vec::new(),
            None => {
                self.period_start = Some(hour);
                Vec::new()
            }
        }
    }

    /// Counts one patient result (its value is not an input).
    pub fn result(
        &mut self,
        at: jiff::Timestamp,
        instrument: &InstrumentRef,
        test: TestCode,
    ) -> (Vec<Record>, Result<(), Refusal>) {
        let closed = self.roll(at);
        let outcome = self.count_result(instrument, test);
        if outcome.is_err() {
            self.refused += 1;
        }
        (closed, outcome)
    }

    fn count_result(&mut self, instrument: &InstrumentRef, test: TestCode) -> Result<(), Refusal> {
        let key = (instrument.clone(), test);
        if !self.volume.contains_key(&key) && self.volume.len() >= MAX_KEYS {
            return Err(Refusal::Full);
        }
        *self.volume.entry(key).or_insert(0) += 1;
        Ok(())
    }

    /// Adds one QC result.
    pub fn qc(
        &mut self,
        at: jiff::Timestamp,
        instrument: &InstrumentRef,
        sample: QcSample,
    ) -> (Vec<Record>, Result<(), Refusal>) {
        let closed = self.roll(at);
        let outcome = self.add_qc(instrument, sample);
        if outcome.is_err() {
            self.refused += 1;
        }
        (closed, outcome)
    }

    fn add_qc(&mut self, instrument: &InstrumentRef, s: QcSample) -> Result<(), Refusal> {
        let QcSample {
            test,
            level,
            unit,
            value,
        } = s;
        let key = (instrument.clone(), test, level);
        if !self.qc.contains_key(&key) && self.qc.len() >= MAX_KEYS {
            return Err(Refusal::Full);
        }
        let series = self.qc.entry(key).or_default();
        if series.values.len() >= MAX_QC_VALUES {
            return Err(Refusal::Full);
        }
        if series.unit.is_none() {
            series.unit = unit;
        }
        series.values.push(value);
        Ok(())
    }

    /// Closes the open period if `now` is past its end; call it on a timer so a quiet hour is
    /// still published.
    pub fn tick(&mut self, now: jiff::Timestamp) -> Vec<Record> {
        match self.period_start {
            Some(_) => self.roll(now),
            // Nothing observed yet: the first sample opens the first period.
            None => Vec::new(),
        }
    }

    /// Builds the open period's records and starts an empty one.
    fn close_period(&mut self) -> Vec<Record> {
        let Some(start) = self.period_start else {
            return Vec::new();
        };
        let period_start = jiff::Timestamp::from_second(start).unwrap_or_default();
        let period_end = jiff::Timestamp::from_second(start + HOUR_S).unwrap_or_default();
        let mut out = Vec::new();
        for (key, series) in std::mem::take(&mut self.qc) {
            let (mean, sd) = mean_sd(&series.values);
            let running = self.targets.entry(key.clone()).or_default();
            let target = running.target();
            let westgard = target
                .map(|t| evaluate(&series.values, t))
                .unwrap_or_default();
            for v in &series.values {
                running.n += 1;
                running.sum += v;
                running.sum_sq += v * v;
            }
            let (instrument, test, level) = key;
            out.push(seal(
                &self.site,
                period_end,
                Body::Qc(QcSummary {
                    period_start,
                    period: Period::Hour,
                    instrument,
                    test,
                    level,
                    unit: series.unit,
                    n: series.values.len() as u64,
                    mean,
                    sd,
                    target,
                    westgard,
                }),
            ));
        }
        let volume = std::mem::take(&mut self.volume);
        if !volume.is_empty() {
            let mut by_instrument: BTreeMap<InstrumentRef, Vec<(TestCode, u64)>> = BTreeMap::new();
            for ((instrument, test), n) in volume {
                by_instrument.entry(instrument).or_default().push((test, n));
            }
            let instruments = by_instrument
                .into_iter()
                .map(|(instrument, tests)| {
                    let counts: Vec<u64> = tests.iter().map(|(_, n)| *n).collect();
                    let s = suppress(&counts, self.min_cell);
                    InstrumentVolume {
                        instrument,
                        total: s.total,
                        tests: tests
                            .into_iter()
                            .zip(s.cells)
                            .map(|((test, _), count)| TestVolume { test, count })
                            .collect(),
                    }
                })
                .collect();
            out.push(seal(
                &self.site,
                period_end,
                Body::Volume(Volume {
                    period_start,
                    period: Period::Hour,
                    min_cell: self.min_cell,
                    instruments,
                }),
            ));
        }
        out
    }
}

/// One QC result as typed fields (test, level and unit validated, value parsed).
#[derive(Debug, Clone, PartialEq)]
pub struct QcSample {
    /// The test code.
    pub test: TestCode,
    /// The control level, if the message has one in a structured field.
    pub level: Option<ControlLevel>,
    /// The unit, if it passed its pattern (a failing unit is left out, the value still counts).
    pub unit: Option<Unit>,
    /// The value.
    pub value: f64,
}

impl QcSample {
    /// Validates the fields of a QC result as sent.
    pub fn parse(
        test: &str,
        level: Option<&str>,
        unit: Option<&str>,
        value: &str,
    ) -> Result<Self, Refusal> {
        Ok(Self {
            test: TestCode::new(test).map_err(|_| Refusal::BadCode)?,
            level: level
                .map(ControlLevel::new)
                .transpose()
                .map_err(|_| Refusal::BadCode)?,
            unit: unit.and_then(|u| Unit::new(u).ok()),
            value: parse_value(value).ok_or(Refusal::BadValue)?,
        })
    }
}
