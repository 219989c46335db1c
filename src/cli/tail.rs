//! `labwire tail [SUBJECT]`: follow events on the local bus (shared conventions §4).
//!
//! One readable line per event (time, instrument, kind, `code=value units`; state or
//! reason for `status`/`error`), or with `--json` the event itself, one JSON object per line.
//! Each event id is shown once even if the bus delivers it again. Exit codes: 0 after Ctrl-C or
//! `--count` lines, 1 when the bus cannot be reached, 2 for a bad config file.

use labwire_router::bus::BusOptions;
use labwire_router::tail::{self, DEFAULT_DEDUPE_WINDOW, DEFAULT_SUBJECT, Tail};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Arguments of `labwire tail`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Subject to follow, with NATS wildcards (`lab.site-a.*.result`, `lab.*.*.qc`).
    /// Default: `lab.>`, or `lab.<site>.>` with `--config`.
    pub subject: Option<String>,
    /// NATS server URL.
    #[arg(
        long,
        default_value = "nats://127.0.0.1:4222",
        conflicts_with = "config"
    )]
    pub nats_url: String,
    /// Take the NATS URL, credentials and TLS from this site config instead.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print each event as one JSON line (includes patient data: local use only).
    #[arg(long)]
    pub json: bool,
    /// Stop after this many lines.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// How many recent event ids to remember for dropping repeats.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DEDUPE_WINDOW)]
    pub dedupe_window: usize,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let mut subject = args
        .subject
        .clone()
        .unwrap_or_else(|| DEFAULT_SUBJECT.to_owned());
    let bus = match &args.config {
        Some(path) => match super::check_config::load_or_report(path) {
            Ok(config) => match config.bus_options() {
                Ok(bus) => {
                    if args.subject.is_none() {
                        subject = format!("lab.{}.>", config.site);
                    }
                    bus
                }
                Err(e) => {
                    eprintln!("labwire tail: {e}");
                    return ExitCode::from(1);
                }
            },
            Err(code) => return code,
        },
        None => BusOptions::new(args.nats_url.clone()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labwire tail: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(follow(args, subject, bus))
}

async fn follow(args: Args, subject: String, bus: BusOptions) -> ExitCode {
    let client = match tail::connect(&bus).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("labwire tail: {e}");
            return ExitCode::from(1);
        }
    };
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    let sub = match tail::subscribe(&client, &subject).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("labwire tail: {e}");
            return ExitCode::from(1);
        }
    };
    let mut renderer = Tail::new(args.json, args.dedupe_window);
    let mut out = std::io::stdout().lock();
    let mut notes = std::io::stderr();
    match tail::follow(
        sub,
        &mut renderer,
        &mut out,
        &mut notes,
        args.count,
        shutdown,
    )
    .await
    {
        Ok(_) => ExitCode::SUCCESS,
        Err(tail::TailError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("labwire tail: {e}");
            ExitCode::from(1)
        }
    }
}
