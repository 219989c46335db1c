//! One pass over the message bytes that records where every segment starts and ends
//! (HL7 v2.5 §2.5 message construction rules).
//!
//! Segments end at CR (the standard terminator, §2.5.2), LF or CRLF (seen in stored traffic);
//! empty lines and lines of only whitespace or control characters (a stray VT, blank lines at the
//! end of a file) are skipped. Nothing is copied: the index holds `u32` spans into the input and
//! is reused from message to message, so parsing allocates only while the index grows. Fields are
//! counted (for the limit) but not stored: they are found on demand inside their segment.

use super::{Delimiters, ParseError, Segment};

/// Bounds on one message; defaults documented on each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message accepted, in bytes. Default
    /// [`labwire_event::limits::DEFAULT_MESSAGE_BYTES`] (4 MiB; also the MLLP framer default).
    pub max_message_bytes: usize,
    /// Most segments per message. Default 10 000.
    pub max_segments: usize,
    /// Most fields per segment (not counting the name). Default 1 000.
    pub max_fields_per_segment: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: labwire_event::limits::DEFAULT_MESSAGE_BYTES,
            max_segments: 10_000,
            max_fields_per_segment: 1_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SegEntry {
    /// Offset of the first byte of the segment name.
    pub(crate) start: u32,
    /// Offset just past the segment name (its first field separator, or the end).
    pub(crate) name_end: u32,
    /// Offset just past the last byte of the segment (its terminator is not included).
    pub(crate) end: u32,
}

/// Reusable storage for the positions of the segments of a message.
///
/// Keep one per connection or worker and pass it to every [`parse`] call: once it has grown to the
/// number of segments of the largest message seen, parsing no longer allocates. Fields are found
/// from these positions on demand (one memchr over the segment), so nothing per field is stored.
#[derive(Debug, Default, Clone)]
pub struct Index {
    pub(crate) segs: Vec<SegEntry>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index with room for `segments` segments before it must grow.
    pub fn with_capacity(segments: usize) -> Self {
        Self {
            segs: Vec::with_capacity(segments),
        }
    }
}

/// A parsed message: the input bytes, their delimiters and the segment index.
#[derive(Debug, Clone, Copy)]
pub struct Message<'m> {
    pub(crate) input: &'m [u8],
    pub(crate) delims: Delimiters,
    pub(crate) segs: &'m [SegEntry],
}

fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// True when `line` starts a header segment (`MSH`, `FHS`, `BHS`) whose 4th byte is the field
/// separator, so that field 1 is the separator itself.
pub(crate) fn is_header_segment(line: &[u8], fs: u8) -> bool {
    matches!(line.get(..3), Some(b"MSH" | b"FHS" | b"BHS")) && line.get(3) == Some(&fs)
}

/// Parses one message (the bytes of one MLLP frame, or one message of a capture).
///
/// Leading blank lines are skipped; the first segment must be `MSH`. The delimiters come from the
/// message's own MSH-1/MSH-2. `index` is cleared and refilled; the returned [`Message`] borrows
/// both `input` and `index`.
pub fn parse<'m>(
    input: &'m [u8],
    index: &'m mut Index,
    limits: &Limits,
) -> Result<Message<'m>, ParseError> {
    if input.len() > limits.max_message_bytes || input.len() > u32::MAX as usize {
        return Err(ParseError::TooLarge {
            len: input.len(),
            limit: limits.max_message_bytes.min(u32::MAX as usize),
        });
    }
    let start = input
        .iter()
        .position(|b| !(b.is_ascii_whitespace() || b.is_ascii_control()))
        .unwrap_or(input.len());
    let rest = input.get(start..).unwrap_or_default();
    let fs = match rest {
        [b'M', b'S', b'H', fs, ..] => *fs,
        _ => return Err(ParseError::NoHeader { offset: start }),
    };
    let enc_start = start + 4;
    let after = input.get(enc_start..).unwrap_or_default();
    let enc_len = memchr::memchr3(fs, b'\r', b'\n', after).unwrap_or(after.len());
    let delims = Delimiters::from_header(fs, after.get(..enc_len).unwrap_or_default(), enc_start)?;
    index.segs.clear();
    let mut line_start = start;
    while line_start < input.len() {
        let tail = input.get(line_start..).unwrap_or_default();
        let line_len = memchr::memchr2(b'\r', b'\n', tail).unwrap_or(tail.len());
        let line = tail.get(..line_len).unwrap_or_default();
        let starts_blank = line
            .first()
            .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control());
        if !(starts_blank && is_blank(line)) {
            index_segment(index, line, line_start, fs, limits)?;
        }
        line_start += line_len + 1;
    }
    Ok(Message {
        input,
        delims,
        segs: &index.segs,
    })
}

fn index_segment(
    index: &mut Index,
    line: &[u8],
    at: usize,
    fs: u8,
    limits: &Limits,
) -> Result<(), ParseError> {
    if index.segs.len() >= limits.max_segments {
        return Err(ParseError::TooManySegments {
            offset: at,
            limit: limits.max_segments,
        });
    }
    // A plain counting loop: the compiler vectorises it.
    let separators = line.iter().filter(|b| **b == fs).count();
    let fields = separators + usize::from(is_header_segment(line, fs));
    if fields > limits.max_fields_per_segment {
        return Err(ParseError::TooManyFields {
            offset: at,
            limit: limits.max_fields_per_segment,
        });
    }
    let name_len = memchr::memchr(fs, line).unwrap_or(line.len());
    index.segs.push(SegEntry {
        start: at as u32,
        name_end: (at + name_len) as u32,
        end: (at + line.len()) as u32,
    });
    Ok(())
}

impl<'m> Message<'m> {
    /// The delimiters declared in MSH-1/MSH-2.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The bytes the message was parsed from.
    pub fn as_bytes(&self) -> &'m [u8] {
        self.input
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }

    /// Segment number `i` (0-based, in message order).
    pub fn segment(&self, i: usize) -> Option<Segment<'m>> {
        let e = *self.segs.get(i)?;
        Some(Segment::new(self.input, self.delims, e))
    }

    /// All segments in message order (unknown and Z segments included).
    pub fn segments(&self) -> impl Iterator<Item = Segment<'m>> + '_ {
        (0..self.segs.len()).filter_map(|i| self.segment(i))
    }

    /// The MSH segment.
    pub fn header(&self) -> Option<Segment<'m>> {
        self.segment(0)
    }

    /// The first segment named `name` (e.g. `b"PID"`).
    pub fn find(&self, name: &[u8]) -> Option<Segment<'m>> {
        self.segments().find(|s| s.name() == name)
    }

    /// Every segment named `name`, in order.
    pub fn segments_named<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = Segment<'m>> + 'a {
        self.segments().filter(move |s| s.name() == name)
    }
}
