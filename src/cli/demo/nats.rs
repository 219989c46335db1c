//! A local `nats-server` child for the demo: JetStream on, loopback only, store in the demo's
//! temp dir, killed when dropped (also after Ctrl-C, which ends the demo by returning).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the `nats-server` binary (overrides the search).
pub const BINARY_ENV: &str = "LABWIRE_NATS_SERVER";

/// How to get nats-server, for the error message.
pub const INSTALL_HINT: &str = "install it with scripts/install-deps (or `apt-get install nats-server`), put it on PATH or name it in LABWIRE_NATS_SERVER, or point the demo at a running server with --nats-url";

/// Why the server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No binary found.
    #[error("nats-server not found ({0}); {INSTALL_HINT}")]
    NotFound(String),
    /// Spawning or waiting failed.
    #[error("starting {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It exited or did not accept connections in time.
    #[error("nats-server did not start: {0}")]
    NotReady(String),
}

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

/// A running `nats-server` child.
pub struct NatsChild {
    child: Child,
    port: u16,
}

impl NatsChild {
    /// Starts the server with its store under `dir` and waits until it accepts connections.
    pub fn start(dir: &Path) -> Result<Self, NatsError> {
        let binary = find_binary()?;
        let mut last = String::new();
        // A port taken between probing and binding makes the server exit: try a few.
        for _ in 0..3 {
            let port = free_port().map_err(|source| NatsError::Spawn {
                binary: binary.display().to_string(),
                source,
            })?;
            let child = Command::new(&binary)
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(dir.join("nats-store"))
                .arg("-l")
                .arg(dir.join("nats-server.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|source| NatsError::Spawn {
                    binary: binary.display().to_string(),
                    source,
                })?;
            let mut me = Self { child, port };
            match me.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return Ok(me),
                Err(e) => last = e,
            }
        }
        Err(NatsError::NotReady(last))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(format!("port {} not open after {timeout:?}", self.port));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
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
