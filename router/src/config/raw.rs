//! The file as written: serde structs that reject unknown keys and keep the span of every value
//! that is checked after parsing. Validation turns these into the types in `model`/`instrument`.

use super::instrument::{
    CharsetSetting, FlowControl, InstrumentProtocol, Parity, SecondConnection,
};
use super::model::LogLevel;
use super::units::{ByteSize, HumanDuration};
use serde::Deserialize;
use toml::Spanned;

/// The top-level keys, in the order `docs/config.md` lists them.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "site",
    "nats",
    "stream",
    "storage",
    "spool",
    "ingest",
    "metrics",
    "logging",
    "uplink",
    "instrument",
];

pub(crate) type S<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNats {
    pub url: S<String>,
    pub creds_file: S<String>,
    pub nkey_seed_file: S<String>,
    pub user: S<String>,
    pub password: S<String>,
    pub password_file: S<String>,
    pub token: S<String>,
    pub token_file: S<String>,
    pub tls: S<RawTls>,
    pub connect_timeout: S<HumanDuration>,
    pub ping_interval: S<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub ca_file: S<String>,
    pub cert_file: S<String>,
    pub key_file: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStream {
    pub max_age: S<HumanDuration>,
    pub max_bytes: S<ByteSize>,
    pub duplicate_window: S<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub path: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpool {
    pub max_events: S<u64>,
    pub max_bytes: S<ByteSize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIngest {
    pub deadline: S<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub enabled: Option<bool>,
    pub listen: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogging {
    pub level: Option<LogLevel>,
    pub json: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInstrument {
    pub id: S<String>,
    pub protocol: S<InstrumentProtocol>,
    pub enabled: Option<bool>,
    pub listen: S<String>,
    pub connect: S<String>,
    pub serial: S<String>,
    pub baud: S<u32>,
    pub parity: S<Parity>,
    pub data_bits: S<u8>,
    pub stop_bits: S<u8>,
    pub flow_control: S<FlowControl>,
    pub allow_peers: S<Vec<Spanned<String>>>,
    pub on_second_connection: S<SecondConnection>,
    pub max_connections: S<u32>,
    pub max_connections_per_peer: S<u32>,
    pub takeover_after: S<HumanDuration>,
    pub charset: Option<CharsetSetting>,
    pub max_frame_bytes: S<ByteSize>,
    pub max_message_bytes: S<ByteSize>,
    pub host_query_timeout: S<HumanDuration>,
    pub astm: S<RawAstm>,
    pub hl7: S<RawHl7>,
    pub unit: S<i64>,
    pub profile: S<String>,
    pub poll: S<HumanDuration>,
    pub modbus: S<RawModbus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModbus {
    pub timeout: S<HumanDuration>,
    pub keepalive: S<HumanDuration>,
    pub backoff_max: S<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAstm {
    pub sender_timer: S<HumanDuration>,
    pub receiver_timer: S<HumanDuration>,
    pub busy_timer: S<HumanDuration>,
    pub contention_timer: S<HumanDuration>,
    pub max_retries: S<u8>,
    pub framing: Option<super::instrument::AstmFraming>,
    pub bidirectional: Option<bool>,
    pub one_record_per_frame: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHl7 {
    pub ack_timeout: S<HumanDuration>,
}
