//! Change-only reporting: a reading is reported when it moved beyond the point's deadband since
//! the last reported value, or when the keep-alive interval has passed since the last report
//! (so a silent bus can be told from a steady fridge). Time comes from the caller.

use std::time::{Duration, Instant};

/// Tracks the last reported value of one point.
#[derive(Debug, Clone)]
pub struct ChangeFilter {
    deadband: f64,
    keepalive: Duration,
    last: Option<(f64, Instant)>,
}

impl ChangeFilter {
    /// A filter with the point's deadband and the instrument's keep-alive interval.
    pub fn new(deadband: f64, keepalive: Duration) -> Self {
        Self {
            deadband,
            keepalive,
            last: None,
        }
    }

    /// Whether `value` read at `now` is worth reporting: the first reading, a change greater
    /// than the deadband, or the keep-alive is due.
    pub fn is_due(&self, value: f64, now: Instant) -> bool {
        match self.last {
            None => true,
            Some((last, at)) => {
                (value - last).abs() > self.deadband
                    || now.saturating_duration_since(at) >= self.keepalive
            }
        }
    }

    /// Records that `value` was reported at `now`.
    pub fn reported(&mut self, value: f64, now: Instant) {
        self.last = Some((value, now));
    }

    /// Forgets the last report (after the device was down, the next reading is reported).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_within_the_deadband_wait_for_the_keepalive() {
        let t0 = Instant::now();
        let mut f = ChangeFilter::new(0.5, Duration::from_secs(60));
        assert!(f.is_due(4.0, t0));
        f.reported(4.0, t0);
        assert!(!f.is_due(4.5, t0 + Duration::from_secs(1)));
        assert!(f.is_due(4.51, t0 + Duration::from_secs(1)));
        assert!(f.is_due(4.0, t0 + Duration::from_secs(60)));
    }
}
