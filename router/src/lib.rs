//! labwire router: site configuration, the NATS JetStream bus and the durable-before-ACK ingest gate.

pub mod bus;
pub mod commands;
pub mod drain;
pub mod error;
pub mod ingest;
pub mod query;
pub mod runtime;
pub mod spool;
pub mod stats;
pub mod status;

pub use bus::{Bus, BusAuth, BusOptions, BusTls, Stored, StreamOptions};
pub use commands::{CommandOptions, CommandQueue, CommandTarget, PendingCommand};
pub use drain::DrainOptions;
pub use error::{BusError, IngestError, IngestErrorKind, SpoolError};
pub use ingest::{IngestGate, Receipt};
pub use query::{NoOrdersReason, QueryOutcome};
pub use runtime::{Router, RouterOptions, StartError};
pub use spool::{Spool, SpoolOptions};
pub use stats::{RouterStats, StatsSnapshot};
pub use status::StatusPublisher;

pub mod config;
pub mod fuzz;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod tail;
