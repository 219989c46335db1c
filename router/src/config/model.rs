//! The validated site configuration: what `labwire run` starts from.
//!
//! Every value here has passed validation; defaults are filled in (see `docs/config.md` and the
//! `DEFAULT_*` constants).

use super::instrument::InstrumentConfig;
use labwire_event::SiteId;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default NATS server URL.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
/// Default time allowed to connect to NATS.
pub const DEFAULT_NATS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default NATS ping interval; lower than the client's 60 s so a dead connection is noticed.
pub const DEFAULT_NATS_PING_INTERVAL: Duration = Duration::from_secs(20);
/// Default SQLite spool path (relative to the working directory).
pub const DEFAULT_STORAGE_PATH: &str = "labwire.db";
/// Default age after which JetStream drops events from the `LAB` stream.
pub const DEFAULT_STREAM_MAX_AGE: Duration = Duration::from_secs(30 * 86_400);
/// Default size cap of the `LAB` stream.
pub const DEFAULT_STREAM_MAX_BYTES: u64 = 10 << 30;
/// Default JetStream duplicate window: covers retries and spool replay after a day-long outage.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3_600);
/// Default spool cap in events.
pub const DEFAULT_SPOOL_MAX_EVENTS: u64 = 1_000_000;
/// Default spool cap in bytes.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 2 << 30;
/// Default time the ingest gate has to make an event durable before the instrument is NAKed.
pub const DEFAULT_INGEST_DEADLINE: Duration = Duration::from_secs(5);
/// Default address of the metrics and health endpoints: loopback only. A deployment that is
/// scraped or probed from outside (a Kubernetes pod) sets `[metrics] listen` explicitly.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// A validated site configuration (shared conventions §5).
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// The site (lab) id: the second token of every subject.
    pub site: SiteId,
    /// How to reach the local NATS server.
    pub nats: NatsConfig,
    /// Limits of the JetStream `LAB` stream.
    pub stream: StreamConfig,
    /// Where the spool database lives.
    pub storage: StorageConfig,
    /// Limits of the spool (events kept while the bus is unreachable).
    pub spool: SpoolConfig,
    /// The durability gate.
    pub ingest: IngestConfig,
    /// The metrics and health HTTP endpoint.
    pub metrics: MetricsConfig,
    /// Log output.
    pub logging: LoggingConfig,
    /// `[uplink]`: telemetry to the regional hub; `None` when the section is absent.
    pub uplink: Option<super::UplinkSettings>,
    /// The instruments, in file order.
    pub instruments: Vec<InstrumentConfig>,
}

impl SiteConfig {
    /// The instruments that are enabled.
    pub fn enabled_instruments(&self) -> impl Iterator<Item = &InstrumentConfig> {
        self.instruments.iter().filter(|i| i.enabled)
    }
}

/// How to reach the local NATS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URL(s), e.g. `nats://127.0.0.1:4222`; several may be given comma-separated.
    pub url: String,
    /// How the client authenticates.
    pub auth: NatsAuth,
    /// TLS settings, when the server requires TLS.
    pub tls: Option<NatsTls>,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Interval between client pings.
    pub ping_interval: Duration,
}

/// A secret given in the config itself or in a file (a mounted Kubernetes Secret).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value, written in the config.
    Inline(String),
    /// A file holding the value (surrounding whitespace is ignored); read at start.
    File(PathBuf),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// How labwire authenticates to NATS.
#[derive(Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials.
    None,
    /// A `.creds` file (JWT + nkey seed), as issued by the site's NATS operator.
    CredsFile(PathBuf),
    /// A file holding an nkey seed (`SU…`).
    NkeySeedFile(PathBuf),
    /// User name and password.
    UserPassword {
        /// The user name.
        user: String,
        /// The password (never printed by `Debug`).
        password: Secret,
    },
    /// A bare token.
    Token(Secret),
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::CredsFile(p) => f.debug_tuple("CredsFile").field(p).finish(),
            Self::NkeySeedFile(p) => f.debug_tuple("NkeySeedFile").field(p).finish(),
            Self::UserPassword { user, password } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", password)
                .finish(),
            Self::Token(t) => f.debug_tuple("Token").field(t).finish(),
        }
    }
}

impl NatsAuth {
    /// A short description for summaries and logs (no secrets).
    pub fn describe(&self) -> &'static str {
        match self {
            Self::None => "no credentials",
            Self::CredsFile(_) => "creds file",
            Self::NkeySeedFile(_) => "nkey seed file",
            Self::UserPassword { .. } => "user/password",
            Self::Token(_) => "token",
        }
    }
}

/// TLS files for the NATS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsTls {
    /// CA certificate(s) to trust for the server, PEM.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key, PEM, for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Limits of the JetStream `LAB` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    /// Events older than this are dropped.
    pub max_age: Duration,
    /// The stream never grows beyond this many bytes (oldest events dropped first).
    pub max_bytes: u64,
    /// Window in which a publish with an already-seen event id is stored once.
    pub duplicate_window: Duration,
}

/// Where the spool database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Path of the SQLite spool database.
    pub path: PathBuf,
}

/// Limits of the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// At most this many events are spooled; beyond it the ingest gate refuses (the instrument
    /// is NAKed and retransmits later), it never drops spooled events.
    pub max_events: u64,
    /// At most this many bytes of events are spooled.
    pub max_bytes: u64,
}

/// The durability gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Time to make an event durable (bus ack or spool commit) before giving up.
    pub deadline: Duration,
}

/// The metrics and health HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether the endpoint is served.
    pub enabled: bool,
    /// Address to serve `/metrics`, `/healthz` and `/readyz` on.
    pub listen: SocketAddr,
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfig {
    /// The most verbose level written.
    pub level: LogLevel,
    /// One JSON object per line instead of text.
    pub json: bool,
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation (default).
    Info,
    /// Diagnostics; may be verbose, still never patient data.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The lowercase name (`info`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}
