//! The production [`Ingest`]: the router's durability gate and the bus's request/reply for host
//! queries.

use crate::ingest::{Ingest, IngestFailure};
use labwire_event::{Event, QueryReply};

/// [`labwire_router::Ingest`] (durable submit) plus the bus (host queries).
#[derive(Clone)]
pub struct RouterIngest {
    ingest: labwire_router::Ingest,
    bus: labwire_router::Bus,
}

impl std::fmt::Debug for RouterIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterIngest").finish_non_exhaustive()
    }
}

impl RouterIngest {
    /// Connectors' view of a running router.
    pub fn new(router: &labwire_router::Router) -> Self {
        Self {
            ingest: router.ingest(),
            bus: router.bus().clone(),
        }
    }
}

impl Ingest for RouterIngest {
    async fn submit(&self, events: Vec<Event>) -> Result<(), IngestFailure> {
        match self.ingest.submit(events).await {
            Ok(receipt) => {
                tracing::trace!(
                    events = receipt.events(),
                    spooled = receipt.spooled(),
                    "durable"
                );
                Ok(())
            }
            Err(e) => Err(IngestFailure(e.to_string())),
        }
    }

    /// Sends the query event as JSON on `lab.<site>.<instrument>.query` (NATS request/reply,
    /// conventions §2) and reads a [`QueryReply`] back; no responder, a timeout or an
    /// unreadable reply all mean "no information".
    async fn host_query(&self, query: Event) -> Option<QueryReply> {
        let payload = serde_json::to_vec(&query).ok()?;
        let msg = self
            .bus
            .client()
            .request(query.subject(), payload.into())
            .await
            .map_err(|e| tracing::info!(error = %e, "host query not answered"))
            .ok()?;
        serde_json::from_slice(&msg.payload)
            .map_err(|e| tracing::warn!(error = %e, "unreadable host-query reply"))
            .ok()
    }
}
