//! HL7 v2 instruments over MLLP (HL7 v2.5 Appendix C; acknowledgements §2.9; IHE LAW).
//!
//! - results (ORU/OUL): acknowledged only once durable: original mode `AA`; enhanced mode (MSH-15
//!   / MSH-16 valued) `CA` and, when asked for, the application `AA`. A message that cannot be
//!   stored gets `AE` (original) / `CE` (enhanced) with an ERR segment, so the sender resends;
//!   content labwire cannot use gets `AR` with ERR (after an `error` event is durable); a message
//!   larger than the bus accepts gets `AR` / `CR` with ERR (after an `error` event saying so);
//! - host queries (QBP^Q11, LAB-27): answered with RSP^K11 carrying the apps' order, or `NF`
//!   when nobody answered in time;
//! - downloads (OML^O33, LAB-28): one message per order, each expecting an ORL^O34 (or ACK) whose
//!   MSA-2 names it; `AA`/`CA` completes the download, anything else or silence fails it.
//!
//! ACKs and ORLs from the instrument are never acknowledged back (no ACK loops).
//!
//! Batches (v2.5 §2.10.3): a block starting with `FHS`/`BHS` is split into its messages, each
//! stored and judged like a single one. The answer is one response batch in one MLLP block,
//! sent only when every message is settled (so an `AA` in it means durable): `BHS` with BHS-12
//! naming the inbound BHS-11, one ACK per message (MSA-2 its MSH-10), `BTS` with the ACK count
//! (`FHS`/`FTS` around it when the inbound had them). Of the batch acknowledgement options of
//! §2.10.3 this is the one where every message is acknowledged. A batch that cannot be split (no
//! message, text outside any message, a BTS-1 count that disagrees) is recorded as an `error`
//! event and answered with one `AR` whose MSA-2 is the BHS-11 and whose ERR says why.
//!
//! A frame cut short (new VT before the FS, frame deadline, end of input via
//! [`Hl7Link::end_of_input`]) becomes an `error` event with the bytes received and the cause;
//! only the deadline counts as a timeout.

use crate::connector::Connector;
use crate::link::{Link, LinkCounters, LinkEvent, SendError, SendId, Token};
use bytes::BytesMut;
use labwire_event::{Event, InputError, Order, Origin, Protocol, QueryReply};
use labwire_hl7::ack::{
    AckCode, AckError, AckMode, AckOptions, ErrorCode, Header, OrderedTest, Outcome, Severity,
    SpecimenOrder, acks_due, build_ack, build_oml_o33, build_rsp_k11,
};
use labwire_hl7::canonical::{DecodeOptions, message_to_events};
use labwire_hl7::er7::{self, BatchPart, Index, split_batch};
use labwire_hl7::mllp::{self, Framer, FramerConfig, FramerEvent, TruncationCause};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Settings of one HL7 instrument.
#[derive(Debug, Clone)]
pub struct Hl7Config {
    /// MLLP framing limits and the frame deadline.
    pub framer: FramerConfig,
    /// How received messages are decoded.
    pub decode: DecodeOptions,
    /// How long to wait for the ORL^O34 / ACK of a download (default 30 s).
    pub download_ack_timeout: Duration,
    /// MSH-3 of messages labwire originates.
    pub sending_application: String,
    /// MSH-5 of downloads (the instrument's application name).
    pub receiving_application: String,
    /// MSH-12 of messages labwire originates (default `2.5.1`).
    pub version: String,
}

impl Default for Hl7Config {
    fn default() -> Self {
        Self {
            framer: FramerConfig::default(),
            decode: DecodeOptions::default(),
            download_ack_timeout: Duration::from_secs(30),
            sending_application: "labwire".into(),
            receiving_application: String::new(),
            version: "2.5.1".into(),
        }
    }
}

/// The HL7 connector (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Hl7Connector {
    config: Hl7Config,
}

impl Hl7Connector {
    /// A connector with these settings.
    pub fn new(config: Hl7Config) -> Self {
        Self { config }
    }
}

impl Connector for Hl7Connector {
    type Link = Hl7Link;

    fn protocol(&self) -> Protocol {
        Protocol::Hl7
    }

