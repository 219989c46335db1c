//! `labwire hub --config FILE`: the hub's TOML configuration (shared conventions §8).
//!
//! ```toml
//! [mqtt]
//! url = "mqtt://127.0.0.1:1883"   # mqtts:// with ca_file, cert_file, key_file otherwise
//! [database]
//! url = "sqlite://hub.db"         # or postgres://user@host:5432/db
//! retention = "90d"
//! [http]
//! listen = "127.0.0.1:8080"
//! [fleet]
//! heartbeat_interval = "60s"      # the sites' [uplink] interval
//! offline_after_missed = 3
//! ```
//!
//! Unknown keys and bad values are refused with their line and column, like the site config.

use crate::limits;
use labwire_router::config::HumanDuration;
use labwire_uplink::broker::{BrokerError, BrokerUrl, TlsFiles};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A configuration error: where (1-based line and column in the file) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file name as given.
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Reading the file failed, or its content is refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The content is refused.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

/// The database the hub stores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (`sqlite://FILE`).
    Sqlite,
    /// A shared PostgreSQL (`postgres://…` or `postgresql://…`).
    Postgres,
}

/// The validated hub configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The broker the sites publish to.
    pub mqtt_url: BrokerUrl,
    /// Mutual-TLS files, present exactly when the url is `mqtts://`.
    pub mqtt_tls: Option<TlsFiles>,
    /// The MQTT client id (the broker keeps this session's queue while the hub is down).
    pub mqtt_client_id: String,
    /// The database url as written (never logged: it may carry a password).
    pub database_url: String,
    /// Which database `database_url` names.
    pub backend: Backend,
    /// Records older than this (by their `at`) are deleted.
    pub retention: Duration,
    /// Where the console and the JSON API listen.
    pub listen: SocketAddr,
    /// Liveness thresholds.
    pub fleet: crate::fleet::Policy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    mqtt: Spanned<RawMqtt>,
    database: Spanned<RawDatabase>,
    http: Option<Spanned<RawHttp>>,
    fleet: Option<RawFleet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMqtt {
    url: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    cert_file: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Spanned<String>,
    retention: Option<Spanned<HumanDuration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    heartbeat_interval: Option<Spanned<HumanDuration>>,
    offline_after_missed: Option<Spanned<u32>>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before.chars().count(), |(_, l)| l.chars().count())
        + 1;
    (line, column)
}

