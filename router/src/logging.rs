//! Log setup for `labwire run`: text or JSON lines on stderr, level from the site config
//! (`[logging]`), `--log-level`/`--log-json`, or `RUST_LOG`.
//!
//! # What may be logged
//!
//! Patient data is **never** logged at `info` or above, and code must not log it at any level:
//!
//! - log identifiers, never payloads: event id, instrument id, subject, byte offsets, lengths,
//!   counts, durations, error kinds;
//! - never log `Event::raw`, `patient`, `specimen`, `comments`, `query`, received bytes or
//!   decoded text, nor a `Debug` of a whole event or message (`Patient`'s `Debug` is redacted as
//!   a safety net, not as permission);
//! - a rejected message is reported with its offset and reason on the `error` subject (local
//!   bus), not in the log.
//!
//! `trace!` output is verbose; it is meant for development builds.

use crate::config::{LogLevel, LoggingConfig};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Crates whose `info` output is noise for lab staff; they log at `warn` unless `RUST_LOG`
/// says otherwise.
const QUIET_CRATES: &[&str] = &["sqlx", "async_nats", "hyper", "rustls"];

/// The subscriber could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `RUST_LOG` is not a valid filter.
    #[error("RUST_LOG: {0}")]
    Filter(String),
    /// A global subscriber was already installed.
    #[error("logging already initialised: {0}")]
    AlreadyInstalled(String),
}

/// The filter for a level: the level for labwire, `warn` for chatty dependencies.
pub fn filter_directives(level: LogLevel) -> String {
    let mut d = level.as_str().to_owned();
    for c in QUIET_CRATES {
        let quiet = if level < LogLevel::Warn {
            level
        } else {
            LogLevel::Warn
        };
        d.push_str(&format!(",{c}={}", quiet.as_str()));
    }
    d
}

/// Installs the global subscriber: `RUST_LOG` when set, else the configured level.
pub fn init(config: &LoggingConfig) -> Result<(), LoggingError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(v).map_err(|e| LoggingError::Filter(e.to_string()))?
        }
        _ => EnvFilter::try_new(filter_directives(config.level))
            .map_err(|e| LoggingError::Filter(e.to_string()))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::NONE)
        .with_target(true);
    let result = if config.json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
    result.map_err(|e| LoggingError::AlreadyInstalled(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_quieter_than_labwire() {
        assert_eq!(
            filter_directives(LogLevel::Debug),
            "debug,sqlx=warn,async_nats=warn,hyper=warn,rustls=warn"
        );
        assert_eq!(
            filter_directives(LogLevel::Error),
            "error,sqlx=error,async_nats=error,hyper=error,rustls=error"
        );
        for l in [
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
            LogLevel::Trace,
        ] {
            assert!(EnvFilter::try_new(filter_directives(l)).is_ok());
        }
    }
}
