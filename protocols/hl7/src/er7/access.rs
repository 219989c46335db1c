//! Segments, fields, repetitions, components and subcomponents (HL7 v2.5 §2.5.3–§2.5.5): views
//! into the message bytes, found on demand by scanning the (short) field for its separators.

use std::borrow::Cow;

use super::parse::SegEntry;
use super::{Delimiters, Hl7Charset, unescape};

/// One segment of a parsed message.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'m> {
    input: &'m [u8],
    delims: Delimiters,
    entry: SegEntry,
}

impl<'m> Segment<'m> {
    pub(crate) fn new(input: &'m [u8], delims: Delimiters, entry: SegEntry) -> Self {
        Self {
            input,
            delims,
            entry,
        }
    }

    /// The segment name (`MSH`, `PID`, `ZRI`, …).
    pub fn name(&self) -> &'m [u8] {
        self.input
            .get(self.entry.start as usize..self.entry.name_end as usize)
            .unwrap_or_default()
    }

    /// Byte offset of the segment inside the parsed input.
    pub fn offset(&self) -> usize {
        self.entry.start as usize
    }

    /// The whole segment text, without its terminator.
    pub fn raw(&self) -> &'m [u8] {
        self.input
            .get(self.entry.start as usize..self.entry.end as usize)
            .unwrap_or_default()
    }

    fn is_header(&self) -> bool {
        matches!(self.name(), b"MSH" | b"FHS" | b"BHS")
    }

    /// Number of fields present (the highest field number sent).
    pub fn field_count(&self) -> usize {
        let d = self.delims;
        self.raw().iter().filter(|b| **b == d.field).count() + usize::from(self.is_header())
    }

    fn value(&self, start: usize, end: usize, level: Level) -> Value<'m> {
        let base = self.entry.start as usize;
        Value {
            raw: self.raw().get(start..end).unwrap_or_default(),
            offset: base + start,
            delims: self.delims,
            level,
        }
    }

    /// Field `n` (1-based, numbered per the standard: for MSH, field 1 is the field separator and
    /// field 2 the encoding characters). `None` when the segment has fewer fields.
    pub fn field(&self, n: usize) -> Option<Value<'m>> {
        let header = self.is_header();
        // `piece` counts the pieces of the segment split at field separators (0 = the name).
        let piece = match (header, n) {
            (_, 0) => return None,
            (true, 1) => return Some(self.value(3, 4, Level::Literal)),
            (true, n) => n - 1,
            (false, n) => n,
        };
        let raw = self.raw();
        let (start, end) = nth_piece(raw, self.delims.field, piece)?;
        let level = if header && n == 2 {
            Level::Literal
        } else {
            Level::Field
        };
        Some(self.value(start, end, level))
    }

    /// The fields in order, starting at field 1.
    pub fn fields(&self) -> impl Iterator<Item = Value<'m>> + '_ {
        let header = self.is_header();
        let raw = self.raw();
        let mut seps = memchr::memchr_iter(self.delims.field, raw).peekable();
        let mut n = 0usize;
        std::iter::from_fn(move || {
            n += 1;
            if header && n == 1 {
                return Some(self.value(3, 4, Level::Literal));
            }
            let start = seps.next()? + 1;
            let end = seps.peek().copied().unwrap_or(raw.len());
            let level = if header && n == 2 {
                Level::Literal
            } else {
                Level::Field
            };
            Some(self.value(start, end, level))
        })
    }

    /// The raw bytes of field `n`, empty when absent.
    pub fn raw_field(&self, n: usize) -> &'m [u8] {
        self.field(n).map(|v| v.raw()).unwrap_or_default()
    }
}

/// Start and end of piece `piece` (1-based) of `raw` split at `sep`; piece 0 is before the first
/// separator. A byte loop: segments are short, and this beats repeated memchr calls there.
fn nth_piece(raw: &[u8], sep: u8, piece: usize) -> Option<(usize, usize)> {
    let mut seen = 0usize;
    let mut start = None;
    for (i, b) in raw.iter().enumerate() {
        if *b == sep {
            seen += 1;
            if seen == piece {
                start = Some(i + 1);
            } else if seen == piece + 1 {
                return start.map(|s| (s, i));
            }
        }
    }
    start.map(|s| (s, raw.len()))
}

