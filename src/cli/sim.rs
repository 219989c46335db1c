//! `labwire sim`: simulated lab instruments (shared conventions §4).
//!
//! Runs one or more simulated ASTM or HL7 instruments against a host (`--connect`), waits for
//! the host to connect (`--listen`), or opens a pseudo-terminal per instrument (`--pty`); or
//! replays a capture file (`--replay`). Progress goes to stderr. With `--verify` it watches the
//! NATS bus and ends with the summary line `sent=N delivered=N lost=N duplicates=N p50_ms=X
//! p99_ms=Y` on stdout. Exit codes: 0 success (and a clean verification), 1 runtime failure,
//! messages not acknowledged or a verification that found losses or duplicates, 2 bad usage or
//! bad input (unknown profile, bad fault list). See `docs/simulators.md`.

use labwire_event::{InstrumentId, SiteId};
use labwire_router::config::parse_duration;
use labwire_sim::fault::{DEFAULT_PROBABILITY, FaultPlan};
use labwire_sim::ledger::Ledger;
use labwire_sim::profile::{BUILTIN, Profile, WireProtocol};
use labwire_sim::replay::{Replayer, detect_protocol};
use labwire_sim::runner::{self, Progress, RunConfig, Target};
use labwire_sim::verify::{self, Collector, Report};
use labwire_sim::wire::Wire;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Wire protocol choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// ASTM E1381/E1394.
    Astm,
    /// HL7 v2 over MLLP.
    Hl7,
    /// Modbus devices (TCP with `--listen`, RTU with `--pty`), played from a device profile
    /// (`--profile`, default `fridge-generic`); see docs/devices.md.
    Modbus,
}

/// Arguments of `labwire sim`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").args(["connect", "listen", "pty"])))]
pub struct Args {
    /// Connect to the host (labwire's listener) at HOST:PORT; a comma list gives instrument n
    /// the n-th address (labwire takes one connection per instrument).
    #[arg(long, value_name = "HOST:PORT[,…]")]
    pub connect: Option<String>,
    /// Listen on ADDR:PORT for the host to connect (instrument n uses PORT + n - 1).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Open a pseudo-terminal per instrument and print its path (serial line).
    #[arg(long)]
    pub pty: bool,
    /// Wire protocol; picks the default profile (astm: cobas-c111, hl7: ba400).
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// Dialect profile: a built-in name (see --list-profiles) or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    /// List the built-in profiles and exit.
    #[arg(long)]
    pub list_profiles: bool,
    /// Number of simulated instruments.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub instruments: u32,
    /// Instrument ids are PREFIX-1, PREFIX-2, … (default: the profile name).
    #[arg(long, value_name = "PREFIX")]
    pub instrument_id: Option<String>,
    /// Site id labwire runs as (for the expected event ids).
    #[arg(long, default_value = "site-a")]
    pub site: String,
    /// Seed for traffic and random faults: the same seed and --start send the same messages.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Timestamp of the first work item (`2026-11-26T08:00:00`); default: now (UTC).
    #[arg(long, value_name = "DATETIME")]
    pub start: Option<jiff::civil::DateTime>,
    /// Messages per second per instrument (0: next message as soon as the last is acknowledged).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Messages per instrument (default 10 unless --duration is given).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Run for this long (`30s`, `2m`, `1m30s`, `500ms`: the site config's duration grammar).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Faults: `none`, `all`, a comma list (`bad-checksum,garbage,…`) or a TOML plan file.
    #[arg(long, default_value = "none", value_name = "none|all|LIST|FILE")]
    pub faults: String,
    /// Probability per message of each listed fault (for `all` and lists).
    #[arg(long, default_value_t = DEFAULT_PROBABILITY, value_name = "P")]
    pub fault_rate: f64,
    /// Put this marker into every identifying field (PHI-canary tests).
    #[arg(long, value_name = "MARKER")]
    pub canary: Option<String>,
    /// Replay this capture file instead of generating traffic.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Write the ledger (what was sent and acknowledged) as NDJSON to this file.
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Check the ledger against the NATS bus and print the summary line.
    #[arg(long, requires = "nats_url")]
    pub verify: bool,
    /// NATS server URL for --verify.
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
    /// Verify against this JetStream stream (read after the run) instead of a core subscription.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<String>,
    /// How long to wait for events to reach the bus after the last message.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub verify_timeout: Duration,
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("labwire sim: {msg}");
    ExitCode::from(2)
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    if args.list_profiles {
        for (name, _) in BUILTIN {
            match Profile::load(name) {
                Ok(p) => println!("{name:18} {:5} {}", proto_name(p.protocol), p.description),
                Err(e) => println!("{name:18} (broken: {e})"),
            }
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labwire sim: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.protocol == Some(ProtocolArg::Modbus) {
        return runtime.block_on(super::sim_modbus::run(&args));
    }
    runtime.block_on(run_async(args))
}

fn proto_name(p: WireProtocol) -> &'static str {
    match p {
        WireProtocol::Astm => "astm",
        WireProtocol::Hl7 => "hl7",
    }
}

fn target(args: &Args) -> Result<Target, String> {
    if let Some(list) = &args.connect {
        let addrs: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if addrs.is_empty() {
            return Err("--connect needs HOST:PORT".into());
        }
        return Ok(Target::Connect(addrs));
    }
    if let Some(addr) = &args.listen {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("--listen {addr:?}: expected ADDR:PORT"))?;
        let port = port
            .parse()
            .map_err(|_| format!("--listen {addr:?}: bad port"))?;
        return Ok(Target::Listen {
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
        });
    }
    if args.pty {
        return Ok(Target::Pty);
    }
    Err("say where the host is: --connect HOST:PORT, --listen ADDR:PORT or --pty".into())
}

