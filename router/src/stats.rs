//! Counters of the ingest gate, the drain and the spool, for metrics and `status`.
//!
//! All fields are atomics updated on the hot path without locks; [`RouterStats::snapshot`] reads
//! a consistent-enough copy for an exporter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the gate-latency histogram buckets, in microseconds (the last bucket is
/// everything above the last bound).
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A fixed-bucket latency histogram (lock-free).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl LatencyHistogram {
    /// Records one sample.
    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let idx = LATENCY_BOUNDS_US.partition_point(|&bound| bound < us);
        if let Some(bucket) = self.buckets.get(idx) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Per-bucket counts (not cumulative), one more than [`LATENCY_BOUNDS_US`].
    pub fn bucket_counts(&self) -> Vec<u64> {
        self.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of all samples.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us.load(Ordering::Relaxed))
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1); `None` without samples.
    /// Coarse by design: a bucket bound, not an exact sample.
    pub fn quantile_upper_bound(&self, q: f64) -> Option<Duration> {
        let counts = self.bucket_counts();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        // Rank of the quantile sample, 1-based.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let bound = LATENCY_BOUNDS_US.get(i).copied().unwrap_or(u64::MAX);
                return Some(Duration::from_micros(bound));
            }
        }
        None
    }
}

/// Counters shared by the ingest gate, the drain task and the spool.
#[derive(Debug, Default)]
pub struct RouterStats {
    /// Events stored in JetStream straight from `submit` (ack received).
    pub published: AtomicU64,
    /// Publishes whose ack said `duplicate` (already stored under the same id).
    pub deduplicated: AtomicU64,
    /// Events committed to the spool by `submit` (bus down, slow, or spool not empty).
    pub spooled: AtomicU64,
    /// Spooled events republished and acked by the drain.
    pub drained: AtomicU64,
    /// Of those, events that had waited in the spool longer than the stream's duplicate window:
    /// the stream could no longer drop them had it stored them already (a publish whose ack
    /// was lost), so a consumer may see such an event twice and must dedupe on its id.
    pub drained_beyond_window: AtomicU64,
    /// Events refused because the spool was full.
    pub refused: AtomicU64,
    /// Status events that could neither be published nor spooled.
    pub status_dropped: AtomicU64,
    /// Events in the spool now (gauge).
    pub spool_depth: AtomicU64,
    /// Payload bytes in the spool now (gauge).
    pub spool_bytes: AtomicU64,
    /// Time from `submit` to its receipt.
    pub gate_latency: LatencyHistogram,
}

/// A plain copy of [`RouterStats`], for exporters and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// See [`RouterStats::published`].
    pub published: u64,
    /// See [`RouterStats::deduplicated`].
    pub deduplicated: u64,
    /// See [`RouterStats::spooled`].
    pub spooled: u64,
    /// See [`RouterStats::drained`].
    pub drained: u64,
    /// See [`RouterStats::drained_beyond_window`].
    pub drained_beyond_window: u64,
    /// See [`RouterStats::refused`].
    pub refused: u64,
    /// See [`RouterStats::status_dropped`].
    pub status_dropped: u64,
    /// See [`RouterStats::spool_depth`].
    pub spool_depth: u64,
    /// See [`RouterStats::spool_bytes`].
    pub spool_bytes: u64,
    /// Number of gate-latency samples.
    pub receipts: u64,
}

impl RouterStats {
    /// Adds `n` to a counter.
    #[cfg_attr(not(feature = "bus"), allow(dead_code))]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            published: get(&self.published),
            deduplicated: get(&self.deduplicated),
            spooled: get(&self.spooled),
            drained: get(&self.drained),
            drained_beyond_window: get(&self.drained_beyond_window),
            refused: get(&self.refused),
            status_dropped: get(&self.status_dropped),
            spool_depth: get(&self.spool_depth),
            spool_bytes: get(&self.spool_bytes),
            receipts: self.gate_latency.count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_fall_in_the_right_buckets() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile_upper_bound(0.5), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(300));
        }
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(60));
        assert_eq!(h.count(), 100);
        assert_eq!(
            h.quantile_upper_bound(0.5),
            Some(Duration::from_micros(500))
        );
        assert_eq!(h.quantile_upper_bound(0.99), Some(Duration::from_millis(5)));
        assert_eq!(
            h.quantile_upper_bound(1.0),
            Some(Duration::from_micros(u64::MAX))
        );
        assert_eq!(h.bucket_counts().len(), LATENCY_BOUNDS_US.len() + 1);
    }
}
