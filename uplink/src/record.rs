//! The `labwire.telemetry/v1` records (shared conventions §7).
//!
//! Every record is published on `labwire/<site>/<kind>` as one JSON object:
//! `schema`, `site`, `kind`, `id` (a content id, see [`crate::id`]), `at` (RFC 3339 UTC), then
//! the fields of its kind. The types are closed: numbers, closed enums and the validated codes
//! of [`crate::code`]. No `String`, map or JSON value appears in any of them, so there is no
//! place a name, a specimen number or a comment could go.

use crate::code::{ControlLevel, InstrumentRef, SiteRef, TestCode, Unit, Version};
use crate::volume::Cell;
use crate::westgard::WestgardRule;
use serde::{Deserialize, Serialize};

/// The schema tag of every record.
pub const SCHEMA: &str = "labwire.telemetry/v1";

/// The record kinds; also the last topic level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Liveness of the edge.
    Heartbeat,
    /// Per-instrument link health.
    Health,
    /// QC statistics per instrument, test and control level.
    Qc,
    /// Result counts per instrument and test (suppressed below the minimum cell size).
    Volume,
    /// Something an operator should look at.
    Alert,
}

impl Kind {
    /// The topic level (`heartbeat`, `health`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Heartbeat => "heartbeat",
            Self::Health => "health",
            Self::Qc => "qc",
            Self::Volume => "volume",
            Self::Alert => "alert",
        }
    }

    /// The outbox lane of this kind.
    pub fn priority(self) -> Priority {
        match self {
            Self::Alert => Priority::Alert,
            Self::Heartbeat | Self::Health => Priority::Liveness,
            Self::Qc => Priority::Qc,
            Self::Volume => Priority::Volume,
        }
    }
}

/// Outbox lanes, most urgent first: alerts, then heartbeat and health, then QC, then volume.
/// A full outbox drops from the lowest lane first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Alerts.
    Alert = 0,
    /// Heartbeats and health.
    Liveness = 1,
    /// QC statistics.
    Qc = 2,
    /// Result volumes.
    Volume = 3,
}

impl Priority {
    /// The lane number stored in the outbox (0 = most urgent).
    pub fn lane(self) -> i64 {
        self as i64
    }
}

/// One telemetry record: the envelope and its body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The site.
    pub site: SiteRef,
    /// Content id: hex of the first 16 bytes of SHA-256 over the record without its id.
    pub id: String,
    /// When the summary was made (hour-aligned for `volume`).
    pub at: jiff::Timestamp,
    /// Kind and fields.
    #[serde(flatten)]
    pub body: Body,
}

impl Record {
    /// The record kind.
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::Heartbeat(_) => Kind::Heartbeat,
            Body::Health(_) => Kind::Health,
            Body::Qc(_) => Kind::Qc,
            Body::Volume(_) => Kind::Volume,
            Body::Alert(_) => Kind::Alert,
        }
    }

    /// `labwire/<site>/<kind>`.
    pub fn topic(&self) -> String {
        format!("labwire/{}/{}", self.site, self.kind().as_str())
    }

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these types cannot fail: no maps with non-string keys, no custom
        // serialisers that error. An empty payload would be refused by the outbox.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The fields of each kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Body {
    /// See [`Heartbeat`].
    Heartbeat(Heartbeat),
    /// See [`Health`].
    Health(Health),
    /// See [`QcSummary`].
    Qc(QcSummary),
    /// See [`Volume`].
    Volume(Volume),
    /// See [`Alert`].
    Alert(Alert),
}

/// The state of the local NATS bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusState {
    /// Connected and JetStream answering.
    Connected,
    /// Not connected; events go to the spool.
    Disconnected,
}

/// `heartbeat`: the edge is alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// labwire version.
    pub version: Version,
    /// Seconds since labwire started.
    pub uptime_s: u64,
    /// Hex SHA-256 of the site configuration file (64 lowercase hex digits).
    pub config_hash: ConfigHash,
    /// Events waiting in the spool for the local bus.
    pub spool_depth: u64,
    /// Records waiting in the outbox for the hub.
    pub outbox_depth: u64,
    /// Records the outbox dropped since start because it was full or too old.
    pub outbox_dropped: u64,
    /// The local bus.
    pub bus: BusState,
    /// Instruments configured and enabled.
    pub instruments: u32,
}

/// A SHA-256 digest, serialised as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigHash(pub [u8; 32]);

impl Serialize for ConfigHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for ConfigHash {
    /// Accepts exactly 64 lowercase hex digits, the form [`Serialize`] writes.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        let lower = text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match hex::decode_to_slice(&text, &mut out) {
            Ok(()) if lower => Ok(Self(out)),
            _ => Err(serde::de::Error::custom(
                "config_hash must be 64 lowercase hex digits",
            )),
        }
    }
}

/// The protocol an instrument speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// ASTM E1381/E1394.
    Astm,
    /// HL7 v2 over MLLP.
    Hl7,
    /// Modbus TCP/RTU.
    Modbus,
    /// A line-oriented serial device.
    Serial,
}

/// An instrument's state as the edge sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstrumentState {
    /// Link up, no alarm.
    Up,
    /// No link.
    Down,
    /// Link up with a device alarm raised.
    Alarm,
}

/// Events per kind since start, for one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventCounts {
    /// Patient results (counted, never described).
    pub result: u64,
    /// QC results.
    pub qc: u64,
    /// Orders.
    pub order: u64,
    /// Device readings.
    pub telemetry: u64,
    /// Status events.
    pub status: u64,
    /// Rejected input.
    pub error: u64,
    /// Host queries.
    pub query: u64,
}

