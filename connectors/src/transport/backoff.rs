//! Capped exponential backoff with jitter, for reconnecting to an instrument or reopening a port.
//!
//! After the n-th failed attempt the wait is `min(max, initial · 2ⁿ)`, scaled by a random factor in
//! `[1 − jitter, 1]` so that many connectors restarting at once do not reconnect in lock step.

use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// The first wait (default 200 ms).
    pub initial: Duration,
    /// The longest wait (default 30 s).
    pub max: Duration,
    /// The share of each wait that is random, `0.0..=1.0` (default 0.3).
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            jitter: 0.3,
        }
    }
}

/// The state of one backoff sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
}

impl Backoff {
    /// A fresh sequence.
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            failures: 0,
        }
    }

    /// The wait before the next attempt; each call doubles the next one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        let base = self
            .config
            .initial
            .saturating_mul(1u32 << exp)
            .min(self.config.max);
        let jitter = self.config.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter * rand::random::<f64>();
        base.mul_f64(factor)
    }

    /// Starts over after a successful, stable connection.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// How many attempts failed in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_within_the_jitter_band() {
        let cfg = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.5,
        };
        let mut b = Backoff::new(cfg);
        let expected = [100u64, 200, 400, 800, 1000, 1000, 1000];
        for ms in expected {
            let d = b.next_delay();
            let hi = Duration::from_millis(ms);
            assert!(d <= hi, "{d:?} > {hi:?}");
            assert!(d >= hi / 2, "{d:?} < half of {hi:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(BackoffConfig::default());
        for _ in 0..1000 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
    }
}
