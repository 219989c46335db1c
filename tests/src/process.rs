//! A broker child process: spawn on a port, wait until it listens, signal, reap.

use crate::HarnessError;
use crate::ports::{accepts, free_loopback_port, wait_until};
pub(crate) use labwire_local_nats::{send_signal, tail_of};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a broker may take to accept connections after spawn.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many fresh ports `start` tries before giving up.
const START_ATTEMPTS: u32 = 5;
/// How long `stop` waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The command line for one start on a given port.
pub(crate) type ArgsFor =
    dyn Fn(u16) -> Result<Vec<std::ffi::OsString>, HarnessError> + Send + Sync;

/// A running (or stopped) broker process bound to a fixed port.
pub(crate) struct BrokerProcess {
    pub(crate) name: &'static str,
    binary: PathBuf,
    args_for: Box<ArgsFor>,
    log_file: PathBuf,
    pub(crate) port: u16,
    child: Option<Child>,
}

impl BrokerProcess {
    /// Starts the broker on a fresh free port, retrying with another port when it fails to
    /// come up (a parallel test may have taken the port between probe and bind).
    pub(crate) fn start(
        name: &'static str,
        binary: PathBuf,
        log_file: PathBuf,
        args_for: Box<ArgsFor>,
    ) -> Result<Self, HarnessError> {
        let mut broker = Self {
            name,
            binary,
            args_for,
            log_file,
            port: 0,
            child: None,
        };
        for _ in 0..START_ATTEMPTS {
            broker.port =
                free_loopback_port().map_err(|e| HarnessError::io("probing a free port", e))?;
            if broker.spawn_and_wait()? {
                return Ok(broker);
            }
        }
        Err(broker.not_ready(START_ATTEMPTS))
    }

    /// Starts again on the same port (after `kill` or `stop`); retries a few times in case the
    /// old socket is still being released.
    pub(crate) fn restart(&mut self) -> Result<(), HarnessError> {
        self.stop();
        for _ in 0..START_ATTEMPTS {
            if self.spawn_and_wait()? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(self.not_ready(START_ATTEMPTS))
    }

    fn spawn_and_wait(&mut self) -> Result<bool, HarnessError> {
        let args = (self.args_for)(self.port)?;
        let child = Command::new(&self.binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawning {}", self.binary.display()), e))?;
        self.child = Some(child);
        let port = self.port;
        let child = &mut self.child;
        let up = wait_until(READY_TIMEOUT, || {
            let exited = child
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
            exited || accepts(port)
        });
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if up && alive {
            return Ok(true);
        }
        self.kill();
        Ok(false)
    }

    /// SIGKILL and reap; no-op when not running.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL; no-op when not running.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let terminated = send_signal(child.id(), "TERM");
        let exited = terminated
            && wait_until(STOP_GRACE, || {
                matches!(child.try_wait(), Ok(Some(_)) | Err(_))
            });
        if !exited {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// Whether the child is running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn not_ready(&self, attempts: u32) -> HarnessError {
        HarnessError::NotReady {
            name: self.name,
            attempts,
            log: tail_of(&self.log_file, 20),
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether every thread of `pid` is in state `T` (stopped), per `/proc`.
pub(crate) fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            return false;
        };
        // "pid (comm) S …": the state follows the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if state != Some('T') {
            return false;
        }
        any = true;
    }
    any
}
