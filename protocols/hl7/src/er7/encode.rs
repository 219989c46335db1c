//! Writing ER7 messages (HL7 v2.5 §2.5–§2.7): every value escaped with the message's own
//! escape sequences, segments terminated by CR.

use super::{Delimiters, escape_into};

/// A message that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The delimiters lack an escape or repetition character, so values cannot be escaped.
    #[error("the delimiters lack an escape or repetition character; use Delimiters::completed")]
    IncompleteDelimiters,
    /// A segment name is not 3 uppercase letters or digits.
    #[error("segment name {0:?} is not 3 uppercase letters or digits")]
    BadSegmentName(String),
}

/// One segment being built. Field numbers follow the standard (for MSH, field 3 is the first
/// settable field; 1 and 2 are written from the delimiters).
#[derive(Debug, Clone)]
pub struct SegmentBuilder {
    name: [u8; 3],
    delims: Delimiters,
    /// `fields[n - 1]` holds field `n`, already encoded.
    fields: Vec<Vec<u8>>,
    /// Write at least this many fields, even when empty (for dialects that expect trailing `|`).
    min_fields: usize,
}

impl SegmentBuilder {
    /// A segment named `name` (3 uppercase letters or digits) written with `delims`; `MSH`,
    /// `FHS` and `BHS` are header segments whose fields 1 and 2 are the delimiters themselves.
    pub fn new(name: &str, delims: Delimiters) -> Result<Self, EncodeError> {
        let name3: [u8; 3] = name
            .as_bytes()
            .try_into()
            .ok()
            .filter(|n: &[u8; 3]| {
                n.iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            })
            .ok_or_else(|| EncodeError::BadSegmentName(name.chars().take(16).collect()))?;
        Ok(Self {
            name: name3,
            delims,
            fields: Vec::new(),
            min_fields: 0,
        })
    }

    fn is_header(&self) -> bool {
        matches!(&self.name, b"MSH" | b"FHS" | b"BHS")
    }

    fn slot(&mut self, n: usize) -> Option<&mut Vec<u8>> {
        let first = if self.is_header() { 3 } else { 1 };
        if n < first || n > 10_000 {
            return None;
        }
        if self.fields.len() < n {
            self.fields.resize_with(n, Vec::new);
        }
        let slot = self.fields.get_mut(n - 1)?;
        slot.clear();
        Some(slot)
    }

    /// Sets field `n` to one text value (escaped). Out-of-range numbers are ignored.
    pub fn set(&mut self, n: usize, value: &str) -> &mut Self {
        let d = self.delims;
        if let Some(slot) = self.slot(n) {
            escape_into(value.as_bytes(), &d, slot);
        }
        self
    }

    /// Sets field `n` to components joined by the component separator (each escaped).
    pub fn set_components(&mut self, n: usize, components: &[&str]) -> &mut Self {
        self.set_repetitions(n, &[components])
    }

    /// Sets field `n` to repetitions, each a list of components (each escaped).
    pub fn set_repetitions(&mut self, n: usize, repetitions: &[&[&str]]) -> &mut Self {
        let d = self.delims;
        if let Some(slot) = self.slot(n) {
            for (r, comps) in repetitions.iter().enumerate() {
                if r > 0 {
                    slot.push(d.repetition);
                }
                let used = comps
                    .iter()
                    .rposition(|c| !c.is_empty())
                    .map_or(0, |p| p + 1);
                for (i, c) in comps.iter().take(used).enumerate() {
                    if i > 0 {
                        slot.push(d.component);
                    }
                    escape_into(c.as_bytes(), &d, slot);
                }
            }
        }
        self
    }

    /// Writes at least `n` fields, adding empty ones (and so trailing separators) as needed.
    pub fn pad_to(&mut self, n: usize) -> &mut Self {
        self.min_fields = n.min(10_000);
        self
    }

    /// Sets field `n` to bytes that are already ER7-encoded with this message's delimiters
    /// (copied from an inbound message, for instance).
    pub fn set_raw(&mut self, n: usize, raw: &[u8]) -> &mut Self {
        if let Some(slot) = self.slot(n) {
            slot.extend_from_slice(raw);
        }
        self
    }

    /// Writes the segment, CR-terminated, to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let d = self.delims;
        out.extend_from_slice(&self.name);
        let used = self
            .fields
            .iter()
            .rposition(|f| !f.is_empty())
            .map_or(0, |p| p + 1)
            .max(self.min_fields);
        let first = if self.is_header() {
            out.push(d.field);
            out.extend_from_slice(&d.encoding_characters());
            2
        } else {
            0
        };
        for i in first..used {
            out.push(d.field);
            out.extend_from_slice(self.fields.get(i).map(Vec::as_slice).unwrap_or_default());
        }
        out.push(b'\r');
    }
}

/// Builds a message segment by segment; the first segment is always MSH.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    delims: Delimiters,
    msh: SegmentBuilder,
    segments: Vec<SegmentBuilder>,
}

impl MessageBuilder {
    /// A message with an empty MSH, written with `delims` (which need escape and repetition
    /// characters).
    pub fn new(delims: Delimiters) -> Result<Self, EncodeError> {
        if delims.escape.is_none() || delims.repetition == 0 {
            return Err(EncodeError::IncompleteDelimiters);
        }
        Ok(Self {
            delims,
            msh: SegmentBuilder {
                name: *b"MSH",
                delims,
                fields: Vec::new(),
                min_fields: 0,
            },
            segments: Vec::new(),
        })
    }

    /// The MSH segment, to set MSH-3 onwards.
    pub fn msh(&mut self) -> &mut SegmentBuilder {
        &mut self.msh
    }

    /// Appends a segment named `name` (3 uppercase letters or digits) and returns it.
    pub fn segment(&mut self, name: &str) -> Result<&mut SegmentBuilder, EncodeError> {
        self.segments.push(SegmentBuilder::new(name, self.delims)?);
        self.segments
            .last_mut()
            .ok_or_else(|| EncodeError::BadSegmentName(name.to_owned()))
    }

    /// Writes the message (every segment CR-terminated) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        self.msh.write(out);
        for s in &self.segments {
            s.write(out);
        }
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}
