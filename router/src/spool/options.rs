//! Spool settings and their documented defaults.

use std::path::PathBuf;
use std::time::Duration;

/// Default row limit: 100 000 events (a day of a busy chemistry analyser).
pub const DEFAULT_MAX_ROWS: u64 = 100_000;
/// Default payload limit: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
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
