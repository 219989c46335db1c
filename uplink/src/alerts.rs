//! When to raise and clear alerts: instrument down/up, device alarms, spool and outbox filling,
//! clock skew. [`Watch`] keeps the state and turns typed inputs into alert transitions, so one
//! condition gives one `raised` record and one `cleared` record, not one per message or tick.
//!
//! Thresholds (documented in docs/uplink.md):
//! - instrument down: an instrument that has been up since start has had no live link for
//!   [`DOWN_AFTER`] (or its device reported `down`); `instrument_up` when it is back;
//! - spool / outbox filling: at or above the configured percent (default
//!   [`crate::service::DEFAULT_ALERT_FILL_PERCENT`]); cleared below it;
//! - clock skew: an instrument's message time differs from the edge clock by at least the
//!   configured threshold (default [`DEFAULT_CLOCK_SKEW`]); cleared when a later message is
//!   within half of it.
//!
//! Memory is bounded by the configured instruments: every map is keyed by an instrument id, and
//! ids come from the site file (the probe) or are refused by [`crate::code`].

use crate::build::InstrumentSnapshot;
use crate::code::InstrumentRef;
use crate::record::{AlertKind, Severity};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// How long an instrument that was up must have no live link before `instrument_down`.
pub const DOWN_AFTER: Duration = Duration::from_secs(60);
/// The clock-skew threshold `labwire run` uses.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// Most instruments whose state is tracked (inputs for further ids are ignored).
pub const MAX_TRACKED: usize = 4096;

/// A device state reported in a `status` event, reduced to a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// The device answers again.
    Up,
    /// The device stopped answering.
    Down,
    /// A device alarm was raised.
    AlarmRaised,
    /// A device alarm was cleared.
    AlarmCleared,
}

/// One alert to publish: what, how urgent, which instrument, its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    /// What.
    pub alert: AlertKind,
    /// How urgent (`info` when a condition clears).
    pub severity: Severity,
    /// The instrument, if any.
    pub instrument: Option<InstrumentRef>,
    /// The number the alert kind defines.
    pub value: Option<i64>,
}

#[derive(Debug, Default)]
struct Link {
    ever_up: bool,
    down_since: Option<Instant>,
    down_alerted: bool,
    device_down: bool,
}

/// The alert state of one site.
#[derive(Debug)]
pub struct Watch {
    fill_percent: u8,
    clock_skew: Duration,
    links: BTreeMap<InstrumentRef, Link>,
    alarmed: BTreeSet<InstrumentRef>,
    skewed: BTreeSet<InstrumentRef>,
    spool_filling: bool,
}

fn percent(used: u64, capacity: u64) -> i64 {
    i64::try_from(used.saturating_mul(100) / capacity.max(1)).unwrap_or(i64::MAX)
}

impl Watch {
    /// A watch raising fill alerts at `fill_percent` and skew alerts at `clock_skew`.
    pub fn new(fill_percent: u8, clock_skew: Duration) -> Self {
        Self {
            fill_percent,
            clock_skew,
            links: BTreeMap::new(),
            alarmed: BTreeSet::new(),
            skewed: BTreeSet::new(),
            spool_filling: false,
        }
    }

    /// Whether a device alarm is raised on `instrument`.
    pub fn alarmed(&self, instrument: &InstrumentRef) -> bool {
        self.alarmed.contains(instrument)
    }

    /// Whether the device reported itself `down` (its link may still be up).
    pub fn device_down(&self, instrument: &InstrumentRef) -> bool {
        self.links.get(instrument).is_some_and(|l| l.device_down)
    }

    fn link(&mut self, instrument: &InstrumentRef) -> Option<&mut Link> {
        if !self.links.contains_key(instrument) && self.links.len() >= MAX_TRACKED {
            return None;
        }
        Some(self.links.entry(instrument.clone()).or_default())
    }

    /// Looks at every instrument's link; call it on a timer.
    pub fn links(&mut self, now: Instant, instruments: &[InstrumentSnapshot]) -> Vec<Raise> {
        let mut out = Vec::new();
        for snap in instruments {
            let Some(link) = self.link(&snap.instrument) else {
                continue;
            };
            if snap.link_up {
                link.ever_up = true;
                link.down_since = None;
                if link.down_alerted && !link.device_down {
                    link.down_alerted = false;
                    out.push(up(&snap.instrument));
                }
                continue;
            }
            if !link.ever_up {
                continue;
            }
            let since = *link.down_since.get_or_insert(now);
            if !link.down_alerted && now.duration_since(since) >= DOWN_AFTER {
                link.down_alerted = true;
                out.push(down(&snap.instrument));
            }
        }
        out
    }

