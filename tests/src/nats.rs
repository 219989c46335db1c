//! A real `nats-server` with JetStream, for integration tests.

use crate::process::{BrokerProcess, tail_of};
use crate::{HarnessError, find_binary};
use std::path::{Path, PathBuf};

/// A `nats-server` child process with JetStream enabled, listening on `127.0.0.1:<free port>`,
/// its store dir inside a private temp dir.
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
    process: BrokerProcess,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts `nats-server -a 127.0.0.1 -p <port> -js -sd <tempdir>/store` and waits until it
    /// accepts connections (JetStream is ready by then: the server enables it before it opens the
    /// client listener).
    ///
    /// The binary comes from `$NATS_SERVER_BIN`, else `PATH`, `/usr/sbin`, `/usr/local/bin`.
    /// A port taken by someone else between probe and bind makes the server exit; start then
    /// retries with another port.
    pub fn start() -> Result<Self, HarnessError> {
        let binary = find_binary(
            "nats-server",
            "NATS_SERVER_BIN",
            "apt-get install nats-server",
        )?;
        let dir = tempfile::Builder::new()
            .prefix("labwire-nats-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the nats temp dir", e))?;
        let store = dir.path().join("store");
        let log = dir.path().join("nats-server.log");
        let log_for_args = log.clone();
        let args_for = move |port: u16| {
            Ok(vec![
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string().into(),
                "-js".into(),
                "-sd".into(),
                store.clone().into_os_string(),
                "-l".into(),
                log_for_args.clone().into_os_string(),
            ])
        };
        let process = BrokerProcess::start("nats-server", binary, log, Box::new(args_for))?;
        Ok(Self { process, dir })
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.process.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// The JetStream store dir (kept across restarts).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// SIGKILL: the server vanishes without closing connections cleanly and without flushing.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM (graceful shutdown), falling back to SIGKILL after a few seconds.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// SIGSTOP: the server hangs with its connections open — clients see no error, only
    /// requests and acks that never come (until [`NatsServer::resume`]).
    /// Returns once every server thread is stopped.
    pub fn pause(&mut self) -> Result<(), HarnessError> {
        self.signal("STOP")?;
        if self.process.wait_stopped() {
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
        if self.process.signal(signal) {
            Ok(())
        } else {
            Err(HarnessError::Signal {
                name: "nats-server",
                signal,
            })
        }
    }

    /// Stops the server if it runs, then starts it again on the same port with the same store
    /// dir, and waits until it accepts connections. Clients with reconnect enabled come back.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.process.restart()
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// The last `lines` lines of the server log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_of(&self.log_path(), lines)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// The temp dir holding the store and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
