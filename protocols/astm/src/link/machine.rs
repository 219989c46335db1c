//! The E1381 link state machine, both roles, sans-IO (CLSI LIS1-A §8.2-§8.6).
//!
//! Phases: neutral → establishment (ENQ, §8.2) → transfer (frames, §8.3) →
//! termination (EOT, §8.4). Time is an input (`now`) and deadlines an output
//! ([`Link::poll_timeout`]); bytes go in with [`Link::handle_input`] and come
//! out with [`Link::poll_transmit`]; everything else is a [`LinkEvent`].
//!
//! The ACK of the frame that completes a received message is held until the
//! caller calls [`Link::commit`] (or [`Link::reject`], which NAKs so the sender
//! retransmits). See `docs/astm-link.md` for the state diagram.

use std::collections::VecDeque;
use std::time::Instant;

use super::boundary::{ends_with_terminator_lenient, normalize_digit_prefixes, starts_with_header};
use super::config::{LinkConfig, Role};
use super::control::{ACK, Control, ENQ, EOT, NAK};
use super::decode::{Decoded, FrameDecoder};
use super::encode::next_piece;
use super::error::{FrameError, FrameErrorKind};
use super::event::{DeliveryToken, Direction, LinkEvent, LinkStats, SendFailure, SendId};
use super::frame::{Frame, FrameEnd, FrameNumber, encode_frame};

/// [`Link::send_message`] refused: the send queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send queue full ({0} messages)")]
pub struct Busy(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Neutral,
    Receiving { deadline: Instant },
    Enquiring { deadline: Instant },
    Transferring { deadline: Instant },
}

/// Progress through the message at the front of the send queue.
#[derive(Debug, Default)]
struct Outgoing {
    /// Start and end of the current frame's text in the message.
    start: usize,
    end: usize,
    number: u8,
    retries: u32,
    /// The encoded current frame, kept for retransmission.
    frame: Vec<u8>,
    /// The receiver asked to interrupt and we honour it.
    interrupted: bool,
}

/// Receive-side state of the current transfer.
#[derive(Debug, Default)]
struct Incoming {
    text: Vec<u8>,
    /// Where the last accepted frame's text starts in `text`.
    last_start: usize,
    expected: u8,
    previous: Option<u8>,
    /// Token id of the message whose final ACK is held.
    held: Option<u64>,
    /// How the last accepted frame ended.
    last_end: Option<FrameEnd>,
    /// How the frame before the last accepted one ended, restored by [`Link::reject`].
    previous_end: Option<FrameEnd>,
    /// Stream offset of the first frame of the text being received.
    started_at: Option<usize>,
    repeated_enq: u32,
}

/// A sans-IO E1381 link for one line (serial port or TCP connection).
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    decoder: FrameDecoder,
    phase: Phase,
    tx: Vec<u8>,
    events: VecDeque<LinkEvent>,
    stats: LinkStats,
    rx: Incoming,
    next_token: u64,
    queue: VecDeque<(SendId, Vec<u8>)>,
    out: Outgoing,
    next_send_id: u64,
    send_not_before: Option<Instant>,
    attempts: u32,
    contention_backoff: bool,
}

impl Link {
    /// A neutral link with `config`.
    #[must_use]
    pub fn new(config: LinkConfig) -> Self {
        Self {
            decoder: FrameDecoder::new(config.frame_limits),
            config,
            phase: Phase::Neutral,
            tx: Vec::new(),
            events: VecDeque::new(),
            stats: LinkStats::default(),
            rx: Incoming {
                expected: 1,
                ..Incoming::default()
            },
            next_token: 0,
            queue: VecDeque::new(),
            out: Outgoing::default(),
            next_send_id: 0,
            send_not_before: None,
            attempts: 0,
            contention_backoff: false,
        }
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Counters for metrics.
    #[must_use]
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// True when no transfer is in progress and nothing waits to be sent.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Neutral && self.queue.is_empty()
    }

