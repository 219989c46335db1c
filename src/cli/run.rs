//! `labwire run --config FILE`: run a site (shared conventions §4).
//!
//! Loads and validates the site config (errors → exit 2), sets up logging, serves `/metrics`,
//! `/healthz` and `/readyz`, starts the router (bus, spool, ingest gate, drain) and then the
//! instrument connectors. On SIGTERM or SIGINT it stops accepting, lets work in progress finish
//! and leaves undelivered events in the spool for the next start (exit 0). ASTM and HL7
//! instruments get their connectors (`labwire-connectors`), with order downloads when they
//! take orders; Modbus and serial-line connectors are not built in yet, and such instruments are
//! reported in the log as not served.

use labwire_backoff::{Backoff, BackoffConfig};
use labwire_connectors::transport::Transport;
use labwire_connectors::{
    CommandDelivery, Connector, ConnectorContext, RouterIngest, register_link_metrics,
    run as run_connector, spawn_command_pump,
};
use labwire_router::commands::{CommandOptions, CommandQueue, CommandTarget};
use labwire_router::config::{InstrumentConfig, LogLevel, ProtocolSettings, SiteConfig};
use labwire_router::health::{HealthEndpoint, Readiness};
use labwire_router::metrics::{EventCounters, Metrics, MetricsWriter};
use labwire_router::{Router, logging};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown may take before labwire exits anyway (events still undelivered are safe
/// in the spool).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Retries of opening an instrument's command queue while the bus is not up: 500 ms doubling
/// to 10 s, with jitter.
const COMMAND_QUEUE_RETRY: BackoffConfig =
    BackoffConfig::new(Duration::from_millis(500), Duration::from_secs(10));

/// Arguments of `labwire run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The site configuration file (TOML); see `labwire check-config`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Log one JSON object per line (overrides `[logging] json`).
    #[arg(long)]
    pub log_json: bool,
    /// Log level: error, warn, info, debug, trace (overrides `[logging] level`; `RUST_LOG`
    /// overrides both).
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub log_level: Option<LogLevel>,
}

fn parse_level(s: &str) -> Result<LogLevel, String> {
    match s {
        "error" => Ok(LogLevel::Error),
        "warn" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        "trace" => Ok(LogLevel::Trace),
        _ => Err("expected error, warn, info, debug or trace".to_owned()),
    }
}

/// Why the site stopped with an error.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("{0}")]
    Secret(#[from] labwire_router::config::SecretFileError),
    #[error("starting the router: {0}")]
    Start(#[from] labwire_router::StartError),
    #[error("metrics.listen {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("instrument {0}: {1}")]
    Instrument(String, labwire_connectors::transport::TransportError),
    #[error("waiting for signals: {0}")]
    Signals(std::io::Error),
    #[error("shutdown took longer than {}s; undelivered events stay in the spool", SHUTDOWN_GRACE.as_secs())]
    SlowShutdown,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let mut config = match super::check_config::load_or_report(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.log_json {
        config.logging.json = true;
    }
    if let Some(level) = args.log_level {
        config.logging.level = level;
    }
    if let Err(e) = logging::init(&config.logging) {
        eprintln!("labwire run: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("labwire")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        let signals = watch_signals(shutdown.clone())?;
        let result = serve_site(config, shutdown, None).await;
        signals.abort();
        result
    });
    match result {
        Ok(()) => {
            tracing::info!("labwire stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "labwire stopped with an error");
            ExitCode::from(1)
        }
    }
}

/// Cancels `shutdown` on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
fn watch_signals(shutdown: CancellationToken) -> Result<tokio::task::JoinHandle<()>, RunError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "shutting down: no new connections, finishing work in progress"
        );
        shutdown.cancel();
    }))
}

