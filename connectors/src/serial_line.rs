//! Line-oriented serial devices: balances, pH meters, printers-as-output, anything that prints
//! one reading per line (`ST,GS,+0012.34 g` CR LF).
//!
//! [`LineFramer`] splits a byte stream into lines ended by CR, LF or CR LF, with a bounded line
//! buffer: an over-long line (or a line that never ends) is reported once and skipped up to the
//! next terminator, so memory stays bounded whatever the device sends. [`SerialLineConnector`]
//! plugs a per-device parser into the shared driver: each line becomes one `telemetry` event
//! whose readings are [`Observation`]s (`code` = what was measured, `value`, `units`).
//!
//! Such devices have no acknowledgement: a reading that cannot be stored is reported as a
//! `reading-not-stored` status and lost, which is all the wire allows.

use crate::connector::Connector;
use crate::link::{Link, LinkEvent, Token};
use bytes::BytesMut;
use labwire_event::{Event, EventKind, InputError, Observation, Origin, Protocol};
use std::collections::VecDeque;
use std::time::Instant;

/// Default longest line, in bytes, without its terminator.
pub const DEFAULT_MAX_LINE: usize = 256;

/// How many bytes of an over-long line are kept for the error event.
pub const EXCERPT_LEN: usize = 32;

/// What the framer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// One complete, non-empty line without its terminator.
    Line {
        /// The line.
        text: Vec<u8>,
        /// Stream offset of its first byte.
        offset: u64,
    },
    /// A line longer than the limit; the rest of it, up to the next terminator, is skipped.
    TooLong {
        /// Stream offset of the line's first byte.
        offset: u64,
        /// The first bytes of the line.
        excerpt: Vec<u8>,
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// Splits bytes into lines (see the module docs).
#[derive(Debug, Clone)]
pub struct LineFramer {
    buf: Vec<u8>,
    max: usize,
    offset: u64,
    line_start: u64,
    skipping: bool,
    after_cr: bool,
}

impl LineFramer {
    /// A framer with a line limit of `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            offset: 0,
            line_start: 0,
            skipping: false,
            after_cr: false,
        }
    }

    /// Bytes of the unfinished line held now (never more than the limit).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes; complete lines and over-long reports are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut VecDeque<Framed>) {
        for &b in bytes {
            let at = self.offset;
            self.offset += 1;
            let lf_after_cr = self.after_cr && b == b'\n';
            self.after_cr = false;
            if lf_after_cr {
                self.line_start = self.offset;
                continue;
            }
            if b == b'\r' || b == b'\n' {
                if !self.skipping && !self.buf.is_empty() {
                    out.push_back(Framed::Line {
                        text: std::mem::take(&mut self.buf),
                        offset: self.line_start,
                    });
                }
                self.buf.clear();
                self.skipping = false;
                self.after_cr = b == b'\r';
                self.line_start = self.offset;
                continue;
            }
            if self.skipping {
                continue;
            }
            if self.buf.len() >= self.max {
                let excerpt = self.buf.iter().copied().take(EXCERPT_LEN).collect();
                out.push_back(Framed::TooLong {
                    offset: self.line_start,
                    excerpt,
                    limit: self.max,
                });
                self.buf.clear();
                self.skipping = true;
                continue;
            }
            if self.buf.is_empty() {
                self.line_start = at;
            }
            self.buf.push(b);
        }
    }
}

/// A [`Link`] over a [`LineFramer`]: every line is a message; nothing is ever transmitted.
#[derive(Debug)]
pub struct SerialLineLink {
    framer: LineFramer,
    framed: VecDeque<Framed>,
    events: VecDeque<LinkEvent>,
    next_token: u64,
}

impl SerialLineLink {
    /// A link with a line limit of `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            framer: LineFramer::new(max_line),
            framed: VecDeque::new(),
            events: VecDeque::new(),
            next_token: 0,
        }
    }
}

impl Link for SerialLineLink {
    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        self.framer.push(bytes, &mut self.framed);
        for f in self.framed.drain(..) {
            let ev = match f {
                Framed::Line { text, .. } => {
                    let token = Token(self.next_token);
                    self.next_token = self.next_token.wrapping_add(1);
                    LinkEvent::Message { token, raw: text }
                }
                Framed::TooLong {
                    offset,
                    excerpt,
                    limit,
                } => LinkEvent::Rejected {
                    reason: format!("line longer than {limit} bytes; skipped to the next line end"),
                    offset: Some(offset),
                    raw: excerpt,
                },
            };
            self.events.push_back(ev);
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _out: &mut BytesMut) -> bool {
        false
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn commit(&mut self, _token: Token, _now: Instant) {}

    fn reject(&mut self, _token: Token, _now: Instant) {
        self.events.push_back(LinkEvent::Status {
            state: "reading-not-stored".into(),
            detail: Some("the ingest did not confirm a reading; the device cannot resend".into()),
        });
    }
}

/// Why a device line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at column {column}")]
pub struct LineError {
    /// What was wrong.
    pub reason: String,
    /// Byte offset inside the line.
    pub column: usize,
}

/// A connector for a line-oriented device, given a parser from one line to readings.
#[derive(Debug, Clone)]
pub struct SerialLineConnector<P> {
    parse: P,
    max_line: usize,
}

impl<P> SerialLineConnector<P>
where
    P: Fn(&str) -> Result<Vec<Observation>, LineError> + Send + Sync + 'static,
{
    /// A connector using `parse` on each line, with the default line limit.
    pub fn new(parse: P) -> Self {
        Self {
            parse,
            max_line: DEFAULT_MAX_LINE,
        }
    }

    /// Changes the line limit.
    #[must_use]
    pub fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line;
        self
    }
}

