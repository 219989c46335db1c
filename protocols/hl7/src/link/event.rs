//! What a [`super::Link`] reports to its caller, and its settings.

use crate::er7::Limits;
use crate::mllp::FramerConfig;
use std::time::Duration;

/// A received message whose acknowledgement waits for the caller's decision
/// ([`super::Link::commit`], [`super::Link::reject`], [`super::Link::refuse`],
/// [`super::Link::refuse_unstorable`] or [`super::Link::answer_query`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(pub u64);

/// Identifies one download (orders sent to the instrument), chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendId(pub u64);

/// Something the caller should know; drained with [`super::Link::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A complete message (a batch member is one message); its ACK waits for the caller.
    Message {
        /// Pass to the decision.
        token: Token,
        /// The message bytes, without MLLP framing.
        raw: Vec<u8>,
    },
    /// Bytes the link could not use (outside any frame, an over-long frame, a frame cut short).
    Rejected {
        /// Why (no patient data).
        reason: String,
        /// Offset in the connection's input stream.
        offset: Option<u64>,
        /// The offending bytes, bounded by the framer (patient data, local only).
        raw: Vec<u8>,
    },
    /// Something for the status subject (`cannot-acknowledge`, `query-answer-failed`).
    Status {
        /// Short state.
        state: String,
        /// Detail for people (no patient data).
        detail: String,
    },
    /// The instrument acknowledged every message of a download.
    Sent(SendId),
    /// A download was answered negatively or not in time.
    SendFailed {
        /// Which download.
        id: SendId,
        /// Why.
        reason: String,
    },
}

/// Why a download cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A download is still waiting for its acknowledgements.
    #[error("link busy")]
    Busy,
    /// An order cannot be written as OML^O33.
    #[error("cannot encode orders: {0}")]
    Encode(String),
}

/// Counters since the link was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Negative acknowledgements sent (`AE`/`AR`/`CE`/`CR`).
    pub naks_sent: u64,
    /// Negative acknowledgements received (MSA-1 other than `AA`/`CA`).
    pub naks_received: u64,
    /// Frame deadlines and download deadlines that passed.
    pub timeouts: u64,
    /// Messages handed to the caller.
    pub messages_received: u64,
}

/// Settings of one HL7 link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// MLLP framing limits and the frame deadline.
    pub framer: FramerConfig,
    /// Limits for reading a message's header (to answer it).
    pub limits: Limits,
    /// How long to wait for the ORL^O34 / ACK of each download (default 30 s).
    pub download_ack_timeout: Duration,
    /// MSH-3 (and BHS-3) of messages labwire originates.
    pub sending_application: String,
    /// MSH-5 of downloads (the instrument's application name).
    pub receiving_application: String,
    /// MSH-12 of messages labwire originates (default `2.5.1`).
    pub version: String,
}

/// The default wait for a download's acknowledgement: 30 s.
pub const DEFAULT_DOWNLOAD_ACK_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            framer: FramerConfig::default(),
            limits: Limits::default(),
            download_ack_timeout: DEFAULT_DOWNLOAD_ACK_TIMEOUT,
            sending_application: "labwire".into(),
            receiving_application: String::new(),
            version: "2.5.1".into(),
        }
    }
}
