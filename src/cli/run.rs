//! `labwire run --config FILE`: run a site (shared conventions §4).
//!
//! Loads and validates the site config (errors → exit 2), sets up logging, serves `/metrics`,
//! `/healthz` and `/readyz`, starts the router (bus, spool, ingest gate, drain) and then the
//! instrument connectors. On SIGTERM or SIGINT it stops accepting, lets work in progress finish
//! and leaves undelivered events in the spool for the next start (exit 0). ASTM and HL7
//! instruments get their connectors (`labwire-connectors`), with order downloads when they
//! take orders; Modbus instruments are polled by one scheduler per physical line
//! (`labwire_connectors::modbus`). Serial-line connectors are not built in yet, and such
//! instruments are reported in the log as not served. The composition itself is the library's
//! [`Site`].

use labwire::{Site, SiteError};
use labwire_router::config::LogLevel;
use labwire_router::logging;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

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

pub(crate) fn parse_level(s: &str) -> Result<LogLevel, String> {
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
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error("waiting for signals: {0}")]
    Signals(std::io::Error),
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
    let runtime = match super::runtime("labwire") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        let signals = watch_signals(shutdown.clone())?;
        // The heartbeat's config hash: SHA-256 of the file as loaded.
        let hash = std::fs::read(&args.config)
            .map(|bytes| labwire::site::config_hash(&bytes))
            .unwrap_or([0; 32]);
        let result = Site::new(config)
            .config_hash(hash)
            .run(shutdown)
            .await
            .map_err(RunError::from);
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

/// Exit code when a second signal cuts the graceful shutdown short.
const EXIT_FORCED: u8 = 130;

/// Cancels `shutdown` on SIGTERM (Kubernetes) or SIGINT (Ctrl-C); a second signal exits at once
/// with [`EXIT_FORCED`] (events not yet acknowledged are resent by their instruments, spooled ones
/// stay in the spool).
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
            "shutting down: no new connections, finishing work in progress (a second signal exits at once)"
        );
        shutdown.cancel();
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::warn!(
            signal = name,
            "second signal: exiting now; unacknowledged messages are resent by their instruments"
        );
        std::process::exit(i32::from(EXIT_FORCED));
    }))
}
