//! The HL7 link state machine (see the module docs of [`super`]).

use super::batch::{BatchSplit, ReplyHeader, batch_reply, is_batch, stand_in_header};
use super::event::{LinkConfig, LinkEvent, LinkStats, SendError, SendId, Token};
use crate::ack::{
    AckCode, AckError, AckMode, AckOptions, ErrorCode, Header, Outcome, Severity, SpecimenOrder,
    acks_due, build_ack, build_oml_o33, build_rsp_k11,
};
use crate::er7::{self, Index};
use crate::mllp::{self, Framer, FramerEvent, TruncationCause};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Most characters of a reason copied into ERR-8.
const ERR_TEXT_CHARS: usize = 200;

/// A download waiting for its acknowledgements.
#[derive(Debug)]
struct Download {
    id: SendId,
    /// MSH-10 of each OML^O33 not yet acknowledged.
    waiting: Vec<String>,
    deadline: Instant,
}

/// A received message whose acknowledgement is pending.
#[derive(Debug)]
struct Held {
    /// The message (for an unsplittable batch: a stand-in MSH made from its BHS).
    payload: Vec<u8>,
    /// The batch it came in (the key of [`Link::batches`]).
    batch: Option<u64>,
}

/// An inbound batch whose messages are not all settled yet.
#[derive(Debug)]
struct PendingBatch {
    file_header: Option<Vec<u8>>,
    batch_header: Option<Vec<u8>>,
    /// Tokens of its messages, in order, with their ACKs once settled.
    members: Vec<(u64, Option<Vec<Vec<u8>>>)>,
}

/// The HL7 v2 link over MLLP, sans-IO: bytes and instants in, bytes, events and deadlines out.
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    framer: Framer,
    /// The instant and wall time at creation: wall time of any later instant is derived from
    /// them, so the link never reads a clock.
    origin: (Instant, jiff::Timestamp),
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<LinkEvent>,
    held: HashMap<u64, Held>,
    batches: HashMap<u64, PendingBatch>,
    next_token: u64,
    download: Option<Download>,
    next_control: u64,
    stats: LinkStats,
}

/// MSH-9.1 (the message code: `ORU`, `QBP`, `ACK`, …), upper-cased.
fn message_code(msg: &er7::Message<'_>) -> String {
    msg.header()
        .and_then(|h| h.field(9))
        .and_then(|f| f.component(1))
        .map(|v| String::from_utf8_lossy(v.raw()).to_ascii_uppercase())
        .unwrap_or_default()
}

fn is_negative(code: AckCode) -> bool {
    !matches!(code, AckCode::AA | AckCode::CA)
}

/// An ERR entry with the reason (bounded) as its text.
fn error(code: ErrorCode, reason: &str) -> AckError {
    AckError {
        location: None,
        code,
        severity: Severity::Error,
        message: Some(reason.chars().take(ERR_TEXT_CHARS).collect()),
    }
}

impl Link {
    /// A fresh link (one per connection). `now` and `wall` are the same moment on the caller's
    /// monotonic clock and on the wall clock; MSH-7 and control ids of later messages are
    /// derived from them and the instants passed in.
    pub fn new(config: LinkConfig, now: Instant, wall: jiff::Timestamp) -> Self {
        Self {
            framer: Framer::new(config.framer),
            config,
            origin: (now, wall),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            held: HashMap::new(),
            batches: HashMap::new(),
            next_token: 0,
            download: None,
            next_control: 0,
            stats: LinkStats::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Feeds bytes read from the instrument.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.framer.push(now, bytes);
        self.drain_framer();
    }

    /// The instant from [`poll_timeout`](Self::poll_timeout) has passed: a frame still open is
    /// cut short, a download still waiting fails.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.framer.on_timeout(now);
        self.drain_framer();
        if let Some(d) = self.download.take_if(|d| now >= d.deadline) {
            self.stats.timeouts += 1;
            self.events.push_back(LinkEvent::SendFailed {
                id: d.id,
                reason: "no ORL^O34 / ACK in time".into(),
            });
        }
    }

