//! Status events: connection up/down, link timeouts, refused peers.
//!
//! Reporting never blocks the link: states go through a bounded queue to a task that publishes
//! them through the ingest. When the queue is full (the bus is down and the instrument flaps),
//! states are dropped and counted, not buffered without bound.
//!
//! **Noise budget** (issue 9 item 7). Connection churn and refused peers ([`NOISE_STATES`]) are
//! rate-limited per instrument by a token bucket ([`NOISE_BURST`] at once, then one per
//! [`NOISE_REFILL`]), so a peer that connects and disconnects 1 000 times cannot fill the
//! spool and the `LAB` stream with status events and crowd out results. Suppressed ones are
//! counted ([`StatusReporter::suppressed`], per state; `labwire_link_noise_suppressed_total`)
//! and summarised in one status event per [`NOISE_SUMMARY_WINDOW`]: state
//! [`NOISE_SUMMARY_STATE`], detail `N similar events suppressed (connected 3, disconnected 2)`.
//! `error` events for inputs a link rejected (garbage, frames outside a transfer) share the
//! budget ([`REJECTED_INPUT`]). Other states (alarms, `message-lost`, …) are never limited.

use crate::health::LinkHealth;
use crate::ingest::Ingest;
use labwire_event::{InstrumentId, Protocol, SiteId, Status};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How many status states may wait for the bus (default of [`StatusReporter::spawn`]).
pub const STATUS_QUEUE: usize = 64;

/// How long one status publish may take before it is given up.
pub const STATUS_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Status states that are rate-limited: connection churn and refused peers.
pub const NOISE_STATES: &[&str] = &[
    "connected",
    "disconnected",
    "peer-refused",
    "connect-failed",
    "open-failed",
];

/// Noise status events published at once before the limiter holds back: 10.
pub const NOISE_BURST: u32 = 10;

/// One more noise status event is allowed per this interval (6 s: 10 per minute).
pub const NOISE_REFILL: Duration = Duration::from_secs(6);

/// Suppressed noise is summarised in one status event at most this often: 60 s.
pub const NOISE_SUMMARY_WINDOW: Duration = Duration::from_secs(60);

