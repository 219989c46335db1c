//! Connecting connectors to the router: the durability gate, host queries and the per-instrument
//! command queue.

use crate::health::LinkHealth;
use crate::ingest::{CommandDelivery, CommandOutcome, Ingest, IngestFailure};
use labwire_event::{Event, QueryReply};
use labwire_router::{CommandQueue, QueryOutcome};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// [`labwire_router::IngestGate`] (durable submit) plus [`labwire_router::Bus::host_query`].
#[derive(Clone)]
pub struct RouterIngest {
    ingest: labwire_router::IngestGate,
    bus: labwire_router::Bus,
    query_timeout: Duration,
}

impl std::fmt::Debug for RouterIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterIngest")
            .field("query_timeout", &self.query_timeout)
            .finish_non_exhaustive()
    }
}

impl RouterIngest {
    /// Connectors' view of a running router, with the router's default host-query timeout.
    pub fn new(router: &labwire_router::Router) -> Self {
        Self {
            ingest: router.ingest(),
            bus: router.bus().clone(),
            query_timeout: labwire_router::query::DEFAULT_QUERY_TIMEOUT,
        }
    }

    /// Changes how long the apps have to answer a host query.
    #[must_use]
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
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
            Err(labwire_router::IngestError::Rejected(labwire_router::BusError::TooLarge {
                size,
                limit,
                ..
            })) => Err(IngestFailure::TooLarge { size, limit }),
            Err(e) => Err(IngestFailure::Unavailable(e.to_string())),
        }
    }

    async fn host_query(&self, query: Event) -> Option<QueryReply> {
        match self.bus.host_query(&query, self.query_timeout).await {
            QueryOutcome::Orders(reply) => Some(reply),
            QueryOutcome::NoOrders(reason) => {
                tracing::info!(instrument = %query.instrument, ?reason, "host query: no orders");
                None
            }
        }
    }
}

/// How often the command pump checks whether the instrument is connected.
const CONNECTED_POLL: Duration = Duration::from_millis(200);

/// Feeds an instrument's durable command queue to its connector
/// ([`crate::ConnectorContext::commands`]).
///
/// A command is pulled only while the instrument is connected, handed to the connector, and
/// acked on the bus only when the instrument took it ([`CommandOutcome::Delivered`]); any failure
/// (or a dropped delivery) offers it again after the queue's retry delay. One command is in
/// flight at a time.
pub fn spawn_command_pump(
    mut queue: CommandQueue,
    health: LinkHealth,
) -> mpsc::Receiver<CommandDelivery> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            while !health.snapshot().connected {
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(CONNECTED_POLL).await;
            }
            let Ok(permit) = tx.reserve().await else {
                return;
            };
            let pending = match queue.next().await {
                Some(Ok(p)) => p,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "command queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                None => return,
            };
            let (done, outcome) = oneshot::channel();
            permit.send(CommandDelivery {
                command: pending.command().clone(),
                done,
            });
            let settled = match outcome.await {
                Ok(CommandOutcome::Delivered) => pending.accepted().await,
                Ok(CommandOutcome::Failed(reason)) => {
                    tracing::info!(%reason, "download failed; offered again later");
                    pending.retry_later().await
                }
                Err(_) => pending.retry_later().await,
            };
            if let Err(e) = settled {
                tracing::warn!(error = %e, "could not settle a command");
            }
        }
    });
    rx
}
