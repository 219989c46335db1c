//! Capture files → messages: MLLP-framed streams (HL7 v2.5 Appendix C.4), plain ER7 with CR, LF
//! or CRLF separators, batches (§2.10.3), and the textual notation of vendor manuals.
//!
//! The format is detected from the bytes:
//! 1. **Textual notation** (`<SB>MSH|…<CR>` … `<EB><CR>` as printed in manuals, with no VT byte):
//!    real line breaks are page wraps and are removed, then `<SB>`, `<EB>`, `<CR>`, `<LF>` become
//!    0x0B, 0x1C, 0x0D, 0x0A. Offsets still point into the original file.
//! 2. **MLLP** when a VT byte is followed by `MSH`, `FHS` or `BHS`: frames are reassembled with
//!    the [`crate::mllp::Framer`]; text outside frames (other than line breaks) and unfinished
//!    frames are errors.
//! 3. Otherwise **plain** ER7: messages are cut at every `MSH`; text before the first one is an
//!    error.
//!
//! Every frame or plain text may hold a batch; envelope segments (FHS/BHS/BTS/FTS) are dropped.
//! A bad piece gives an error with its offset and the rest is still processed.

use std::time::Instant;

use crate::er7::{BatchPart, split_batch};
use crate::mllp::{Framer, FramerConfig, FramerEvent, START};

/// Bounds on a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureLimits {
    /// Largest message (and MLLP frame) accepted. Default
    /// [`labwire_event::limits::DEFAULT_MESSAGE_BYTES`] (4 MiB).
    pub max_message_bytes: usize,
    /// Most messages and errors returned; the rest of the capture is reported as one error.
    /// Default 100 000.
    pub max_items: usize,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: labwire_event::limits::DEFAULT_MESSAGE_BYTES,
            max_items: 100_000,
        }
    }
}

/// One message found in a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedMessage {
    /// Byte offset of the message (its `MSH`) in the capture.
    pub offset: usize,
    /// The message bytes (segments separated as in the capture; no MLLP framing).
    pub text: Vec<u8>,
}

/// A piece of a capture that is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct CaptureError {
    offset: usize,
    reason: String,
}

impl CaptureError {
    fn new(offset: usize, reason: impl Into<String>) -> Self {
        Self {
            offset,
            reason: reason.into(),
        }
    }

