//! Splitting a stored capture into E1394 messages (ASTM E1381 §6 / E1394 §6-§7).
//!
//! [`split_capture`] takes the bytes of a capture file and returns one result
//! per message, in input order. Two formats are recognised automatically:
//!
//! * **E1381 transcript**: STX frames with ENQ/ACK/NAK/EOT interleaved as seen
//!   on a line, possibly with line noise between frames. Frames are checked
//!   (checksum, frame number sequence, size limit) and the texts of the frames
//!   of a message are joined. A message ends with the ETX frame whose last
//!   record is an L record (text that does not start with an H record, such
//!   as library test vectors, ends at every ETX frame). A frame repeated after a NAK replaces the earlier
//!   copy; an identical repeat of the last frame (lost ACK) is dropped; a bad
//!   frame followed by a good frame with the expected number counts as
//!   recovered by retransmission.
//! * **Record text**: E1394 records terminated by CR, LF, CRLF or doubled
//!   terminators, blank lines allowed, several messages back to back (a new
//!   message at each H record). Lines prefixed by a frame-number digit
//!   (middleware logs such as `1H|\^&…`, `2Q|…`) have the digit removed.
//!
//! Rejected with a clear reason: textual notation (`<STX>`, `<CR>` or `^B`
//! written as text, e.g. a manual excerpt), vendor-native framings that are
//! not E1381 (no frame number or checksum), and anything that is neither.
//! See `docs/astm-link.md` for the per-format decisions.

use std::fmt;

use memchr::memmem;

use crate::link::boundary::{
    ends_with_terminator_lenient, is_header_record, is_terminator_record, looks_like_record,
    normalize_digit_prefixes, starts_with_header, strip_frame_digit,
};
use crate::link::control::{CR, ENQ, EOT, LF, STX};
use crate::link::error::{EXCERPT_LEN, show_byte};
use crate::link::{
    Control, Decoded, Frame, FrameDecoder, FrameEnd, FrameErrorKind, FrameLimits, FrameNumber,
};

/// Default limit on one message's text ([`labwire_event::limits::DEFAULT_MESSAGE_BYTES`]).
pub const DEFAULT_MAX_MESSAGE: usize = labwire_event::limits::DEFAULT_MESSAGE_BYTES;

/// Limits applied while splitting a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureLimits {
    /// Maximum text bytes in one frame. Default 64 KiB
    /// ([`crate::link::frame::DEFAULT_MAX_FRAME_TEXT`]).
    pub max_frame_text: usize,
    /// Maximum text bytes in one message. Default [`DEFAULT_MAX_MESSAGE`] (4 MiB).
    pub max_message: usize,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        Self {
            max_frame_text: FrameLimits::default().max_text,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// One message found in a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedMessage {
    /// Byte offset in the capture where the message starts (its first frame's
    /// STX, or its H record).
    pub offset: usize,
    /// Record text: the joined frame texts, each record terminated by one CR.
    pub text: Vec<u8>,
}

/// Which format [`split_capture`] recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// E1381 frames (STX … ETX/ETB checksum), possibly with ENQ/ACK/NAK/EOT.
    Framed,
    /// Bare E1394 record text.
    Records,
}

/// Why part of a capture was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureErrorKind {
    /// A frame was malformed (bad checksum, not an E1381 frame, too long, cut short).
    #[error("{0}")]
    Frame(FrameErrorKind),
    /// A frame number does not follow the previous one.
    #[error("frame number {found} out of sequence, expected {expected}")]
    OutOfSequence {
        /// The number the next frame should have had.
        expected: u8,
        /// The number it had.
        found: u8,
    },
    /// The message ended after an intermediate (ETB) frame.
    #[error("message truncated: intermediate (ETB) frame followed by {by}")]
    Truncated {
        /// What ended it ("EOT", "ENQ", "end of input").
        by: &'static str,
    },
    /// The message has no L terminator record.
    #[error("message has no L terminator record before {by}")]
    MissingTerminator {
        /// What ended it ("EOT", "ENQ", "end of input", "next H record").
        by: &'static str,
    },
    /// The message is longer than [`CaptureLimits::max_message`].
    #[error("message longer than the limit of {limit} bytes")]
    MessageTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// Records outside any message (before the first H or after an L).
    #[error("record outside a message (no H header record before it)")]
    OutsideMessage,
    /// Control characters written as text placeholders; not wire bytes.
    #[error("textual notation ({notation} written as text), not wire bytes: decode to bytes first")]
    TextualNotation {
        /// The placeholder found, e.g. `<STX>` or `^B`.
        notation: String,
    },
    /// Neither E1381 frames nor E1394 records.
    #[error("not ASTM: neither E1381 frames nor E1394 records (starts with {start})")]
    NotAstm {
        /// The first byte, rendered.
        start: String,
    },
}

