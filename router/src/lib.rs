//! labwire router: site configuration, the NATS JetStream bus and the durable-before-ACK ingest gate.

pub mod bus;
pub mod error;
pub mod stats;

pub use bus::{Bus, BusAuth, BusOptions, BusTls, Stored, StreamOptions};
pub use error::{BusError, IngestError, IngestErrorKind, SpoolError};
pub use stats::{RouterStats, StatsSnapshot};

pub mod config;
