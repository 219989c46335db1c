//! HL7 v2 instruments over MLLP (HL7 v2.5 Appendix C; acknowledgements §2.9; IHE LAW).
//!
//! - results (ORU/OUL): acknowledged only once durable: original mode `AA`; enhanced mode (MSH-15
//!   / MSH-16 valued) `CA` and, when asked for, the application `AA`. A message that cannot be
//!   stored gets `AE` (original) / `CE` (enhanced) with an ERR segment, so the sender resends;
//!   content labwire cannot use gets `AR` with ERR (after an `error` event is durable);
//! - host queries (QBP^Q11, LAB-27): answered with RSP^K11 carrying the apps' order, or `NF`
//!   when nobody answered in time;
//! - downloads (OML^O33, LAB-28): one message per order, each expecting an ORL^O34 (or ACK) whose
//!   MSA-2 names it; `AA`/`CA` completes the download, anything else or silence fails it.
//!
//! ACKs and ORLs from the instrument are never acknowledged back (no ACK loops).

use crate::connector::Connector;
use crate::link::{Link, LinkCounters, LinkEvent, SendError, SendId, Token};
use bytes::BytesMut;
use labwire_event::{Event, InputError, Order, Origin, Protocol, QueryReply};
use labwire_hl7::ack::{
    AckCode, AckError, AckMode, AckOptions, ErrorCode, Header, OrderedTest, Outcome, Severity,
    SpecimenOrder, acks_due, build_ack, build_oml_o33, build_rsp_k11,
};
use labwire_hl7::canonical::{DecodeOptions, message_to_events};
use labwire_hl7::er7::{self, Index, Limits};
use labwire_hl7::mllp::{self, Framer, FramerConfig, FramerEvent};
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
            next_token: 0,
            download: None,
            next_control: 0,
            counters: LinkCounters::default(),
        }
    }

    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError> {
        message_to_events(message, origin, &self.config.decode).map_err(|e| InputError {
            reason: e.to_string(),
            offset: Some(e.offset() as u64),
        })
    }
}

/// A download waiting for its acknowledgements.
#[derive(Debug)]
struct Download {
    id: SendId,
    waiting: Vec<String>,
    deadline: Instant,
}

/// [`Link`] over the MLLP framer and the ACK builders of `labwire_hl7`.
#[derive(Debug)]
pub struct Hl7Link {
    framer: Framer,
    config: Hl7Config,
    tx: Vec<u8>,
    events: VecDeque<LinkEvent>,
    held: HashMap<u64, Vec<u8>>,
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

    /// Sends the ACKs due for a held message.
    fn acknowledge(
        &mut self,
        token: Token,
        commit: Outcome,
        application: Option<Outcome>,
        errors: Vec<AckError>,
    ) {
        let Some(payload) = self.held.remove(&token.0) else {
            return;
        };
        let mut index = Index::new();
        let Ok(msg) = er7::parse(&payload, &mut index, &Limits::default()) else {
            self.status("cannot-acknowledge", "message has no parsable MSH".into());
            return;
        };
        let due = acks_due(AckMode::of(&msg), commit, application);
        for code in [due.commit, due.application].into_iter().flatten() {
            let opts = AckOptions {
                control_id: self.control_id(),
                timestamp: hl7_now(),
                text: None,
                errors: if is_negative(code) {
                    errors.clone()
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
                    self.send_frame(&ack);
                }
                Err(e) => self.status("cannot-acknowledge", e.to_string()),
            }
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
        let mut index = Index::new();
        if let Ok(msg) = er7::parse(&payload, &mut index, &Limits::default()) {
            // Responses to labwire's own messages: settle the download they name, never
            // acknowledge them (an ACK of an ACK loops).
            if matches!(message_code(&msg).as_str(), "ACK" | "ORL") {
                self.on_acknowledgement(&msg);
                return;
            }
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        self.held.insert(token, payload.clone());
        self.events.push_back(LinkEvent::Message {
            token: Token(token),
            raw: payload,
        });
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
            FramerEvent::Truncated { offset, len } => {
                self.counters.timeouts += 1;
                self.events.push_back(rejected(
                    format!("MLLP frame cut short after {len} bytes (no end block in time)"),
                    offset,
                ));
            }
            FramerEvent::Skipped { .. }
            | FramerEvent::CommitAck { .. }
            | FramerEvent::CommitNak { .. } => {}
        }
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
        let Some(payload) = self.held.get(&token.0).cloned() else {
            return;
        };
        let mut index = Index::new();
        let Ok(msg) = er7::parse(&payload, &mut index, &Limits::default()) else {
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