impl HubConfig {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::from_toml_str(&text, &path.display().to_string())?)
    }

    /// Validates TOML text; `source_name` prefixes errors.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ConfigError {
                source_name: source_name.to_owned(),
                line,
                column,
                message,
            }
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            at(offset, e.message().trim_end().to_owned())
        })?;

        let mqtt = raw.mqtt.into_inner();
        let mqtt_url = BrokerUrl::parse(mqtt.url.get_ref()).map_err(|e| {
            let message = match e {
                BrokerError::BadUrl => {
                    "mqtt.url must be mqtts://HOST:PORT (or mqtt://HOST:PORT to a loopback address)"
                        .to_owned()
                }
                other => format!("mqtt.url: {other}"),
            };
            at(mqtt.url.span().start, message)
        })?;
        let files = [&mqtt.ca_file, &mqtt.cert_file, &mqtt.key_file];
        let mqtt_tls = match (&mqtt.ca_file, &mqtt.cert_file, &mqtt.key_file) {
            (Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
                ca: PathBuf::from(ca.get_ref()),
                cert: PathBuf::from(cert.get_ref()),
                key: PathBuf::from(key.get_ref()),
            }),
            _ if files.iter().any(|f| f.is_some()) => {
                return Err(at(
                    mqtt.url.span().start,
                    "mqtt: ca_file, cert_file and key_file go together".to_owned(),
                ));
            }
            _ => None,
        };
        if mqtt_url.tls && mqtt_tls.is_none() {
            return Err(at(
                mqtt.url.span().start,
                "mqtts:// needs ca_file, cert_file and key_file".to_owned(),
            ));
        }

        let mqtt_client_id = match &mqtt.client_id {
            None => limits::DEFAULT_MQTT_CLIENT_ID.to_owned(),
            Some(id) => {
                let v = id.get_ref();
                let ok = (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(at(
                        id.span().start,
                        "mqtt.client_id must be 1-64 characters of A-Z a-z 0-9 - _".to_owned(),
                    ));
                }
                v.clone()
            }
        };

        let database = raw.database.into_inner();
        let url = database.url.get_ref().trim().to_owned();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(at(
                database.url.span().start,
                "database.url must be sqlite://FILE or postgres://…".to_owned(),
            ));
        };
        let retention = match database.retention {
            Some(r) if r.get_ref().0.is_zero() => {
                return Err(at(
                    r.span().start,
                    "database.retention must be longer than 0".to_owned(),
                ));
            }
            Some(r) => r.into_inner().0,
            None => limits::DEFAULT_RETENTION,
        };

        let listen = match raw.http {
            None => limits::DEFAULT_LISTEN,
            Some(http) => {
                let listen = &http.get_ref().listen;
                listen.get_ref().parse().map_err(|_| {
                    at(
                        listen.span().start,
                        "http.listen must be HOST:PORT with an IP address".to_owned(),
                    )
                })?
            }
        };

        let mut fleet = crate::fleet::Policy::default();
        if let Some(f) = raw.fleet {
            if let Some(i) = f.heartbeat_interval {
                if i.get_ref().0.is_zero() {
                    return Err(at(
                        i.span().start,
                        "fleet.heartbeat_interval must be longer than 0".to_owned(),
                    ));
                }
                fleet.heartbeat_interval = i.into_inner().0;
            }
            if let Some(m) = f.offline_after_missed {
                if *m.get_ref() == 0 {
                    return Err(at(
                        m.span().start,
                        "fleet.offline_after_missed must be at least 1".to_owned(),
                    ));
                }
                fleet.offline_after_missed = m.into_inner();
            }
        }

        Ok(Self {
            mqtt_url,
            mqtt_tls,
            mqtt_client_id,
            database_url: url,
            backend,
            retention,
            listen,
            fleet,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[database]\nurl = \"sqlite://hub.db\"\n[http]\nlisten = \"127.0.0.1:8080\"\n";

    #[test]
    fn the_conventions_example_loads_with_defaults() {
        let c = HubConfig::from_toml_str(GOOD, "hub.toml").unwrap();
        assert_eq!(c.backend, Backend::Sqlite);
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.retention, limits::DEFAULT_RETENTION);
        assert_eq!(c.fleet, crate::fleet::Policy::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_line_and_column() {
        let text = GOOD.replace("[http]\n", "[http]\nlisen = \"x\"\n");
        let e = HubConfig::from_toml_str(&text, "hub.toml").unwrap_err();
        assert_eq!((e.line, e.column), (6, 1), "{e}");
        assert!(e.message.contains("lisen"), "{e}");
    }

    #[test]
    fn bad_values_point_at_the_value() {
        let text = GOOD.replace("sqlite://hub.db", "mysql://x");
        let e = HubConfig::from_toml_str(&text, "hub.toml").unwrap_err();
        assert_eq!((e.line, e.column), (4, 7), "{e}");
        let text = GOOD.replace("mqtt://127.0.0.1:1883", "mqtt://hub.example.org:1883");
        let e = HubConfig::from_toml_str(&text, "hub.toml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("loopback"), "{e}");
        let text = format!("{GOOD}[fleet]\noffline_after_missed = 0\n");
        let e = HubConfig::from_toml_str(&text, "hub.toml").unwrap_err();
        assert_eq!((e.line, e.column), (8, 24), "{e}");
    }

    #[test]
    fn postgres_urls_select_the_postgres_backend() {
        let text = GOOD.replace("sqlite://hub.db", "postgres://hub@db.example.org/hub");
        let c = HubConfig::from_toml_str(&text, "hub.toml").unwrap();
        assert_eq!(c.backend, Backend::Postgres);
    }
}
