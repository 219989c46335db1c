//! Low/high alarms with hysteresis and a minimum duration, fed with readings and the caller's
//! clock (a freezer above −15 °C for 5 minutes is what a lab needs to know; one warm reading
//! while the door was open is not).
//!
//! A reading beyond a limit starts a pending alarm; it is raised at the first reading at or
//! after `delay` while the condition has held at every reading since. A reading back inside
//! the limit before then drops the pending alarm. A raised alarm clears at the first reading
//! inside the limit by more than the hysteresis (`high − hysteresis`, `low + hysteresis`).

use crate::profile::AlarmLimits;
use std::time::Instant;

/// The alarm state of a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmLevel {
    /// Within limits.
    Normal,
    /// Below `low`.
    Low,
    /// Above `high`.
    High,
}

impl AlarmLevel {
    /// The word used in status events (`alarm-low`, `alarm-high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Low => "low",
            Self::High => "high",
        }
    }
}

/// A change of the raised alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmChange {
    /// The alarm was raised at this level.
    Raised(AlarmLevel),
    /// The alarm at this level cleared.
    Cleared(AlarmLevel),
}

/// Tracks one point's alarm.
#[derive(Debug, Clone)]
pub struct AlarmTracker {
    limits: AlarmLimits,
    raised: AlarmLevel,
    pending: Option<(AlarmLevel, Instant)>,
}

impl AlarmTracker {
    /// A tracker in the normal state.
    pub fn new(limits: AlarmLimits) -> Self {
        Self {
            limits,
            raised: AlarmLevel::Normal,
            pending: None,
        }
    }

    /// The currently raised level.
    pub fn level(&self) -> AlarmLevel {
        self.raised
    }

    fn beyond(&self, value: f64) -> AlarmLevel {
        match (self.limits.low, self.limits.high) {
            (_, Some(h)) if value > h => AlarmLevel::High,
            (Some(l), _) if value < l => AlarmLevel::Low,
            _ => AlarmLevel::Normal,
        }
    }

    fn cleared(&self, value: f64) -> bool {
        match self.raised {
            AlarmLevel::Normal => true,
            AlarmLevel::High => self
                .limits
                .high
                .is_none_or(|h| value < h - self.limits.hysteresis),
            AlarmLevel::Low => self
                .limits
                .low
                .is_none_or(|l| value > l + self.limits.hysteresis),
        }
    }

    /// Feeds one reading taken at `now`; returns the changes it causes (a clear and a raise
    /// when the reading jumps from one limit past the other).
    pub fn observe(&mut self, value: f64, now: Instant) -> Vec<AlarmChange> {
        let mut changes = Vec::new();
        if self.raised != AlarmLevel::Normal && self.cleared(value) {
            changes.push(AlarmChange::Cleared(self.raised));
            self.raised = AlarmLevel::Normal;
        }
        let level = self.beyond(value);
        if level == AlarmLevel::Normal || level == self.raised {
            self.pending = None;
            return changes;
        }
        let since = match self.pending {
            Some((l, since)) if l == level => since,
            _ => now,
        };
        if now.saturating_duration_since(since) >= self.limits.delay {
            if self.raised != AlarmLevel::Normal {
                changes.push(AlarmChange::Cleared(self.raised));
            }
            self.raised = level;
            self.pending = None;
            changes.push(AlarmChange::Raised(level));
        } else {
            self.pending = Some((level, since));
        }
        changes
    }
}
