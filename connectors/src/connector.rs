//! The [`Connector`] trait integrators implement to add a protocol, and [`run`], which serves
//! one instrument over one transport until shutdown.

use crate::driver::{Driver, DriverConfig, Ended};
use crate::health::LinkHealth;
use crate::ingest::{CommandDelivery, Ingest};
use crate::link::Link;
use crate::status::StatusReporter;
use crate::transport::{Connection, NoticeSink, Transport, TransportError};
use labwire_event::{Event, InputError, InstrumentId, Origin, Protocol, SiteId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
///
/// A transport that hands out several connections at once ([`Transport::max_connections`],
/// HL7 listeners) has each connection driven in its own task with its own link; downloads go
/// to one connection at a time. Otherwise connections are served one after the other.
pub async fn run<C: Connector, I: Ingest>(
    connector: C,
    mut transport: Transport,
    ctx: ConnectorContext<I>,
) -> Result<(), ConnectorError> {
    let ConnectorContext {
        site,
        instrument,
        ingest,
        commands,
        shutdown,
        config,
        health,
    } = ctx;
    let status = StatusReporter::spawn(
        ingest.clone(),
        site.clone(),
        instrument.clone(),
        connector.protocol(),
    )
    .counting_into(health.clone());
    let notices: NoticeSink = {
        let status = status.clone();
        Arc::new(move |n| status.report(n.state, Some(n.detail)))
    };
    let shared = Arc::new(Shared {
        connector,
        ingest,
        status,
        health,
        config,
        site,
        instrument,
        shutdown,
        first: AtomicBool::new(true),
    });
    if transport.max_connections() > 1 {
        return run_concurrent(shared, transport, notices, commands).await;
    }
    let mut commands = commands;
    loop {
        let conn = tokio::select! {
            () = shared.shutdown.cancelled() => return Ok(()),
            c = transport.next_connection(&notices) => c?,
        };
        let started = tokio::time::Instant::now();
        let ended = shared.serve(conn, &mut commands).await;
        if matches!(ended, Ended::Shutdown) {
            return Ok(());
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return Ok(()),
            () = transport.connection_ended(started.elapsed()) => {}
        }
    }
}

/// Every connection's driver task of a concurrent transport; the command receiver goes to one
/// connection at a time (the first to start while it is free).
async fn run_concurrent<C: Connector, I: Ingest>(
    shared: Arc<Shared<C, I>>,
    mut transport: Transport,
    notices: NoticeSink,
    commands: Option<mpsc::Receiver<CommandDelivery>>,
) -> Result<(), ConnectorError> {
    let commands = Arc::new(tokio::sync::Mutex::new(commands));
    let mut tasks = tokio::task::JoinSet::new();
    let outcome = loop {
        let conn = tokio::select! {
            () = shared.shutdown.cancelled() => break Ok(()),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            c = transport.next_connection(&notices) => match c {
                Ok(c) => c,
                Err(e) => break Err(ConnectorError::from(e)),
            },
        };
        let shared = Arc::clone(&shared);
        let commands = Arc::clone(&commands);
        tasks.spawn(async move {
            match commands.try_lock_owned() {
                Ok(mut held) => shared.serve(conn, &mut held).await,
                Err(_) => shared.serve(conn, &mut None).await,
            }
        });
    };
    // Drivers see the shutdown themselves and report their disconnect; wait for them.
    while tasks.join_next().await.is_some() {}
    outcome
}

/// What every connection of one instrument shares.
struct Shared<C, I> {
    connector: C,
    ingest: I,
    status: StatusReporter,
    health: LinkHealth,
    config: DriverConfig,
    site: SiteId,
    instrument: InstrumentId,
    shutdown: CancellationToken,
    first: AtomicBool,
}

impl<C: Connector, I: Ingest> Shared<C, I> {
    /// Drives one connection with a fresh link until it ends; reports it up and down.
    async fn serve(
        &self,
        conn: Connection,
        commands: &mut Option<mpsc::Receiver<CommandDelivery>>,
    ) -> Ended {
        if !self.first.swap(false, Ordering::Relaxed) {
            self.health.reconnect();
        }
        self.health.set_connected(true);
        self.status.report("connected", Some(conn.peer.clone()));
        let mut link = self
            .connector
            .open_link(tokio::time::Instant::now().into_std());
        let ended = Driver {
            connector: &self.connector,
            ingest: &self.ingest,
            status: &self.status,
            health: &self.health,
            config: &self.config,
            site: &self.site,
            instrument: &self.instrument,
            commands,
            shutdown: &self.shutdown,
        }
        .run(&mut link, conn)
        .await;
        self.health.set_connected(false);
        let s = self.health.snapshot();
        self.status.report(
            "disconnected",
            Some(format!(
                "{ended}; messages={} reconnects={} naks_sent={} naks_received={} timeouts={}",
                s.messages, s.reconnects, s.naks_sent, s.naks_received, s.timeouts
            )),
        );
        ended
    }
}
