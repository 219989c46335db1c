//! ASTM E1394 records without the E1381 link layer (`framing = "none"` in the site config).
//!
//! Some TCP instruments send bare records, each ended by CR, with no ENQ/STX/checksum/EOT
//! dialogue. A message runs from an H record to an L record (LIS2-A2 §6, §12). Nothing on this
//! wire acknowledges, so a message that cannot be stored is reported (`message-not-stored`) and
//! lost; host-query answers and downloads are written as bare records too, and a download counts
//! as delivered once written.
//!
//! Records are split with the serial-line framer (CR, LF or CR LF; bounded record length);
//! messages are bounded by [`AstmConfig`]'s `link.max_message` and must complete within
//! `link.receiver_timeout`.

use crate::astm::{AstmConfig, decode_message, encode_download, encode_query_answer, lis_header};
use crate::connector::Connector;
use crate::link::{Link, LinkEvent, SendError, SendId, Token};
use crate::serial_line::{Framed, LineFramer};
use bytes::BytesMut;
use labwire_astm::link::boundary::{is_header_record, is_terminator_record};
use labwire_event::{Event, InputError, Order, Origin, Protocol, QueryReply};
use std::collections::VecDeque;
use std::time::Instant;

/// The connector for bare ASTM records (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct AstmRecordsConnector {
    config: AstmConfig,
}

impl AstmRecordsConnector {
    /// A connector with these settings (frame limit = longest record).
    pub fn new(config: AstmConfig) -> Self {
        Self { config }
    }
}

impl Connector for AstmRecordsConnector {
    type Link = AstmRecordsLink;

    fn protocol(&self) -> Protocol {
        Protocol::Astm
    }

    fn open_link(&self, _now: Instant) -> AstmRecordsLink {
        AstmRecordsLink {
            framer: LineFramer::new(self.config.link.frame_limits.max_text),
            framed: VecDeque::new(),
            message: None,
            events: VecDeque::new(),
            tx: Vec::new(),
            next_token: 0,
            config: self.config.clone(),
        }
    }

    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError> {
        decode_message(message, origin, &self.config.decode)
    }
}

/// A message being assembled.
#[derive(Debug)]
struct Partial {
    text: Vec<u8>,
    offset: u64,
    deadline: Instant,
    /// Over the size limit: records are dropped until the next H.
    oversized: bool,
}

/// [`Link`] for bare records.
#[derive(Debug)]
pub struct AstmRecordsLink {
    framer: LineFramer,
    framed: VecDeque<Framed>,
    message: Option<Partial>,
    events: VecDeque<LinkEvent>,
    tx: Vec<u8>,
    next_token: u64,
    config: AstmConfig,
}

impl AstmRecordsLink {
    fn reject(&mut self, reason: String, offset: u64, raw: &[u8]) {
        self.events.push_back(LinkEvent::Rejected {
            reason,
            offset: Some(offset),
            raw: raw.iter().copied().take(32).collect(),
        });
    }

    fn on_record(&mut self, now: Instant, record: Vec<u8>, offset: u64) {
        if is_header_record(&record) {
            if let Some(p) = self.message.take()
                && !p.oversized
            {
                self.reject(
                    "message without an L record dropped (a new H record began)".into(),
                    p.offset,
                    &p.text,
                );
            }
            self.message = Some(Partial {
                text: Vec::new(),
                offset,
                deadline: now + self.config.link.receiver_timeout,
                oversized: false,
            });
        }
        let max = self.config.link.max_message;
        let Some(p) = self.message.as_mut() else {
            self.reject(
                "record outside a message (no H record)".into(),
                offset,
                &record,
            );
            return;
        };
        if p.oversized {
            if is_terminator_record(&record) {
                self.message = None;
            }
            return;
        }
        if p.text.len() + record.len() + 1 > max {
            p.oversized = true;
            p.text.clear();
            let start = p.offset;
            self.reject(
                format!("message larger than {max} bytes dropped"),
                start,
                &[],
            );
            return;
        }
        p.text.extend_from_slice(&record);
        p.text.push(b'\r');
        if is_terminator_record(&record) {
            let text = self.message.take().map(|p| p.text).unwrap_or_default();
            let token = Token(self.next_token);
            self.next_token = self.next_token.wrapping_add(1);
            self.events
                .push_back(LinkEvent::Message { token, raw: text });
        }
    }
}