    /// A device state from a `status` event.
    pub fn device(&mut self, instrument: &InstrumentRef, state: DeviceState) -> Vec<Raise> {
        let raise = |alert, severity| Raise {
            alert,
            severity,
            instrument: Some(instrument.clone()),
            value: None,
        };
        match state {
            DeviceState::AlarmRaised => {
                if self.alarmed.len() < MAX_TRACKED && self.alarmed.insert(instrument.clone()) {
                    return vec![raise(AlertKind::DeviceAlarmRaised, Severity::Critical)];
                }
            }
            DeviceState::AlarmCleared => {
                if self.alarmed.remove(instrument) {
                    return vec![raise(AlertKind::DeviceAlarmCleared, Severity::Info)];
                }
            }
            DeviceState::Down => {
                if let Some(link) = self.link(instrument) {
                    link.device_down = true;
                    if !link.down_alerted {
                        link.down_alerted = true;
                        return vec![down(instrument)];
                    }
                }
            }
            DeviceState::Up => {
                if let Some(link) = self.link(instrument) {
                    link.ever_up = true;
                    let was = link.device_down && link.down_alerted;
                    link.device_down = false;
                    if was {
                        link.down_alerted = false;
                        return vec![up(instrument)];
                    }
                }
            }
        }
        Vec::new()
    }

    /// The spool's depth against its capacity (a capacity of 0 means unknown: no alert).
    pub fn spool(&mut self, depth: u64, capacity: u64) -> Vec<Raise> {
        if capacity == 0 {
            return Vec::new();
        }
        let p = percent(depth, capacity);
        let filling = p >= i64::from(self.fill_percent);
        if filling == self.spool_filling {
            return Vec::new();
        }
        self.spool_filling = filling;
        vec![Raise {
            alert: AlertKind::SpoolFilling,
            severity: if filling {
                Severity::Warning
            } else {
                Severity::Info
            },
            instrument: None,
            value: Some(p),
        }]
    }

    /// One message's time against the edge clock, in seconds (message minus edge).
    /// The value sent is rounded to whole minutes.
    pub fn clock(&mut self, instrument: &InstrumentRef, skew_s: i64) -> Vec<Raise> {
        let threshold = i64::try_from(self.clock_skew.as_secs()).unwrap_or(i64::MAX);
        let off = skew_s.unsigned_abs();
        let raised = self.skewed.contains(instrument);
        let (raise, severity) = if !raised && off >= threshold.unsigned_abs() {
            if self.skewed.len() >= MAX_TRACKED {
                return Vec::new();
            }
            self.skewed.insert(instrument.clone());
            (true, Severity::Warning)
        } else if raised && off < threshold.unsigned_abs() / 2 {
            self.skewed.remove(instrument);
            (true, Severity::Info)
        } else {
            (false, Severity::Info)
        };
        if !raise {
            return Vec::new();
        }
        let minutes = (skew_s as f64 / 60.0).round() as i64;
        vec![Raise {
            alert: AlertKind::ClockSkew,
            severity,
            instrument: Some(instrument.clone()),
            value: Some(minutes.saturating_mul(60)),
        }]
    }
}

fn down(instrument: &InstrumentRef) -> Raise {
    Raise {
        alert: AlertKind::InstrumentDown,
        severity: Severity::Critical,
        instrument: Some(instrument.clone()),
        value: None,
    }
}