    fn open_link(&self, _now: Instant) -> Hl7Link {
        Hl7Link {
            framer: Framer::new(self.config.framer),
            config: self.config.clone(),
            tx: Vec::new(),
            events: VecDeque::new(),
            held: HashMap::new(),
            batches: HashMap::new(),
            next_token: 0,
            download: None,
            next_control: 0,
            counters: LinkCounters::default(),
        }
    }

    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError> {
        if !is_batch(message) {
            return self.decode_one(message, origin, 0);
        }
        // The link hands batch members over one by one; a whole batch reaching here is one that
        // cannot be split, or a capture: decode what can be, or say why not.
        let split = BatchSplit::of(message);
        if let Some((reason, offset)) = split.problem {
            return Err(InputError {
                reason,
                offset: Some(offset as u64),
            });
        }
        let mut events = Vec::new();
        for (offset, bytes) in split.messages {
            events.extend(self.decode_one(bytes, origin, offset)?);
        }
        Ok(events)
    }
}

impl Hl7Connector {
    fn decode_one(
        &self,
        message: &[u8],
        origin: &Origin,
        base: usize,
    ) -> Result<Vec<Event>, InputError> {
        message_to_events(message, origin, &self.config.decode).map_err(|e| InputError {
            reason: e.to_string(),
            offset: Some((base + e.offset()) as u64),
        })
    }
}

/// True when the block starts with a file or batch header (`FHS`/`BHS`).
fn is_batch(payload: &[u8]) -> bool {
    let start = payload
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .unwrap_or(payload.len());
    let head = payload.get(start..).unwrap_or_default();
    (head.starts_with(b"FHS") || head.starts_with(b"BHS"))
        && head.get(3).is_none_or(|b| !b.is_ascii_alphanumeric())
}

/// A batch block taken apart (v2.5 §2.10.3).
#[derive(Debug, Default)]
struct BatchSplit<'a> {
    file_header: Option<&'a [u8]>,
    batch_header: Option<&'a [u8]>,
    /// Each message with its offset in the block.
    messages: Vec<(usize, &'a [u8])>,
    /// Why the batch cannot be split, and where.
    problem: Option<(String, usize)>,
}

/// Field `n` of a segment (`n` = 1 is the first after the name; for FHS/BHS, 2 is the encoding
/// characters), with the segment's own field separator.
fn segment_field(segment: &[u8], n: usize) -> &[u8] {
    let Some(&sep) = segment.get(3) else {
        return &[];
    };
    segment.split(move |b| *b == sep).nth(n).unwrap_or_default()
}

impl<'a> BatchSplit<'a> {
    fn of(block: &'a [u8]) -> Self {
        let mut split = BatchSplit::default();
        let mut declared: Option<(usize, usize)> = None;
        for part in split_batch(block) {
            match part {
                BatchPart::Message { offset, bytes } => split.messages.push((offset, bytes)),
                BatchPart::Envelope { offset, segment } => match segment.get(..3) {
                    Some(b"FHS") => {
                        split.file_header.get_or_insert(segment);
                    }
                    Some(b"BHS") => {
                        split.batch_header.get_or_insert(segment);
                    }
                    Some(b"BTS") => {
                        let count = std::str::from_utf8(segment_field(segment, 1))
                            .ok()
                            .and_then(|c| c.trim().parse::<usize>().ok());
                        if let Some(n) = count {
                            declared.get_or_insert((n, offset));
                        }
                    }
                    _ => {}
                },
                BatchPart::Stray { offset, .. } => {
                    split.problem.get_or_insert((
                        format!(
                            "HL7 batch cannot be split: text outside any message at byte {offset}"
                        ),
                        offset,
                    ));
                }
            }
        }
        if split.messages.is_empty() {
            split.problem.get_or_insert((
                "HL7 batch cannot be split: it holds no message (no MSH segment)".into(),
                0,
            ));
        }
        if let Some((n, offset)) = declared
            && n != split.messages.len()
        {
            split.problem.get_or_insert((
                format!(
                    "HL7 batch cannot be split: BTS-1 counts {n} messages but the batch holds {}",
                    split.messages.len()
                ),
                offset,
            ));
        }
        split
    }
}

