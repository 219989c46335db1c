//! `labwire demo`: the whole path on one machine, on embedded defaults (shared conventions §4).
//!
//! Starts a local `nats-server` with JetStream (unless `--nats-url` is given), the router with
//! its SQLite spool in a temp dir, one labwire connector per simulated instrument (ASTM and HL7
//! instruments of several vendor dialects, cycling through [`PROFILES`]), a small LIS app that
//! answers host queries, and the verifier. Shows a live per-instrument view (refreshed in place
//! on a terminal, a progress line every few seconds otherwise); after `--duration` the
//! instruments stop sending, the demo waits until everything acknowledged is on the bus (or
//! `--drain-timeout`), reads the `LAB` stream back by sequence and ends with the line
//! `sent=N delivered=N lost=N duplicates=N p50_ms=X p99_ms=Y` on stdout.
//!
//! Exit codes: 0 when nothing was lost or duplicated, 1 otherwise (or when the demo could not
//! run: no nats-server, an instrument failed), 2 bad usage. See `docs/demo.md`.

mod lis;
mod nats;
mod view;

use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::transport::{OnSecondConnection, TcpServer, TcpServerConfig, Transport};
use labwire_connectors::{Connector, ConnectorContext, RouterIngest};
use labwire_event::{InstrumentId, SiteId};
use labwire_router::config::parse_duration;
use labwire_router::{BusOptions, Router, RouterOptions, SpoolOptions, StreamPolicy};
use labwire_sim::fault::{DEFAULT_PROBABILITY, FaultPlan};
use labwire_sim::ledger::Ledger;
use labwire_sim::profile::{Profile, WireProtocol};
use labwire_sim::runner::{self, Progress, RunConfig, Target};
use labwire_sim::verify::{self, Collector, Report};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use view::{Frame, Instrument, Phase, Screen};

/// The simulated instruments, cycled through for `--instruments N`: (profile, id prefix).
pub const PROFILES: &[(&str, &str)] = &[
    ("cobas-c111", "c111"),
    ("sysmex-xn", "xn"),
    ("ba400", "ba400"),
    ("genexpert", "gx"),
    ("mindray-cl", "cl"),
    ("erba-xl", "xl"),
];

/// Site id the demo runs as.
const SITE: &str = "demo";

