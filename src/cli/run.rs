//! `labwire run` (being built; see the router issue).

use std::process::ExitCode;

/// Arguments of `labwire run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("labwire run: not available in this build yet");
    ExitCode::from(1)
}