    /// The peer closed the connection: a frame it cut short is reported with its bytes.
    pub fn handle_end_of_input(&mut self, _now: Instant) {
        self.framer.finish();
        self.drain_framer();
    }

    /// The next bytes to write (one or more MLLP blocks), if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: the frame deadline or the download
    /// deadline, whichever is first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.framer.next_deadline();
        let b = self.download.as_ref().map(|d| d.deadline);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when nothing is pending (no frame open, no message waiting for its answer, no
    /// download waiting): a download could start now.
    pub fn is_idle(&self) -> bool {
        self.download.is_none() && self.held.is_empty() && self.framer.next_deadline().is_none()
    }

    /// The message is durable: `AA` (original mode), `CA` and the application `AA` as MSH-15/16
    /// ask (enhanced mode).
    pub fn commit(&mut self, token: Token, now: Instant) {
        self.acknowledge(
            token,
            now,
            Outcome::Accepted,
            Some(Outcome::Accepted),
            Vec::new(),
        );
    }

    /// The message could not be made durable: `AE` / `CE` with ERR 207, so the sender resends.
    pub fn reject(&mut self, token: Token, now: Instant) {
        let err = error(
            ErrorCode::ApplicationInternalError,
            "message could not be stored; please resend",
        );
        self.acknowledge(token, now, Outcome::Error, None, vec![err]);
    }

    /// The message's content is unusable and an `error` event describing it is durable: `AR`
    /// (original mode) or `CA` then `AR` (enhanced mode: it was stored as an error), ERR-3 from
    /// the reason (unsupported type 200, unsplittable batch 100, otherwise 102), ERR-8 the
    /// reason.
    pub fn refuse(&mut self, token: Token, reason: &str, now: Instant) {
        let code = if reason.starts_with("message type") {
            ErrorCode::UnsupportedMessageType
        } else if reason.starts_with("HL7 batch") {
            ErrorCode::SegmentSequenceError
        } else {
            ErrorCode::DataTypeError
        };
        self.acknowledge(
            token,
            now,
            Outcome::Accepted,
            Some(Outcome::Rejected),
            vec![error(code, reason)],
        );
    }

    /// The message can never be stored (larger than the bus accepts) and an `error` event
    /// saying so is durable: `AR` (original mode) or `CR` (enhanced mode) with ERR 207, no
    /// application ACK: a resend cannot succeed.
    pub fn refuse_unstorable(&mut self, token: Token, reason: &str, now: Instant) {
        let err = error(ErrorCode::ApplicationInternalError, reason);
        self.acknowledge(token, now, Outcome::Rejected, None, vec![err]);
    }

    /// Answers a host query: a QBP^Q11 gets RSP^K11 carrying `order` (`NF` when `None`); other
    /// query dialects and queries inside a batch are acknowledged like a result.
    pub fn answer_query(&mut self, token: Token, order: Option<&SpecimenOrder>, now: Instant) {
        let Some(held) = self.held.get(&token.0) else {
            return;
        };
        if held.batch.is_some() {
            self.commit(token, now);
            return;
        }
        let mut index = Index::new();
        let Some(held) = self.held.remove(&token.0) else {
            return;
        };
        let Ok(msg) = er7::parse(&held.payload, &mut index, &self.config.limits) else {
            return;
        };
        if message_code(&msg) != "QBP" {
            // Vendor query dialects without an RSP answer: acknowledge only.
            let acks = self.build_acks(
                &held.payload,
                now,
                Outcome::Accepted,
                Some(Outcome::Accepted),
                &[],
            );
            for ack in acks {
                self.send_frame(&ack);
            }
            return;
        }
        let receiver = msg
            .header()
            .map(|h| String::from_utf8_lossy(h.raw_field(3)).into_owned())
            .unwrap_or_default();
        let header = self.header(receiver, now);
        match build_rsp_k11(&msg, &header, order) {
            Ok(rsp) => self.send_frame(&rsp),
            Err(e) => self.status("query-answer-failed", e.to_string()),
        }
    }

    /// Sends one OML^O33 per order and waits (until `now` + the download timeout) for an
    /// ORL^O34 or ACK naming each; [`LinkEvent::Sent`] when all are `AA`/`CA`,
    /// [`LinkEvent::SendFailed`] at the first other answer or the deadline.
    pub fn send_orders(
        &mut self,
        id: SendId,
        orders: &[SpecimenOrder],
        now: Instant,
    ) -> Result<(), SendError> {
        if self.download.is_some() {
            return Err(SendError::Busy);
        }
        let mut frames = Vec::new();
        let mut waiting = Vec::new();
        for o in orders {
            let header = self.header(self.config.receiving_application.clone(), now);
            waiting.push(header.control_id.clone());
            let msg = build_oml_o33(&header, o).map_err(|e| SendError::Encode(e.to_string()))?;
            mllp::frame(&msg, &mut frames);
        }
        if waiting.is_empty() {
            self.events.push_back(LinkEvent::Sent(id));
            return Ok(());
        }
        self.tx.push_back(frames);
        self.download = Some(Download {
            id,
            waiting,
            deadline: now + self.config.download_ack_timeout,
        });
        Ok(())
    }

    /// Wall time at `now`.
    fn wall(&self, now: Instant) -> jiff::Timestamp {
        let (at, wall) = self.origin;
        wall.checked_add(now.saturating_duration_since(at))
            .unwrap_or(wall)
    }

    /// An HL7 timestamp (MSH-7) for `now`.
    fn timestamp(&self, now: Instant) -> String {
        self.wall(now).strftime("%Y%m%d%H%M%S+0000").to_string()
    }

    /// A new control id (MSH-10): `LW`, the wall time in ms, a 4-digit sequence number.
    fn control_id(&mut self, now: Instant) -> String {
        self.next_control = self.next_control.wrapping_add(1);
        format!(
            "LW{}{:04}",
            self.wall(now).as_millisecond(),
            self.next_control % 10_000
        )
    }

    fn header(&mut self, receiving_application: String, now: Instant) -> Header {
        Header {
            sending_application: self.config.sending_application.clone(),
            sending_facility: String::new(),
            receiving_application,
            receiving_facility: String::new(),
            timestamp: self.timestamp(now),
            control_id: self.control_id(now),
            processing_id: "P".into(),
            version: self.config.version.clone(),
        }
    }

    fn send_frame(&mut self, msg: &[u8]) {
        let mut out = Vec::with_capacity(msg.len() + 3);
        mllp::frame(msg, &mut out);
        self.tx.push_back(out);
    }

    fn status(&mut self, state: &str, detail: String) {
        self.events.push_back(LinkEvent::Status {
            state: state.into(),
            detail,
        });
    }

    /// Sends the ACKs due for a held message (or files them with its batch).
    fn acknowledge(
        &mut self,
        token: Token,
        now: Instant,
        commit: Outcome,
        application: Option<Outcome>,
        errors: Vec<AckError>,
    ) {
        let Some(held) = self.held.remove(&token.0) else {
            return;
        };
        let acks = self.build_acks(&held.payload, now, commit, application, &errors);
        match held.batch {
            None => {
                for ack in acks {
                    self.send_frame(&ack);
                }
            }
            Some(id) => self.settle_member(id, token.0, acks, now),
        }
    }

    /// The ACK messages due for `payload`.
    fn build_acks(
        &mut self,
        payload: &[u8],
        now: Instant,
        commit: Outcome,
        application: Option<Outcome>,
        errors: &[AckError],
    ) -> Vec<Vec<u8>> {
        let mut index = Index::new();
        let limits = self.config.limits;
        let Ok(msg) = er7::parse(payload, &mut index, &limits) else {
            self.status("cannot-acknowledge", "message has no parsable MSH".into());
            return Vec::new();
        };
        let due = acks_due(AckMode::of(&msg), commit, application);
        let mut acks = Vec::new();
        for code in [due.commit, due.application].into_iter().flatten() {
            let opts = AckOptions {
                control_id: self.control_id(now),
                timestamp: self.timestamp(now),
                text: None,
                errors: if is_negative(code) {
                    errors.to_vec()
                } else {
                    Vec::new()
                },
                ..AckOptions::default()
            };
            match build_ack(&msg, code, &opts) {
                Ok(ack) => {
                    if is_negative(code) {
                        self.stats.naks_sent += 1;
                    }
                    acks.push(ack);
                }
                Err(e) => self.status("cannot-acknowledge", e.to_string()),
            }
        }
        acks
    }

    /// Files the ACKs of one batch member; when every member is settled, sends the response
    /// batch.
    fn settle_member(&mut self, id: u64, token: u64, acks: Vec<Vec<u8>>, now: Instant) {
        let Some(batch) = self.batches.get_mut(&id) else {
            return;
        };
        if let Some(slot) = batch.members.iter_mut().find(|(t, _)| *t == token) {
            slot.1 = Some(acks);
        }
        if batch.members.iter().any(|(_, acks)| acks.is_none()) {
            return;
        }
        if let Some(batch) = self.batches.remove(&id) {
            self.send_batch_reply(&batch, now);
        }
    }

    /// `BHS` … ACKs … `BTS` (inside `FHS` … `FTS` when the inbound had them); nothing when no
    /// member asked for an ACK.
    fn send_batch_reply(&mut self, batch: &PendingBatch, now: Instant) {
        let acks: Vec<&[u8]> = batch
            .members
            .iter()
            .flat_map(|(_, acks)| acks.iter().flatten())
            .map(Vec::as_slice)
            .collect();
        if acks.is_empty() {
            return;
        }
        let timestamp = self.timestamp(now);
        let file_id = batch.file_header.is_some().then(|| self.control_id(now));
        let batch_id = self.control_id(now);
        let app = self.config.sending_application.as_str();
        let file = batch
            .file_header
            .as_deref()
            .zip(file_id.as_deref())
            .map(|(fhs, control_id)| {
                let ours = ReplyHeader {
                    sending_application: app,
                    timestamp: &timestamp,
                    control_id,
                };
                (fhs, ours)
            });
        let bhs = batch.batch_header.as_deref().unwrap_or(b"BHS|^~\\&");
        let ours = ReplyHeader {
            sending_application: app,
            timestamp: &timestamp,
            control_id: &batch_id,
        };
        let reply = batch_reply(file, (bhs, ours), &acks);
        match reply {
            Ok(reply) => self.send_frame(&reply),
            Err(e) => self.status("cannot-acknowledge", e.to_string()),
        }
    }

    /// An inbound ACK or ORL: settles the download it names, never acknowledged back.
    fn on_acknowledgement(&mut self, msg: &er7::Message<'_>) {
        let msa = msg.find(b"MSA");
        let code = msa
            .map(|m| m.raw_field(1).to_ascii_uppercase())
            .unwrap_or_default();
        let about = msa
            .map(|m| String::from_utf8_lossy(m.raw_field(2)).into_owned())
            .unwrap_or_default();
        let positive = matches!(code.as_slice(), b"AA" | b"CA");
        if !positive {
            self.stats.naks_received += 1;
        }
        let Some(d) = self.download.as_mut() else {
            return;
        };
        let Some(pos) = d.waiting.iter().position(|c| *c == about) else {
            return;
        };
        if positive {
            d.waiting.remove(pos);
            if d.waiting.is_empty() {
                let id = d.id;
                self.download = None;
                self.events.push_back(LinkEvent::Sent(id));
            }
        } else {
            let id = d.id;
            self.download = None;
            self.events.push_back(LinkEvent::SendFailed {
                id,
                reason: format!(
                    "instrument answered {} to {about}",
                    String::from_utf8_lossy(&code)
                ),
            });
        }
    }

    /// True (and the download settled) when `payload` is an ACK or ORL: responses to labwire's
    /// own messages are never acknowledged (an ACK of an ACK loops).
    fn is_response(&mut self, payload: &[u8]) -> bool {
        let mut index = Index::new();
        let limits = self.config.limits;
        match er7::parse(payload, &mut index, &limits) {
            Ok(msg) if matches!(message_code(&msg).as_str(), "ACK" | "ORL") => {
                self.on_acknowledgement(&msg);
                true
            }
            _ => false,
        }
    }

    fn hold(&mut self, payload: Vec<u8>, batch: Option<u64>) -> u64 {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.held.insert(token, Held { payload, batch });
        token
    }

    fn deliver(&mut self, token: u64, raw: Vec<u8>) {
        self.stats.messages_received += 1;
        self.events.push_back(LinkEvent::Message {
            token: Token(token),
            raw,
        });
    }

    fn on_frame(&mut self, payload: Vec<u8>) {
        if is_batch(&payload) {
            self.on_batch(payload);
            return;
        }
        if self.is_response(&payload) {
            return;
        }
        let token = self.hold(payload.clone(), None);
        self.deliver(token, payload);
    }

    /// A batch block: each message is handed over on its own; the answer waits for all of them.
    fn on_batch(&mut self, payload: Vec<u8>) {
        let split = BatchSplit::of(&payload);
        let id = self.next_token;
        let mut batch = PendingBatch {
            file_header: split.file_header.map(<[u8]>::to_vec),
            batch_header: split.batch_header.map(<[u8]>::to_vec),
            members: Vec::new(),
        };
        let mut messages = Vec::new();
        if split.problem.is_some() {
            // Handed over whole: the decoder records why it cannot be split, and the refusal
            // is answered as one AR naming the inbound batch (MSA-2 = BHS-11).
            let header = split.batch_header.or(split.file_header).unwrap_or_default();
            match stand_in_header(header, &self.config.version) {
                Ok(stand_in) => {
                    let token = self.hold(stand_in, Some(id));
                    batch.members.push((token, None));
                    messages.push((token, payload.clone()));
                }
                Err(e) => {
                    self.status("cannot-acknowledge", e.to_string());
                    return;
                }
            }
        } else {
            for (_, bytes) in &split.messages {
                if self.is_response(bytes) {
                    continue;
                }
                let token = self.hold(bytes.to_vec(), Some(id));
                batch.members.push((token, None));
                messages.push((token, bytes.to_vec()));
            }
        }
        if batch.members.is_empty() {
            return;
        }
        self.batches.insert(id, batch);
        for (token, raw) in messages {
            self.deliver(token, raw);
        }
    }

    fn drain_framer(&mut self) {
        while let Some(ev) = self.framer.poll() {
            self.on_framer_event(ev);
        }
    }

    fn on_framer_event(&mut self, ev: FramerEvent) {
        let rejected = |reason: String, offset: u64| LinkEvent::Rejected {
            reason,
            offset: Some(offset),
            raw: Vec::new(),
        };
        match ev {
            FramerEvent::Frame { payload, .. } => self.on_frame(payload),
            FramerEvent::Skipped {
                offset,
                len,
                whitespace_only: false,
            } => self.events.push_back(rejected(
                format!("{len} bytes outside any MLLP frame"),
                offset,
            )),
            FramerEvent::TooLarge { offset, limit } => self.events.push_back(rejected(
                format!("MLLP frame larger than {limit} bytes dropped"),
                offset,
            )),
            FramerEvent::Truncated {
                offset,
                len,
                cause,
                payload,
            } => {
                if cause == TruncationCause::Deadline {
                    self.stats.timeouts += 1;
                }
                self.events.push_back(LinkEvent::Rejected {
                    reason: format!(
                        "MLLP frame cut short after {len} bytes: {}",
                        cause.describe()
                    ),
                    offset: Some(offset),
                    raw: payload,
                });
            }
            FramerEvent::Skipped { .. }
            | FramerEvent::CommitAck { .. }
            | FramerEvent::CommitNak { .. } => {}
        }
    }
}
