//! Errors of the bus, the spool and the ingest gate.
//!
//! Each error says what was being done and keeps its source; the ingest error has a small
//! [`IngestErrorKind`] for callers that only need to decide "retry later" vs "drop with a reason".

use std::path::PathBuf;
use std::time::Duration;

/// A failure talking to NATS / JetStream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The client could not be set up (bad URL, TLS files, …).
    #[error("connecting to NATS at {url}: {source}")]
    Connect {
        /// The configured URL.
        url: String,
        /// The client's error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The credentials file could not be read.
    #[error("reading NATS credentials file {path}: {source}")]
    Credentials {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Creating or updating the JetStream stream failed.
    #[error("creating or updating JetStream stream {stream}: {reason}")]
    Stream {
        /// The stream name.
        stream: String,
        /// What the server or client said.
        reason: String,
    },
    /// The client is not connected (or the stream is not set up yet).
    #[error("not connected to NATS (or stream not ready)")]
    NotReady,
    /// Encoding the event as JSON failed.
    #[error("encoding event {id} as JSON: {source}")]
    Encode {
        /// The event id.
        id: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The publish was refused or failed (no stream, broken connection, server error).
    #[error("publishing to {subject}: {source}")]
    Publish {
        /// The subject.
        subject: String,
        /// The client's error.
        #[source]
        source: async_nats::jetstream::context::PublishError,
    },
    /// The message is larger than the server accepts; retrying cannot help.
    #[error(
        "message for {subject} is {size} bytes, more than the server's max_payload of {limit} bytes"
    )]
    TooLarge {
        /// The subject.
        subject: String,
        /// Bytes the publish needs (payload and headers).
        size: usize,
        /// The server's `max_payload` (as announced when the client connected).
        limit: usize,
    },
    /// No JetStream ack arrived in time. The message may still have been stored: retry with the
    /// same id and the stream's duplicate window stores it once.
    #[error("no JetStream ack for {subject} within {deadline:?} (it may still be stored)")]
    AckTimeout {
        /// The subject.
        subject: String,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// Creating or reading a consumer failed.
    #[error("JetStream consumer {consumer}: {reason}")]
    Consumer {
        /// The durable consumer name.
        consumer: String,
        /// What went wrong.
        reason: String,
    },
}

/// A failure of the SQLite spool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// The spool has reached its row or byte limit; nothing was written.
    #[error(
        "spool full: {rows} events / {bytes} bytes held (limits {max_rows} events / {max_bytes} \
         bytes); refusing {incoming} more"
    )]
    Full {
        /// Rows held now.
        rows: u64,
        /// Payload bytes held now.
        bytes: u64,
        /// The row limit.
        max_rows: u64,
        /// The byte limit.
        max_bytes: u64,
        /// How many events were refused.
        incoming: usize,
    },
    /// Opening, migrating or writing the database failed.
    #[error("spool database {path}: {what}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The sqlx error.
        #[source]
        source: sqlx::Error,
    },
    /// The transaction holding this push (and the others committed with it) failed; nothing of
    /// it was written.
    #[error("spool database {path}: committing a push: {reason}")]
    CommitFailed {
        /// The database file.
        path: PathBuf,
        /// The database error, as text (it is shared by every push of the group).
        reason: String,
    },
    /// The spool's writer task has stopped (the runtime is shutting down).
    #[error("spool database {path}: the writer task has stopped")]
    WriterStopped {
        /// The database file.
        path: PathBuf,
    },
    /// Applying the embedded migrations failed.
    #[error("spool database {path}: migrating: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The migration error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// Why [`crate::IngestGate::submit`] could not make the events durable. The caller must withhold the
/// instrument's ACK (so the instrument retransmits).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The bus is unreachable and the spool is full: back-pressure to the instrument.
    #[error("bus unreachable and {0}")]
    SpoolFull(#[source] SpoolError),
    /// The spool could not be written (disk error, …).
    #[error("spool write failed: {0}")]
    Spool(#[source] SpoolError),
    /// An event could not be encoded or is larger than the bus accepts.
    #[error("event rejected: {0}")]
    Rejected(#[source] BusError),
    /// A `query` event was submitted: queries are request/reply (`Bus::host_query`), never
    /// stored in the stream.
    #[error("event {id} is a host query: use host_query, queries are not stored")]
    NotDurable {
        /// The event id.
        id: String,
    },
}

/// What kind of [`IngestError`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestErrorKind {
    /// Spool full: retry later, the instrument retransmits.
    SpoolFull,
    /// Storage failure: retry later and alert.
    Storage,
    /// The event itself cannot be stored: retrying will not help.
    Rejected,
}

impl IngestError {
    /// The kind of failure.
    pub fn kind(&self) -> IngestErrorKind {
        match self {
            Self::SpoolFull(_) => IngestErrorKind::SpoolFull,
            Self::Spool(_) => IngestErrorKind::Storage,
            Self::Rejected(_) | Self::NotDurable { .. } => IngestErrorKind::Rejected,
        }
    }
}
