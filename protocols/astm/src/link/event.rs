//! What a [`super::Link`] reports to its caller.

/// Proof that a received message is waiting for the caller's decision.
///
/// The ACK of the frame that completed the message is held until the token is
/// passed to [`super::Link::commit`] (ACK) or [`super::Link::reject`] (NAK, so
/// the instrument retransmits). Not `Clone` and not constructible outside the
/// link, so each message is decided exactly once.
#[must_use = "commit or reject the message, or the instrument never gets its ACK"]
#[derive(Debug, PartialEq, Eq)]
pub struct DeliveryToken {
    pub(crate) id: u64,
}

impl DeliveryToken {
    /// Sequence number of the delivered message on this link (for logs).
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Identifies a message given to [`super::Link::send_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendId(pub(crate) u64);

impl SendId {
    /// Sequence number (for logs).
    #[must_use]
    pub fn value(self) -> u64 {
        self.0
    }
}

/// Why a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// A frame was NAKed more often than [`super::LinkConfig::max_frame_retries`].
    #[error("frame rejected too often by the receiver")]
    TooManyRetries,
    /// The peer did not answer within the sender timer.
    #[error("no reply within the sender timer")]
    Timeout,
    /// The peer stayed busy (NAK to ENQ) or silent for every establishment attempt.
    #[error("could not establish a transfer")]
    NotEstablished,
}

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The peer sends, we receive.
    Receiving,
    /// We send.
    Sending,
}

/// Something the caller should know; drained with [`super::Link::poll_event`].
#[derive(Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A transfer phase started.
    Established(Direction),
    /// A complete message arrived; its final ACK waits for commit or reject.
    Message {
        /// Pass to `commit` once the message is durable, or to `reject`.
        token: DeliveryToken,
        /// Record text: joined frame texts, records terminated by CR.
        text: Vec<u8>,
    },
    /// A queued message was acknowledged frame by frame.
    Sent(SendId),
    /// A queued message could not be sent.
    SendFailed {
        /// Which message.
        id: SendId,
        /// Why.
        reason: SendFailure,
    },
    /// The peer answered our ENQ with NAK; we retry after the busy timer.
    PeerBusy,
    /// The transfer phase ended; the link is neutral.
    Terminated,
    /// An incomplete received message was dropped (EOT, new ENQ or receiver timer, or the
    /// sender gave up after its final frame was refused): it was never acknowledged as a whole,
    /// so it is never a [`LinkEvent::Message`].
    Discarded {
        /// Bytes of text dropped.
        len: usize,
        /// Why.
        reason: &'static str,
        /// Offset in the received byte stream of the first frame of the dropped text.
        offset: Option<usize>,
        /// The dropped text (at most [`super::LinkConfig::max_message`] bytes; patient data,
        /// local only).
        text: Vec<u8>,
    },
    /// A protocol error in the received bytes (bad frame, noise, flood).
    Rejected {
        /// Offset in the received byte stream.
        offset: usize,
        /// What was wrong.
        reason: String,
        /// Up to 32 bytes from the offending place.
        excerpt: Vec<u8>,
    },
}

/// Counters for metrics, read with [`super::Link::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames accepted (including duplicates re-ACKed).
    pub frames_received: u64,
    /// Frames sent, retransmissions included.
    pub frames_sent: u64,
    /// Messages delivered to the caller.
    pub messages_received: u64,
    /// Messages acknowledged by the peer.
    pub messages_sent: u64,
    /// NAKs we sent.
    pub naks_sent: u64,
    /// NAKs we received.
    pub naks_received: u64,
    /// Frames we retransmitted.
    pub retransmits: u64,
    /// Received frames with a checksum mismatch.
    pub checksum_errors: u64,
    /// Duplicate frames re-ACKed and dropped.
    pub duplicates: u64,
    /// Sender or receiver timer expiries.
    pub timeouts: u64,
    /// Noise bytes between frames.
    pub noise_bytes: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
}
