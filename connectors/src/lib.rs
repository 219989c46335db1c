//! labwire connectors: instruments over TCP and RS-232, driving the sans-IO protocol state
//! machines.
//!
//! - [`transport`]: TCP server / client and serial ports, all yielding byte streams.
//! - [`Link`]: the adapter over a protocol's sans-IO link (ASTM E1381, HL7 MLLP, serial line).
//! - [`Connector`] + [`run`]: one driver loop for every protocol, with read/write/idle deadlines,
//!   acknowledgement gated on durability ([`Ingest`]), status events and [`LinkHealth`].
//! - [`serial_line`]: line-oriented serial devices (balances, pH meters).
//! - [`modbus`]: Modbus TCP/RTU devices polled by profile, one scheduler per physical line.
//!
//! The `router` feature (default) adds [`RouterIngest`] and the command pump, which run
//! connectors against labwire's router (NATS JetStream and the SQLite spool). Without it the crate
//! builds without async-nats and sqlx: `labwire-connectors = { default-features = false }`.
#![forbid(unsafe_code)]

pub mod astm;
pub mod astm_records;
mod connector;
mod driver;
mod health;
pub mod hl7;
mod ingest;
mod link;
mod link_metrics;
mod memory;
pub mod modbus;
#[cfg(feature = "router")]
mod router;
pub mod serial_line;
pub mod site;
mod status;
pub mod transport;

pub use connector::{Connector, ConnectorContext, ConnectorError, run};
pub use driver::{DriverConfig, Ended};
pub use health::{HealthSnapshot, LinkHealth};
pub use ingest::{CommandDelivery, CommandOutcome, Ingest, IngestFailure};
pub use link::{Link, LinkCounters, LinkEvent, SendError, SendId, Token};
pub use link_metrics::register_link_metrics;
pub use memory::MemoryIngest;
#[cfg(feature = "router")]
pub use router::{RouterIngest, spawn_command_pump};
pub use status::{
    NOISE_BURST, NOISE_REFILL, NOISE_STATES, NOISE_SUMMARY_STATE, NOISE_SUMMARY_WINDOW,
    REJECTED_INPUT, StatusReporter,
};