impl<P> Connector for SerialLineConnector<P>
where
    P: Fn(&str) -> Result<Vec<Observation>, LineError> + Send + Sync + 'static,
{
    type Link = SerialLineLink;

    fn protocol(&self) -> Protocol {
        Protocol::Serial
    }

    fn open_link(&self, _now: Instant) -> SerialLineLink {
        SerialLineLink::new(self.max_line)
    }

    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError> {
        let text = std::str::from_utf8(message).map_err(|e| InputError {
            reason: "line is not valid UTF-8".into(),
            offset: Some(e.valid_up_to() as u64),
        })?;
        let observations = (self.parse)(text).map_err(|e| InputError {
            reason: e.reason,
            offset: Some(e.column as u64),
        })?;
        let mut ev = origin.event(EventKind::Telemetry, Protocol::Serial, message, 0);
        ev.observations = observations;
        ev.raw = Some(text.into());
        Ok(vec![ev])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer, input: &[u8]) -> Vec<Framed> {
        let mut out = VecDeque::new();
        framer.push(input, &mut out);
        out.into_iter().collect()
    }

    fn line(text: &str, offset: u64) -> Framed {
        Framed::Line {
            text: text.as_bytes().to_vec(),
            offset,
        }
    }

    #[test]
    fn cr_lf_and_crlf_each_end_one_line() {
        let mut f = LineFramer::new(16);
        let got = lines(&mut f, b"a\rb\nc\r\nd\n\re");
        assert_eq!(
            got,
            vec![line("a", 0), line("b", 2), line("c", 4), line("d", 7)]
        );
        assert_eq!(f.buffered(), 1);
    }

    #[test]
    fn a_crlf_split_across_reads_is_one_terminator() {
        let mut f = LineFramer::new(16);
        assert_eq!(lines(&mut f, b"x1\r"), vec![line("x1", 0)]);
        assert_eq!(lines(&mut f, b"\nx2\r"), vec![line("x2", 4)]);
    }

    #[test]
    fn byte_by_byte_gives_the_same_lines() {
        let input = b"ST,GS,+0012.34 g\r\nUS,GS,+0000.01 g\r\n";
        let mut f = LineFramer::new(64);
        let mut out = VecDeque::new();
        for b in input {
            f.push(std::slice::from_ref(b), &mut out);
        }
        let got: Vec<_> = out.into_iter().collect();
        assert_eq!(
            got,
            vec![line("ST,GS,+0012.34 g", 0), line("US,GS,+0000.01 g", 18)]
        );
    }

    #[test]
    fn an_endless_line_is_reported_once_and_memory_stays_bounded() {
        let mut f = LineFramer::new(8);
        let mut out = VecDeque::new();
        for _ in 0..10_000 {
            f.push(b"0123456789", &mut out);
            assert!(f.buffered() <= 8);
        }
        assert_eq!(out.len(), 1);
        assert!(matches!(
            out.front(),
            Some(Framed::TooLong {
                offset: 0,
                limit: 8,
                ..
            })
        ));
        f.push(b"\nok\n", &mut out);
        assert_eq!(out.back(), Some(&line("ok", 100_001)));
    }

    #[test]
    fn a_line_of_exactly_the_limit_passes() {
        let mut f = LineFramer::new(4);
        assert_eq!(lines(&mut f, b"abcd\n"), vec![line("abcd", 0)]);
        let got = lines(&mut f, b"abcde\n");
        assert!(matches!(
            got.as_slice(),
            [Framed::TooLong { offset: 5, .. }]
        ));
    }

    #[test]
    fn decode_reports_bad_utf8_with_its_offset() {
        let c = SerialLineConnector::new(|_: &str| Ok(Vec::new()));
        let origin = Origin {
            site: "s".parse().unwrap(),
            instrument: "i".parse().unwrap(),
            received_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let err = c.decode(b"ab\xffcd", &origin).unwrap_err();
        assert_eq!(err.offset, Some(2));
        let ok = c.decode(b"abc", &origin).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].kind, EventKind::Telemetry);
        assert_eq!(ok[0].raw.as_deref(), Some("abc"));
    }
}
