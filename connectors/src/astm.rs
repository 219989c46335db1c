//! ASTM E1381/E1394 instruments (CLSI LIS1-A / LIS2-A2).
//!
//! labwire plays the host (LIS) role of the E1381 link (`labwire_astm::link`, contention is
//! resolved by the state machine in the instrument's favour, LIS1-A §8.2.7):
//!
//! - results: the ACK of the frame that completes a message is released only when the ingest
//!   has made the message's events durable; otherwise the frame is NAKed and the instrument
//!   retransmits (§8.3.3);
//! - host queries: a message with Q records is acknowledged at once, the lab applications are
//!   asked, and the answer goes back as a new transfer: H, P/O records with report type `Q`, L
//!   with termination code `F`, or only H and `L|1|I` ("no information", LIS2-A2 §12.1.3) when
//!   nobody answered or there are no orders;
//! - downloads: orders from the instrument's `cmd` consumer are sent as H, P/O, `L|1|N` when the
//!   line is idle.

use crate::connector::Connector;
use crate::link::{Link, LinkCounters, LinkEvent, SendError, SendId, Token};
use bytes::BytesMut;
use labwire_astm::canonical::{DecodeOptions, message_to_events};
use labwire_astm::charset::AstmCharset;
use labwire_astm::link::{self as e1381, DeliveryToken, LinkConfig, Role};
use labwire_astm::record::Delimiters;
use labwire_astm::record::write::{EncodeError, FieldValue, MessageWriter, RecordBuilder};
use labwire_event::{Event, InputError, Order, Origin, Protocol, QueryReply};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Settings of one ASTM instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AstmConfig {
    /// Link timers and limits (the role is forced to host).
    pub link: LinkConfig,
    /// How received messages are decoded (charset, limits).
    pub decode: DecodeOptions,
    /// AstmCharset of messages labwire sends (default Latin-1, the LIS2-A2 default).
    pub send_charset: AstmCharset,
    /// Sender name in the H record of messages labwire sends (H-5).
    pub sender_name: String,
}

impl Default for AstmConfig {
    fn default() -> Self {
        Self {
            link: LinkConfig::new(Role::Host),
            decode: DecodeOptions::default(),
            send_charset: AstmCharset::Latin1,
            sender_name: "labwire".into(),
        }
    }
}

/// The ASTM connector (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct AstmConnector {
    config: AstmConfig,
}

impl AstmConnector {
    /// The settings in use.
    pub fn config(&self) -> &AstmConfig {
        &self.config
    }

    /// A connector with these settings.
    pub fn new(mut config: AstmConfig) -> Self {
        config.link.role = Role::Host;
        Self { config }
    }
}

impl Connector for AstmConnector {
    type Link = AstmLink;

    fn protocol(&self) -> Protocol {
        Protocol::Astm
    }

    fn open_link(&self, _now: Instant) -> AstmLink {
        AstmLink {
            inner: e1381::Link::new(self.config.link.clone()),
            held: None,
            unheld: None,
            events: VecDeque::new(),
            sends: HashMap::new(),
            charset: self.config.send_charset,
            sender_name: self.config.sender_name.clone(),
        }
    }

    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError> {
        decode_message(message, origin, &self.config.decode)
    }
}

/// Maps one ASTM message to events; a mapping error keeps its byte offset.
pub(crate) fn decode_message(
    message: &[u8],
    origin: &Origin,
    opts: &DecodeOptions,
) -> Result<Vec<Event>, InputError> {
    message_to_events(message, origin, opts).map_err(|e| InputError {
        reason: e.to_string(),
        offset: Some(e.offset as u64),
    })
}

/// How long to wait before offering an unheld message (see [`Unheld`]) to the ingest again.
pub const UNHELD_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// How often an unheld message is offered to the ingest before it is reported lost (the same
/// number of transmissions an E1381 sender makes of a refused frame: one plus six retries).
pub const UNHELD_ATTEMPTS: u32 = 7;

