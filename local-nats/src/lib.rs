//! A local `nats-server` child with JetStream: the one supervisor the demo (`labwire demo`) and
//! the test harness (`labwire-tests`) share.
//!
//! No port race: the first start passes `-p -1`, so the server binds a free port itself, and
//! `--ports_file_dir`, so it reports that port in `<dir>/<executable>_<pid>.ports` once it is
//! ready (nats-server writes the file after every listener is up and JetStream is enabled). The
//! supervisor waits for that file, then for the port to accept a connection, up to a timeout;
//! a server that exits first, or never reports, is a clear error with the end of its log.
//! A restart asks for the port the server had, so clients reconnect to the same URL.

mod binary;
mod ports_file;

pub use binary::{BINARY_ENV, find_binary};
pub use ports_file::parse_client_port;

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to report its port and accept connections by default.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times [`LocalNats::restart`] tries to bind the old port.
const RESTART_ATTEMPTS: u32 = 5;

/// How long [`LocalNats::stop`] waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often the supervisor looks for the ports file and at the child while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Why a server could not be started or signalled.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No binary found.
    #[error(
        "nats-server not found ({0}); install it (scripts/install-deps or `apt-get install \
         nats-server`), put it on PATH or name it in {BINARY_ENV}"
    )]
    NotFound(String),
    /// Creating a directory or spawning the process failed.
    #[error("{what}: {source}")]
    Io {
        /// What the supervisor was doing.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server exited before it reported its port.
    #[error("nats-server exited ({status}) before it was ready; last log lines:\n{log}")]
    Exited {
        /// How it exited.
        status: String,
        /// The end of its log.
        log: String,
    },
    /// The server neither reported its port nor exited within the timeout.
    #[error("nats-server was not ready after {timeout:?} ({stage}); last log lines:\n{log}")]
    NotReady {
        /// The timeout.
        timeout: Duration,
        /// What was still missing: the ports file or a connection to the reported port.
        stage: String,
        /// The end of its log.
        log: String,
    },
    /// A signal could not be delivered (the server is not running).
    #[error("could not send SIG{0} to nats-server (not running?)")]
    Signal(&'static str),
}

/// The configuration file of a local server: only its JetStream storage limits (everything
/// else is on the command line).
const LOCAL_SERVER_CONF: &str =
    "jetstream {\n  max_file_store: 1TB\n  max_memory_store: 256MB\n}\n";

/// How to start the server.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// The `nats-server` binary (see [`find_binary`]).
    pub binary: PathBuf,
    /// The JetStream store directory (`-sd`), kept across restarts.
    pub store_dir: PathBuf,
    /// The log file (`-l`).
    pub log_file: PathBuf,
    /// Where the server writes its ports file (`--ports_file_dir`); created when missing.
    pub ports_dir: PathBuf,
    /// How long to wait for the server to report its port and accept a connection.
    pub ready_timeout: Duration,
}

impl NatsOptions {
    /// Store, log and ports file all under `dir` (`dir/store`, `dir/nats-server.log`,
    /// `dir/ports`), with [`READY_TIMEOUT`].
    pub fn in_dir(binary: PathBuf, dir: &Path) -> Self {
        Self {
            binary,
            store_dir: dir.join("store"),
            log_file: dir.join("nats-server.log"),
            ports_dir: dir.join("ports"),
            ready_timeout: READY_TIMEOUT,
        }
    }
}

/// A running (or stopped) `nats-server` child on `127.0.0.1`. Killed when dropped.
#[derive(Debug)]
pub struct LocalNats {
    options: NatsOptions,
    port: u16,
    child: Option<Child>,
}

impl LocalNats {
    /// Starts the server on a port it picks itself and waits until it is ready.
    pub fn start(options: NatsOptions) -> Result<Self, NatsError> {
        let mut me = Self {
            options,
            port: 0,
            child: None,
        };
        me.port = me.spawn_and_wait(None)?;
        Ok(me)
    }

