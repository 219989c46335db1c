//! From a validated site config to the options the router starts with.

use super::model::{NatsAuth, Secret, SiteConfig};
use crate::bus::{BusAuth, BusOptions, BusTls, StreamOptions};
use crate::runtime::RouterOptions;
use crate::spool::SpoolOptions;
use std::path::PathBuf;

/// A secret file named in the config could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {what} {}: {source}", path.display())]
pub struct SecretFileError {
    /// Which setting named the file.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// The longest secret file read (an nkey seed is 58 characters).
const MAX_SECRET_FILE_BYTES: u64 = 4096;

impl SiteConfig {
    /// How to reach the bus: URL, credentials, TLS, stream limits, timers.
    ///
    /// The publish-ack deadline is half of `ingest.deadline`, leaving the other half for the
    /// spool commit when the bus does not answer in time. An nkey seed file is read here.
    pub fn bus_options(&self) -> Result<BusOptions, SecretFileError> {
        let mut bus = BusOptions::new(self.nats.url.clone());
        bus.auth = match &self.nats.auth {
            NatsAuth::None => BusAuth::None,
            NatsAuth::CredsFile(p) => BusAuth::CredentialsFile(p.clone()),
            NatsAuth::NkeySeedFile(p) => BusAuth::NkeySeed(read_secret("nats.nkey_seed_file", p)?),
            NatsAuth::UserPassword { user, password } => BusAuth::UserPassword {
                user: user.clone(),
                password: reveal("nats.password_file", password)?,
            },
            NatsAuth::Token(t) => BusAuth::Token(reveal("nats.token_file", t)?),
        };
        let mut tls = BusTls::default();
        if let Some(t) = &self.nats.tls {
            tls.ca_file = t.ca_file.clone();
            tls.client_cert = t.client_cert.clone();
        }
        tls.required = self.nats.tls.is_some()
            || self
                .nats
                .url
                .split(',')
                .any(|u| u.trim().starts_with("tls://"));
        bus.tls = tls;
        let mut stream = StreamOptions::default();
        stream.max_age = self.stream.max_age;
        stream.max_bytes = i64::try_from(self.stream.max_bytes).unwrap_or(i64::MAX);
        stream.duplicate_window = self.stream.duplicate_window;
        bus.stream = stream;
        bus.ack_deadline = self.ingest.deadline / 2;
        bus.ping_interval = self.nats.ping_interval;
        bus.connect_timeout = self.nats.connect_timeout;
        bus.client_name = format!("labwire-{}", self.site);
        Ok(bus)
    }

    /// Everything the router needs: the bus, and the spool at `[storage] path` with the
    /// `[spool]` limits.
    pub fn router_options(&self) -> Result<RouterOptions, SecretFileError> {
        let mut spool = SpoolOptions::new(self.storage.path.clone());
        spool.max_rows = self.spool.max_events;
        spool.max_bytes = self.spool.max_bytes;
        Ok(RouterOptions::new(self.bus_options()?, spool))
    }
}

fn reveal(what: &'static str, secret: &Secret) -> Result<String, SecretFileError> {
    match secret {
        Secret::Inline(v) => Ok(v.clone()),
        Secret::File(p) => read_secret(what, p),
    }
}

/// Reads a secret file (at most [`MAX_SECRET_FILE_BYTES`]), without surrounding whitespace.
fn read_secret(what: &'static str, path: &std::path::Path) -> Result<String, SecretFileError> {
    use std::io::Read;
    let err = |source| SecretFileError {
        what,
        path: path.to_owned(),
        source,
    };
    let mut value = String::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(MAX_SECRET_FILE_BYTES)
        .read_to_string(&mut value)
        .map_err(err)?;
    Ok(value.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn site_config_maps_onto_router_options() {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed.nk");
        std::fs::write(&seed, "SUAEXAMPLESEED\n").unwrap();
        let text = format!(
            "site = \"site-a\"\n[nats]\nurl = \"tls://nats.lab:4222\"\nnkey_seed_file = {:?}\n[stream]\nmax_bytes = \"1GiB\"\nduplicate_window = \"3h\"\n[storage]\npath = \"spool.db\"\n[spool]\nmax_events = 500\n[ingest]\ndeadline = \"4s\"\n",
            seed.display().to_string()
        );
        let c = SiteConfig::from_toml_str(&text, "s.toml").unwrap();
        let o = c.router_options().unwrap();
        assert_eq!(o.bus.auth, BusAuth::NkeySeed("SUAEXAMPLESEED".into()));
        assert!(o.bus.tls.required);
        assert_eq!(o.bus.stream.max_bytes, 1 << 30);
        assert_eq!(o.bus.stream.duplicate_window, Duration::from_secs(3 * 3600));
        assert_eq!(o.bus.ack_deadline, Duration::from_secs(2));
        assert_eq!(o.bus.client_name, "labwire-site-a");
        assert_eq!(o.spool.path, PathBuf::from("spool.db"));
        assert_eq!(o.spool.max_rows, 500);
    }

    /// The library's defaults (what `RouterOptions::new` gives an integrator) are the site
    /// config's defaults: one value each. Expected values written out from docs/config.md.
    #[test]
    fn library_defaults_are_the_config_defaults() {
        let c = SiteConfig::from_toml_str("site = \"site-a\"\n", "s.toml").unwrap();
        let from_config = c.router_options().unwrap();
        let library = RouterOptions::new(
            BusOptions::new("nats://127.0.0.1:4222"),
            SpoolOptions::new("labwire.db"),
        );
        for o in [&from_config, &library] {
            assert_eq!(o.bus.stream.max_age, Duration::from_secs(30 * 86_400));
            assert_eq!(o.bus.stream.max_bytes, 10 << 30);
            assert_eq!(o.bus.stream.duplicate_window, Duration::from_secs(86_400));
            assert_eq!(o.bus.ack_deadline, Duration::from_millis(2500));
            assert_eq!(o.spool.max_rows, 1_000_000);
            assert_eq!(o.spool.max_bytes, 2 << 30);
            assert_eq!(o.bus.ping_interval, Duration::from_secs(20));
            assert_eq!(o.bus.connect_timeout, Duration::from_secs(5));
        }
        assert_eq!(
            crate::query::DEFAULT_QUERY_TIMEOUT,
            crate::config::DEFAULT_HOST_QUERY_TIMEOUT
        );
    }

    #[test]
    fn a_missing_seed_file_is_a_clear_error() {
        let c = SiteConfig::from_toml_str(
            "site = \"s\"\n[nats]\nnkey_seed_file = \"no/such/seed.nk\"\n",
            "s.toml",
        )
        .unwrap();
        let e = c.bus_options().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("reading nats.nkey_seed_file no/such/seed.nk:")
        );
    }

    #[test]
    fn passwords_and_tokens_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("password");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let text = format!(
            "site = \"s\"\n[nats]\nuser = \"labwire\"\npassword_file = {:?}\n",
            pw.display().to_string()
        );
        let c = SiteConfig::from_toml_str(&text, "s.toml").unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            c.bus_options().unwrap().auth,
            BusAuth::UserPassword {
                user: "labwire".into(),
                password: "s3cret".into()
            }
        );
        let c = SiteConfig::from_toml_str(
            "site = \"s\"\n[nats]\ntoken_file = \"no/such/token\"\n",
            "s.toml",
        )
        .unwrap();
        assert!(
            c.bus_options()
                .unwrap_err()
                .to_string()
                .starts_with("reading nats.token_file no/such/token:")
        );
    }
}
