//! `status` events: link and instrument state, and the router's own alarms (`spool-full`).
//!
//! Status events are best effort: [`StatusPublisher::report`] never blocks the caller. The event
//! is published durably when the bus is ready and nothing is spooled; otherwise it is spooled
//! (with a small reserve beyond the spool limits, so `spool-full` itself can be queued) and
//! drained in order with the data. If both fail it is counted in `status_dropped` and logged.
//! Deliveries in flight are tracked, so shutdown waits for them ([`StatusPublisher::flush`]):
//! the last status events of a stopping site (links closed, instruments stopped) are durable
//! before the process exits.

use crate::bus::Bus;
use crate::spool::{Headroom, PendingEvent, Spool};
use crate::stats::RouterStats;
use labwire_event::{Event, InstrumentId, Protocol, SiteId};
use std::sync::Arc;
use tokio_util::task::TaskTracker;

/// `state` of the event the router emits when it refuses events because the spool is full.
pub const STATE_SPOOL_FULL: &str = "spool-full";
/// `state` emitted when the spool accepts events again after having been full.
pub const STATE_SPOOL_RECOVERED: &str = "spool-recovered";

pub use crate::status_event::status_event;

/// Publishes status events without ever blocking the caller. Cheap to clone.
#[derive(Clone)]
pub struct StatusPublisher {
    bus: Bus,
    spool: Arc<Spool>,
    stats: Arc<RouterStats>,
    /// Deliveries handed to the background by [`Self::report`].
    in_flight: TaskTracker,
}

impl StatusPublisher {
    /// A reporter publishing on `bus`, falling back to `spool`.
    pub fn new(bus: Bus, spool: Arc<Spool>, stats: Arc<RouterStats>) -> Self {
        Self {
            bus,
            spool,
            stats,
            in_flight: TaskTracker::new(),
        }
    }

    /// Builds and reports a status event (see [`status_event`]).
    pub fn report_state(
        &self,
        site: &SiteId,
        instrument: &InstrumentId,
        protocol: Protocol,
        state: &str,
        detail: Option<String>,
    ) {
        self.report(status_event(site, instrument, protocol, state, detail));
    }

    /// Hands `event` to a background task and returns at once.
    pub fn report(&self, event: Event) {
        let this = self.clone();
        self.in_flight
            .spawn(async move { this.deliver(event).await });
    }

    /// Waits until every status event reported so far is published, spooled or counted as
    /// dropped. Reports made while it waits are waited for too.
    pub async fn flush(&self) {
        self.in_flight.close();
        self.in_flight.wait().await;
        self.in_flight.reopen();
    }

    /// Publishes or spools `event`, waiting for the outcome; returns whether it is durable.
    pub async fn deliver(&self, event: Event) -> bool {
        let Ok(payload) = crate::bus::encode(&event) else {
            RouterStats::add(&self.stats.status_dropped, 1);
            return false;
        };
        let pending = PendingEvent {
            subject: event.subject(),
            id: event.id.to_string(),
            payload,
        };
        if self.spool.is_empty() && self.bus.is_ready() {
            match self
                .bus
                .publish_encoded(&pending.subject, &pending.id, pending.payload.clone())
                .await
            {
                Ok(_) => {
                    RouterStats::add(&self.stats.published, 1);
                    return true;
                }
                Err(e) => tracing::debug!(error = %e, "status publish failed; spooling it"),
            }
        }
        match self.spool.push(&[pending], Headroom::Status).await {
            Ok(_) => {
                RouterStats::add(&self.stats.spooled, 1);
                true
            }
            Err(e) => {
                RouterStats::add(&self.stats.status_dropped, 1);
                tracing::error!(error = %e, id = %event.id, "status event dropped");
                false
            }
        }
    }
}