/// A message whose frames were all acknowledged (ETX frames without an L record, handed over
/// at EOT): the instrument counts it as delivered and will not send it again, so when the
/// ingest refuses it, the link keeps it and offers it again after [`UNHELD_RETRY`], up to
/// [`UNHELD_ATTEMPTS`] times; then it becomes an `error` event with its bytes and a
/// `message-lost` status, never silence.
#[derive(Debug)]
struct Unheld {
    token: Token,
    text: Vec<u8>,
    attempts: u32,
    retry_at: Option<Instant>,
}

/// What an outgoing ASTM message is, to report its fate correctly.
#[derive(Debug, Clone, Copy)]
enum Outgoing {
    Download(SendId),
    QueryAnswer,
}

/// [`Link`] over `labwire_astm::link::Link` in the host role.
#[derive(Debug)]
pub struct AstmLink {
    inner: e1381::Link,
    held: Option<DeliveryToken>,
    unheld: Option<Unheld>,
    events: VecDeque<LinkEvent>,
    sends: HashMap<e1381::SendId, Outgoing>,
    charset: AstmCharset,
    sender_name: String,
}

impl AstmLink {
    fn take_held(&mut self, token: Token) -> Option<DeliveryToken> {
        self.held.take_if(|t| t.id() == token.0)
    }

    fn translate(&mut self, ev: e1381::LinkEvent) -> Option<LinkEvent> {
        use e1381::LinkEvent as E;
        match ev {
            E::Message { token, text } => {
                let t = Token(token.id());
                if !self.inner.holds(&token) {
                    // Already acknowledged frame by frame: nothing to hold, keep the bytes.
                    self.give_up_unheld();
                    self.unheld = Some(Unheld {
                        token: t,
                        text: text.clone(),
                        attempts: 1,
                        retry_at: None,
                    });
                    return Some(LinkEvent::Message {
                        token: t,
                        raw: text,
                    });
                }
                if let Some(stale) = self.held.replace(token) {
                    // Cannot happen with a well-behaved link (one message held at a time);
                    // NAK the older one rather than drop it silently.
                    self.inner.reject(stale, Instant::now());
                }
                Some(LinkEvent::Message {
                    token: t,
                    raw: text,
                })
            }
            E::Rejected {
                offset,
                reason,
                excerpt,
            } => Some(LinkEvent::Rejected {
                reason,
                offset: Some(offset as u64),
                raw: excerpt,
            }),
            E::Discarded {
                len,
                reason,
                offset,
                text,
            } => Some(LinkEvent::Rejected {
                reason: format!("incomplete message of {len} bytes dropped: {reason}"),
                offset: offset.map(|o| o as u64),
                raw: text,
            }),
            E::Sent(id) => match self.sends.remove(&id) {
                Some(Outgoing::Download(sid)) => Some(LinkEvent::Sent(sid)),
                _ => None,
            },
            E::SendFailed { id, reason } => match self.sends.remove(&id) {
                Some(Outgoing::Download(sid)) => Some(LinkEvent::SendFailed {
                    id: sid,
                    reason: reason.to_string(),
                }),
                _ => Some(LinkEvent::Status {
                    state: "query-answer-failed".into(),
                    detail: Some(reason.to_string()),
                }),
            },
            E::PeerBusy => Some(LinkEvent::Status {
                state: "peer-busy".into(),
                detail: Some("instrument answered ENQ with NAK".into()),
            }),
            E::Established(_) | E::Terminated => None,
        }
    }

    fn queue(&mut self, text: Vec<u8>, what: Outgoing, now: Instant) -> Result<(), SendError> {
        let id = self
            .inner
            .send_message(text, now)
            .map_err(|_| SendError::Busy)?;
        self.sends.insert(id, what);
        Ok(())
    }

    fn header(&self) -> RecordBuilder {
        lis_header(&self.sender_name)
    }

    /// Reports the unheld message as lost: an `error` event with its bytes (durable if the
    /// ingest has recovered by then) and a `message-lost` status.
    fn give_up_unheld(&mut self) {
        let Some(u) = self.unheld.take() else {
            return;
        };
        if u.retry_at.is_none() && u.attempts <= 1 {
            // Never refused: it was committed or refused in the meantime, nothing to report.
            return;
        }
        self.events.push_back(LinkEvent::Status {
            state: "message-lost".into(),
            detail: Some(format!(
                "a message of {} bytes acknowledged frame by frame (no L record) could not be made durable",
                u.text.len()
            )),
        });
        self.events.push_back(LinkEvent::Rejected {
            reason: format!(
                "message of {} bytes without L record not durable after {} attempts",
                u.text.len(),
                u.attempts
            ),
            offset: None,
            raw: u.text,
        });
    }
}

