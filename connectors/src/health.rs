//! Per-instrument link health: counters for metrics and status events.
//!
//! One [`LinkHealth`] lives as long as the connector; it survives reconnects. Readers (metrics
//! exporter, status reporter) take a [`HealthSnapshot`] at any time.

use crate::link::LinkCounters;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shared, lock-free health counters of one instrument link.
#[derive(Debug, Clone, Default)]
pub struct LinkHealth {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    naks_sent: AtomicU64,
    naks_received: AtomicU64,
    retransmits: AtomicU64,
    checksum_errors: AtomicU64,
    timeouts: AtomicU64,
    reconnects: AtomicU64,
    connections: AtomicU64,
    messages: AtomicU64,
    rejected: AtomicU64,
    ingest_failures: AtomicU64,
    last_message_unix_ms: AtomicU64,
    connected: AtomicU64,
    noise_suppressed: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// NAKs (or HL7 negative acks) labwire sent.
    pub naks_sent: u64,
    /// NAKs the instrument sent.
    pub naks_received: u64,
    /// Frames labwire retransmitted.
    pub retransmits: u64,
    /// Frames with bad checksums or frame numbers.
    pub checksum_errors: u64,
    /// Protocol timer expiries, idle timeouts and write timeouts.
    pub timeouts: u64,
    /// Connections after the first one.
    pub reconnects: u64,
    /// Connections established (the first one included).
    pub connections: u64,
    /// Messages made durable and acknowledged.
    pub messages: u64,
    /// Inputs rejected (garbage, over-long, undecodable).
    pub rejected: u64,
    /// Messages that could not be made durable (the instrument was made to resend).
    pub ingest_failures: u64,
    /// Unix time in ms of the last acknowledged message, 0 if none yet.
    pub last_message_unix_ms: u64,
    /// Whether a connection is live now.
    pub connected: bool,
    /// How many connections are live now (more than one only on HL7 listeners).
    pub live_connections: u64,
    /// Noise events (connection churn, refused peers, rejected input) not published because
    /// the instrument's noise budget was spent (see `StatusReporter`).
    pub noise_suppressed: u64,
}

impl HealthSnapshot {
    /// Milliseconds since the last acknowledged message, `None` if there was none.
    pub fn last_message_age_ms(&self, now_unix_ms: u64) -> Option<u64> {
        (self.last_message_unix_ms != 0)
            .then(|| now_unix_ms.saturating_sub(self.last_message_unix_ms))
    }
}

impl LinkHealth {
    /// Fresh counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads all counters.
    pub fn snapshot(&self) -> HealthSnapshot {
        let i = &self.inner;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HealthSnapshot {
            naks_sent: l(&i.naks_sent),
            naks_received: l(&i.naks_received),
            retransmits: l(&i.retransmits),
            checksum_errors: l(&i.checksum_errors),
            timeouts: l(&i.timeouts),
            reconnects: l(&i.reconnects),
            connections: l(&i.connections),
            messages: l(&i.messages),
            rejected: l(&i.rejected),
            ingest_failures: l(&i.ingest_failures),
            last_message_unix_ms: l(&i.last_message_unix_ms),
            connected: l(&i.connected) != 0,
            live_connections: l(&i.connected),
            noise_suppressed: l(&i.noise_suppressed),
        }
    }

    /// Adds the growth of a link's own counters since `before`.
    pub(crate) fn add_link_delta(&self, before: LinkCounters, now: LinkCounters) {
        let i = &self.inner;
        let add = |a: &AtomicU64, new: u64, old: u64| {
            a.fetch_add(new.saturating_sub(old), Ordering::Relaxed);
        };
        add(&i.naks_sent, now.naks_sent, before.naks_sent);
        add(&i.naks_received, now.naks_received, before.naks_received);
        add(&i.retransmits, now.retransmits, before.retransmits);
        add(
            &i.checksum_errors,
            now.checksum_errors,
            before.checksum_errors,
        );
        add(&i.timeouts, now.timeouts, before.timeouts);
    }

    pub(crate) fn message(&self) {
        self.inner.messages.fetch_add(1, Ordering::Relaxed);
        let ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
        self.inner.last_message_unix_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn noise_suppressed(&self) {
        self.inner.noise_suppressed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self) {
        self.inner.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ingest_failure(&self) {
        self.inner.ingest_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn timeout(&self) {
        self.inner.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reconnect(&self) {
        self.inner.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection went up (`true`) or down (`false`); several may be live at once on an HL7
    /// listener, so `connected` counts them.
    pub(crate) fn set_connected(&self, up: bool) {
        if up {
            self.inner.connections.fetch_add(1, Ordering::Relaxed);
            self.inner.connected.fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = self
                .inner
                .connected
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }
}
