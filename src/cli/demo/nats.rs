//! The demo's temp dir and its local `nats-server`: labwire's one supervisor
//! (`labwire-local-nats`) with JetStream on, loopback only, on a port the server picks and
//! reports, store in the demo's temp dir, killed when dropped (also after Ctrl-C, which ends the
//! demo by returning).

use labwire_local_nats::{LocalNats, NatsError, NatsOptions, find_binary};
use std::path::{Path, PathBuf};

/// What to do when nats-server is missing, beyond installing it.
pub const DEMO_HINT: &str = "or point the demo at a running server with --nats-url";

/// Starts the server with its store, log and ports file under `dir` and waits until it is ready.
pub fn start(dir: &Path) -> Result<LocalNats, NatsError> {
    LocalNats::start(NatsOptions::in_dir(find_binary()?, dir))
}

/// A private temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/labwire-demo-<pid>-<nanos>`.
    pub fn new() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("labwire-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
