//! The adapter between the driver and a protocol's sans-IO link state machine.
//!
//! Each protocol (ASTM E1381, HL7 MLLP, a serial line) wraps its state machine in a [`Link`].
//! The driver owns all I/O and all clocks; the link only sees bytes and instants, and tells the
//! driver what to write, when to wake it and what arrived. A link never decides on its own that
//! a message is safe: it holds the acknowledgement until the driver calls [`Link::commit`], which
//! the driver does only after the ingest has made the message durable.

use bytes::BytesMut;
use labwire_event::{Event, InputError, Order, QueryReply};
use std::time::Instant;

/// Identifies one received message whose acknowledgement is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(pub u64);

/// Identifies one outbound download (orders) until the instrument has taken it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendId(pub u64);

/// What a link reports to the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A complete message; answer with [`Link::commit`], [`Link::reject`], [`Link::refuse`] or
    /// [`Link::query_received`] then [`Link::answer_query`].
    Message {
        /// The pending acknowledgement.
        token: Token,
        /// The message bytes (records / segments, without link framing).
        raw: Vec<u8>,
    },
    /// Bytes the link could not use (bad checksum, garbage, over-long frame); the driver
    /// publishes an `error` event. The link keeps serving the next message.
    Rejected {
        /// Why.
        reason: String,
        /// Byte offset in the connection's input stream, when known.
        offset: Option<u64>,
        /// The offending bytes, truncated by the link (local only).
        raw: Vec<u8>,
    },
    /// Something for the status subject (e.g. `peer-busy`, `send-aborted`).
    Status {
        /// Short state.
        state: String,
        /// Detail for people (no patient data).
        detail: Option<String>,
    },
    /// The instrument took a download completely.
    Sent(SendId),
    /// A download could not be delivered (retries exhausted, refused, link reset).
    SendFailed {
        /// Which download.
        id: SendId,
        /// Why.
        reason: String,
    },
}

/// Why a link cannot take a download right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The line is busy (a message is in flight); try again when [`Link::is_idle`].
    #[error("link busy")]
    Busy,
    /// This protocol or instrument does not take downloads.
    #[error("this link does not accept orders")]
    Unsupported,
    /// The orders cannot be expressed in this protocol.
    #[error("cannot encode orders: {0}")]
    Encode(String),
}

/// Per-link counters since the link was created (one per connection); the driver adds them up
/// across reconnects in [`crate::LinkHealth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// NAKs (or AE/AR) this side sent.
    pub naks_sent: u64,
    /// NAKs the instrument sent.
    pub naks_received: u64,
    /// Frames this side retransmitted.
    pub retransmits: u64,
    /// Frames with a bad checksum or frame number.
    pub checksum_errors: u64,
    /// Protocol timer expiries.
    pub timeouts: u64,
}

/// A protocol's sans-IO link state machine as the driver sees it.
///
/// All methods are cheap and never block. After any call, the driver drains
/// [`poll_transmit`](Link::poll_transmit) and [`poll_event`](Link::poll_event) and re-arms
/// [`poll_timeout`](Link::poll_timeout).
pub trait Link: Send {
    /// Feeds bytes read from the instrument.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]);

    /// Tells the link that the instant from [`poll_timeout`](Link::poll_timeout) has passed.
    fn handle_timeout(&mut self, now: Instant);

    /// Tells the link that the peer closed its side: no more bytes will come on this
    /// connection. A link holding a partial frame reports it here (as a `Rejected` event with
    /// its bytes), so a cable pulled mid-frame leaves a trace instead of vanishing with the
    /// connection. The driver drains [`poll_event`](Link::poll_event) afterwards. The default
    /// does nothing.
    fn handle_end_of_input(&mut self, now: Instant) {
        let _ = now;
    }

    /// Appends bytes to write to `out`; returns false when there is nothing to send.
    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool;

    /// The next event, if any.
    fn poll_event(&mut self) -> Option<LinkEvent>;

    /// When the driver must call [`handle_timeout`](Link::handle_timeout), if ever.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The message is durable: acknowledge it (ASTM ACK of the final frame, HL7 `AA`/`CA`).
    fn commit(&mut self, token: Token, now: Instant);

    /// The message could not be made durable: make the instrument send it again (ASTM NAK,
    /// HL7 silence or `CE`/`AE` per mode). Never acknowledges.
    fn reject(&mut self, token: Token, now: Instant);

    /// The message was readable at the link level but its content is unusable; an `error` event
    /// describing it is already durable. The default acknowledges (so the instrument does not
    /// resend the same bad message forever); HL7 answers `AE`/`AR` with `ERR`.
    fn refuse(&mut self, token: Token, error: &InputError, now: Instant) {
        let _ = error;
        self.commit(token, now);
    }

    /// The message can never be stored (its events are larger than the bus accepts, so a resend
    /// cannot succeed); an `error` event saying why (size, limit, the start of the message) is
    /// already durable. The default is [`refuse`](Link::refuse) (ASTM: the frame is
    /// acknowledged, there is no E1381 answer meaning "never send this again"); HL7 answers
    /// `AR` (original mode) or `CR` (enhanced mode) with `ERR`: the message was not committed.
    fn refuse_unstorable(&mut self, token: Token, error: &InputError, now: Instant) {
        self.refuse(token, error, now);
    }

    /// The message is a host query and was accepted for answering. Called before the lab
    /// applications are asked, so a protocol whose query is acknowledged separately (ASTM) can
    /// release the instrument's line at once. The default commits; HL7 keeps the token, since
    /// its answer (RSP^K11) is the acknowledgement.
    fn query_received(&mut self, token: Token, now: Instant) {
        self.commit(token, now);
    }

    /// Sends the answer to a host query (`reply` `None`: nobody answered in time, which is
    /// answered as "no information"). The default sends nothing.
    fn answer_query(
        &mut self,
        token: Token,
        query: &Event,
        reply: Option<&QueryReply>,
        now: Instant,
    ) {
        let _ = (token, query, reply, now);
    }

    /// True when the line is quiet and a download could start now.
    fn is_idle(&self) -> bool {
        false
    }

    /// Starts a download of orders; completion is reported as [`LinkEvent::Sent`] or
    /// [`LinkEvent::SendFailed`] with the same id.
    fn send_orders(&mut self, id: SendId, orders: &[Order], now: Instant) -> Result<(), SendError> {
        let _ = (id, orders, now);
        Err(SendError::Unsupported)
    }

    /// Counters for this link.
    fn counters(&self) -> LinkCounters {
        LinkCounters::default()
    }
}
