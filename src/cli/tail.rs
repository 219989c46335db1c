//! `labwire tail` (being built; see the router issue).

use std::process::ExitCode;

/// Arguments of `labwire tail`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("labwire tail: not available in this build yet");
    ExitCode::from(1)
}