/// Arguments of `labwire demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long the instruments send (`20s`, `2m`, `500ms`).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Number of simulated instruments (cycling through c111, xn, ba400, gx, cl, xl).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub instruments: u32,
    /// Messages per second, all instruments together.
    #[arg(long, default_value_t = 20.0, value_name = "MSG/S")]
    pub rate: f64,
    /// Faults the instruments inject: `none`, `all`, or a comma list (`bad-checksum,lost-ack`).
    #[arg(long, default_value = "none", value_name = "none|all|LIST")]
    pub faults: String,
    /// Probability per message of each listed fault.
    #[arg(long, default_value_t = DEFAULT_PROBABILITY, value_name = "P")]
    pub fault_rate: f64,
    /// Use this NATS server (with JetStream) instead of starting one.
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
    /// Seed for traffic and faults: the same seed sends the same messages.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// After sending stops, how long to wait for the last messages to reach the bus.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    if args.instruments == 0 || args.rate.is_nan() || args.rate <= 0.0 {
        eprintln!("labwire demo: --instruments and --rate must be above 0");
        return ExitCode::from(2);
    }
    let faults = match FaultPlan::load(&args.faults, args.fault_rate, args.seed) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("labwire demo: --faults: {e}");
            return ExitCode::from(2);
        }
    };
    let dir = match nats::TempDir::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("labwire demo: creating a temp dir: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The child lives until this function returns, whatever happens in between.
    let (_server, url) = match &args.nats_url {
        Some(url) => (None, url.clone()),
        None => match nats::start(dir.path()) {
            Ok(child) => {
                let url = child.url();
                (Some(child), url)
            }
            Err(e @ labwire_local_nats::NatsError::NotFound(_)) => {
                eprintln!("labwire demo: {e}, {}", nats::DEMO_HINT);
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("labwire demo: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("labwire-demo")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labwire demo: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let stop = CancellationToken::new();
        let signals = watch_signals(stop.clone());
        let code = demo(&args, faults, &url, dir.path(), stop).await;
        signals.abort();
        code
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

/// Cancels `stop` on Ctrl-C or SIGTERM.
fn watch_signals(stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        stop.cancel();
    })
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("labwire demo: {msg}");
    ExitCode::FAILURE
}

/// One group of instruments of the same profile, each with its own connector address.
struct Group {
    profile: Profile,
    prefix: &'static str,
    addrs: Vec<String>,
}

async fn demo(
    args: &Args,
    faults: FaultPlan,
    url: &str,
    dir: &std::path::Path,
    stop: CancellationToken,
) -> ExitCode {
    let Ok(site) = SiteId::new(SITE) else {
        return fail("bad site id");
    };
    eprintln!(
        "labwire demo: NATS at {}, spool in the demo's temp dir",
        labwire_router::config::redact_url(url)
    );
    // A server given with --nats-url may hold a production stream `LAB`: the demo creates it
    // when missing and otherwise uses it unchanged (never cutting its retention).
    let mut bus = BusOptions::new(url);
    bus.stream.policy = StreamPolicy::UseExisting;
    let router = match Router::start(RouterOptions::new(
        bus,
        SpoolOptions::new(dir.join("spool.db")),
    ))
    .await
    {
        Ok(r) => r,
        Err(e) => return fail(format!("starting the router: {e}")),
    };
    let ready_by = Instant::now() + Duration::from_secs(10);
    while !router.bus().is_ready() {
        if Instant::now() >= ready_by {
            let why = match router.bus().ensure_stream().await {
                Err(e) => e.to_string(),
                Ok(()) => "not connected".to_owned(),
            };
            return fail(format!(
                "the router could not set up JetStream on {}: {why}",
                labwire_router::config::redact_url(url)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = match verify::connect(url).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let lis_counts = Arc::new(lis::LisCounts::default());
    let lis = match lis::spawn(client.clone(), &site, lis_counts.clone()).await {
        Ok(t) => t,
        Err(e) => return fail(format!("LIS app: {e}")),
    };
    let collector = match Collector::subscribe(&client, &site).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };

    // Connectors: one TCP listener per instrument, grouped by profile.
    let mut groups: Vec<Group> = Vec::new();
    let mut instruments: Vec<Instrument> = Vec::new();
    let connectors = CancellationToken::new();
    for n in 0..args.instruments {
        let k = (n as usize) % PROFILES.len();
        let Some((name, prefix)) = PROFILES.get(k) else {
            continue;
        };
        if groups.len() <= k {
            let mut profile = match Profile::load(name) {
                Ok(p) => p,
                Err(e) => return fail(format!("profile {name}: {e}")),
            };
            // Demo timers: a lost ACK costs 3 s, not the standard's 15 s.
            profile.timers.ack_timeout_ms = 3_000;
            profile.timers.busy_retry_ms = 100;
            profile.timers.query_reply_ms = 5_000;
            groups.push(Group {
                profile,
                prefix,
                addrs: Vec::new(),
            });
        }
        let Some(group) = groups.get_mut(k) else {
            continue;
        };
        let id = format!("{prefix}-{}", group.addrs.len() + 1);
        let Ok(instrument) = InstrumentId::new(&id) else {
            return fail(format!("bad instrument id {id}"));
        };
        let started = match group.profile.protocol {
            WireProtocol::Astm => {
                let mut config = AstmConfig::default();
                config.link.receiver_timeout = Duration::from_secs(2);
                start_connector(
                    &router,
                    AstmConnector::new(config),
                    &site,
                    instrument,
                    &connectors,
                )
                .await
            }
            WireProtocol::Hl7 => {
                start_connector(
                    &router,
                    Hl7Connector::new(Hl7Config::default()),
                    &site,
                    instrument,
                    &connectors,
                )
                .await
            }
        };
        match started {
            Ok(addr) => group.addrs.push(addr),
            Err(e) => return fail(format!("{id}: {e}")),
        }
        instruments.push(Instrument {
            id,
            profile: name,
            protocol: match group.profile.protocol {
                WireProtocol::Astm => "astm/tcp",
                WireProtocol::Hl7 => "hl7/mllp",
            },
        });
    }

    // The simulated instruments.
    let ledger = Ledger::new();
    let failures: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let progress: runner::ProgressFn = {
        let failures = failures.clone();
        Arc::new(move |p| {
            if let Progress::Failed { instrument, error } = p {
                eprintln!("labwire demo: {instrument} stopped: {error}");
                *failures
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(instrument.to_string())
                    .or_default() += 1;
            }
        })
    };
    let per_instrument = args.rate / f64::from(args.instruments);
    let mut runs = tokio::task::JoinSet::new();
    for (k, g) in groups.into_iter().enumerate() {
        let cfg = RunConfig {
            site: site.clone(),
            instrument_prefix: g.prefix.to_owned(),
            instruments: u32::try_from(g.addrs.len()).unwrap_or(u32::MAX),
            profile: g.profile,
            target: Target::Connect(g.addrs),
            seed: args.seed.wrapping_add(1_000 * k as u64),
            rate: per_instrument,
            count: None,
            duration: Some(args.duration),
            faults: faults.clone(),
            canary: None,
            start: None,
        };
        runs.spawn(runner::run(cfg, ledger.clone(), progress.clone()));
    }

    let tty = std::io::stdout().is_terminal();
    let began = Instant::now();
    let mut screen = Screen::default();
    let mut last_line = Instant::now();
    let mut phase = Phase::Sending;
    let mut draw = |phase: Phase, screen: &mut Screen, force: bool| {
        let rows = ledger.inspect(|l| collector.inspect(|s| view::rows(l, s)));
        let failures = failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let frame = Frame {
            instruments: &instruments,
            rows: &rows,
            failures: &failures,
            elapsed: began.elapsed().as_secs_f64(),
            duration: args.duration.as_secs_f64(),
            phase,
        };
        let mut out = std::io::stdout().lock();
        if tty {
            // Live frames fit a terminal; the final one shows every instrument.
            let rows = (!force).then_some(view::LIVE_ROWS);
            let _ = out.write_all(screen.draw(&frame.table(rows)).as_bytes());
        } else if force {
            for l in frame.table(None) {
                let _ = writeln!(out, "{l}");
            }
        } else if last_line.elapsed() >= Duration::from_secs(3) {
            let _ = writeln!(out, "{}", frame.progress());
            last_line = Instant::now();
        }
        let _ = out.flush();
    };

    // Sending, then the instruments' last messages.
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut interrupted = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => { interrupted = true; break; }
            r = runs.join_next() => match r {
                Some(Ok(Err(e))) => eprintln!("labwire demo: {e}"),
                Some(_) => {}
                None => break,
            },
            _ = tick.tick() => {
                if phase == Phase::Sending && began.elapsed() >= args.duration {
                    phase = Phase::Draining;
                }
                draw(phase, &mut screen, false);
            }
        }
    }
    if interrupted {
        runs.abort_all();
        connectors.cancel();
        draw(phase, &mut screen, true);
        eprintln!("labwire demo: interrupted");
        return ExitCode::FAILURE;
    }

    // Everything acknowledged must reach the bus.
    let sending_took = began.elapsed();
    let entries = ledger.entries();
    let wait = collector.wait_for(&entries, args.drain_timeout);
    tokio::pin!(wait);
    let core = loop {
        tokio::select! {
            () = stop.cancelled() => {
                connectors.cancel();
                eprintln!("labwire demo: interrupted");
                return ExitCode::FAILURE;
            }
            r = &mut wait => break r,
            _ = tick.tick() => draw(Phase::Draining, &mut screen, false),
        }
    };
    let drain_took = began.elapsed().saturating_sub(sending_took);
    draw(Phase::Verifying, &mut screen, false);
    let read_began = Instant::now();
    let stream = match verify::read_stream(&client, "LAB", &site).await {
        Ok(seen) => verify::reconcile_stored(&entries, &seen),
        Err(e) => return fail(format!("reading stream LAB: {e}")),
    };
    draw(Phase::Verifying, &mut screen, true);
    eprintln!(
        "labwire demo: sending {:.1}s, draining {:.1}s, reading stream LAB back {:.1}s",
        sending_took.as_secs_f64(),
        drain_took.as_secs_f64(),
        read_began.elapsed().as_secs_f64()
    );
    connectors.cancel();
    lis.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), router.shutdown()).await;

    let failed: u64 = failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .sum();
    let summary = summary(&core, &stream);
    eprintln!(
        "labwire demo: bus (core subscription): {core}; stream LAB: {stream}; unacked={} rejected_inputs={} unexpected={} lis_queries={} lis_orders={}",
        core.unacked,
        core.rejected,
        core.unexpected,
        lis_counts
            .queries
            .load(std::sync::atomic::Ordering::Relaxed),
        lis_counts.orders.load(std::sync::atomic::Ordering::Relaxed),
    );
    for lost in core
        .lost_messages
        .iter()
        .chain(&stream.lost_messages)
        .take(20)
    {
        // `instrument#seq specimen`: the specimen id stays out of the output.
        let what = lost.split_whitespace().next().unwrap_or_default();
        eprintln!("labwire demo: lost {what}");
    }
    println!("{summary}");
    let mut ok = summary.lost == 0 && summary.duplicates == 0;
    if summary.sent == 0 {
        eprintln!("labwire demo: no message was acknowledged");
        ok = false;
    }
    if failed > 0 || core.unacked > 0 {
        eprintln!(
            "labwire demo: {failed} instrument failure(s), {} message(s) never acknowledged",
            core.unacked
        );
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The summary line: sent/delivered/lost and latency from the core subscription (every
/// acknowledged message, host queries included), losses of stored events and duplicates from
/// the `LAB` stream read back by sequence (a core subscriber also sees the router's
/// at-least-once republishes, which the stream deduplicates by message id).
fn summary(core: &Report, stream: &Report) -> Report {
    let lost = core.lost.max(stream.lost);
    Report {
        sent: core.sent,
        delivered: core.sent.saturating_sub(lost),
        lost,
        duplicates: stream.duplicates,
        p50_ms: core.p50_ms,
        p99_ms: core.p99_ms,
        ..Report::default()
    }
}

/// Starts a connector on its own loopback listener; returns the address instruments dial.
async fn start_connector<C: Connector>(
    router: &Router,
    connector: C,
    site: &SiteId,
    instrument: InstrumentId,
    stop: &CancellationToken,
) -> Result<String, labwire_connectors::transport::TransportError> {
    let server = TcpServer::bind(TcpServerConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        allow_peers: Vec::new(),
        on_second_connection: OnSecondConnection::Replace,
        ..TcpServerConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    })
    .await?;
    let addr = server.local_addr().to_string();
    let ingest = RouterIngest::new(router).with_query_timeout(Duration::from_secs(2));
    let mut ctx = ConnectorContext::new(site.clone(), instrument, ingest);
    ctx.shutdown = stop.child_token();
    tokio::spawn(labwire_connectors::run(
        connector,
        Transport::from(server),
        ctx,
    ));
    Ok(addr)
}