/// A token bucket on tokio's clock (paused in tests).
#[derive(Debug)]
pub(crate) struct TokenBucket {
    burst: u32,
    refill: Duration,
    tokens: u32,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(burst: u32, refill: Duration, now: Instant) -> Self {
        Self {
            burst,
            refill,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        if !self.refill.is_zero() {
            let elapsed = now.saturating_duration_since(self.last);
            let earned = elapsed.as_nanos() / self.refill.as_nanos().max(1);
            if earned > 0 {
                let earned = u32::try_from(earned).unwrap_or(u32::MAX);
                self.tokens = self.tokens.saturating_add(earned).min(self.burst);
                // Keep the remainder so refills stay on schedule.
                self.last += self.refill * earned.min(self.burst.max(1));
                if self.tokens == self.burst {
                    self.last = now;
                }
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// The status state of the summary of suppressed noise.
pub const NOISE_SUMMARY_STATE: &str = "noise-suppressed";

/// The noise key of an input rejected by a link (garbage, frames outside a transfer, bad
/// checksums): such `error` events share the noise budget.
pub const REJECTED_INPUT: &str = "rejected-input";

#[derive(Debug)]
struct Limiter {
    bucket: TokenBucket,
    /// Suppressed per state since the last summary.
    pending: BTreeMap<String, u64>,
    /// Total suppressed per state, for metrics.
    suppressed: BTreeMap<String, u64>,
}

/// Sends status events for one instrument without blocking (see the module docs).
#[derive(Debug, Clone)]
pub struct StatusReporter {
    tx: mpsc::Sender<Status>,
    dropped: Arc<AtomicU64>,
    limiter: Arc<Mutex<Limiter>>,
    health: Option<LinkHealth>,
}

impl StatusReporter {
    /// Starts the publishing task; it ends when every reporter clone is dropped.
    pub fn spawn<I: Ingest>(
        ingest: I,
        site: SiteId,
        instrument: InstrumentId,
        protocol: Protocol,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Status>(STATUS_QUEUE);
        let limiter = Arc::new(Mutex::new(Limiter {
            bucket: TokenBucket::new(NOISE_BURST, NOISE_REFILL, Instant::now()),
            pending: BTreeMap::new(),
            suppressed: BTreeMap::new(),
        }));
        let summaries = Arc::clone(&limiter);
        tokio::spawn(async move {
            let publish = |status: Status| {
                let ev = labwire_router::status_event(
                    &site,
                    &instrument,
                    protocol,
                    &status.state,
                    status.detail,
                );
                let ingest = &ingest;
                let instrument = &instrument;
                async move {
                    match tokio::time::timeout(STATUS_PUBLISH_TIMEOUT, ingest.submit(vec![ev]))
                        .await
                    {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!(%instrument, error = %e, "status event lost"),
                        Err(_) => tracing::warn!(%instrument, "status event timed out"),
                    }
                }
            };
            let mut next_summary = Instant::now() + NOISE_SUMMARY_WINDOW;
            loop {
                let received = tokio::time::timeout_at(next_summary, rx.recv()).await;
                match received {
                    Ok(Some(status)) => publish(status).await,
                    Ok(None) => break,
                    Err(_) => {}
                }
                if Instant::now() >= next_summary {
                    next_summary = Instant::now() + NOISE_SUMMARY_WINDOW;
                    let pending = match summaries.lock() {
                        Ok(mut l) => std::mem::take(&mut l.pending),
                        Err(_) => BTreeMap::new(),
                    };
                    if let Some(detail) = summary(&pending) {
                        publish(Status {
                            state: NOISE_SUMMARY_STATE.to_owned(),
                            detail: Some(detail),
                        })
                        .await;
                    }
                }
            }
        });
        Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            limiter,
            health: None,
        }
    }

    /// Also counts suppressed noise in `health` (`labwire_link_noise_suppressed_total`).
    pub fn counting_into(mut self, health: LinkHealth) -> Self {
        self.health = Some(health);
        self
    }

    /// Queues a status event; noise states ([`NOISE_STATES`]) only within their budget.
    pub fn report(&self, state: impl Into<String>, detail: Option<String>) {
        let status = Status {
            state: state.into(),
            detail,
        };
        if NOISE_STATES.contains(&status.state.as_str()) && !self.admit_noise(&status.state) {
            tracing::debug!(state = %status.state, "link status suppressed (noise budget)");
            return;
        }
        tracing::info!(state = %status.state, detail = ?status.detail, "link status");
        if self.tx.try_send(status).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// True when a noise event (`state`: one of [`NOISE_STATES`] or [`REJECTED_INPUT`]) may be
    /// published; otherwise counts it as suppressed, for the next summary and the metrics.
    pub fn admit_noise(&self, state: &str) -> bool {
        let Ok(mut l) = self.limiter.lock() else {
            return true;
        };
        if l.bucket.take(Instant::now()) {
            return true;
        }
        *l.pending.entry(state.to_owned()).or_insert(0) += 1;
        *l.suppressed.entry(state.to_owned()).or_insert(0) += 1;
        if let Some(h) = &self.health {
            h.noise_suppressed();
        }
        false
    }

    /// How many states were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Noise status events suppressed by the budget so far, per state.
    pub fn suppressed(&self) -> BTreeMap<String, u64> {
        self.limiter
            .lock()
            .map(|l| l.suppressed.clone())
            .unwrap_or_default()
    }
}

/// `N similar events suppressed (connected 3, disconnected 2)`, or `None` when none were.
fn summary(pending: &BTreeMap<String, u64>) -> Option<String> {
    let total: u64 = pending.values().sum();
    (total > 0).then(|| {
        let each: Vec<String> = pending.iter().map(|(s, n)| format!("{s} {n}")).collect();
        format!("{total} similar events suppressed ({})", each.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryIngest;
    use labwire_event::EventKind;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_a_burst_then_one_per_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, Duration::from_secs(6), t0);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_secs(5)));
        assert!(b.take(t0 + Duration::from_secs(6)));
        assert!(!b.take(t0 + Duration::from_secs(11)));
        assert!(b.take(t0 + Duration::from_secs(12)));
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(600);
        assert_eq!((0..10).filter(|_| b.take(later)).count(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_connects_gives_a_bounded_number_of_events_and_a_summary() {
        let ingest = MemoryIngest::new();
        let status = StatusReporter::spawn(
            ingest.clone(),
            SiteId::new("s").unwrap(),
            InstrumentId::new("i").unwrap(),
            Protocol::Astm,
        );
        for _ in 0..1000 {
            status.report("connected", Some("10.0.0.9:4000".into()));
            status.report("disconnected", None);
            tokio::task::yield_now().await;
        }
        // An alarm is not noise: always published.
        status.report("alarm", Some("door open".into()));
        let suppressed = status.suppressed();
        assert_eq!(
            suppressed.values().sum::<u64>(),
            2000 - u64::from(NOISE_BURST)
        );
        tokio::time::sleep(NOISE_SUMMARY_WINDOW + Duration::from_secs(1)).await;
        let events = ingest.events();
        let states: Vec<(String, Option<String>)> = events
            .iter()
            .filter(|e| e.kind == EventKind::Status)
            .filter_map(|e| e.status.clone())
            .map(|s| (s.state, s.detail))
            .collect();
        assert_eq!(
            states.len(),
            usize::try_from(NOISE_BURST).unwrap() + 2,
            "{states:?}"
        );
        assert!(states.iter().any(|(s, _)| s == "alarm"));
        let summary = states.last().unwrap();
        assert_eq!(summary.0, "noise-suppressed");
        assert_eq!(
            summary.1.as_deref(),
            Some("1990 similar events suppressed (connected 995, disconnected 995)")
        );
    }
}
