//! `labwire check-config` (being built; see the router issue).

use std::process::ExitCode;

/// Arguments of `labwire check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("labwire check-config: not available in this build yet");
    ExitCode::from(1)
}