    /// Bytes to write to the line, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.tx.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.tx))
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// When [`Link::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Receiving { deadline }
            | Phase::Enquiring { deadline }
            | Phase::Transferring { deadline } => Some(deadline),
            Phase::Neutral if !self.queue.is_empty() => self.send_not_before,
            Phase::Neutral => None,
        }
    }

    /// Queues `text` (CR-terminated records) for sending; establishment,
    /// framing and retries follow. Reports [`LinkEvent::Sent`] or
    /// [`LinkEvent::SendFailed`] with the returned id.
    ///
    /// # Errors
    /// [`Busy`] when [`LinkConfig::max_queued_messages`] are already waiting.
    pub fn send_message(&mut self, text: Vec<u8>, now: Instant) -> Result<SendId, Busy> {
        if self.queue.len() >= self.config.max_queued_messages {
            return Err(Busy(self.queue.len()));
        }
        let id = SendId(self.next_send_id);
        self.next_send_id += 1;
        self.queue.push_back((id, text));
        self.maybe_start_send(now);
        Ok(id)
    }

    /// Acknowledges the held final frame of the message: call once the
    /// message is durable. Returns false if the transfer already ended (the
    /// sender gave up waiting and will normally send the message again).
    pub fn commit(&mut self, token: DeliveryToken, now: Instant) -> bool {
        if self.rx.held != Some(token.id) {
            return false;
        }
        self.rx.held = None;
        self.rx.text.clear();
        self.rx.last_end = None;
        self.rx.previous_end = None;
        self.rx.started_at = None;
        self.tx.push(ACK);
        self.phase = Phase::Receiving {
            deadline: now + self.config.receiver_timeout,
        };
        true
    }

    /// Refuses the message: NAKs its final frame so the sender retransmits
    /// it. Returns false if the transfer already ended.
    pub fn reject(&mut self, token: DeliveryToken, now: Instant) -> bool {
        if self.rx.held != Some(token.id) {
            return false;
        }
        self.rx.held = None;
        self.rx.text.truncate(self.rx.last_start);
        if let Some(previous) = self.rx.previous.take() {
            self.rx.expected = previous;
        }
        // The refused frame is as if never received: the text ends where the frame before it
        // ended (ETB), so an EOT now drops it instead of delivering it truncated.
        self.rx.last_end = self.rx.previous_end.take();
        self.nak();
        self.phase = Phase::Receiving {
            deadline: now + self.config.receiver_timeout,
        };
        true
    }

    /// True while `token`'s message waits for [`Link::commit`] or [`Link::reject`]. False for
    /// a message handed over after its frames were all acknowledged (ETX frames without an L
    /// record, delivered at EOT): the sender already counts it as delivered, so the caller must
    /// keep it itself until it is durable.
    #[must_use]
    pub fn holds(&self, token: &DeliveryToken) -> bool {
        self.rx.held == Some(token.id)
    }

    /// Feeds bytes read from the line.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let mut decoder = std::mem::take(&mut self.decoder);
        let mut input = bytes;
        loop {
            let item = match decoder.decode(&mut input) {
                Some(item) => item,
                None => match decoder.flush_noise() {
                    Some(noise) => noise,
                    None => break,
                },
            };
            match item {
                Decoded::Frame(frame) => self.on_frame(now, frame),
                Decoded::Control { control, offset } => self.on_control(now, control, offset),
                Decoded::Noise { offset, len } => {
                    self.stats.noise_bytes += len as u64;
                    self.rejected(offset, format!("{len} bytes of noise between frames"), &[]);
                    if let Phase::Transferring { .. } = self.phase {
                        // "Any character other than ACK or EOT" is a
                        // negative reply (§8.3.3): a garbled ACK.
                        self.retransmit(now);
                    }
                }
                Decoded::Error(err) => self.on_bad_frame(err),
            }
        }
        self.decoder = decoder;
        self.maybe_start_send(now);
    }

    /// Runs expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Receiving { deadline } if now >= deadline => {
                self.stats.timeouts += 1;
                self.end_receive(now, "receiver timer expired");
            }
            Phase::Enquiring { deadline } if now >= deadline => {
                self.stats.timeouts += 1;
                self.tx.push(EOT);
                self.phase = Phase::Neutral;
                self.establish_failed(now);
            }
            Phase::Transferring { deadline } if now >= deadline => {
                self.stats.timeouts += 1;
                self.abort_send(SendFailure::Timeout);
            }
            _ => {}
        }
        self.maybe_start_send(now);
    }

    // ------------------------------------------------------------ receive --

    fn on_frame(&mut self, now: Instant, frame: Frame<'_>) {
        let Phase::Receiving { .. } = self.phase else {
            // Frames are only valid after our ACK to the peer's ENQ (§8.2).
            let reason = format!("frame {} outside a receive transfer ignored", frame.number);
            self.rejected(frame.offset, reason, frame.text);
            return;
        };
        self.phase = Phase::Receiving {
            deadline: now + self.config.receiver_timeout,
        };
        self.rx.repeated_enq = 0;
        if self.rx.held.is_some() {
            // The sender must wait for our reply to the final frame.
            return;
        }
        let number = frame.number.value();
        if number == self.rx.expected {
            if self.rx.text.len() + frame.text.len() > self.config.max_message {
                let reason = format!("message longer than {} bytes", self.config.max_message);
                self.rejected(frame.offset, reason, frame.text);
                self.discard("message too long");
                self.nak();
                return;
            }
            self.stats.frames_received += 1;
            if self.rx.text.is_empty() {
                self.rx.started_at = Some(frame.offset);
            }
            self.rx.last_start = self.rx.text.len();
            self.rx.text.extend_from_slice(frame.text);
            self.rx.previous = Some(number);
            self.rx.expected = frame.number.next().value();
            self.rx.previous_end = self.rx.last_end.replace(frame.end);
            if frame.end == FrameEnd::Last && message_complete(&self.rx.text) {
                let id = self.deliver();
                self.rx.held = Some(id);
            } else {
                self.tx.push(ACK);
            }
        } else if Some(number) == self.rx.previous {
            // Our ACK was lost and the sender repeated the frame (§8.3.3).
            self.stats.frames_received += 1;
            self.stats.duplicates += 1;
            self.tx.push(ACK);
        } else {
            let reason = format!(
                "frame number {number} out of sequence, expected {}",
                self.rx.expected
            );
            self.rejected(frame.offset, reason, frame.text);
            self.nak();
        }
    }

    fn on_bad_frame(&mut self, err: FrameError) {
        if matches!(err.kind, FrameErrorKind::ChecksumMismatch { .. }) {
            self.stats.checksum_errors += 1;
        }
        let receiving = matches!(self.phase, Phase::Receiving { .. });
        let nak = receiving && self.rx.held.is_none();
        self.rejected(err.offset, err.kind.to_string(), &err.excerpt);
        if nak {
            self.nak();
        }
    }

    fn on_control(&mut self, now: Instant, control: Control, offset: usize) {
        match (self.phase, control) {
            (Phase::Neutral, Control::Enq) => self.accept_enq(now),
            (Phase::Neutral, _)
            | (Phase::Receiving { .. }, Control::Ack | Control::Nak)
            | (Phase::Enquiring { .. }, Control::Eot) => {}
            (Phase::Receiving { .. }, Control::Eot) => {
                // Text that ended with an ETX frame was ACKed frame by frame:
                // the sender counts it as delivered, so hand it over even
                // without an L record (its commit then sends nothing).
                if self.rx.held.is_none()
                    && self.rx.last_end == Some(FrameEnd::Last)
                    && !self.rx.text.is_empty()
                {
                    let _unheld = self.deliver();
                    self.rx.text.clear();
                }
                self.end_receive(now, "EOT before the end of the message");
            }
            (Phase::Receiving { .. }, Control::Enq) => {
                let fresh = self.rx.text.is_empty() && self.rx.previous.is_none();
                if fresh {
                    // Our ACK to the ENQ may have been lost: answer again, boundedly.
                    self.rx.repeated_enq += 1;
                    if self.rx.repeated_enq <= self.config.max_repeated_enq {
                        self.tx.push(ACK);
                    } else if self.rx.repeated_enq == self.config.max_repeated_enq + 1 {
                        self.rejected(offset, "ENQ flood ignored".to_owned(), &[ENQ]);
                    }
                } else {
                    // The sender restarted without EOT: drop the partial message.
                    self.end_receive(now, "new ENQ before EOT");
                    self.accept_enq(now);
                }
            }
            (Phase::Enquiring { .. }, Control::Ack) => self.start_transfer(now),
            (Phase::Enquiring { .. }, Control::Nak) => {
                self.stats.naks_received += 1;
                self.events.push_back(LinkEvent::PeerBusy);
                self.phase = Phase::Neutral;
                self.attempts += 1;
                if self.attempts >= self.config.max_establish_attempts {
                    self.fail_front(SendFailure::NotEstablished);
                } else {
                    self.send_not_before = Some(now + self.config.busy_retry);
                }
            }
            (Phase::Enquiring { .. }, Control::Enq) => match self.config.role {
                // Contention (§8.2.7): the instrument wins.
                Role::Host => {
                    self.contention_backoff = true;
                    self.accept_enq(now);
                }
                Role::Instrument => {
                    self.phase = Phase::Neutral;
                    self.send_not_before = Some(now + self.config.instrument_contention_wait);
                }
            },
            (Phase::Transferring { .. }, Control::Ack) => self.frame_acked(now),
            (Phase::Transferring { .. }, Control::Eot) => {
                // Receiver interrupt (§8.3.5): counts as ACK.
                if self.config.honour_interrupt {
                    self.out.interrupted = true;
                }
                self.frame_acked(now);
            }
            (Phase::Transferring { .. }, Control::Nak | Control::Enq) => {
                if control == Control::Nak {
                    self.stats.naks_received += 1;
                }
                self.retransmit(now);
            }
        }
    }

    fn accept_enq(&mut self, now: Instant) {
        self.tx.push(ACK);
        self.phase = Phase::Receiving {
            deadline: now + self.config.receiver_timeout,
        };
        self.rx.text.clear();
        self.rx.expected = FrameNumber::FIRST.value();
        self.rx.previous = None;
        self.rx.held = None;
        self.rx.last_end = None;
        self.rx.previous_end = None;
        self.rx.started_at = None;
        self.rx.repeated_enq = 0;
        self.events
            .push_back(LinkEvent::Established(Direction::Receiving));
    }

    /// Emits the received text as a message; returns its token id.
    fn deliver(&mut self) -> u64 {
        let id = self.next_token;
        self.next_token += 1;
        self.stats.messages_received += 1;
        let text = normalize_digit_prefixes(self.rx.text.clone());
        self.events.push_back(LinkEvent::Message {
            token: DeliveryToken { id },
            text,
        });
        id
    }

    fn end_receive(&mut self, now: Instant, reason: &'static str) {
        if self.rx.held.take().is_none() {
            self.discard(reason);
        }
        self.rx.text.clear();
        self.decoder.reset();
        self.phase = Phase::Neutral;
        self.events.push_back(LinkEvent::Terminated);
        if std::mem::take(&mut self.contention_backoff) {
            self.send_not_before = Some(now + self.config.host_contention_wait);
        }
    }

    fn discard(&mut self, reason: &'static str) {
        if !self.rx.text.is_empty() {
            let text = std::mem::take(&mut self.rx.text);
            self.events.push_back(LinkEvent::Discarded {
                len: text.len(),
                reason,
                offset: self.rx.started_at,
                text,
            });
        }
        self.rx.previous = None;
        self.rx.last_end = None;
        self.rx.previous_end = None;
        self.rx.started_at = None;
    }

    fn nak(&mut self) {
        self.stats.naks_sent += 1;
        self.tx.push(NAK);
    }

    fn rejected(&mut self, offset: usize, reason: String, excerpt: &[u8]) {
        if self.events.len() >= self.config.max_pending_events {
            self.stats.events_dropped += 1;
            return;
        }
        let excerpt = excerpt
            .get(..excerpt.len().min(32))
            .unwrap_or_default()
            .to_vec();
        self.events.push_back(LinkEvent::Rejected {
            offset,
            reason,
            excerpt,
        });
    }

    // --------------------------------------------------------------- send --

    fn maybe_start_send(&mut self, now: Instant) {
        if self.phase != Phase::Neutral || self.queue.is_empty() {
            return;
        }
        if self.send_not_before.is_some_and(|t| now < t) {
            return;
        }
        self.send_not_before = None;
        self.tx.push(ENQ);
        self.phase = Phase::Enquiring {
            deadline: now + self.config.sender_timeout,
        };
    }

    fn establish_failed(&mut self, now: Instant) {
        self.attempts += 1;
        if self.attempts >= self.config.max_establish_attempts {
            self.fail_front(SendFailure::NotEstablished);
        } else {
            self.send_not_before = Some(now + self.config.busy_retry);
        }
    }

    fn start_transfer(&mut self, now: Instant) {
        self.attempts = 0;
        self.events
            .push_back(LinkEvent::Established(Direction::Sending));
        self.out = Outgoing {
            number: FrameNumber::FIRST.value(),
            frame: std::mem::take(&mut self.out.frame),
            ..Outgoing::default()
        };
        self.send_frame(now);
    }

    /// Encodes and sends the frame that starts at `out.start`; ends the
    /// message when there is none.
    fn send_frame(&mut self, now: Instant) {
        let Some((_, text)) = self.queue.front() else {
            self.terminate();
            return;
        };
        let Some((end, kind)) = next_piece(text, self.out.start, &self.config.encode) else {
            self.message_sent(now);
            return;
        };
        self.out.end = end;
        self.out.retries = 0;
        self.out.frame.clear();
        let piece = text.get(self.out.start..end).unwrap_or_default();
        let number = FrameNumber::new_wrapping(self.out.number);
        encode_frame(number, piece, kind, &mut self.out.frame);
        self.transmit_frame(now);
    }

    fn transmit_frame(&mut self, now: Instant) {
        self.stats.frames_sent += 1;
        self.tx.extend_from_slice(&self.out.frame);
        self.phase = Phase::Transferring {
            deadline: now + self.config.sender_timeout,
        };
    }

    fn frame_acked(&mut self, now: Instant) {
        self.out.start = self.out.end;
        self.out.number = FrameNumber::new_wrapping(self.out.number).next().value();
        self.send_frame(now);
    }

    fn message_sent(&mut self, now: Instant) {
        if let Some((id, _)) = self.queue.pop_front() {
            self.stats.messages_sent += 1;
            self.events.push_back(LinkEvent::Sent(id));
        }
        self.out.start = 0;
        self.out.end = 0;
        if self.out.interrupted || self.queue.is_empty() {
            if self.out.interrupted {
                // Let the peer send first; retry after the busy timer.
                self.send_not_before = Some(now + self.config.busy_retry);
            }
            self.terminate();
        } else {
            self.send_frame(now);
        }
    }

    fn retransmit(&mut self, now: Instant) {
        self.out.retries += 1;
        if self.out.retries > self.config.max_frame_retries {
            self.abort_send(SendFailure::TooManyRetries);
            return;
        }
        self.stats.retransmits += 1;
        self.transmit_frame(now);
    }

    fn abort_send(&mut self, reason: SendFailure) {
        self.fail_front(reason);
        self.terminate();
    }

    fn fail_front(&mut self, reason: SendFailure) {
        if let Some((id, _)) = self.queue.pop_front() {
            self.events.push_back(LinkEvent::SendFailed { id, reason });
        }
        self.attempts = 0;
        self.out.start = 0;
        self.out.end = 0;
    }

    fn terminate(&mut self) {
        self.tx.push(EOT);
        self.phase = Phase::Neutral;
        self.out.interrupted = false;
        self.events.push_back(LinkEvent::Terminated);
    }
}

/// A received message is complete at an ETX frame when its last record is L
/// (also written `4L|…` by senders that number records), or when the text is not an E1394 message at all (no H record first).
fn message_complete(text: &[u8]) -> bool {
    ends_with_terminator_lenient(text) || !starts_with_header(text)
}
