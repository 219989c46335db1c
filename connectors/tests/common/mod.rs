//! Helpers shared by the connector integration tests.
#![allow(dead_code)]

pub mod astm_instrument;
pub mod hl7_instrument;

use labwire_connectors::transport::{
    BackoffConfig, Connection, OnSecondConnection, TcpServer, TcpServerConfig, Transport,
};
use labwire_connectors::{
    CommandDelivery, CommandOutcome, Connector, ConnectorContext, ConnectorError, DriverConfig,
    Ingest, LinkHealth, MemoryIngest, run,
};
use labwire_event::{COMMAND_SCHEMA, Command, Event, EventKind, InstrumentId, Order, SiteId};
use labwire_router::config::PeerRule;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_serial::SerialStream;
use tokio_util::sync::CancellationToken;

/// One ASTM result message (header, patient, order, result, terminator).
pub const ASTM_RESULT: &[u8] = b"H|\\^&|||c311^1.0|||||||P|LIS2-A2|20261126101500\rP|1||PID1||Doe^John\rO|1|S1||^^^GLU|R\rR|1|^^^GLU|5.4|mmol/L|3.9-6.1|N||F\rL|1|N\r";

pub fn site() -> SiteId {
    SiteId::new("site-a").unwrap()
}

pub fn instrument(name: &str) -> InstrumentId {
    InstrumentId::new(name).unwrap()
}

pub fn fast_backoff() -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        jitter: 0.2,
    }
}

pub fn context<I: Ingest>(ingest: I, name: &str) -> ConnectorContext<I> {
    let mut ctx = ConnectorContext::new(site(), instrument(name), ingest);
    ctx.config = DriverConfig {
        idle_timeout: Some(Duration::from_secs(5)),
        write_timeout: Duration::from_millis(500),
        ingest_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(1),
        read_chunk: 4096,
    };
    ctx
}

/// A transport that opens one fresh pseudo-terminal pair per connection: the connector gets the
/// slave side (what a device path would give), the test gets the master side (the "device").
pub fn pty_transport() -> (Transport, mpsc::Receiver<SerialStream>) {
    let (tx, rx) = mpsc::channel(8);
    let transport = Transport::custom(
        move || {
            let tx = tx.clone();
            async move {
                let (master, slave) = SerialStream::pair().map_err(|e| e.to_string())?;
                tx.send(master).await.map_err(|e| e.to_string())?;
                Ok(Connection::new(Box::new(slave), "pty"))
            }
        },
        fast_backoff(),
    );
    (transport, rx)
}

pub fn states(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Status)
        .filter_map(|e| e.status.as_ref().map(|s| s.state.clone()))
        .collect()
}

pub fn count_state(events: &[Event], state: &str) -> usize {
    states(events).iter().filter(|s| *s == state).count()
}

/// Waits (up to 5 s) until `pred` holds for what the memory ingest stored.
pub async fn wait_until(
    ingest: &MemoryIngest,
    what: &str,
    pred: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    match tokio::time::timeout(Duration::from_secs(5), ingest.wait_for(pred)).await {
        Ok(events) => events,
        Err(_) => panic!(
            "timed out waiting for {what}; got {:#?}",
            summary(&ingest.events())
        ),
    }
}

pub fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{:?} {:?} {:?} {:?}",
                e.kind,
                e.status.as_ref().map(|s| (&s.state, &s.detail)),
                e.error.as_ref().map(|x| (&x.reason, x.offset)),
                e.raw
            )
        })
        .collect()
}

/// A connector running in a task.
pub struct Spawned {
    pub health: LinkHealth,
    pub shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ConnectorError>>,
}

impl Spawned {
    /// Cancels it and checks that it stops promptly and cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .expect("connector stops promptly")
            .unwrap()
            .unwrap();
    }
}

/// Runs `connector` over `transport` in a task.
pub fn spawn<C: Connector, I: Ingest>(
    connector: C,
    transport: Transport,
    ctx: ConnectorContext<I>,
) -> Spawned {
    Spawned {
        health: ctx.health.clone(),
        shutdown: ctx.shutdown.clone(),
        task: tokio::spawn(run(connector, transport, ctx)),
    }
}

/// A TCP server transport on a free loopback port.
pub async fn tcp_server(allow: &[&str], policy: OnSecondConnection) -> (Transport, SocketAddr) {
    let server = TcpServer::bind(TcpServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_peers: allow.iter().map(|p| PeerRule::parse(p).unwrap()).collect(),
        on_second_connection: policy,
        ..TcpServerConfig::new("127.0.0.1:0".parse().unwrap())
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    (Transport::from(server), addr)
}

/// The detail of the first status event with `state`.
pub fn status_detail(events: &[Event], state: &str) -> String {
    events
        .iter()
        .filter_map(|e| e.status.as_ref())
        .find(|s| s.state == state)
        .and_then(|s| s.detail.clone())
        .unwrap_or_else(|| panic!("no {state} status in {:#?}", summary(events)))
}

/// A download of one order as the command pump would hand it over, and where its outcome lands.
pub fn delivery(
    id: &str,
    order: Order,
) -> (
    CommandDelivery,
    tokio::sync::oneshot::Receiver<CommandOutcome>,
) {
    let (done, outcome) = tokio::sync::oneshot::channel();
    let command = Command {
        schema: COMMAND_SCHEMA.into(),
        id: id.into(),
        orders: vec![order],
    };
    (CommandDelivery { command, done }, outcome)
}

/// An ingest that holds every non-status submit until [`GatedIngest::open`] is called, so a test
/// can keep a driver busy at a known point; [`GatedIngest::entered`] says it got there.
#[derive(Clone)]
pub struct GatedIngest {
    pub inner: MemoryIngest,
    open: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    entered: std::sync::Arc<tokio::sync::Semaphore>,
}

impl GatedIngest {
    pub fn new() -> Self {
        Self {
            inner: MemoryIngest::new(),
            open: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
            entered: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }

    /// Lets every held and future submit through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Waits until a submit is held at the gate.
    pub async fn entered(&self) {
        self.entered.acquire().await.unwrap().forget();
    }
}

impl Ingest for GatedIngest {
    async fn submit(&self, events: Vec<Event>) -> Result<(), labwire_connectors::IngestFailure> {
        if events.iter().any(|e| e.kind != EventKind::Status) {
            self.entered.add_permits(1);
            let mut rx = self.open.subscribe();
            let _ = rx.wait_for(|open| *open).await;
        }
        self.inner.submit(events).await
    }

    async fn host_query(&self, query: Event) -> Option<labwire_event::QueryReply> {
        self.inner.host_query(query).await
    }
}

/// A router on `nats` (JetStream + a spool in its dir), once its bus is ready; JetStream acks
/// wait at most 500 ms before the gate spools.
#[cfg(feature = "router")]
pub async fn start_router(nats: &labwire_tests::NatsServer) -> labwire_router::Router {
    use labwire_router::{BusOptions, Router, RouterOptions, SpoolOptions};
    let mut bus = BusOptions::new(nats.url());
    bus.ack_deadline = Duration::from_millis(500);
    let opts = RouterOptions::new(bus, SpoolOptions::new(nats.dir().join("spool.db")));
    let router = Router::start(opts).await.unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while !router.bus().is_ready() {
        assert!(tokio::time::Instant::now() < end, "bus not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    router
}