/// A download waiting for its acknowledgements.
#[derive(Debug)]
struct Download {
    id: SendId,
    waiting: Vec<String>,
    deadline: Instant,
}

/// A received message whose acknowledgement is pending.
#[derive(Debug)]
struct Held {
    /// The message (for an unsplittable batch: a stand-in MSH made from its BHS).
    payload: Vec<u8>,
    /// The batch it came in (the key of [`Hl7Link::batches`]).
    batch: Option<u64>,
}

/// An inbound batch whose messages are not all settled yet.
#[derive(Debug)]
struct PendingBatch {
    /// The inbound `FHS` segment, if any.
    file_header: Option<Vec<u8>>,
    /// The inbound `BHS` segment, if any.
    batch_header: Option<Vec<u8>>,
    /// Tokens of its messages, in order, with their ACKs once settled (for a batch that cannot
    /// be split: the one stand-in for the whole block).
    members: Vec<(u64, Option<Vec<Vec<u8>>>)>,
}

/// [`Link`] over the MLLP framer and the ACK builders of `labwire_hl7`.
#[derive(Debug)]
pub struct Hl7Link {
    framer: Framer,
    config: Hl7Config,
    tx: Vec<u8>,
    events: VecDeque<LinkEvent>,
    held: HashMap<u64, Held>,
    batches: HashMap<u64, PendingBatch>,
    next_token: u64,
    download: Option<Download>,
    next_control: u64,
    counters: LinkCounters,
}

/// MSH-9.1 (the message code: `ORU`, `QBP`, `ACK`, …), upper-cased.
fn message_code(msg: &er7::Message<'_>) -> String {
    msg.header()
        .and_then(|h| h.field(9))
        .and_then(|f| f.component(1))
        .map(|v| String::from_utf8_lossy(v.raw()).to_ascii_uppercase())
        .unwrap_or_default()
}

fn hl7_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%d%H%M%S+0000")
        .to_string()
}

/// The field separator of a header segment (`|` when it has none usable).
fn separator(segment: &[u8]) -> u8 {
    match segment.get(3) {
        Some(&b) if !b.is_ascii_alphanumeric() && !b.is_ascii_control() && b != b' ' => b,
        _ => b'|',
    }
}

/// The encoding characters of a header segment (field 2), `^~\\&` when missing.
fn encoding_chars(segment: &[u8]) -> &[u8] {
    match segment_field(segment, 1) {
        [] => b"^~\\&",
        e => e,
    }
}

/// An `MSH` standing for a batch that cannot be split, so that its refusal can be built like any
/// ACK: the applications and control id (BHS-11 → MSH-10) of its `BHS`/`FHS`.
fn stand_in_header(header: &[u8], version: &str) -> Vec<u8> {
    let sep = separator(header);
    let encoding = encoding_chars(header);
    let version: Vec<u8> = version
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'.')
        .collect();
    let version = if version.is_empty() {
        b"2.5.1".to_vec()
    } else {
        version
    };
    let fields: [&[u8]; 12] = [
        b"MSH",
        encoding,
        segment_field(header, 2),
        segment_field(header, 3),
        segment_field(header, 4),
        segment_field(header, 5),
        &[],
        &[],
        &[],
        segment_field(header, 10),
        b"P",
        &version,
    ];
    let mut out = fields.join(&sep);
    out.push(b'\r');
    out
}

fn is_negative(code: AckCode) -> bool {
    !matches!(code, AckCode::AA | AckCode::CA)
}

impl Hl7Link {
    fn control_id(&mut self) -> String {
        self.next_control = self.next_control.wrapping_add(1);
        format!(
            "LW{}{:04}",
            jiff::Timestamp::now().as_millisecond(),
            self.next_control % 10_000
        )
    }

    fn send_frame(&mut self, msg: &[u8]) {
        mllp::frame(msg, &mut self.tx);
    }

    fn status(&mut self, state: &str, detail: String) {
        self.events.push_back(LinkEvent::Status {
            state: state.into(),
            detail: Some(detail),
        });
    }