/// Link counters from the connector, since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinkCounts {
    /// NAKs sent or received.
    pub naks: u64,
    /// Frames or messages retransmitted.
    pub retransmits: u64,
    /// Frames with a bad checksum.
    pub checksum_errors: u64,
    /// Connections (re)established.
    pub reconnects: u64,
    /// Read or answer timeouts.
    pub timeouts: u64,
}

/// One instrument in a `health` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstrumentHealth {
    /// The configured instrument id.
    pub instrument: InstrumentRef,
    /// Its protocol.
    pub protocol: Protocol,
    /// Up, down or alarm.
    pub state: InstrumentState,
    /// Events by kind since start.
    pub events: EventCounts,
    /// Link counters.
    pub link: LinkCounts,
    /// Whole seconds since the last message from it; absent before the first.
    pub last_message_age_s: Option<u64>,
}

/// `health`: every instrument's link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// One entry per configured, enabled instrument, sorted by id.
    pub instruments: Vec<InstrumentHealth>,
}

/// The length of a summary period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// One UTC hour.
    Hour,
    /// One UTC day.
    Day,
}

/// `qc`: statistics of one control on one test on one instrument, for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QcSummary {
    /// Start of the period (aligned to its length, UTC).
    pub period_start: jiff::Timestamp,
    /// Period length.
    pub period: Period,
    /// The configured instrument id.
    pub instrument: InstrumentRef,
    /// The test code.
    pub test: TestCode,
    /// The control level, when the message carries one in a structured field.
    pub level: Option<ControlLevel>,
    /// The unit, when it passed the pattern.
    pub unit: Option<Unit>,
    /// Number of numeric QC results.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (0 for n < 2).
    pub sd: f64,
    /// The target the rules were checked against; absent until one is established.
    pub target: Option<crate::westgard::Target>,
    /// Westgard rules violated in the period (empty without a target).
    pub westgard: Vec<WestgardRule>,
}

/// `volume`: result counts for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Start of the period (aligned to its length, UTC).
    pub period_start: jiff::Timestamp,
    /// Period length.
    pub period: Period,
    /// The minimum cell size applied.
    pub min_cell: u64,
    /// Per instrument: the total and a cell per test.
    pub instruments: Vec<InstrumentVolume>,
}

/// One instrument in a `volume` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstrumentVolume {
    /// The configured instrument id.
    pub instrument: InstrumentRef,
    /// Results of every test together.
    pub total: Cell,
    /// Per test code, sorted by code.
    pub tests: Vec<TestVolume>,
}

/// One test's count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestVolume {
    /// The test code.
    pub test: TestCode,
    /// The count, or suppressed.
    pub count: Cell,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An instrument's link went down.
    InstrumentDown,
    /// An instrument's link came back.
    InstrumentUp,
    /// A device alarm was raised.
    DeviceAlarmRaised,
    /// A device alarm was cleared.
    DeviceAlarmCleared,
    /// The spool passed its warning level (`value` = percent full).
    SpoolFilling,
    /// The outbox passed its warning level (`value` = percent full).
    OutboxFilling,
    /// An instrument's clock differs from the edge clock (`value` = seconds, instrument
    /// minus edge, rounded to the minute).
    ClockSkew,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information (a condition cleared).
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

/// `alert`: one condition raised or cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What happened.
    pub alert: AlertKind,
    /// How urgent.
    pub severity: Severity,
    /// The instrument concerned, if any.
    pub instrument: Option<InstrumentRef>,
    /// A number whose meaning the alert kind defines.
    pub value: Option<i64>,
}

/// Why a payload is not a `labwire.telemetry/v1` record. No variant quotes the payload: a
/// misbehaving sender's bytes never reach a log line through this error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or JSON that does not fit the record types (a missing or unknown field value,
    /// a code that fails its pattern, a wrong type).
    #[error("{category} at line {line} column {column}")]
    Json {
        /// `syntax`, `data` (shape or value) or `eof` (truncated).
        category: &'static str,
        /// 1-based line of the payload.
        line: usize,
        /// 1-based column of the payload.
        column: usize,
    },
    /// `schema` is not [`SCHEMA`].
    #[error("schema is not {SCHEMA}")]
    Schema,
    /// `id` is not a content id (32 lowercase hex digits).
    #[error("id is not 32 lowercase hex digits")]
    Id,
}

/// The envelope as received: `schema` and `id` are checked after parsing.
#[derive(Deserialize)]
struct WireRecord {
    schema: String,
    site: SiteRef,
    id: String,
    at: jiff::Timestamp,
    #[serde(flatten)]
    body: Body,
}

impl Record {
    /// Parses and validates a payload against the record types: the same types the edge
    /// builds from, so every code passes its pattern and every enum is closed. Fields the types
    /// do not know are ignored and not kept (re-serialising gives only typed fields).
    pub fn from_json(payload: &[u8]) -> Result<Self, ParseError> {
        let wire: WireRecord = serde_json::from_slice(payload).map_err(|e| ParseError::Json {
            category: match e.classify() {
                serde_json::error::Category::Io => "io",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "eof",
            },
            line: e.line(),
            column: e.column(),
        })?;
        if wire.schema != SCHEMA {
            return Err(ParseError::Schema);
        }
        let hex_id = wire
            .id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if wire.id.len() != 32 || !hex_id {
            return Err(ParseError::Id);
        }
        Ok(Self {
            schema: SCHEMA,
            site: wire.site,
            id: wire.id,
            at: wire.at,
            body: wire.body,
        })
    }
}
