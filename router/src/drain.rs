//! The drain: republishes spooled events to the bus, oldest first, with their original ids.
//!
//! One event at a time, each awaited before the next, so the stream sees them in arrival order;
//! a batch of acked rows is then deleted in one transaction. A crash between ack and delete only
//! means the next run republishes those rows, and the stream's duplicate window drops them. While
//! the bus is down the drain backs off (`labwire-backoff`: doubling up to a limit, with jitter)
//! and wakes early on reconnection. It starts with the router, so a spool left by a previous run
//! is emptied too. Cancelling it (shutdown) stops it at once, even in the middle of a batch.

use crate::bus::Bus;
use crate::error::BusError;
use crate::spool::Spool;
use crate::stats::RouterStats;
use labwire_backoff::{Backoff, BackoffConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Drain tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainOptions {
    /// Rows read from the spool at a time (and deleted together once acked).
    pub batch: u32,
    /// First back-off after a failure.
    pub min_backoff: Duration,
    /// Longest back-off.
    pub max_backoff: Duration,
}

impl Default for DrainOptions {
    fn default() -> Self {
        Self {
            batch: 64,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Runs until `cancel` fires.
pub async fn run(bus: Bus, spool: Arc<Spool>, opts: DrainOptions, cancel: CancellationToken) {
    let mut backoff = Backoff::new(BackoffConfig::new(opts.min_backoff, opts.max_backoff));
    loop {
        if cancel.is_cancelled() {
            return;
        }
        if spool.is_empty() {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = spool.pushed() => continue,
                // Guard against a missed wake-up; cheap.
                () = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        }
        // A batch waits for up to `batch` publish acks: shutdown must not wait for it. Rows
        // acked but not yet deleted when it is dropped are republished by the next run, and the
        // stream's duplicate window drops them.
        let progressed = if bus.is_ready() {
            tokio::select! {
                () = cancel.cancelled() => return,
                r = drain_batch(&bus, &spool, opts.batch) => r,
            }
        } else {
            Ok(false)
        };
        match progressed {
            Ok(true) => backoff.reset(),
            Ok(false) | Err(()) => {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = bus.reconnected() => {}
                    () = backoff.wait() => {}
                }
            }
        }
    }
}

/// Publishes up to `batch` of the oldest events and deletes the acked prefix.
/// `Ok(true)` when every event of the batch was acked.
async fn drain_batch(bus: &Bus, spool: &Spool, batch: u32) -> Result<bool, ()> {
    let rows = spool.peek(batch).await.map_err(|e| {
        tracing::error!(error = %e, "drain cannot read the spool");
    })?;
    let mut acked_through = None;
    let mut all = true;
    let window = bus.options().stream.duplicate_window;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut beyond_window = 0u64;
    for row in &rows {
        let e = &row.event;
        match bus
            .publish_encoded(&e.subject, &e.id, e.payload.clone())
            .await
        {
            Ok(_) => {
                acked_through = Some(row.seq);
                if outlived_window(row.spooled_at_ms, now_ms, window) {
                    beyond_window += 1;
                }
            }
            Err(err) => {
                if let BusError::TooLarge { .. } = err {
                    tracing::error!(id = %e.id, "spooled event larger than the server accepts; drain blocked");
                } else {
                    tracing::debug!(error = %err, id = %e.id, "drain publish failed; backing off");
                }
                all = false;
                break;
            }
        }
    }
    if let Some(seq) = acked_through {
        let removed = spool.remove_through(seq).await.map_err(|e| {
            tracing::error!(error = %e, "drain cannot delete acked rows; they will be republished");
        })?;
        RouterStats::add(&bus.stats().drained, removed);
    }
    if beyond_window > 0 {
        RouterStats::add(&bus.stats().drained_beyond_window, beyond_window);
        tracing::warn!(
            events = beyond_window,
            duplicate_window = ?window,
            "republished spooled events older than the stream's duplicate window: the stream \
             cannot drop a repeat of these, so a consumer may see one twice (dedupe on the \
             event id; labwire_events_drained_beyond_window_total)"
        );
    }
    Ok(all)
}

/// True when an event spooled at `spooled_at_ms` has waited longer than the stream's duplicate
/// window by `now_ms`. A clock that went backwards counts as no wait.
fn outlived_window(spooled_at_ms: i64, now_ms: i64, window: Duration) -> bool {
    let waited = u64::try_from(now_ms.saturating_sub(spooled_at_ms)).unwrap_or(0);
    u128::from(waited) > window.as_millis()
}

#[cfg(test)]
mod tests {
    use super::outlived_window;
    use std::time::Duration;

    #[test]
    fn only_a_wait_longer_than_the_window_counts() {
        let day = Duration::from_secs(86_400);
        let day_ms = 86_400_000;
        assert!(!outlived_window(0, day_ms, day));
        assert!(outlived_window(0, day_ms + 1, day));
        assert!(!outlived_window(5_000, 1_000, day), "clock went backwards");
    }
}