    /// Sends the ACKs due for a held message (or files them with its batch).
    fn acknowledge(
        &mut self,
        token: Token,
        commit: Outcome,
        application: Option<Outcome>,
        errors: Vec<AckError>,
    ) {
        let Some(held) = self.held.remove(&token.0) else {
            return;
        };
        let acks = self.build_acks(&held.payload, commit, application, &errors);
        match held.batch {
            None => {
                for ack in acks {
                    self.send_frame(&ack);
                }
            }
            Some(id) => self.settle_member(id, token.0, acks),
        }
    }

    /// The ACK messages due for `payload`.
    fn build_acks(
        &mut self,
        payload: &[u8],
        commit: Outcome,
        application: Option<Outcome>,
        errors: &[AckError],
    ) -> Vec<Vec<u8>> {
        let mut index = Index::new();
        let limits = self.config.decode.limits;
        let Ok(msg) = er7::parse(payload, &mut index, &limits) else {
            self.status("cannot-acknowledge", "message has no parsable MSH".into());
            return Vec::new();
        };
        let due = acks_due(AckMode::of(&msg), commit, application);
        let mut acks = Vec::new();
        for code in [due.commit, due.application].into_iter().flatten() {
            let opts = AckOptions {
                control_id: self.control_id(),
                timestamp: hl7_now(),
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
                        self.counters.naks_sent += 1;
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
    fn settle_member(&mut self, id: u64, token: u64, acks: Vec<Vec<u8>>) {
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
            let reply = self.batch_reply(&batch);
            if let Some(reply) = reply {
                self.send_frame(&reply);
            }
        }
    }

    /// `BHS` … ACKs … `BTS` (inside `FHS` … `FTS` when the inbound had them); `None` when no
    /// member asked for an ACK.
    fn batch_reply(&mut self, batch: &PendingBatch) -> Option<Vec<u8>> {
        let acks: Vec<&Vec<u8>> = batch
            .members
            .iter()
            .flat_map(|(_, acks)| acks.iter().flatten())
            .collect();
        if acks.is_empty() {
            return None;
        }
        let bhs = batch.batch_header.as_deref().unwrap_or(b"BHS|^~\\&");
        let sep = separator(bhs);
        let mut out = Vec::new();
        if let Some(fhs) = &batch.file_header {
            self.reply_header(fhs, &mut out);
        }
        self.reply_header(bhs, &mut out);
        for ack in &acks {
            out.extend_from_slice(ack);
            if !ack.ends_with(b"\r") {
                out.push(b'\r');
            }
        }
        out.extend_from_slice(b"BTS");
        out.push(sep);
        out.extend_from_slice(acks.len().to_string().as_bytes());
        out.push(b'\r');
        if let Some(fhs) = &batch.file_header {
            out.extend_from_slice(b"FTS");
            out.push(separator(fhs));
            out.extend_from_slice(b"1\r");
        }
        Some(out)
    }

    /// The `FHS`/`BHS` answering `inbound`: applications swapped, our own control id (field
    /// 11), field 12 naming the inbound control id, the inbound delimiters.
    fn reply_header(&mut self, inbound: &[u8], out: &mut Vec<u8>) {
        let sep = separator(inbound);
        let encoding = encoding_chars(inbound);
        let ours: Vec<u8> = self
            .config
            .sending_application
            .bytes()
            .filter(|b| *b != sep && !encoding.contains(b) && !b.is_ascii_control())
            .collect();
        let control_id = self.control_id();
        let timestamp = hl7_now();
        let fields: [&[u8]; 12] = [
            inbound.get(..3).unwrap_or(b"BHS"),
            encoding,
            &ours,
            &[],
            segment_field(inbound, 2),
            segment_field(inbound, 3),
            timestamp.as_bytes(),
            &[],
            &[],
            &[],
            control_id.as_bytes(),
            segment_field(inbound, 10),
        ];
        out.extend_from_slice(&fields.join(&sep));
        out.push(b'\r');
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
            self.counters.naks_received += 1;
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

    fn on_frame(&mut self, payload: Vec<u8>) {
        if is_batch(&payload) {
            self.on_batch(payload);
            return;
        }
        let mut index = Index::new();
        let limits = self.config.decode.limits;
        if let Ok(msg) = er7::parse(&payload, &mut index, &limits) {
            // Responses to labwire's own messages: settle the download they name, never
            // acknowledge them (an ACK of an ACK loops).
            if matches!(message_code(&msg).as_str(), "ACK" | "ORL") {
                self.on_acknowledgement(&msg);
                return;
            }
        }
        let token = self.hold(payload.clone(), None);
        self.events.push_back(LinkEvent::Message {
            token: Token(token),
            raw: payload,
        });
    }

    fn hold(&mut self, payload: Vec<u8>, batch: Option<u64>) -> u64 {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.held.insert(token, Held { payload, batch });
        token
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
        let limits = self.config.decode.limits;
        if split.problem.is_some() {
            // Handed over whole: the decoder records why it cannot be split, and the refusal
            // is answered as one AR naming the inbound batch (MSA-2 = BHS-11).
            let header = split.batch_header.or(split.file_header).unwrap_or_default();
            let token = self.hold(stand_in_header(header, &self.config.version), Some(id));
            batch.members.push((token, None));
            messages.push((token, payload.clone()));
        } else {
            for (_, bytes) in &split.messages {
                let mut index = Index::new();
                if let Ok(msg) = er7::parse(bytes, &mut index, &limits)
                    && matches!(message_code(&msg).as_str(), "ACK" | "ORL")
                {
                    self.on_acknowledgement(&msg);
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
            self.events.push_back(LinkEvent::Message {
                token: Token(token),
                raw,
            });
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
                    self.counters.timeouts += 1;
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

    /// The connection ended: a frame still open is reported as cut short, with its bytes.
    ///
    /// The peer closed the connection: a frame it cut short is reported with its bytes
    /// (called by the driver through [`Link::handle_end_of_input`]).
    pub fn end_of_input(&mut self) {
        self.framer.finish();
        self.drain_framer();
    }

    fn drain_framer(&mut self) {
        while let Some(ev) = self.framer.poll() {
            self.on_framer_event(ev);
        }
    }

    fn header(&mut self, receiving_application: String) -> Header {
        Header {
            sending_application: self.config.sending_application.clone(),
            sending_facility: String::new(),
            receiving_application,
            receiving_facility: String::new(),
            timestamp: hl7_now(),
            control_id: self.control_id(),
            processing_id: "P".into(),
            version: self.config.version.clone(),
        }
    }
}

fn specimen_order(o: &Order) -> SpecimenOrder {
    SpecimenOrder {
        patient: o.patient.clone(),
        specimen_id: o.specimen_id.clone(),
        specimen_type: o.specimen_type.clone(),
        placer_order_number: None,
        tests: o
            .tests
            .iter()
            .map(|t| OrderedTest {
                code: t.clone(),
                name: None,
                coding_system: None,
            })
            .collect(),
    }
}

impl Link for Hl7Link {
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.framer.push(now, bytes);
        self.drain_framer();
    }

    fn handle_end_of_input(&mut self, _now: Instant) {
        self.end_of_input();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.framer.on_timeout(now);
        self.drain_framer();
        if let Some(d) = self.download.take_if(|d| now >= d.deadline) {
            self.counters.timeouts += 1;
            self.events.push_back(LinkEvent::SendFailed {
                id: d.id,
                reason: "no ORL^O34 / ACK in time".into(),
            });
        }
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        if self.tx.is_empty() {
            return false;
        }
        out.extend_from_slice(&self.tx);
        self.tx.clear();
        true
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let a = self.framer.next_deadline();
        let b = self.download.as_ref().map(|d| d.deadline);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn commit(&mut self, token: Token, _now: Instant) {
        self.acknowledge(
            token,
            Outcome::Accepted,
            Some(Outcome::Accepted),
            Vec::new(),
        );
    }

    fn reject(&mut self, token: Token, _now: Instant) {
        let err = AckError {
            location: None,
            code: ErrorCode::ApplicationInternalError,
            severity: Severity::Error,
            message: Some("message could not be stored; please resend".into()),
        };
        self.acknowledge(token, Outcome::Error, None, vec![err]);
    }

    fn refuse(&mut self, token: Token, error: &InputError, _now: Instant) {
        let code = if error.reason.starts_with("message type") {
            ErrorCode::UnsupportedMessageType
        } else if error.reason.starts_with("HL7 batch") {
            ErrorCode::SegmentSequenceError
        } else {
            ErrorCode::DataTypeError
        };
        let err = AckError {
            location: None,
            code,
            severity: Severity::Error,
            message: Some(error.reason.chars().take(200).collect()),
        };
        // Stored (as an error event) but not usable: commit accepted, application rejected.
        self.acknowledge(token, Outcome::Accepted, Some(Outcome::Rejected), vec![err]);
    }

    fn refuse_unstorable(&mut self, token: Token, error: &InputError, _now: Instant) {
        let err = AckError {
            location: None,
            code: ErrorCode::ApplicationInternalError,
            severity: Severity::Error,
            message: Some(error.reason.chars().take(200).collect()),
        };
        // Not committed and never will be: AR (original mode) / CR (enhanced mode), no resend.
        self.acknowledge(token, Outcome::Rejected, None, vec![err]);
    }

    fn query_received(&mut self, _token: Token, _now: Instant) {
        // The answer (RSP^K11) is the acknowledgement.
    }

    fn answer_query(
        &mut self,
        token: Token,
        query: &Event,
        reply: Option<&QueryReply>,
        now: Instant,
    ) {
        let Some(held) = self.held.get(&token.0) else {
            return;
        };
        if held.batch.is_some() {
            // Inside a batch the answer is the member's ACK in the response batch.
            self.commit(token, now);
            return;
        }
        let payload = held.payload.clone();
        let mut index = Index::new();
        let Ok(msg) = er7::parse(&payload, &mut index, &self.config.decode.limits) else {
            return;
        };
        if message_code(&msg) != "QBP" {
            // Vendor query dialects without an RSP answer: acknowledge only.
            self.commit(token, now);
            return;
        }
        self.held.remove(&token.0);
        let wanted = query
            .query
            .as_ref()
            .map(|q| q.specimen_ids.clone())
            .unwrap_or_default();
        let order = reply.and_then(|r| {
            r.orders
                .iter()
                .find(|o| wanted.contains(&o.specimen_id))
                .or_else(|| r.orders.first())
        });
        let receiver = msg
            .header()
            .map(|h| String::from_utf8_lossy(h.raw_field(3)).into_owned())
            .unwrap_or_default();
        let header = self.header(receiver);
        match build_rsp_k11(&msg, &header, order.map(specimen_order).as_ref()) {
            Ok(rsp) => self.send_frame(&rsp),
            Err(e) => self.status("query-answer-failed", e.to_string()),
        }
    }

    fn is_idle(&self) -> bool {
        self.download.is_none() && self.held.is_empty() && self.framer.next_deadline().is_none()
    }

    fn send_orders(&mut self, id: SendId, orders: &[Order], now: Instant) -> Result<(), SendError> {
        if self.download.is_some() {
            return Err(SendError::Busy);
        }
        let mut frames = Vec::new();
        let mut waiting = Vec::new();
        for o in orders {
            let header = self.header(self.config.receiving_application.clone());
            waiting.push(header.control_id.clone());
            let msg = build_oml_o33(&header, &specimen_order(o))
                .map_err(|e| SendError::Encode(e.to_string()))?;
            mllp::frame(&msg, &mut frames);
        }
        if waiting.is_empty() {
            self.events.push_back(LinkEvent::Sent(id));
            return Ok(());
        }
        self.tx.extend_from_slice(&frames);
        self.download = Some(Download {
            id,
            waiting,
            deadline: now + self.config.download_ack_timeout,
        });
        Ok(())
    }

    fn counters(&self) -> LinkCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_cut_by_the_end_of_input_is_rejected_with_its_bytes() {
        let mut link = Hl7Connector::default().open_link(Instant::now());
        link.handle_input(Instant::now(), b"\x0bMSH|^~\\&|X\rPID");
        assert_eq!(link.poll_event(), None);
        link.end_of_input();
        assert_eq!(
            link.poll_event(),
            Some(LinkEvent::Rejected {
                reason: format!(
                    "MLLP frame cut short after 14 bytes: {}",
                    TruncationCause::EndOfInput.describe()
                ),
                offset: Some(0),
                raw: b"MSH|^~\\&|X\rPID".to_vec(),
            })
        );
        assert_eq!(link.counters().timeouts, 0);
        assert!(link.is_idle());
    }
}
