//! labwire router: site configuration, the NATS JetStream bus and the durable-before-ACK ingest gate.
//!
//! The `bus` feature (default) brings the bus, the spool, the ingest gate, the drain and
//! [`Router`]; without it the crate is the site configuration ([`config`]), the status-event
//! builder ([`status_event`]), [`metrics`] and the [`health`] endpoint, which is all a connector
//! crate needs (no async-nats, no sqlx).

#[cfg(feature = "bus")]
pub mod bus;
#[cfg(feature = "bus")]
pub mod commands;
#[cfg(feature = "bus")]
pub mod drain;
#[cfg(feature = "bus")]
pub mod error;
#[cfg(feature = "bus")]
pub mod ingest;
#[cfg(feature = "bus")]
pub mod query;
#[cfg(feature = "bus")]
pub mod runtime;
#[cfg(feature = "bus")]
pub mod spool;
pub mod stats;
#[cfg(feature = "bus")]
pub mod status;
pub mod status_event;
#[cfg(feature = "bus")]
pub mod stream_setup;

#[cfg(feature = "bus")]
pub use bus::{Bus, BusAuth, BusOptions, BusTls, Stored, StreamOptions, StreamPolicy};
#[cfg(feature = "bus")]
pub use commands::{CommandOptions, CommandQueue, CommandTarget, PendingCommand};
#[cfg(feature = "bus")]
pub use drain::DrainOptions;
#[cfg(feature = "bus")]
pub use error::{BusError, IngestError, IngestErrorKind, SpoolError};
#[cfg(feature = "bus")]
pub use ingest::{IngestGate, Receipt};
#[cfg(feature = "bus")]
pub use query::{NoOrdersReason, QueryOutcome};
#[cfg(feature = "bus")]
pub use runtime::{Router, RouterOptions, StartError};
#[cfg(feature = "bus")]
pub use spool::{Spool, SpoolOptions};
pub use stats::{RouterStats, StatsSnapshot};
#[cfg(feature = "bus")]
pub use status::StatusPublisher;
pub use status_event::status_event;

pub mod config;
pub mod fuzz;
pub mod health;
pub mod logging;
pub mod metrics;
#[cfg(feature = "bus")]
pub mod tail;
