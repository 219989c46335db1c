//! The [`Connector`] trait integrators implement to add a protocol, and [`run`], which serves
//! one instrument over one transport until shutdown.

use crate::driver::{Driver, DriverConfig, Ended};
use crate::health::LinkHealth;
use crate::ingest::{CommandDelivery, Ingest};
use crate::link::Link;
use crate::status::StatusReporter;
use crate::transport::{NoticeSink, Transport, TransportError};
use labwire_event::{Event, InputError, InstrumentId, Origin, Protocol, SiteId};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A protocol: how to build a link for a fresh connection and how to turn a message into events.
///
/// Implement this (plus a [`Link`]) to add a protocol; the transports, the driver loop, the
/// durability gate, status events and health counters come for free. See
/// `docs/adding-a-connector.md` and `connectors/examples/serial_balance.rs`.
pub trait Connector: Send + Sync + 'static {
    /// The link state machine adapter.
    type Link: Link;

    /// The protocol tag of the events.
    fn protocol(&self) -> Protocol;

    /// A new link for a new connection (all link state starts fresh on reconnect).
    fn open_link(&self, now: Instant) -> Self::Link;

    /// Maps one complete message to canonical events. An `Err` is published as an `error`
    /// event and answered with [`Link::refuse`].
    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError>;
}

/// What [`run`] needs besides the connector and the transport.
#[derive(Debug)]
pub struct ConnectorContext<I> {
    /// The site.
    pub site: SiteId,
    /// The instrument this connector serves.
    pub instrument: InstrumentId,
    /// The durability gate.
    pub ingest: I,
    /// Downloads from the instrument's `cmd` consumer, if the instrument takes orders.
    pub commands: Option<mpsc::Receiver<CommandDelivery>>,
    /// Cancel to stop the connector.
    pub shutdown: CancellationToken,
    /// Deadlines.
    pub config: DriverConfig,
    /// Health counters (clone it before calling [`run`] to read them).
    pub health: LinkHealth,
}

impl<I: Ingest> ConnectorContext<I> {
    /// A context with default deadlines, fresh counters and no downloads.
    pub fn new(site: SiteId, instrument: InstrumentId, ingest: I) -> Self {
        Self {
            site,
            instrument,
            ingest,
            commands: None,
            shutdown: CancellationToken::new(),
            config: DriverConfig::default(),
            health: LinkHealth::new(),
        }
    }
}

/// Why [`run`] stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The transport can no longer produce connections.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Serves one instrument: connect (or accept, or open), drive the link, report status, reconnect;
/// until `ctx.shutdown` is cancelled.
pub async fn run<C: Connector, I: Ingest>(
    connector: C,
    mut transport: Transport,
    ctx: ConnectorContext<I>,
) -> Result<(), ConnectorError> {
    let ConnectorContext {
        site,
        instrument,
        ingest,
        mut commands,
        shutdown,
        config,
        health,
    } = ctx;
    let status = StatusReporter::spawn(
        ingest.clone(),
        site.clone(),
        instrument.clone(),
        connector.protocol(),
    );
    let notices: NoticeSink = {
        let status = status.clone();
        Arc::new(move |n| status.report(n.state, Some(n.detail)))
    };
    let mut first = true;
    loop {
        let conn = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            c = transport.next_connection(&notices) => c?,
        };
        if !first {
            health.reconnect();
        }
        first = false;
        health.set_connected(true);
        status.report("connected", Some(conn.peer.clone()));
        let started = tokio::time::Instant::now();
        let mut link = connector.open_link(started.into_std());
        let ended = Driver {
            connector: &connector,
            ingest: &ingest,
            status: &status,
            health: &health,
            config: &config,
            site: &site,
            instrument: &instrument,
            commands: &mut commands,
            shutdown: &shutdown,
        }
        .run(&mut link, conn)
        .await;
        health.set_connected(false);
        let s = health.snapshot();
        status.report(
            "disconnected",
            Some(format!(
                "{ended}; messages={} reconnects={} naks_sent={} naks_received={} timeouts={}",
                s.messages, s.reconnects, s.naks_sent, s.naks_received, s.timeouts
            )),
        );
        if matches!(ended, Ended::Shutdown) {
            return Ok(());
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = transport.connection_ended(started.elapsed()) => {}
        }
    }
}
