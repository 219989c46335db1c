//! Status events: connection up/down, link timeouts, refused peers.
//!
//! Reporting never blocks the link: states go through a bounded queue to a task that publishes
//! them through the ingest. When the queue is full (the bus is down and the instrument flaps),
//! states are dropped and counted, not buffered without bound.

use crate::ingest::Ingest;
use labwire_event::{InstrumentId, Protocol, SiteId, Status};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// How many status states may wait for the bus (default of [`StatusReporter::spawn`]).
pub const STATUS_QUEUE: usize = 64;

/// How long one status publish may take before it is given up.
pub const STATUS_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends status events for one instrument without blocking (see the module docs).
#[derive(Debug, Clone)]
pub struct StatusReporter {
    tx: mpsc::Sender<Status>,
    dropped: Arc<AtomicU64>,
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
        tokio::spawn(async move {
            while let Some(status) = rx.recv().await {
                let ev = labwire_router::status_event(
                    &site,
                    &instrument,
                    protocol,
                    &status.state,
                    status.detail,
                );
                match tokio::time::timeout(STATUS_PUBLISH_TIMEOUT, ingest.submit(vec![ev])).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(%instrument, error = %e, "status event lost"),
                    Err(_) => tracing::warn!(%instrument, "status event timed out"),
                }
            }
        });
        Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues a status event.
    pub fn report(&self, state: impl Into<String>, detail: Option<String>) {
        let status = Status {
            state: state.into(),
            detail,
        };
        tracing::info!(state = %status.state, detail = ?status.detail, "link status");
        if self.tx.try_send(status).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many states were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
