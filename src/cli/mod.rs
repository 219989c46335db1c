//! One module per subcommand.

pub mod check_config;
pub mod demo;
pub mod hub;
pub mod parse;
pub mod render;
pub mod run;
pub mod sim;
mod sim_modbus;
pub mod tail;

/// The multi-thread tokio runtime of a long-running subcommand (`run`, `hub`); when it cannot
/// start, the reason is logged and the exit code is 1.
pub(crate) fn runtime(
    thread_name: &str,
) -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(thread_name)
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "cannot start the async runtime");
            std::process::ExitCode::from(1)
        })
}