/// A rejected part of a capture: reason, byte offset and an excerpt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    offset: usize,
    kind: CaptureErrorKind,
    excerpt: Vec<u8>,
}

impl CaptureError {
    fn new(offset: usize, kind: CaptureErrorKind, excerpt: &[u8]) -> Self {
        Self {
            offset,
            kind,
            excerpt: excerpt
                .get(..EXCERPT_LEN.min(excerpt.len()))
                .unwrap_or_default()
                .to_vec(),
        }
    }

    /// Byte offset in the capture: the offending frame, or the start of the
    /// message that is truncated or lacks its terminator.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What was wrong.
    #[must_use]
    pub fn kind(&self) -> &CaptureErrorKind {
        &self.kind
    }

    /// Up to 32 bytes from where the problem starts, for logs.
    #[must_use]
    pub fn excerpt(&self) -> &[u8] {
        &self.excerpt
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for CaptureError {}

/// Splits a capture into messages; see the module docs.
#[must_use]
pub fn split_capture(
    bytes: &[u8],
    limits: &CaptureLimits,
) -> Vec<Result<CapturedMessage, CaptureError>> {
    match detect_format(bytes) {
        Ok(Some(CaptureFormat::Framed)) => split_framed(bytes, limits),
        Ok(Some(CaptureFormat::Records)) => split_records(bytes, limits),
        Ok(None) => Vec::new(),
        Err(err) => vec![Err(err)],
    }
}

/// Recognises the capture format; `Ok(None)` for input that is empty or blank.
///
/// # Errors
/// Textual notation or input that is neither frames nor records.
pub fn detect_format(bytes: &[u8]) -> Result<Option<CaptureFormat>, CaptureError> {
    if bytes.iter().any(|&b| matches!(b, STX | ENQ | EOT)) {
        return Ok(Some(CaptureFormat::Framed));
    }
    if let Some((offset, notation)) = find_textual_notation(bytes) {
        let kind = CaptureErrorKind::TextualNotation { notation };
        return Err(CaptureError::new(
            offset,
            kind,
            bytes.get(offset..).unwrap_or_default(),
        ));
    }
    let Some((offset, line)) = lines(bytes).find(|(_, l)| !is_blank(l)) else {
        return Ok(None);
    };
    if looks_like_record(strip_frame_digit(line)) {
        return Ok(Some(CaptureFormat::Records));
    }
    let start = line.first().map_or_else(String::new, |&b| show_byte(b));
    Err(CaptureError::new(
        offset,
        CaptureErrorKind::NotAstm { start },
        line,
    ))
}

const ANGLE_PLACEHOLDERS: [&[u8]; 8] = [
    b"<STX>", b"<ETX>", b"<ETB>", b"<ENQ>", b"<EOT>", b"<ACK>", b"<NAK>", b"<CR>",
];

fn find_textual_notation(bytes: &[u8]) -> Option<(usize, String)> {
    let angle = ANGLE_PLACEHOLDERS
        .iter()
        .filter_map(|p| memmem::find(bytes, p).map(|at| (at, *p)))
        .min_by_key(|(at, _)| *at)
        .map(|(at, p)| (at, String::from_utf8_lossy(p).into_owned()));
    if angle.is_some() {
        return angle;
    }
    // Caret notation (`^B1H|…`, `^C3A`, `^D`) at the start of a line: no E1394
    // record starts with '^'.
    lines(bytes).find_map(|(offset, line)| match line {
        [b'^', c, ..] if b"BCDEFUW".contains(c) => Some((offset, format!("^{}", char::from(*c)))),
        _ => None,
    })
}

/// Iterator over `(offset, line)` split at CR and at LF (so CRLF and doubled
/// terminators give empty lines, which callers skip).
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let rest = bytes.get(start..).unwrap_or_default();
        let line_start = start;
        match memchr::memchr2(CR, LF, rest) {
            Some(end) => {
                start += end + 1;
                Some((line_start, rest.get(..end).unwrap_or_default()))
            }
            None => {
                done = true;
                Some((line_start, rest))
            }
        }
    })
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

// ---------------------------------------------------------------- records --

