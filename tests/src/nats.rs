//! A real `nats-server` with JetStream, for integration tests, started by labwire's one
//! supervisor (`labwire-local-nats`): the server picks its own port and reports it, so parallel
//! tests never race for a port.

use crate::HarnessError;
use crate::ports::wait_until;
use crate::process::all_threads_stopped;
use labwire_local_nats::{LocalNats, NatsOptions, find_binary};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A `nats-server` child process with JetStream enabled, listening on `127.0.0.1:<port it
/// picked>`, its store dir inside a private temp dir.
///
/// ```no_run
/// # fn main() -> Result<(), labwire_tests::HarnessError> {
/// let mut nats = labwire_tests::NatsServer::start()?;
/// let url = nats.url(); // "nats://127.0.0.1:<port>"
/// nats.kill();          // SIGKILL: the bus disappears mid-stream
/// nats.restart()?;      // same port, same store: streams and messages are back
/// # Ok(()) }
/// ```
///
/// The child is killed when the value is dropped, and the temp dir removed.
pub struct NatsServer {
    server: LocalNats,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts `nats-server -a 127.0.0.1 -p -1 -js -sd <tempdir>/store --ports_file_dir …` and
    /// waits until it reports its port and accepts connections (JetStream is ready by then).
    ///
    /// The binary comes from `$LABWIRE_NATS_SERVER`, else `PATH`, `/usr/sbin`,
    /// `/usr/local/bin`.
    pub fn start() -> Result<Self, HarnessError> {
        let binary = find_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("labwire-nats-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the nats temp dir", e))?;
        let server = LocalNats::start(NatsOptions::in_dir(binary, dir.path()))?;
        Ok(Self { server, dir })
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The JetStream store dir (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.server.options().store_dir.clone()
    }

    /// SIGKILL: the server vanishes without closing connections cleanly and without flushing.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// SIGTERM (graceful shutdown), falling back to SIGKILL after a few seconds.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// SIGSTOP: the server hangs with its connections open — clients see no error, only
    /// requests and acks that never come (until [`NatsServer::resume`]).
    /// Returns once every server thread is stopped.
    pub fn pause(&mut self) -> Result<(), HarnessError> {
        self.signal("STOP")?;
        let stopped = self
            .server
            .pid()
            .is_some_and(|pid| wait_until(Duration::from_secs(1), || all_threads_stopped(pid)));
        if stopped {
            Ok(())
        } else {
            Err(HarnessError::Signal {
                name: "nats-server",
                signal: "STOP",
            })
        }
    }

    /// SIGCONT after [`NatsServer::pause`]: the server processes what was sent meanwhile.
    pub fn resume(&mut self) -> Result<(), HarnessError> {
        self.signal("CONT")
    }

    fn signal(&mut self, signal: &'static str) -> Result<(), HarnessError> {
        self.server
            .signal(signal)
            .map_err(|_| HarnessError::Signal {
                name: "nats-server",
                signal,
            })
    }

    /// Stops the server if it runs, then starts it again on the same port with the same store
    /// dir, and waits until it accepts connections. Clients with reconnect enabled come back.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        Ok(self.server.restart()?)
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// The last `lines` lines of the server log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.server.log_tail(lines)
    }

    /// The temp dir holding the store and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
