//! Spool settings and their documented defaults.

use std::path::PathBuf;
use std::time::Duration;

/// Default row limit: the site config's `[spool] max_events` default.
pub const DEFAULT_MAX_ROWS: u64 = crate::config::DEFAULT_SPOOL_MAX_EVENTS;
/// Default payload limit: the site config's `[spool] max_bytes` default.
pub const DEFAULT_MAX_BYTES: u64 = crate::config::DEFAULT_SPOOL_MAX_BYTES;
/// Rows kept free beyond the limits for `status` events, so "spool full" itself can be queued.
pub const STATUS_RESERVE_ROWS: u64 = 64;
/// Bytes kept free beyond the limits for `status` events.
pub const STATUS_RESERVE_BYTES: u64 = 256 * 1024;
/// Default SQLite `busy_timeout`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the spool lives and how much it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolOptions {
    /// The SQLite file (`[storage] path` in the site config); created if missing.
    pub path: PathBuf,
    /// Most events held; a push beyond it fails with `SpoolFull`.
    pub max_rows: u64,
    /// Most payload bytes held; a push beyond it fails with `SpoolFull`.
    pub max_bytes: u64,
    /// How long a write waits for a lock held by another connection.
    pub busy_timeout: Duration,
}

impl SpoolOptions {
    /// Defaults for a spool file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_rows: DEFAULT_MAX_ROWS,
            max_bytes: DEFAULT_MAX_BYTES,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}
