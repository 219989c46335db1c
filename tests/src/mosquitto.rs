//! A real `mosquitto` MQTT broker, for integration tests.

use crate::process::{BrokerProcess, tail_of};
use crate::{HarnessError, find_binary};
use std::path::Path;

/// A `mosquitto` child process listening on `127.0.0.1:<free port>`, anonymous access allowed,
/// persistence off, configured by a file generated in a private temp dir.
///
/// ```no_run
/// # fn main() -> Result<(), labwire_tests::HarnessError> {
/// let mut broker = labwire_tests::Mosquitto::start()?;
/// let (host, port) = ("127.0.0.1", broker.port());
/// broker.restart()?; // same port, same config
/// # Ok(()) }
/// ```
///
/// The child is killed when the value is dropped, and the temp dir removed.
pub struct Mosquitto {
    process: BrokerProcess,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Writes `mosquitto.conf` for a free port and starts `mosquitto -c <conf>`, waiting until it
    /// accepts connections; retries with another port when the port was taken meanwhile.
    ///
    /// The binary comes from `$MOSQUITTO_BIN`, else `PATH`, `/usr/sbin`, `/usr/local/bin`.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(|port, _dir| {
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        })
    }

    /// Starts mosquitto with the configuration `conf(port, dir)` returns (its `listener` line
    /// must use `port`; `dir` is the broker's private temp dir, for certificates, ACL files and
    /// persistence). The log goes to `dir/mosquitto.log`. Used by the uplink's mTLS and outage
    /// tests; [`Mosquitto::restart`] keeps the port, the dir and so any persisted sessions.
    pub fn start_with(
        conf: impl Fn(u16, &Path) -> String + Send + Sync + 'static,
    ) -> Result<Self, HarnessError> {
        let binary = find_binary("mosquitto", "MOSQUITTO_BIN", "apt-get install mosquitto")?;
        let dir = tempfile::Builder::new()
            .prefix("labwire-mosquitto-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the mosquitto temp dir", e))?;
        let conf_path = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        let log_for_args = log.clone();
        let dir_path = dir.path().to_path_buf();
        let args_for = move |port: u16| {
            let text = format!(
                "{}\nlog_dest file {}\n",
                conf(port, &dir_path),
                log_for_args.display()
            );
            std::fs::write(&conf_path, text)
                .map_err(|e| HarnessError::io("writing mosquitto.conf", e))?;
            Ok(vec!["-c".into(), conf_path.clone().into_os_string()])
        };
        let process = BrokerProcess::start("mosquitto", binary, log, Box::new(args_for))?;
        Ok(Self { process, dir })
    }

    /// The listening port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.process.port)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM, falling back to SIGKILL after a few seconds.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts again on the same port with the same config.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.process.restart()
    }

    /// Whether the broker process is running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// The last `lines` lines of the broker log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_of(&self.dir.path().join("mosquitto.log"), lines)
    }

    /// The temp dir holding the config and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