/// The H record of messages labwire sends: sender name (H-5), production (H-12), LIS2-A2
/// (H-13), the current time (H-14).
pub(crate) fn lis_header(sender_name: &str) -> RecordBuilder {
    let now = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string();
    RecordBuilder::header(FieldValue::text(sender_name), "P", "LIS2-A2", &now)
}

/// Writes P and O records for `orders` (one patient record per order).
fn write_orders(
    w: &mut MessageWriter,
    orders: &[Order],
    report_type: &str,
) -> Result<(), EncodeError> {
    for (i, order) in orders.iter().enumerate() {
        let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let p = order.patient.clone().unwrap_or_default();
        w.record(&RecordBuilder::patient(
            seq,
            p.id.as_deref().unwrap_or(""),
            FieldValue::text(p.name.unwrap_or_default()),
            p.birth_date.as_deref().unwrap_or(""),
            p.sex.as_deref().unwrap_or(""),
        ))?;
        let tests: Vec<&str> = order.tests.iter().map(String::as_str).collect();
        let action = if order.cancel { "C" } else { "A" };
        let mut o = RecordBuilder::order(
            1,
            &order.specimen_id,
            &tests,
            order.priority.as_deref().unwrap_or("R"),
            action,
            report_type,
        );
        if let Some(t) = &order.specimen_type {
            o = o.set(16, t.as_str());
        }
        w.record(&o)?;
    }
    Ok(())
}

/// Encodes a host-query answer: orders with report type `Q` and `L|1|F`, or `L|1|I` when there
/// is nothing to send.
pub fn encode_query_answer(
    header: &RecordBuilder,
    reply: Option<&QueryReply>,
    charset: AstmCharset,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = MessageWriter::new(Delimiters::default(), charset);
    w.record(header)?;
    match reply.filter(|r| !r.orders.is_empty()) {
        Some(r) => {
            write_orders(&mut w, &r.orders, "Q")?;
            w.record(&RecordBuilder::terminator("F"))?;
        }
        None => {
            w.record(&RecordBuilder::terminator("I"))?;
        }
    }
    Ok(w.finish())
}

/// Encodes an order download: orders with report type `O` and `L|1|N`.
pub fn encode_download(
    header: &RecordBuilder,
    orders: &[Order],
    charset: AstmCharset,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = MessageWriter::new(Delimiters::default(), charset);
    w.record(header)?;
    write_orders(&mut w, orders, "O")?;
    w.record(&RecordBuilder::terminator("N"))?;
    Ok(w.finish())
}