/// Runs the site until `shutdown` is cancelled. `http_bound` receives the address the
/// metrics endpoint listens on (tests bind port 0).
async fn serve_site(
    config: SiteConfig,
    shutdown: CancellationToken,
    http_bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), RunError> {
    tracing::info!(
        site = %config.site,
        instruments = config.instruments.len(),
        nats = %config.nats.url,
        spool = %config.storage.path.display(),
        "labwire starting"
    );
    let router = Router::start(config.router_options()?).await?;
    let metrics = Metrics::new();
    metrics.register_router(Arc::clone(router.stats()));
    let bus = router.bus().clone();
    metrics.register(move |w: &mut MetricsWriter| {
        w.gauge(
            "labwire_bus_connected",
            "1 while the NATS connection is up.",
            &[],
            if bus.is_connected() { 1.0 } else { 0.0 },
        );
    });

    let tasks = TaskTracker::new();
    if config.metrics.enabled {
        let listener = HealthEndpoint::bind(config.metrics.listen)
            .await
            .map_err(|source| RunError::Bind {
                addr: config.metrics.listen,
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(config.metrics.listen);
        let bus = router.bus().clone();
        let spool = Arc::clone(router.spool());
        let readiness = Arc::new(move || {
            let o = spool.options();
            let stats = bus.stats().snapshot();
            let room = spool.depth() < o.max_rows && stats.spool_bytes < o.max_bytes;
            Readiness::from_parts(bus.is_ready(), room)
        });
        let endpoint = HealthEndpoint::new(metrics.clone(), readiness);
        tasks.spawn(endpoint.serve(listener, shutdown.clone()));
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
        if let Some(tx) = http_bound {
            let _ = tx.send(addr);
        }
    } else {
        tracing::info!("metrics endpoint disabled ([metrics] enabled = false)");
    }

    let mut served = 0usize;
    for i in &config.instruments {
        if !i.enabled {
            tracing::info!(instrument = %i.id, "instrument disabled in the site config");
            continue;
        }
        match start_instrument(&router, &metrics, &config, i, &tasks, &shutdown).await {
            Ok(true) => served += 1,
            Ok(false) => {}
            Err(e) => return Err(RunError::Instrument(i.id.to_string(), e)),
        }
    }
    tracing::info!(site = %config.site, instruments = served, "labwire running");

    shutdown.cancelled().await;
    tasks.close();
    let stop = async {
        tasks.wait().await;
        router.shutdown().await;
    };
    tokio::time::timeout(SHUTDOWN_GRACE, stop)
        .await
        .map_err(|_| RunError::SlowShutdown)
}

/// Starts the connector of one enabled instrument; `Ok(false)` when its protocol has no
/// connector in this build (logged). A `listen` port is bound here, so a port in use stops the
/// start with an error.
async fn start_instrument(
    router: &Router,
    metrics: &Metrics,
    config: &SiteConfig,
    instrument: &InstrumentConfig,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<bool, labwire_connectors::transport::TransportError> {
    use labwire_connectors::site;
    let sends = match &instrument.settings {
        ProtocolSettings::Astm(a) => a.bidirectional,
        ProtocolSettings::Hl7(_) => true,
        ProtocolSettings::Modbus | ProtocolSettings::SerialLine => {
            tracing::warn!(
                instrument = %instrument.id,
                protocol = instrument.protocol().as_str(),
                transport = %instrument.transport,
                "the {} connector is not built into this labwire yet: instrument not served",
                instrument.protocol().as_str()
            );
            return Ok(false);
        }
    };
    let transport = site::transport_for(instrument).await?;
    let start = Start {
        router,
        metrics,
        config,
        instrument,
        tasks,
        shutdown,
        sends,
    };
    match &instrument.settings {
        ProtocolSettings::Hl7(_) => start.spawn(site::hl7_connector_for(instrument), transport),
        _ if site::astm_uses_e1381(instrument) => {
            start.spawn(site::astm_connector_for(instrument), transport);
        }
        _ => start.spawn(site::astm_records_connector_for(instrument), transport),
    }
    tracing::info!(
        instrument = %instrument.id,
        protocol = instrument.protocol().as_str(),
        transport = %instrument.transport,
        downloads = sends,
        "instrument connector started"
    );
    Ok(true)
}

/// What every connector is started with.
struct Start<'a> {
    router: &'a Router,
    metrics: &'a Metrics,
    config: &'a SiteConfig,
    instrument: &'a InstrumentConfig,
    tasks: &'a TaskTracker,
    shutdown: &'a CancellationToken,
    sends: bool,
}

impl Start<'_> {
    fn spawn<C: Connector>(&self, connector: C, transport: Transport) {
        let id = self.instrument.id.clone();
        let ingest = CountingIngest {
            inner: RouterIngest::new(self.router)
                .with_query_timeout(self.instrument.host_query_timeout),
            counters: self.metrics.events().clone(),
        };
        let mut ctx = ConnectorContext::new(self.config.site.clone(), id.clone(), ingest);
        ctx.shutdown = self.shutdown.child_token();
        register_link_metrics(
            self.metrics,
            id.clone(),
            connector.protocol(),
            ctx.health.clone(),
        );
        if self.sends {
            ctx.commands = Some(self.command_feed(connector.protocol(), &ctx));
        }
        self.tasks.spawn(async move {
            if let Err(e) = run_connector(connector, transport, ctx).await {
                tracing::error!(instrument = %id, error = %e, "connector stopped");
            }
        });
    }

    /// Order downloads for the instrument. The command consumer needs the bus, which may not
    /// be up yet: it is opened in the background, retrying, and fed into the connector's
    /// channel once open.
    fn command_feed<I: labwire_connectors::Ingest>(
        &self,
        protocol: labwire_event::Protocol,
        ctx: &ConnectorContext<I>,
    ) -> tokio::sync::mpsc::Receiver<CommandDelivery> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let target = CommandTarget {
            site: self.config.site.clone(),
            instrument: self.instrument.id.clone(),
            protocol,
        };
        let router_bus = self.router.bus().clone();
        let status = self.router.status().clone();
        let health = ctx.health.clone();
        let shutdown = ctx.shutdown.clone();
        self.tasks.spawn(async move {
            let mut retry = Backoff::new(COMMAND_QUEUE_RETRY);
            let queue = loop {
                let opened = CommandQueue::open(
                    &router_bus,
                    status.clone(),
                    target.clone(),
                    CommandOptions::default(),
                );
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = opened => match r {
                        Ok(q) => break q,
                        Err(e) => tracing::debug!(instrument = %target.instrument, error = %e, "command queue not open yet"),
                    },
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = retry.wait() => {}
                }
            };
            tracing::info!(instrument = %target.instrument, "order downloads enabled");
            let mut pump = spawn_command_pump(queue, health);
            loop {
                let delivery = tokio::select! {
                    () = shutdown.cancelled() => return,
                    d = pump.recv() => match d {
                        Some(d) => d,
                        None => return,
                    },
                };
                if tx.send(delivery).await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// The router's ingest gate, counting durable events per instrument and kind for
/// `labwire_events_total`.
#[derive(Clone)]
struct CountingIngest {
    inner: RouterIngest,
    counters: EventCounters,
}

impl labwire_connectors::Ingest for CountingIngest {
    async fn submit(
        &self,
        events: Vec<labwire_event::Event>,
    ) -> Result<(), labwire_connectors::IngestFailure> {
        let kinds: Vec<(labwire_event::InstrumentId, labwire_event::EventKind)> = events
            .iter()
            .map(|e| (e.instrument.clone(), e.kind))
            .collect();
        self.inner.submit(events).await?;
        for (instrument, kind) in &kinds {
            self.counters.record(instrument, *kind);
        }
        Ok(())
    }

    async fn host_query(&self, query: labwire_event::Event) -> Option<labwire_event::QueryReply> {
        self.counters.record(&query.instrument, query.kind);
        self.inner.host_query(query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// One ASTM message from a simulated analyser: ENQ, one frame, EOT; returns the replies.
    async fn send_astm_message(port: u16) -> Vec<u8> {
        use labwire_astm::link::frame::{FrameEnd, FrameNumber, encode_frame};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut replies = Vec::new();
        let mut byte = [0u8; 1];
        s.write_all(&[0x05]).await.unwrap();
        s.read_exact(&mut byte).await.unwrap();
        replies.push(byte[0]);
        let mut frame = Vec::new();
        let text = b"H|\\^&|||c311\rP|1\rO|1|S1||^^^GLU\rR|1|^^^GLU|5.4|mmol/L\rL|1|N\r";
        encode_frame(
            FrameNumber::new_wrapping(1),
            text,
            FrameEnd::Last,
            &mut frame,
        );
        s.write_all(&frame).await.unwrap();
        s.read_exact(&mut byte).await.unwrap();
        replies.push(byte[0]);
        s.write_all(&[0x04]).await.unwrap();
        replies
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_site_without_a_bus_spools_instrument_results_reports_ready_and_stops() {
        let dir = std::env::temp_dir().join(format!("labwire-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let instrument_port = free_port();
        // Nothing listens on port 9 of loopback (discard): the bus stays disconnected.
        let text = format!(
            "site = \"site-a\"\n[nats]\nurl = \"nats://127.0.0.1:9\"\nconnect_timeout = \"200ms\"\n[storage]\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:0\"\n[[instrument]]\nid = \"c311\"\nprotocol = \"astm\"\nlisten = \"127.0.0.1:{instrument_port}\"\n[[instrument]]\nid = \"fridge\"\nprotocol = \"modbus\"\nconnect = \"127.0.0.1:9\"\n",
            dir.join("spool.db").display().to_string()
        );
        let config = SiteConfig::from_toml_str(&text, "site.toml").unwrap();
        let shutdown = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // `Router::start` is not provably `Send` (sqlx's `Acquire` lifetimes), so the site runs
        // on this task next to the checks instead of being spawned.
        let site = serve_site(config, shutdown.clone(), Some(tx));
        let checks = async {
            let addr = tokio::time::timeout(Duration::from_secs(10), rx)
                .await
                .unwrap()
                .unwrap();
            assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200 OK"));
            let ready = get(addr, "/readyz").await;
            assert!(
                ready.ends_with("ready: bus not connected; spooling\n"),
                "{ready}"
            );

            // The analyser gets ACK to its ENQ, and ACK to its frame once the result is
            // durable in the spool.
            assert_eq!(send_astm_message(instrument_port).await, [0x06, 0x06]);
            let metrics = get(addr, "/metrics").await;
            assert!(metrics.contains("\nlabwire_bus_connected 0\n"), "{metrics}");
            // The result, plus status events (instrument connected), wait in the spool.
            let depth: u64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix("labwire_spool_depth "))
                .unwrap()
                .parse()
                .unwrap();
            assert!(depth >= 1, "{metrics}");
            assert!(
                metrics.contains(
                    "\nlabwire_link_messages_total{instrument=\"c311\",protocol=\"astm\"} 1\n"
                ),
                "{metrics}"
            );
            assert!(
                metrics.contains("\nlabwire_events_total{instrument=\"c311\",kind=\"result\"} 1\n"),
                "{metrics}"
            );
            assert!(!metrics.contains("fridge"), "{metrics}");
            shutdown.cancel();
            addr
        };
        let (result, addr) = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(site, checks)
        })
        .await
        .unwrap();
        result.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", instrument_port))
                .await
                .is_err()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
