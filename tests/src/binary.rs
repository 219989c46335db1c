//! Finding the broker binaries, and the harness error type.

use std::path::{Path, PathBuf};

/// Why a broker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The binary is not installed (or not where we looked).
    #[error(
        "`{name}` not found (looked in ${env_var}, PATH, /usr/sbin, /usr/local/bin); install it \
         with `{install_hint}`, or set {env_var} to its path"
    )]
    BinaryNotFound {
        /// The binary's file name.
        name: &'static str,
        /// The environment variable that overrides the lookup.
        env_var: &'static str,
        /// How to install it.
        install_hint: &'static str,
    },
    /// Creating the temp dir or config file, or spawning the process, failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A signal could not be delivered (the process is not running).
    #[error("could not send SIG{signal} to {name} (not running?)")]
    Signal {
        /// The binary's file name.
        name: &'static str,
        /// The signal name.
        signal: &'static str,
    },
    /// `nats-server` could not be found, started or restarted.
    #[error(transparent)]
    Nats(#[from] labwire_local_nats::NatsError),
    /// The process did not accept connections in time, after every retry.
    #[error(
        "{name} did not come up on 127.0.0.1 after {attempts} attempt(s); last log lines:\n{log}"
    )]
    NotReady {
        /// The binary's file name.
        name: &'static str,
        /// How many ports/starts were tried.
        attempts: u32,
        /// The end of the broker's log, for diagnosis.
        log: String,
    },
}

impl HarnessError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// Finds `name`: `$env_var` if set (it must point at a file), else `PATH`, `/usr/sbin`,
/// `/usr/local/bin`.
pub fn find_binary(
    name: &'static str,
    env_var: &'static str,
    install_hint: &'static str,
) -> Result<PathBuf, HarnessError> {
    let not_found = || HarnessError::BinaryNotFound {
        name,
        env_var,
        install_hint,
    };
    if let Some(explicit) = std::env::var_os(env_var) {
        let p = PathBuf::from(explicit);
        return if p.is_file() { Ok(p) } else { Err(not_found()) };
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .iter()
        .map(PathBuf::as_path)
        .chain([Path::new("/usr/sbin"), Path::new("/usr/local/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(not_found)
}