    /// Byte offset of the problem in the capture.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Why the piece was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

type Item = Result<CapturedMessage, CaptureError>;

/// Splits a capture into messages and errors, in file order.
pub fn split_capture(bytes: &[u8], limits: &CaptureLimits) -> Vec<Item> {
    let mut out = Vec::new();
    match textual(bytes) {
        Some((converted, map)) => {
            let at = |o: usize| map.get(o).copied().unwrap_or(bytes.len());
            for item in split_bytes(&converted, limits) {
                out.push(match item {
                    Ok(m) => Ok(CapturedMessage {
                        offset: at(m.offset),
                        text: m.text,
                    }),
                    Err(e) => Err(CaptureError::new(at(e.offset), e.reason)),
                });
            }
        }
        None => out = split_bytes(bytes, limits),
    }
    out
}

fn split_bytes(bytes: &[u8], limits: &CaptureLimits) -> Vec<Item> {
    let mut out = Vec::new();
    if is_mllp(bytes) {
        let mut framer = Framer::new(FramerConfig {
            max_frame_bytes: limits.max_message_bytes,
            ..FramerConfig::default()
        });
        framer.push(Instant::now(), bytes);
        framer.finish();
        while let Some(ev) = framer.poll() {
            if out.len() >= limits.max_items {
                out.push(Err(CaptureError::new(
                    bytes.len(),
                    "too many messages in one capture",
                )));
                break;
            }
            match ev {
                FramerEvent::Frame { offset, payload } => {
                    plain(
                        &payload,
                        usize::try_from(offset).unwrap_or(usize::MAX),
                        limits,
                        &mut out,
                    );
                }
                FramerEvent::Skipped {
                    whitespace_only: true,
                    ..
                }
                | FramerEvent::CommitAck { .. }
                | FramerEvent::CommitNak { .. } => {}
                FramerEvent::Skipped { offset, len, .. } => out.push(Err(CaptureError::new(
                    to_usize(offset),
                    format!("{len} bytes outside MLLP framing skipped"),
                ))),
                FramerEvent::TooLarge { offset, limit } => out.push(Err(CaptureError::new(
                    to_usize(offset),
                    format!("MLLP frame larger than {limit} bytes"),
                ))),
                FramerEvent::Truncated { offset, len, .. } => out.push(Err(CaptureError::new(
                    to_usize(offset),
                    format!("MLLP frame not terminated by FS after {len} bytes"),
                ))),
            }
        }
    } else {
        plain(bytes, 0, limits, &mut out);
    }
    out
}

fn to_usize(o: u64) -> usize {
    usize::try_from(o).unwrap_or(usize::MAX)
}

fn plain(bytes: &[u8], base: usize, limits: &CaptureLimits, out: &mut Vec<Item>) {
    for part in split_batch(bytes) {
        if out.len() >= limits.max_items {
            out.push(Err(CaptureError::new(
                base + bytes.len(),
                "too many messages in one capture",
            )));
            return;
        }
        match part {
            BatchPart::Message { offset, bytes: m } if m.len() > limits.max_message_bytes => {
                out.push(Err(CaptureError::new(
                    base + offset,
                    format!(
                        "message of {} bytes is larger than {} bytes",
                        m.len(),
                        limits.max_message_bytes
                    ),
                )));
            }
            BatchPart::Message { offset, bytes: m } => {
                out.push(Ok(CapturedMessage {
                    offset: base + offset,
                    text: m.to_vec(),
                }));
            }
            BatchPart::Envelope { .. } => {}
            BatchPart::Stray { offset, bytes: s } => out.push(Err(CaptureError::new(
                base + offset,
                format!(
                    "{} bytes of text outside any HL7 message (no MSH segment)",
                    s.len()
                ),
            ))),
        }
    }
}

fn is_mllp(bytes: &[u8]) -> bool {
    memchr::memchr_iter(START, bytes).any(|p| {
        let rest = bytes.get(p + 1..).unwrap_or_default();
        let start = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        matches!(rest.get(start..start + 3), Some(b"MSH" | b"FHS" | b"BHS"))
    })
}

const TOKENS: [(&[u8], u8); 4] = [
    (b"<SB>", 0x0B),
    (b"<EB>", 0x1C),
    (b"<CR>", 0x0D),
    (b"<LF>", 0x0A),
];

/// Converts manual-style textual notation to bytes; `None` when `bytes` is not in that notation.
/// The map gives, for every converted byte, its offset in `bytes` (plus one entry for the end).
fn textual(bytes: &[u8]) -> Option<(Vec<u8>, Vec<usize>)> {
    if bytes.contains(&START) || memchr::memmem::find(bytes, b"MSH").is_none() {
        return None;
    }
    let marked = memchr::memmem::find(bytes, b"<SB>").is_some()
        || memchr::memmem::find(bytes, b"<CR>").is_some();
    if !marked {
        return None;
    }
    // Join page wraps first (a token may be split across lines: "<\nCR>").
    let (joined, jmap): (Vec<u8>, Vec<usize>) = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| !matches!(b, b'\r' | b'\n'))
        .map(|(i, b)| (*b, i))
        .unzip();
    let mut out = Vec::with_capacity(joined.len());
    let mut map = Vec::with_capacity(joined.len() + 1);
    let mut i = 0usize;
    while let Some(&b) = joined.get(i) {
        let at = jmap.get(i).copied().unwrap_or(bytes.len());
        if let Some((tok, byte)) = TOKENS
            .iter()
            .find(|(t, _)| joined.get(i..).is_some_and(|r| r.starts_with(t)))
        {
            out.push(*byte);
            map.push(at);
            i += tok.len();
        } else {
            out.push(b);
            map.push(at);
            i += 1;
        }
    }
    map.push(bytes.len());
    Some((out, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen<'a> = Result<(usize, &'a [u8]), (usize, String)>;

    fn texts(items: &[Item]) -> Vec<Seen<'_>> {
        items
            .iter()
            .map(|i| match i {
                Ok(m) => Ok((m.offset, m.text.as_slice())),
                Err(e) => Err((e.offset(), e.to_string())),
            })
            .collect()
    }

    #[test]
    fn plain_with_garbage_first() {
        let items = split_capture(
            b"junk\nMSH|^~\\&|A\rPID|1\r\nMSH|^~\\&|B\n",
            &CaptureLimits::default(),
        );
        let t = texts(&items);
        assert!(matches!(&t[0], Err((0, r)) if r.contains("outside any HL7 message")));
        assert_eq!(t[1], Ok((5, &b"MSH|^~\\&|A\rPID|1"[..])));
        assert_eq!(t[2], Ok((23, &b"MSH|^~\\&|B"[..])));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn mllp_with_truncated_last_frame() {
        let items = split_capture(
            b"\x0bMSH|^~\\&|A\r\x1c\r\r\n\x0bMSH|^~\\&|B\r",
            &CaptureLimits::default(),
        );
        let t = texts(&items);
        assert_eq!(t[0], Ok((1, &b"MSH|^~\\&|A"[..])));
        assert!(
            matches!(&t[1], Err((16, r)) if r.contains("not terminated")),
            "{t:?}"
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn textual_notation() {
        let src =
            b"<SB>MSH|^~\\&|||||1||ORU^R01|1|P|2.3.1<CR>\nOBX|1|NM|2|TBil|10\n0<CR>\n<EB><CR>\n";
        let items = split_capture(src, &CaptureLimits::default());
        let t = texts(&items);
        assert_eq!(
            t,
            vec![Ok((
                4,
                &b"MSH|^~\\&|||||1||ORU^R01|1|P|2.3.1\rOBX|1|NM|2|TBil|100"[..]
            ))]
        );
    }
}
