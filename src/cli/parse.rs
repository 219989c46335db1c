//! `labwire parse` (being built).

use std::process::ExitCode;

/// Arguments of `labwire parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Capture files to decode.
    pub files: Vec<std::path::PathBuf>,
}

/// Runs the subcommand.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("labwire parse: not available in this build yet");
    ExitCode::from(1)
}