fn up(instrument: &InstrumentRef) -> Raise {
    Raise {
        alert: AlertKind::InstrumentUp,
        severity: Severity::Info,
        instrument: Some(instrument.clone()),
        value: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::record::{EventCounts, LinkCounts, Protocol};

    fn id(s: &str) -> InstrumentRef {
        InstrumentRef::new(s).unwrap()
    }

    fn snap(s: &str, up: bool) -> InstrumentSnapshot {
        InstrumentSnapshot {
            instrument: id(s),
            protocol: Protocol::Astm,
            link_up: up,
            alarm: false,
            events: EventCounts::default(),
            link: LinkCounts::default(),
            last_message_at: None,
        }
    }

    fn kinds(r: &[Raise]) -> Vec<(AlertKind, Severity)> {
        r.iter().map(|r| (r.alert, r.severity)).collect()
    }

    #[test]
    fn down_is_raised_once_after_the_grace_and_cleared_when_back() {
        let mut w = Watch::new(80, DEFAULT_CLOCK_SKEW);
        let t0 = Instant::now();
        // Never up since start: not an alert (an instrument that connects per message).
        assert!(w.links(t0, &[snap("a", false)]).is_empty());
        assert!(w.links(t0 + DOWN_AFTER * 2, &[snap("a", false)]).is_empty());
        assert!(w.links(t0, &[snap("a", true)]).is_empty());
        let t1 = t0 + Duration::from_secs(1);
        assert!(w.links(t1, &[snap("a", false)]).is_empty());
        assert!(
            w.links(
                t1 + DOWN_AFTER - Duration::from_secs(1),
                &[snap("a", false)]
            )
            .is_empty()
        );
        let r = w.links(t1 + DOWN_AFTER, &[snap("a", false)]);
        assert_eq!(kinds(&r), [(AlertKind::InstrumentDown, Severity::Critical)]);
        assert_eq!(r[0].instrument, Some(id("a")));
        assert!(w.links(t1 + DOWN_AFTER * 3, &[snap("a", false)]).is_empty());
        let r = w.links(t1 + DOWN_AFTER * 4, &[snap("a", true)]);
        assert_eq!(kinds(&r), [(AlertKind::InstrumentUp, Severity::Info)]);
        assert!(w.links(t1 + DOWN_AFTER * 5, &[snap("a", true)]).is_empty());
    }

    #[test]
    fn device_states_raise_and_clear_once() {
        let mut w = Watch::new(80, DEFAULT_CLOCK_SKEW);
        let a = id("fridge-3");
        assert_eq!(
            kinds(&w.device(&a, DeviceState::AlarmRaised)),
            [(AlertKind::DeviceAlarmRaised, Severity::Critical)]
        );
        assert!(w.alarmed(&a));
        assert!(w.device(&a, DeviceState::AlarmRaised).is_empty());
        assert_eq!(
            kinds(&w.device(&a, DeviceState::AlarmCleared)),
            [(AlertKind::DeviceAlarmCleared, Severity::Info)]
        );
        assert!(!w.alarmed(&a));
        assert!(w.device(&a, DeviceState::AlarmCleared).is_empty());
        assert_eq!(
            kinds(&w.device(&a, DeviceState::Down)),
            [(AlertKind::InstrumentDown, Severity::Critical)]
        );
        assert!(w.device_down(&a));
        assert!(w.device(&a, DeviceState::Down).is_empty());
        assert_eq!(
            kinds(&w.device(&a, DeviceState::Up)),
            [(AlertKind::InstrumentUp, Severity::Info)]
        );
        assert!(w.device(&a, DeviceState::Up).is_empty());
    }

    #[test]
    fn spool_filling_at_the_threshold() {
        let mut w = Watch::new(80, DEFAULT_CLOCK_SKEW);
        assert!(w.spool(79, 100).is_empty());
        let r = w.spool(80, 100);
        assert_eq!(kinds(&r), [(AlertKind::SpoolFilling, Severity::Warning)]);
        assert_eq!(r[0].value, Some(80));
        assert!(w.spool(95, 100).is_empty());
        let r = w.spool(10, 100);
        assert_eq!(kinds(&r), [(AlertKind::SpoolFilling, Severity::Info)]);
        assert_eq!(r[0].value, Some(10));
        assert!(w.spool(1_000, 0).is_empty(), "unknown capacity");
    }

    #[test]
    fn clock_skew_with_hysteresis_rounded_to_minutes() {
        let mut w = Watch::new(80, Duration::from_secs(300));
        let a = id("c311");
        assert!(w.clock(&a, 299).is_empty());
        assert!(w.clock(&a, -299).is_empty());
        let r = w.clock(&a, -3_631);
        assert_eq!(kinds(&r), [(AlertKind::ClockSkew, Severity::Warning)]);
        assert_eq!(r[0].value, Some(-3_660));
        assert!(w.clock(&a, 4_000).is_empty(), "already raised");
        assert!(w.clock(&a, 200).is_empty(), "inside the hysteresis band");
        let r = w.clock(&a, 20);
        assert_eq!(kinds(&r), [(AlertKind::ClockSkew, Severity::Info)]);
        assert_eq!(r[0].value, Some(0));
    }
}