/// How far a [`Value`] has been split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A whole field: may hold repetitions.
    Field,
    /// One repetition of a field: may hold components.
    Repetition,
    /// One component: may hold subcomponents.
    Component,
    /// One subcomponent: no further structure.
    Subcomponent,
    /// A field that is never split (MSH-1, MSH-2).
    Literal,
}

/// A field, repetition, component or subcomponent: raw bytes plus the message's delimiters.
#[derive(Debug, Clone, Copy)]
pub struct Value<'m> {
    raw: &'m [u8],
    offset: usize,
    delims: Delimiters,
    level: Level,
}

fn nth_part(raw: &[u8], sep: u8, n: usize) -> Option<(usize, &[u8])> {
    let mut start = 0usize;
    let mut i = 1usize;
    for pos in memchr::memchr_iter(sep, raw) {
        if i == n {
            return Some((start, raw.get(start..pos)?));
        }
        i += 1;
        start = pos + 1;
    }
    if i == n {
        Some((start, raw.get(start..)?))
    } else {
        None
    }
}

impl<'m> Value<'m> {
    /// The raw (still escaped) bytes.
    pub fn raw(&self) -> &'m [u8] {
        self.raw
    }

    /// Byte offset inside the parsed input.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// How far this value has been split.
    pub fn level(&self) -> Level {
        self.level
    }

    /// True when no bytes were sent.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// True for the HL7 null `""` (explicitly empty, "delete the old value").
    pub fn is_null(&self) -> bool {
        self.raw == b"\"\""
    }

    fn part(&self, sep: Option<u8>, n: usize, level: Level) -> Option<Value<'m>> {
        let sep = sep.filter(|s| *s != 0);
        let (start, raw) = match sep {
            Some(sep) => nth_part(self.raw, sep, n)?,
            None if n == 1 => (0, self.raw),
            None => return None,
        };
        Some(Value {
            raw,
            offset: self.offset + start,
            delims: self.delims,
            level,
        })
    }

    /// Repetition `n` (1-based) of a field. A value below field level is its own repetition 1.
    pub fn repetition(&self, n: usize) -> Option<Value<'m>> {
        match self.level {
            Level::Field => self.part(Some(self.delims.repetition), n, Level::Repetition),
            _ if n == 1 => Some(*self),
            _ => None,
        }
    }

    /// The repetitions of a field (one item for anything below field level).
    pub fn repetitions(&self) -> impl Iterator<Item = Value<'m>> + '_ {
        let mut n = 0usize;
        std::iter::from_fn(move || {
            n += 1;
            self.repetition(n)
        })
    }

    /// Component `n` (1-based). On a whole field this is a component of its first repetition; on
    /// a component or subcomponent, component 1 is the value itself.
    pub fn component(&self, n: usize) -> Option<Value<'m>> {
        match self.level {
            Level::Field => self.repetition(1)?.component(n),
            Level::Repetition => self.part(Some(self.delims.component), n, Level::Component),
            _ if n == 1 => Some(*self),
            _ => None,
        }
    }

    /// The components (of the first repetition, for a whole field).
    pub fn components(&self) -> impl Iterator<Item = Value<'m>> + '_ {
        let mut n = 0usize;
        std::iter::from_fn(move || {
            n += 1;
            self.component(n)
        })
    }

    /// Subcomponent `n` (1-based) of the first component (for a field or repetition), or of this
    /// component.
    pub fn subcomponent(&self, n: usize) -> Option<Value<'m>> {
        match self.level {
            Level::Field | Level::Repetition => self.component(1)?.subcomponent(n),
            Level::Component => self.part(self.delims.subcomponent, n, Level::Subcomponent),
            _ if n == 1 => Some(*self),
            _ => None,
        }
    }

    /// The value with escape sequences decoded (borrowed when there are none). See
    /// [`unescape`](super::unescape).
    pub fn unescaped(&self) -> Cow<'m, [u8]> {
        if self.level == Level::Literal {
            return Cow::Borrowed(self.raw);
        }
        unescape(self.raw, &self.delims)
    }

    /// The unescaped value decoded to text in `charset` (invalid bytes become U+FFFD).
    pub fn text(&self, charset: Hl7Charset) -> Cow<'m, str> {
        match self.unescaped() {
            Cow::Borrowed(b) => charset.decode(b).0,
            Cow::Owned(v) => Cow::Owned(charset.decode(&v).0.into_owned()),
        }
    }
}