fn split_records(
    bytes: &[u8],
    limits: &CaptureLimits,
) -> Vec<Result<CapturedMessage, CaptureError>> {
    let mut out = Vec::new();
    let mut open: Option<CapturedMessage> = None;
    let mut stray_reported = false;
    for (offset, raw_line) in lines(bytes) {
        if is_blank(raw_line) {
            continue;
        }
        let line = strip_frame_digit(raw_line);
        if is_header_record(line) {
            if let Some(msg) = open.take() {
                let kind = CaptureErrorKind::MissingTerminator {
                    by: "next H record",
                };
                out.push(Err(CaptureError::new(msg.offset, kind, &msg.text)));
            }
            open = Some(CapturedMessage {
                offset,
                text: Vec::new(),
            });
            stray_reported = false;
        }
        let Some(msg) = open.as_mut() else {
            if !stray_reported {
                let err = CaptureError::new(offset, CaptureErrorKind::OutsideMessage, raw_line);
                out.push(Err(err));
                stray_reported = true;
            }
            continue;
        };
        if msg.text.len() + line.len() + 1 > limits.max_message {
            let kind = CaptureErrorKind::MessageTooLong {
                limit: limits.max_message,
            };
            out.push(Err(CaptureError::new(msg.offset, kind, &msg.text)));
            open = None;
            stray_reported = true;
            continue;
        }
        msg.text.extend_from_slice(line);
        msg.text.push(CR);
        if is_terminator_record(line) {
            out.extend(open.take().map(Ok));
            stray_reported = false;
        }
    }
    if let Some(msg) = open {
        let kind = CaptureErrorKind::MissingTerminator { by: "end of input" };
        out.push(Err(CaptureError::new(msg.offset, kind, &msg.text)));
    }
    out
}

// ----------------------------------------------------------------- framed --

fn split_framed(
    bytes: &[u8],
    limits: &CaptureLimits,
) -> Vec<Result<CapturedMessage, CaptureError>> {
    let mut decoder = FrameDecoder::new(FrameLimits {
        max_text: limits.max_frame_text,
    });
    let mut split = Framed::new(*limits);
    let mut input = bytes;
    while let Some(item) = decoder.decode(&mut input) {
        split.on_item(item);
    }
    if let Some(item) = decoder.finish() {
        split.on_item(item);
    }
    split.end_transfer("end of input");
    split.out
}

/// The last frame accepted, kept to recognise retransmissions.
struct LastFrame {
    number: FrameNumber,
    end: FrameEnd,
    text: Vec<u8>,
}

struct Framed {
    limits: CaptureLimits,
    out: Vec<Result<CapturedMessage, CaptureError>>,
    /// Text of the message being assembled.
    msg: Vec<u8>,
    msg_offset: usize,
    /// Where the last frame's text starts in `msg`.
    last_start: usize,
    last: Option<LastFrame>,
    nak_after_last: bool,
    expected: FrameNumber,
    /// `msg` ends with an ETX frame whose last record is L.
    complete: bool,
    /// After an error: skip frames until a new transfer or an H record.
    discarding: bool,
    /// A bad frame that a retransmission may still recover.
    pending_bad: Option<CaptureError>,
    /// An EOT that ends the transfer unless the next frame continues it.
    eot_pending: bool,
}

impl Framed {
    fn new(limits: CaptureLimits) -> Self {
        Self {
            limits,
            out: Vec::new(),
            msg: Vec::new(),
            msg_offset: 0,
            last_start: 0,
            last: None,
            nak_after_last: false,
            expected: FrameNumber::FIRST,
            complete: false,
            discarding: false,
            pending_bad: None,
            eot_pending: false,
        }
    }

    fn on_item(&mut self, item: Decoded<'_>) {
        match item {
            Decoded::Frame(frame) => self.on_frame(frame),
            Decoded::Error(err) => {
                let excerpt = err.excerpt.clone();
                let err =
                    CaptureError::new(err.offset, CaptureErrorKind::Frame(err.kind), &excerpt);
                self.on_bad_frame(err);
            }
            Decoded::Control { control, .. } => match control {
                Control::Enq => self.end_transfer("ENQ"),
                Control::Eot => self.eot_pending = true,
                Control::Nak => self.nak_after_last = self.last.is_some(),
                Control::Ack => self.nak_after_last = false,
            },
            Decoded::Noise { .. } => {}
        }
    }

    fn on_bad_frame(&mut self, err: CaptureError) {
        if self.eot_pending {
            self.end_transfer("EOT");
        }
        if self.discarding {
            return;
        }
        if let Some(previous) = self.pending_bad.take() {
            self.fail(previous);
            return;
        }
        self.pending_bad = Some(err);
    }

