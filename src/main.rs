//! The `labwire` command line (shared conventions §4).
//!
//! One binary for every job: decode captures (`parse`), run a site (`run`), follow the bus
//! (`tail`), validate a site config (`check-config`), run simulated instruments (`sim`), the
//! all-in-one demo (`demo`) and render per-site deployment files (`render`), and the regional hub (`hub`). Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// labwire: lab-instrument integration middleware.
#[derive(Debug, Parser)]
#[command(name = "labwire", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode instrument captures (ASTM or HL7) and print one canonical event per line (NDJSON).
    Parse(cli::parse::Args),
    /// Validate a site configuration, reporting every error with its line and column.
    CheckConfig(cli::check_config::Args),
    /// Run a site: connectors and router per the site configuration.
    Run(cli::run::Args),
    /// Follow events on the local bus, human-readable or as JSON.
    Tail(cli::tail::Args),
    /// Simulated instruments (ASTM, HL7) with dialect profiles, faults, replay and a ledger.
    Sim(Box<cli::sim::Args>),
    /// The all-in-one demo: local NATS, router, connectors and simulated instruments, with a
    /// live view and a loss/duplicate verification at the end.
    Demo(cli::demo::Args),
    /// Render per-site configuration and deployment files from templates (or check a rendered
    /// tree for drift with --check).
    Render(cli::render::Args),
    /// The regional hub: every site's telemetry into SQLite or PostgreSQL, and the fleet
    /// console (HTML at /, JSON at /api/sites).
    Hub(cli::hub::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Parse(args) => cli::parse::run(args),
        Command::CheckConfig(args) => cli::check_config::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Tail(args) => cli::tail::run(args),
        Command::Sim(args) => cli::sim::run(*args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Render(args) => cli::render::run(args),
        Command::Hub(args) => cli::hub::run(args),
    }
}
