//! `labwire hub --config FILE`: the regional hub (shared conventions §8, docs/hub.md).
//!
//! Loads and validates the hub config (errors with line and column → exit 2), opens the
//! database (migrations), subscribes to the sites' telemetry and serves the fleet console until
//! SIGTERM or SIGINT (exit 0). A start-up failure (database, listen address, TLS files) exits 1.

use labwire_hub::Hub;
use labwire_hub::config::{HubConfig, LoadError};
use labwire_router::config::{LogLevel, LoggingConfig};
use labwire_router::logging;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `labwire hub`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hub configuration file (TOML): [mqtt] url, [database] url, [http] listen.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Log one JSON object per line.
    #[arg(long)]
    pub log_json: bool,
    /// Log level: error, warn, info, debug, trace (`RUST_LOG` overrides it).
    #[arg(long, value_name = "LEVEL", value_parser = super::run::parse_level, default_value = "info")]
    pub log_level: LogLevel,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let config = match HubConfig::load(&args.config) {
        Ok(c) => c,
        Err(LoadError::Invalid(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("labwire hub: {e}");
            return ExitCode::from(2);
        }
    };
    let logging_config = LoggingConfig {
        level: args.log_level,
        json: args.log_json,
    };
    if let Err(e) = logging::init(&logging_config) {
        eprintln!("labwire hub: {e}");
        return ExitCode::from(2);
    }
    let runtime = match super::runtime("labwire-hub") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let hub = Hub::start(&config).await.map_err(|e| e.to_string())?;
        // Operators and scripts wait for this line (the address is the bound one).
        println!("labwire hub: console at http://{}/", hub.http_addr());
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
        hub.stop().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "labwire hub stopped with an error");
            eprintln!("labwire hub: {e}");
            ExitCode::from(1)
        }
    }
}
