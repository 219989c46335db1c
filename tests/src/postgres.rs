//! A real PostgreSQL server (Debian's `postgresql` package), for the hub's database tests.
//!
//! `initdb` refuses to run as root, so when the tests run as root (CI, a dev container) the
//! server's commands run through `runuser -u nobody --` and its temp dir is handed to `nobody`.
//! As an ordinary user they run directly.

use crate::binary::HarnessError;
use crate::ports::{free_loopback_port, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The unprivileged user the server runs as when the tests run as root.
const RUN_AS_WHEN_ROOT: &str = "nobody";
/// The superuser `initdb` creates (trust authentication, loopback only).
pub const POSTGRES_USER: &str = "labwire";
/// Ports tried before giving up.
const ATTEMPTS: u32 = 3;

/// A `postgres` server on `127.0.0.1:<free port>`, data in a private temp dir, stopped (and
/// the dir removed) when dropped.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
    dir: tempfile::TempDir,
}

/// The directory of `initdb`/`pg_ctl`: `$PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
fn pg_bin() -> Result<PathBuf, HarnessError> {
    let not_found = HarnessError::BinaryNotFound {
        name: "initdb",
        env_var: "PG_BIN",
        install_hint: "apt-get install postgresql",
    };
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(not_found)
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| HarnessError::BinaryNotFound {
            name: "initdb",
            env_var: "PG_BIN",
            install_hint: "apt-get install postgresql",
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b).ok_or(not_found)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl Postgres {
    /// Runs `initdb` in a new temp dir and starts the server on a free loopback port, waiting
    /// (`pg_ctl -w`) until it accepts connections; retries with another port if it fails.
    pub fn start() -> Result<Self, HarnessError> {
        let bin = pg_bin()?;
        let run_as = running_as_root().then_some(RUN_AS_WHEN_ROOT);
        let dir = tempfile::Builder::new()
            .prefix("labwire-postgres-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the postgres temp dir", e))?;
        if let Some(user) = run_as {
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(HarnessError::io(
                    format!("chown of the postgres temp dir to {user}"),
                    std::io::Error::other("chown failed"),
                ));
            }
        }
        let data = dir.path().join("data");
        let mut pg = Self {
            bin,
            data,
            port: 0,
            run_as,
            dir,
        };
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args([
                "-U",
                POSTGRES_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| HarnessError::io("running initdb", e))?;
        if !out.status.success() {
            return Err(HarnessError::NotReady {
                name: "initdb",
                attempts: 1,
                log: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        for _ in 0..ATTEMPTS {
            pg.port = free_loopback_port().map_err(|e| HarnessError::io("finding a port", e))?;
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                pg.port,
                pg.dir.path().display()
            );
            let ok = pg
                .command("pg_ctl")
                .arg("-D")
                .arg(&pg.data)
                .args(["-o", &options, "-l"])
                .arg(pg.log_path())
                .args(["-w", "-t", "60", "start"])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok && wait_until(Duration::from_secs(10), || crate::ports::accepts(pg.port)) {
                return Ok(pg);
            }
        }
        Err(HarnessError::NotReady {
            name: "postgres",
            attempts: ATTEMPTS,
            log: pg.log_tail(20),
        })
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::tail_of(&self.log_path(), lines)
    }

    /// The listening port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://labwire@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{POSTGRES_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a database (tests use one per case so they can run in parallel on one server).
    pub fn create_db(&self, name: &str) -> Result<(), HarnessError> {
        let out = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                POSTGRES_USER,
                name,
            ])
            .output()
            .map_err(|e| HarnessError::io("running createdb", e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(HarnessError::io(
                format!("createdb {name}"),
                std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()),
            ))
        }
    }

    /// The data directory (for tests that inspect it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
