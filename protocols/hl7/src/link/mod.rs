//! The HL7 v2 link over MLLP as a sans-IO state machine, in the shape of ASTM's
//! `labwire_astm::link::Link`: bytes and instants in ([`Link::handle_input`],
//! [`Link::handle_timeout`], [`Link::handle_end_of_input`]), bytes to write
//! ([`Link::poll_transmit`]), events ([`Link::poll_event`]) and the next deadline
//! ([`Link::poll_timeout`]) out; the caller decides each received message with
//! [`Link::commit`], [`Link::reject`], [`Link::refuse`], [`Link::refuse_unstorable`] or
//! [`Link::answer_query`], and starts downloads with [`Link::send_orders`]. No clock, no I/O:
//! wall time (MSH-7, control ids) is derived from the instant and wall time given to
//! [`Link::new`] and the instants passed in, so tests run on fake time.
//!
//! - results (ORU/OUL): acknowledged only once the caller commits: original mode `AA`;
//!   enhanced mode (MSH-15 / MSH-16 valued) `CA` and, when asked for, the application `AA`.
//!   `reject` answers `AE`/`CE` with ERR (resend), `refuse` `AR` with ERR (content unusable),
//!   `refuse_unstorable` `AR`/`CR` (larger than the bus accepts: never resend);
//! - host queries (QBP^Q11): answered with RSP^K11 carrying the order, or `NF`;
//! - downloads (OML^O33): one message per order, each waiting for an ORL^O34 or ACK whose MSA-2
//!   names it; `AA`/`CA` for all completes the download, anything else or the deadline fails it;
//! - ACKs and ORLs from the instrument are never acknowledged back (no ACK loops);
//! - batches (`FHS`/`BHS`, v2.5 §2.10.3): each message is handed over on its own; the answer is
//!   one response batch sent when every message is settled ([`batch`]).
//!
//! See docs/hl7.md, "The link state machine".

pub mod batch;
pub mod event;
pub mod machine;

pub use batch::{BatchSplit, is_batch};
pub use event::{
    DEFAULT_DOWNLOAD_ACK_TIMEOUT, LinkConfig, LinkEvent, LinkStats, SendError, SendId, Token,
};
pub use machine::Link;