impl Link for AstmLink {
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.inner.handle_input(now, bytes);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        if let Some(u) = self.unheld.as_mut()
            && u.retry_at.is_some_and(|t| now >= t)
        {
            u.retry_at = None;
            u.attempts += 1;
            self.events.push_back(LinkEvent::Message {
                token: u.token,
                raw: u.text.clone(),
            });
        }
    }

    fn handle_end_of_input(&mut self, _now: Instant) {
        // A refused unheld message cannot be offered again on a closed connection: report it.
        self.give_up_unheld();
    }

    fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        match self.inner.poll_transmit() {
            Some(bytes) => {
                out.extend_from_slice(&bytes);
                true
            }
            None => false,
        }
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        while let Some(ev) = self.inner.poll_event() {
            if let Some(ev) = self.translate(ev) {
                return Some(ev);
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let retry = self.unheld.as_ref().and_then(|u| u.retry_at);
        match (self.inner.poll_timeout(), retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn commit(&mut self, token: Token, now: Instant) {
        if self.unheld.as_ref().is_some_and(|u| u.token == token) {
            self.unheld = None;
            return;
        }
        if let Some(t) = self.take_held(token)
            && !self.inner.commit(t, now)
        {
            self.events.push_back(LinkEvent::Status {
                state: "ack-too-late".into(),
                detail: Some("the instrument gave up before the message was durable".into()),
            });
        }
    }

    fn reject(&mut self, token: Token, now: Instant) {
        if let Some(u) = self.unheld.as_mut().filter(|u| u.token == token) {
            if u.attempts >= UNHELD_ATTEMPTS {
                self.give_up_unheld();
            } else {
                u.retry_at = Some(now + UNHELD_RETRY);
            }
            return;
        }
        if let Some(t) = self.take_held(token) {
            self.inner.reject(t, now);
        }
    }

    fn answer_query(
        &mut self,
        _token: Token,
        _query: &Event,
        reply: Option<&QueryReply>,
        now: Instant,
    ) {
        let text = match encode_query_answer(&self.header(), reply, self.charset) {
            Ok(t) => t,
            Err(e) => {
                // Cannot encode the orders (e.g. a name outside the charset): say "no information".
                self.events.push_back(LinkEvent::Status {
                    state: "query-answer-failed".into(),
                    detail: Some(e.to_string()),
                });
                match encode_query_answer(&self.header(), None, self.charset) {
                    Ok(t) => t,
                    Err(_) => return,
                }
            }
        };
        if let Err(e) = self.queue(text, Outgoing::QueryAnswer, now) {
            self.events.push_back(LinkEvent::Status {
                state: "query-answer-failed".into(),
                detail: Some(e.to_string()),
            });
        }
    }

    fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }

    fn send_orders(&mut self, id: SendId, orders: &[Order], now: Instant) -> Result<(), SendError> {
        let text = encode_download(&self.header(), orders, self.charset)
            .map_err(|e| SendError::Encode(e.to_string()))?;
        self.queue(text, Outgoing::Download(id), now)
    }

    fn counters(&self) -> LinkCounters {
        let s = self.inner.stats();
        LinkCounters {
            naks_sent: s.naks_sent,
            naks_received: s.naks_received,
            retransmits: s.retransmits,
            checksum_errors: s.checksum_errors,
            timeouts: s.timeouts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_event::Patient;

    fn header() -> RecordBuilder {
        RecordBuilder::header(
            FieldValue::text("labwire"),
            "P",
            "LIS2-A2",
            "20261126100000",
        )
    }

    #[test]
    fn no_reply_is_answered_with_no_information() {
        let text = encode_query_answer(&header(), None, AstmCharset::Latin1).unwrap();
        assert_eq!(
            text,
            b"H|\\^&|||labwire|||||||P|LIS2-A2|20261126100000\rL|1|I\r".to_vec()
        );
        let empty = QueryReply::default();
        let text2 = encode_query_answer(&header(), Some(&empty), AstmCharset::Latin1).unwrap();
        assert_eq!(text, text2);
    }

    #[test]
    fn orders_are_answered_with_p_and_o_records() {
        let reply = QueryReply {
            orders: vec![Order {
                specimen_id: "S1".into(),
                tests: vec!["GLU".into(), "NA".into()],
                patient: Some(Patient {
                    id: Some("P1".into()),
                    ..Patient::default()
                }),
                ..Order::default()
            }],
        };
        let text = encode_query_answer(&header(), Some(&reply), AstmCharset::Latin1).unwrap();
        let text = String::from_utf8(text).unwrap();
        let records: Vec<&str> = text.split('\r').collect();
        assert_eq!(records[1], "P|1|P1");
        assert_eq!(records[2], "O|1|S1||^^^GLU\\^^^NA|R||||||A||||||||||||||Q");
        assert_eq!(records[3], "L|1|F");
    }

    #[test]
    fn a_download_ends_normally() {
        let orders = [Order {
            specimen_id: "S9".into(),
            tests: vec!["K".into()],
            cancel: true,
            ..Order::default()
        }];
        let text =
            String::from_utf8(encode_download(&header(), &orders, AstmCharset::Latin1).unwrap())
                .unwrap();
        assert!(
            text.contains("O|1|S9||^^^K|R||||||C||||||||||||||O\r"),
            "{text}"
        );
        assert!(text.ends_with("L|1|N\r"));
    }
}