    /// Stops the server if it runs, then starts it again on the same port with the same store
    /// and waits until it is ready. Tries a few times, 200 ms apart, in case the old socket is
    /// still being released; fails when the port stays taken.
    pub fn restart(&mut self) -> Result<(), NatsError> {
        self.stop();
        let mut attempt = 1;
        loop {
            match self.spawn_and_wait(Some(self.port)) {
                Ok(_) => return Ok(()),
                Err(e) if attempt >= RESTART_ATTEMPTS => return Err(e),
                Err(_) => attempt += 1,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The client port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The options it was started with.
    pub fn options(&self) -> &NatsOptions {
        &self.options
    }

    /// The child's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL and reap; no-op when not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL; no-op when not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let terminated = send_signal(child.id(), "TERM");
        let end = Instant::now() + STOP_GRACE;
        let mut exited = false;
        while terminated && Instant::now() < end {
            if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                exited = true;
                break;
            }
            std::thread::sleep(POLL);
        }
        if !exited {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// Sends `signal` (a name such as `STOP` or `CONT`) to the server.
    pub fn signal(&mut self, signal: &'static str) -> Result<(), NatsError> {
        let sent = self
            .child
            .as_ref()
            .is_some_and(|child| send_signal(child.id(), signal));
        if sent {
            Ok(())
        } else {
            Err(NatsError::Signal(signal))
        }
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_of(&self.options.log_file, lines)
    }

    /// Spawns the server (`-p -1` when `port` is `None`) and waits for its ports file and a
    /// connection to the reported port. Returns the port.
    fn spawn_and_wait(&mut self, port: Option<u16>) -> Result<u16, NatsError> {
        let o = &self.options;
        let io = |what: String| move |source| NatsError::Io { what, source };
        std::fs::create_dir_all(&o.ports_dir)
            .map_err(io(format!("creating {}", o.ports_dir.display())))?;
        let port_arg = port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        // JetStream reserves each stream's `max_bytes` against the server's storage limit, which
        // defaults to 75% of the disk space free at start: labwire's default stream (10 GiB)
        // would then fail to be created on a machine with less than ~14 GB free. This local
        // server (demo, tests) declares its limit instead, so it behaves the same on every
        // machine; a full disk still fails writes, as it would in production.
        let conf = o.store_dir.with_extension("conf");
        std::fs::write(&conf, LOCAL_SERVER_CONF)
            .map_err(io(format!("writing {}", conf.display())))?;
        let args: Vec<OsString> = vec![
            "-c".into(),
            conf.into_os_string(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port_arg.into(),
            "-js".into(),
            "-sd".into(),
            o.store_dir.clone().into(),
            "-l".into(),
            o.log_file.clone().into(),
            "--ports_file_dir".into(),
            o.ports_dir.clone().into(),
        ];
        let child = Command::new(&o.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io(format!("spawning {}", o.binary.display())))?;
        let pid = child.id();
        self.child = Some(child);
        match self.wait_ready(pid) {
            Ok(port) => Ok(port),
            Err(e) => {
                self.kill();
                Err(e)
            }
        }
    }

    /// Waits for `<ports_dir>/*_<pid>.ports`, then for its client port to accept a connection.
    fn wait_ready(&mut self, pid: u32) -> Result<u16, NatsError> {
        let timeout = self.options.ready_timeout;
        let end = Instant::now() + timeout;
        let mut reported = None;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(NatsError::Exited {
                    status: status.to_string(),
                    log: self.log_tail(20),
                });
            }
            if reported.is_none() {
                reported = ports_file::read_client_port(&self.options.ports_dir, pid);
            }
            if let Some(port) = reported
                && accepts(port)
            {
                return Ok(port);
            }
            if Instant::now() >= end {
                let stage = match reported {
                    None => format!(
                        "no ports file for pid {pid} in {}",
                        self.options.ports_dir.display()
                    ),
                    Some(p) => format!("reported port {p} does not accept connections"),
                };
                return Err(NatsError::NotReady {
                    timeout,
                    stage,
                    log: self.log_tail(20),
                });
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// `kill -<signal> <pid>` (a signal name such as `TERM`); true on success.
pub fn send_signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `lines` lines of a log file, or a note when it cannot be read.
pub fn tail_of(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all.get(start..).unwrap_or_default().join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}
