//! Link configuration: timers, retry counts and limits (CLSI LIS1-A §8.5, §8.6).
//!
//! Defaults follow the standard; every value is configurable because vendors
//! deviate (Roche c311/e411 use a 15 s receiver timer, OsmoTECH sends 64,000
//! byte frames, cobas wants one record per frame).

use std::time::Duration;

use super::encode::EncodeOptions;
use super::frame::FrameLimits;

/// Which end of the line this link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The laboratory information system (or this middleware). Loses contention.
    Host,
    /// The instrument (used by simulators). Wins contention.
    Instrument,
}

/// Timers, retry counts and limits of a [`super::Link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Our role; decides who wins when both sides send ENQ (§8.2.7).
    pub role: Role,
    /// Receive limits for one frame (default 64 KiB of text).
    pub frame_limits: FrameLimits,
    /// Maximum text bytes of one received message (default
    /// [`labwire_event::limits::DEFAULT_MESSAGE_BYTES`], 4 MiB).
    pub max_message: usize,
    /// How outgoing messages are cut into frames (default 240 bytes, §8.3.1.2).
    pub encode: EncodeOptions,
    /// Sender timer: wait for the reply to ENQ or to a frame (default 15 s, §8.5.1).
    pub sender_timeout: Duration,
    /// Receiver timer: wait for the next frame or EOT (default 30 s, §8.5.1).
    pub receiver_timeout: Duration,
    /// Wait after the peer answered our ENQ with NAK (busy) (default 10 s, §8.2.6).
    pub busy_retry: Duration,
    /// Host back-off after losing contention, counted from the end of the
    /// instrument's transfer (default 20 s, §8.2.7).
    pub host_contention_wait: Duration,
    /// Instrument wait before re-sending ENQ after contention (default 1 s, §8.2.7).
    pub instrument_contention_wait: Duration,
    /// Retransmissions of one frame after NAK before giving up with EOT (default 6, §8.3.4).
    pub max_frame_retries: u32,
    /// ENQ attempts (busy NAKs or unanswered ENQs) before a send fails (default 6).
    pub max_establish_attempts: u32,
    /// Honour a receiver interrupt (EOT instead of ACK) by ending the transfer
    /// after the current message (default false: treat it as ACK, §8.3.5).
    pub honour_interrupt: bool,
    /// Messages that may wait in the send queue (default 16).
    pub max_queued_messages: usize,
    /// Repeated ENQs answered while waiting for a first frame before the
    /// rest are ignored as a flood (default 8).
    pub max_repeated_enq: u32,
    /// Events kept until polled; further protocol-error events are dropped
    /// and counted (default 1024).
    pub max_pending_events: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self::new(Role::Host)
    }
}

impl LinkConfig {
    /// Standard defaults for `role`.
    #[must_use]
    pub fn new(role: Role) -> Self {
        Self {
            role,
            frame_limits: FrameLimits::default(),
            max_message: labwire_event::limits::DEFAULT_MESSAGE_BYTES,
            encode: EncodeOptions::default(),
            sender_timeout: Duration::from_secs(15),
            receiver_timeout: Duration::from_secs(30),
            busy_retry: Duration::from_secs(10),
            host_contention_wait: Duration::from_secs(20),
            instrument_contention_wait: Duration::from_secs(1),
            max_frame_retries: 6,
            max_establish_attempts: 6,
            honour_interrupt: false,
            max_queued_messages: 16,
            max_repeated_enq: 8,
            max_pending_events: 1024,
        }
    }
}
