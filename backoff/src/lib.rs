//! The one retry schedule of labwire: capped exponential backoff with jitter.
//!
//! Everything that tries again after a failure waits by this schedule: reconnecting to an
//! instrument or reopening a serial port (connectors), creating the `LAB` stream and draining
//! the spool (router), opening an instrument's command queue (`labwire run`), and a simulated
//! instrument redialling its host (simulators).
//!
//! After the n-th failed attempt in a row the wait is `min(max, initial · 2ⁿ)`, scaled by a random
//! factor in `[1 − jitter, 1]` so that many parts retrying at once do not do so in lock step.
//! [`Backoff::reset`] starts over after a success. The waits use tokio's clock
//! ([`Backoff::wait`]), so tests run them on the paused clock.

use std::time::Duration;

/// The largest doubling exponent: `initial · 2²⁰` exceeds any sensible cap already, and the
/// shift can never overflow.
const MAX_DOUBLINGS: u32 = 20;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// The first wait (default 200 ms).
    pub initial: Duration,
    /// The longest wait (default 30 s).
    pub max: Duration,
    /// The share of each wait that is random, `0.0..=1.0` (default 0.3); values outside are
    /// clamped.
    pub jitter: f64,
}

impl BackoffConfig {
    /// A schedule from `initial` doubling up to `max`, with the default jitter.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            jitter: DEFAULT_JITTER,
        }
    }

    /// The same schedule with another jitter share (`0.0` makes every wait exact).
    #[must_use]
    pub const fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The wait before the next attempt after `failures` failed attempts in a row, without
    /// jitter: `min(max, initial · 2^(failures − 1))`, and `initial` for `failures == 0`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(MAX_DOUBLINGS);
        self.initial.saturating_mul(1u32 << exp).min(self.max)
    }
}

/// The default share of each wait that is random.
const DEFAULT_JITTER: f64 = 0.3;

impl Default for BackoffConfig {
    fn default() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(30))
    }
}

/// The state of one backoff sequence: how many attempts failed in a row.
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

    /// Records a failed attempt and returns the wait before the next one; each call doubles the
    /// next wait, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let base = self.config.ceiling(self.failures);
        let jitter = self.config.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        base.mul_f64(1.0 - jitter * rand::random::<f64>())
    }

    /// Records a failed attempt and sleeps (on tokio's clock) before the next one.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// How many attempts failed in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The settings of this sequence.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }
}
