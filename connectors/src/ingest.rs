//! What connectors hand events to, and where downloads come from.
//!
//! [`Ingest`] is the durability gate: `submit` returns `Ok` only once the events are durable
//! (JetStream-acked or spooled to disk). The router's `labwire_router::Ingest` is the production
//! implementation; [`crate::MemoryIngest`] is an in-process one for examples and tests.

use labwire_event::{Command, Event, QueryReply};
use std::future::Future;
use tokio::sync::oneshot;

/// Why events could not be made durable.
///
/// A transient failure ([`IngestFailure::Unavailable`]) makes the instrument resend; a permanent
/// one ([`IngestFailure::TooLarge`]) cannot succeed on retry, so the driver records an `error`
/// event and gives the instrument a definite answer instead (HL7 `AR`/`CR`, ASTM ACK).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestFailure {
    /// Not durable now (bus down and spool full, disk error, deadline); a retry may succeed.
    #[error("ingest failed: {0}")]
    Unavailable(String),
    /// An event is larger than the bus accepts: retrying the same message can never succeed.
    #[error("an event of {size} bytes is larger than the bus accepts ({limit} bytes)")]
    TooLarge {
        /// Bytes the event needs on the bus.
        size: usize,
        /// The most the bus accepts (the NATS server's `max_payload`).
        limit: usize,
    },
}

impl IngestFailure {
    /// True when retrying the same events can never succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::TooLarge { .. })
    }
}

/// The durability gate and host-query path of the router.
pub trait Ingest: Clone + Send + Sync + 'static {
    /// Stores events durably; `Ok` means they survive a crash of this process.
    fn submit(&self, events: Vec<Event>) -> impl Future<Output = Result<(), IngestFailure>> + Send;

    /// Asks the lab applications for orders for a host query; `None` when nobody answered in
    /// time (the instrument is then told "no information").
    fn host_query(&self, query: Event) -> impl Future<Output = Option<QueryReply>> + Send;
}

/// One download from the instrument's durable `cmd` consumer, with a way to report back.
#[derive(Debug)]
pub struct CommandDelivery {
    /// The orders to download.
    pub command: Command,
    /// Receives the outcome; the router acks the JetStream message on `Delivered` and lets it be
    /// redelivered otherwise (also when this sender is dropped).
    pub done: oneshot::Sender<CommandOutcome>,
}

/// What happened to a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The instrument acknowledged all of it.
    Delivered,
    /// It was not (fully) delivered; redeliver later.
    Failed(String),
}