    fn on_frame(&mut self, frame: Frame<'_>) {
        if self.eot_pending {
            // An EOT answered by the next frame in sequence was a receiver
            // interrupt request (E1381 §8.3.5), not the end of the transfer.
            let continues = self.last.is_some() && frame.number == self.expected;
            if !continues {
                self.end_transfer("EOT");
            }
            self.eot_pending = false;
        }
        if self.discarding {
            if !starts_with_header(frame.text) {
                return;
            }
            self.discarding = false;
            self.expected = frame.number;
            self.last = None;
        }
        if let Some(last) = &self.last
            && last.number == frame.number
        {
            if self.nak_after_last {
                // Retransmission after NAK: replaces the earlier copy.
                self.msg.truncate(self.last_start);
                self.complete = false;
                self.pending_bad = None;
                self.expected = frame.number;
            } else if last.text == frame.text && last.end == frame.end {
                return; // Duplicate after a lost ACK.
            }
        }
        // A bad frame followed by the frame it should have been is recovered.
        if let Some(bad) = self.pending_bad.take()
            && frame.number != self.expected
        {
            self.fail(bad);
            return self.on_frame(frame);
        }
        if frame.number != self.expected {
            let kind = CaptureErrorKind::OutOfSequence {
                expected: self.expected.value(),
                found: frame.number.value(),
            };
            let mut excerpt = vec![STX, frame.number.ascii()];
            excerpt.extend_from_slice(
                frame
                    .text
                    .get(..30.min(frame.text.len()))
                    .unwrap_or_default(),
            );
            self.fail(CaptureError::new(frame.offset, kind, &excerpt));
            return self.on_frame(frame);
        }
        self.append(frame);
    }

    fn append(&mut self, frame: Frame<'_>) {
        if self.complete {
            self.flush();
        }
        let after_last_frame = self.last.as_ref().is_some_and(|l| l.end == FrameEnd::Last);
        if !self.msg.is_empty() && after_last_frame && starts_with_header(frame.text) {
            let kind = CaptureErrorKind::MissingTerminator {
                by: "next H record",
            };
            self.out
                .push(Err(CaptureError::new(self.msg_offset, kind, &self.msg)));
            self.msg.clear();
        }
        if self.msg.is_empty() {
            self.msg_offset = frame.offset;
        }
        if self.msg.len() + frame.text.len() > self.limits.max_message {
            let kind = CaptureErrorKind::MessageTooLong {
                limit: self.limits.max_message,
            };
            let err = CaptureError::new(self.msg_offset, kind, &self.msg);
            self.complete = false;
            self.fail(err);
            return;
        }
        self.last_start = self.msg.len();
        self.msg.extend_from_slice(frame.text);
        // Reuse the copy's buffer: one allocation per capture, not per frame.
        let mut text = self.last.take().map(|l| l.text).unwrap_or_default();
        text.clear();
        text.extend_from_slice(frame.text);
        self.last = Some(LastFrame {
            number: frame.number,
            end: frame.end,
            text,
        });
        self.expected = frame.number.next();
        self.nak_after_last = false;
        // An E1394 message ends with its L record; text that is not an E1394
        // message (no H record first) ends at each ETX frame, as in E1381.
        self.complete = frame.end == FrameEnd::Last
            && (ends_with_terminator_lenient(&self.msg) || !starts_with_header(&self.msg));
    }

    /// Reports `err`; a complete message held back is still delivered first.
    fn fail(&mut self, err: CaptureError) {
        if self.complete {
            self.flush();
        }
        self.out.push(Err(err));
        self.msg.clear();
        self.last = None;
        self.pending_bad = None;
        self.discarding = true;
    }

    fn flush(&mut self) {
        let text = normalize_digit_prefixes(std::mem::take(&mut self.msg));
        self.out.push(Ok(CapturedMessage {
            offset: self.msg_offset,
            text,
        }));
        self.complete = false;
    }

    fn end_transfer(&mut self, by: &'static str) {
        // An EOT seen before whatever ended the transfer is the real reason.
        let by = if self.eot_pending { "EOT" } else { by };
        self.eot_pending = false;
        if let Some(bad) = self.pending_bad.take() {
            self.fail(bad);
        } else if self.complete {
            self.flush();
        } else if !self.msg.is_empty() {
            let kind = match self.last.as_ref().map(|l| l.end) {
                Some(FrameEnd::Intermediate) => Some(CaptureErrorKind::Truncated { by }),
                // Ended with an ETX frame and a proper EOT: the sender
                // considered it delivered; hand it over without an L record.
                Some(FrameEnd::Last) if by == "EOT" => None,
                _ => Some(CaptureErrorKind::MissingTerminator { by }),
            };
            match kind {
                Some(kind) => {
                    self.out
                        .push(Err(CaptureError::new(self.msg_offset, kind, &self.msg)));
                    self.msg.clear();
                }
                None => self.flush(),
            }
        }
        self.last = None;
        self.nak_after_last = false;
        self.expected = FrameNumber::FIRST;
        self.discarding = false;
        self.complete = false;
    }
}
