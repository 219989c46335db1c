//! The backoff schedule, measured on tokio's paused clock: how long each wait really lasts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_backoff::{Backoff, BackoffConfig};
use std::time::Duration;
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `n` waits and returns how long each one took on the (paused) clock.
async fn measured_waits(b: &mut Backoff, n: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        b.wait().await;
        took.push(start.elapsed());
    }
    took
}

#[tokio::test(start_paused = true)]
async fn without_jitter_waits_double_from_initial_to_the_cap() {
    let mut b = Backoff::new(BackoffConfig::new(ms(100), ms(1000)).with_jitter(0.0));
    let took = measured_waits(&mut b, 7).await;
    assert_eq!(
        took,
        [
            ms(100),
            ms(200),
            ms(400),
            ms(800),
            ms(1000),
            ms(1000),
            ms(1000)
        ]
    );
    assert_eq!(b.failures(), 7);
}

#[tokio::test(start_paused = true)]
async fn reset_starts_the_schedule_over() {
    let mut b = Backoff::new(BackoffConfig::new(ms(50), ms(2000)).with_jitter(0.0));
    let first = measured_waits(&mut b, 3).await;
    assert_eq!(first, [ms(50), ms(100), ms(200)]);
    b.reset();
    assert_eq!(b.failures(), 0);
    assert_eq!(measured_waits(&mut b, 2).await, [ms(50), ms(100)]);
}

#[tokio::test(start_paused = true)]
async fn jittered_waits_stay_within_the_band_below_the_ceiling() {
    let cfg = BackoffConfig::new(ms(100), ms(1000)).with_jitter(0.5);
    let mut b = Backoff::new(cfg);
    let took = measured_waits(&mut b, 200).await;
    for (i, d) in took.iter().enumerate() {
        // Independent of `ceiling`: 100 ms doubled i times, capped at 1 s.
        let hi = ms(100u64.saturating_mul(1 << i.min(20)).min(1000));
        assert!(*d <= hi, "wait {i}: {d:?} > {hi:?}");
        assert!(*d >= hi / 2, "wait {i}: {d:?} < half of {hi:?}");
    }
    // The jitter is really random: 200 waits at the cap are not all the same.
    let at_cap: std::collections::HashSet<_> = took[10..].iter().collect();
    assert!(at_cap.len() > 1, "jitter produced one value only");
}

#[tokio::test(start_paused = true)]
async fn jitter_outside_zero_to_one_is_clamped() {
    let mut over = Backoff::new(BackoffConfig::new(ms(100), ms(100)).with_jitter(7.0));
    let mut under = Backoff::new(BackoffConfig::new(ms(100), ms(100)).with_jitter(-1.0));
    for d in measured_waits(&mut over, 20).await {
        assert!(d <= ms(100));
    }
    assert_eq!(measured_waits(&mut under, 3).await, [ms(100); 3]);
}

#[test]
fn many_failures_neither_overflow_nor_exceed_the_cap() {
    let mut b = Backoff::new(BackoffConfig::default());
    for _ in 0..10_000 {
        assert!(b.next_delay() <= Duration::from_secs(30));
    }
    let huge =
        BackoffConfig::new(Duration::from_secs(u64::MAX / 4), Duration::MAX).with_jitter(0.0);
    assert_eq!(huge.ceiling(u32::MAX), Duration::MAX);
    assert_eq!(BackoffConfig::default().ceiling(0), ms(200));
    assert_eq!(BackoffConfig::default().ceiling(1), ms(200));
}

#[test]
fn the_default_is_200_ms_doubling_to_30_s_with_30_percent_jitter() {
    let d = BackoffConfig::default();
    assert_eq!(
        (d.initial, d.max, d.jitter),
        (ms(200), Duration::from_secs(30), 0.3)
    );
}
