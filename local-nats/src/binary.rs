//! Finding the `nats-server` binary.

use crate::NatsError;
use std::path::PathBuf;

/// Environment variable naming the `nats-server` binary (overrides the search).
pub const BINARY_ENV: &str = "LABWIRE_NATS_SERVER";

/// Finds the binary: `$LABWIRE_NATS_SERVER` if set (and only it), else `PATH`, `/usr/sbin`,
/// `/usr/local/bin`.
pub fn find_binary() -> Result<PathBuf, NatsError> {
    if let Some(named) = std::env::var_os(BINARY_ENV) {
        let p = PathBuf::from(&named);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(NatsError::NotFound(format!(
                "{BINARY_ENV}={} is not a file",
                p.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| NatsError::NotFound("not on PATH, /usr/sbin or /usr/local/bin".into()))
}