impl Link for AstmRecordsLink {
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.framer.push(bytes, &mut self.framed);
        while let Some(f) = self.framed.pop_front() {
            match f {
                Framed::Line { text, offset } => self.on_record(now, text, offset),
                Framed::TooLong {
                    offset,
                    excerpt,
                    limit,
                } => {
                    if let Some(p) = self.message.as_mut() {
                        p.oversized = true;
                        p.text.clear();
                    }
                    self.reject(
                        format!("record longer than {limit} bytes"),
                        offset,
                        &excerpt,
                    );
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = self.message.take_if(|p| now >= p.deadline) {
            self.reject(
                "message not completed in time (no L record)".into(),
                p.offset,
                &p.text,
            );
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
        self.message.as_ref().map(|p| p.deadline)
    }

    fn commit(&mut self, _token: Token, _now: Instant) {}

    fn reject(&mut self, _token: Token, _now: Instant) {
        self.events.push_back(LinkEvent::Status {
            state: "message-not-stored".into(),
            detail: Some("no link layer: the instrument cannot be asked to resend".into()),
        });
    }

    fn answer_query(
        &mut self,
        _token: Token,
        _query: &Event,
        reply: Option<&QueryReply>,
        _now: Instant,
    ) {
        let header = lis_header(&self.config.sender_name);
        let text = encode_query_answer(&header, reply, self.config.send_charset)
            .or_else(|_| encode_query_answer(&header, None, self.config.send_charset));
        match text {
            Ok(t) => self.tx.extend_from_slice(&t),
            Err(e) => self.events.push_back(LinkEvent::Status {
                state: "query-answer-failed".into(),
                detail: Some(e.to_string()),
            }),
        }
    }

    fn is_idle(&self) -> bool {
        self.message.is_none()
    }

    fn send_orders(
        &mut self,
        id: SendId,
        orders: &[Order],
        _now: Instant,
    ) -> Result<(), SendError> {
        let header = lis_header(&self.config.sender_name);
        let text = encode_download(&header, orders, self.config.send_charset)
            .map_err(|e| SendError::Encode(e.to_string()))?;
        self.tx.extend_from_slice(&text);
        self.events.push_back(LinkEvent::Sent(id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> AstmRecordsLink {
        let mut c = AstmConfig::default();
        c.link.max_message = 64;
        c.link.frame_limits.max_text = 32;
        AstmRecordsConnector::new(c).open_link(Instant::now())
    }

    fn drain(l: &mut AstmRecordsLink) -> Vec<LinkEvent> {
        std::iter::from_fn(|| l.poll_event()).collect()
    }

    #[test]
    fn a_message_runs_from_h_to_l_in_any_chunking() {
        let mut l = link();
        let input = b"H|\\^&\r\nR|1|^^^GLU|5\rL|1|N\r";
        for b in input {
            l.handle_input(Instant::now(), std::slice::from_ref(b));
        }
        let evs = drain(&mut l);
        assert_eq!(
            evs,
            vec![LinkEvent::Message {
                token: Token(0),
                raw: b"H|\\^&\rR|1|^^^GLU|5\rL|1|N\r".to_vec()
            }]
        );
        assert!(l.is_idle());
    }

    #[test]
    fn stray_records_unfinished_and_oversized_messages_are_reported() {
        let mut l = link();
        let now = Instant::now();
        l.handle_input(now, b"R|1|stray\rH|\\^&\rP|1\rH|\\^&\r");
        let evs = drain(&mut l);
        assert!(
            matches!(
                &evs[..],
                [
                    LinkEvent::Rejected {
                        offset: Some(0),
                        ..
                    },
                    LinkEvent::Rejected {
                        offset: Some(10),
                        ..
                    },
                ]
            ),
            "{evs:?}"
        );
        // Over 64 bytes: dropped up to its L, then the next message is fine.
        l.handle_input(now, &[b"C|1|".as_slice(), &[b'x'; 28], b"\r"].concat());
        l.handle_input(now, &[b"C|2|".as_slice(), &[b'x'; 28], b"\rL|1\r"].concat());
        l.handle_input(now, b"H|\\^&\rL|1\r");
        let evs = drain(&mut l);
        assert!(
            matches!(
                &evs[..],
                [LinkEvent::Rejected { .. }, LinkEvent::Message { .. },]
            ),
            "{evs:?}"
        );
        // An unfinished message times out.
        l.handle_input(now, b"H|\\^&\r");
        let deadline = l.poll_timeout().unwrap();
        l.handle_timeout(deadline);
        assert!(matches!(drain(&mut l)[..], [LinkEvent::Rejected { .. }]));
        assert_eq!(l.poll_timeout(), None);
    }
}