fn profile(args: &Args) -> Result<Profile, String> {
    let name = match (&args.profile, args.protocol) {
        (Some(p), _) => p.as_str(),
        (None, Some(ProtocolArg::Hl7)) => "ba400",
        (None, _) => "cobas-c111",
    };
    let p = Profile::load(name).map_err(|e| e.to_string())?;
    let want = args.protocol.and_then(|a| match a {
        ProtocolArg::Astm => Some(WireProtocol::Astm),
        ProtocolArg::Hl7 => Some(WireProtocol::Hl7),
        ProtocolArg::Modbus => None,
    });
    if want.is_some_and(|w| w != p.protocol) {
        return Err(format!(
            "profile {} speaks {}, not the --protocol given",
            p.name,
            proto_name(p.protocol)
        ));
    }
    Ok(p)
}

async fn run_async(args: Args) -> ExitCode {
    let site = match SiteId::new(&args.site) {
        Ok(s) => s,
        Err(e) => return usage(format!("--site: {e}")),
    };
    let target = match target(&args) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let profile = match profile(&args) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let faults = match FaultPlan::load(&args.faults, args.fault_rate, args.seed) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    // Subscribe before anything is sent, so no event is missed.
    let mut bus = None;
    if args.verify {
        let url = args.nats_url.clone().unwrap_or_default();
        let client = match verify::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("labwire sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        let collector = match &args.stream {
            Some(_) => None,
            None => match Collector::subscribe(&client, &site).await {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("labwire sim: {e}");
                    return ExitCode::FAILURE;
                }
            },
        };
        bus = Some((client, collector));
    }
    let ledger = Ledger::new();
    let prefix = args
        .instrument_id
        .clone()
        .unwrap_or_else(|| profile.name.clone());
    let ok = match &args.replay {
        Some(path) => replay(path, &args, &site, &prefix, &profile, &target, &ledger).await,
        None => {
            simulate(
                &args,
                site.clone(),
                prefix,
                profile,
                target,
                faults,
                &ledger,
            )
            .await
        }
    };
    let ok = match ok {
        Ok(ok) => ok,
        Err(code) => return code,
    };
    if let Some(path) = &args.ledger {
        let written = std::fs::File::create(path).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            ledger.write_ndjson(&mut w)
        });
        if let Err(e) = written {
            eprintln!("labwire sim: writing the ledger to {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "labwire sim: {} messages, {} acknowledged by the host",
        ledger.len(),
        ledger.acked()
    );
    let Some((client, collector)) = bus else {
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };
    let entries = ledger.entries();
    let report = match (&collector, &args.stream) {
        (Some(c), _) => c.wait_for(&entries, args.verify_timeout).await,
        (None, Some(stream)) => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            match verify::read_stream(&client, stream, &site).await {
                Ok(seen) => verify::reconcile_stored(&entries, &seen),
                Err(e) => {
                    eprintln!("labwire sim: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        (None, None) => Report::default(),
    };
    print_details(&report);
    println!("{report}");
    if ok && report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_details(r: &Report) {
    eprintln!(
        "labwire sim: verify: unacked={} id_mismatch={} unexpected={} rejected={} ack_p50_ms={:.1} ack_p99_ms={:.1}",
        r.unacked, r.id_mismatch, r.unexpected, r.rejected, r.ack_p50_ms, r.ack_p99_ms
    );
    for lost in r.lost_messages.iter().take(20) {
        eprintln!("labwire sim: lost {lost}");
    }
}

async fn simulate(
    args: &Args,
    site: SiteId,
    prefix: String,
    profile: Profile,
    target: Target,
    faults: FaultPlan,
    ledger: &Ledger,
) -> Result<bool, ExitCode> {
    let count = match (args.count, args.duration) {
        (None, None) => Some(10),
        (c, _) => c,
    };
    let cfg = RunConfig {
        site,
        instrument_prefix: prefix,
        instruments: args.instruments.max(1),
        profile,
        target,
        seed: args.seed,
        rate: args.rate.max(0.0),
        count,
        duration: args.duration,
        faults,
        canary: args.canary.clone(),
        start: args.start,
    };
    let sent = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (s, a, f) = (sent.clone(), acked.clone(), failed.clone());
    let progress: runner::ProgressFn = Arc::new(move |p| match p {
        Progress::Ready {
            instrument,
            location,
        } => eprintln!("labwire sim: {instrument}: {location}"),
        Progress::Sent { acked, .. } => {
            s.fetch_add(1, Ordering::Relaxed);
            if acked {
                a.fetch_add(1, Ordering::Relaxed);
            }
        }
        Progress::Downloaded { instrument, orders } => {
            eprintln!("labwire sim: {instrument}: host downloaded {orders} order(s)");
        }
        Progress::Failed { instrument, error } => {
            f.fetch_add(1, Ordering::Relaxed);
            eprintln!("labwire sim: {instrument} stopped: {error}");
        }
    });
    let began = std::time::Instant::now();
    let ticker = {
        let (sent, acked) = (sent.clone(), acked.clone());
        tokio::spawn(async move {
            // A progress line when something changed, at most once a second (and every 30 s
            // while waiting, so a stuck host is visible).
            let mut last = (u64::MAX, u64::MAX);
            let mut quiet = 0u32;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = (sent.load(Ordering::Relaxed), acked.load(Ordering::Relaxed));
                quiet += 1;
                if now != last || quiet >= 30 {
                    eprintln!(
                        "labwire sim: [{:>4}s] sent={} acked={}",
                        began.elapsed().as_secs(),
                        now.0,
                        now.1
                    );
                    last = now;
                    quiet = 0;
                }
            }
        })
    };
    let result = runner::run(cfg, ledger.clone(), progress).await;
    ticker.abort();
    if let Err(e) = result {
        eprintln!("labwire sim: {e}");
        return Err(ExitCode::FAILURE);
    }
    Ok(failed.load(Ordering::Relaxed) == 0 && ledger.acked() == ledger.len())
}

async fn replay(
    path: &PathBuf,
    args: &Args,
    site: &SiteId,
    prefix: &str,
    profile: &Profile,
    target: &Target,
    ledger: &Ledger,
) -> Result<bool, ExitCode> {
    let bytes = std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let protocol = match args.protocol {
        Some(ProtocolArg::Astm) => WireProtocol::Astm,
        Some(ProtocolArg::Hl7) => WireProtocol::Hl7,
        Some(ProtocolArg::Modbus) => {
            return Err(usage("--replay plays ASTM or HL7 captures, not Modbus"));
        }
        None => detect_protocol(&bytes),
    };
    let instrument: InstrumentId =
        runner::instrument_id(prefix, 1).map_err(|e| usage(format!("--instrument-id: {e}")))?;
    let mut endpoint = match target {
        Target::Connect(a) => {
            labwire_sim::wire::Endpoint::Connect(a.first().cloned().unwrap_or_default())
        }
        Target::Listen { host, port } => {
            let l = tokio::net::TcpListener::bind((host.as_str(), *port))
                .await
                .map_err(|e| {
                    eprintln!("labwire sim: listening on {host}:{port}: {e}");
                    ExitCode::FAILURE
                })?;
            eprintln!("labwire sim: {instrument}: listening on {host}:{port}");
            labwire_sim::wire::Endpoint::Listen(l)
        }
        Target::Pty => return Err(usage("--replay works with --connect or --listen")),
    };
    let io = endpoint.open().await.map_err(|e| {
        eprintln!("labwire sim: {e}");
        ExitCode::FAILURE
    })?;
    let mut wire = Wire::new(io);
    let replayer = Replayer {
        site,
        instrument: &instrument,
        profile,
        ledger,
    };
    let outcome = replayer
        .replay(&mut wire, &bytes, protocol)
        .await
        .map_err(|e| {
            eprintln!("labwire sim: replay: {e}");
            ExitCode::FAILURE
        })?;
    for s in &outcome.skipped {
        eprintln!("labwire sim: {}: {s}", path.display());
    }
    eprintln!(
        "labwire sim: replayed {}: messages={} acked={} frames_sent={} naks={}",
        path.display(),
        outcome.messages,
        outcome.acked,
        outcome.frames_sent,
        outcome.naks
    );
    wire.close().await;
    Ok(outcome.acked == outcome.messages && outcome.skipped.is_empty())
}
