//! Encoding records for an instrument (host → instrument: orders, query answers, comments,
//! H/P/L), LIS2-A2 §5–§12.
//!
//! Values are plain text; the writer escapes the message's own delimiters inside them (§5.7:
//! `&F&`, `&S&`, `&R&`, `&E&`, and CR/LF as `&X0D&`/`&X0A&`), encodes them in the instrument's
//! charset and ends each record with CR. Trailing empty fields are left out (§5.4.3 allows it).

use thiserror::Error;

use super::escape::escape_into;
use super::{Delimiters, RecordType};
use crate::charset::{AstmCharset, Unmappable};

/// Why a record could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A value holds a character the instrument's charset cannot represent.
    #[error(transparent)]
    Unmappable(#[from] Unmappable),
    /// The record type ID is not one ASCII letter.
    #[error("record type ID must be one ASCII letter")]
    BadRecordType,
}

/// The value of one field: repeats, each a list of components (plain, unescaped text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldValue {
    repeats: Vec<Vec<String>>,
}

impl FieldValue {
    /// An empty (null) field.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A field of one text value.
    pub fn text(value: impl Into<String>) -> Self {
        Self {
            repeats: vec![vec![value.into()]],
        }
    }

    /// A field of several components (`a^b^c`).
    pub fn components<S: Into<String>>(components: impl IntoIterator<Item = S>) -> Self {
        Self {
            repeats: vec![components.into_iter().map(Into::into).collect()],
        }
    }

    /// A repeated field (`a^b\c^d`): each repeat a list of components.
    pub fn repeats<S: Into<String>, R: IntoIterator<Item = S>>(
        repeats: impl IntoIterator<Item = R>,
    ) -> Self {
        Self {
            repeats: repeats
                .into_iter()
                .map(|r| r.into_iter().map(Into::into).collect())
                .collect(),
        }
    }

    /// True when nothing would be written for this field.
    pub fn is_empty(&self) -> bool {
        self.repeats.iter().all(|r| r.iter().all(String::is_empty)) && self.repeats.len() <= 1
    }
}

impl From<&str> for FieldValue {
    fn from(value: &str) -> Self {
        Self::text(value)
    }
}

impl From<String> for FieldValue {
    fn from(value: String) -> Self {
        Self::text(value)
    }
}

/// One record to encode: its type ID and fields 2.. (field 1 is the type ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBuilder {
    type_id: u8,
    fields: Vec<FieldValue>,
}

impl RecordBuilder {
    /// An empty record of a standard type ([`RecordType::Other`] becomes `M`; use
    /// [`RecordBuilder::custom`] for other IDs).
    pub fn new(record_type: RecordType) -> Self {
        Self {
            type_id: record_type.id().unwrap_or(b'M'),
            fields: Vec::new(),
        }
    }

    /// An empty record with a manufacturer-specific one-letter type ID.
    pub fn custom(type_id: u8) -> Result<Self, EncodeError> {
        if !type_id.is_ascii_alphabetic() {
            return Err(EncodeError::BadRecordType);
        }
        Ok(Self {
            type_id,
            fields: Vec::new(),
        })
    }

    /// Sets field `n` (1-based as in the standard; fields 1 and, in H, 2 are written by the
    /// writer and ignored here).
    pub fn set(mut self, n: usize, value: impl Into<FieldValue>) -> Self {
        if n >= 2 {
            let i = n - 2;
            if self.fields.len() <= i {
                self.fields.resize(i + 1, FieldValue::empty());
            }
            if let Some(slot) = self.fields.get_mut(i) {
                *slot = value.into();
            }
        }
        self
    }

    /// H: sender (H-5 `name^version^serial`), processing ID (H-12), version (H-13) and message
    /// time (H-14, `YYYYMMDDHHMMSS`).
    pub fn header(sender: FieldValue, processing_id: &str, version: &str, time: &str) -> Self {
        Self::new(RecordType::Header)
            .set(5, sender)
            .set(12, processing_id)
            .set(13, version)
            .set(14, time)
    }

    /// P: sequence number, practice patient ID (P-3), name components (P-6), birth date
    /// (P-8) and sex (P-9).
    pub fn patient(seq: u32, id: &str, name: FieldValue, birth_date: &str, sex: &str) -> Self {
        Self::new(RecordType::Patient)
            .set(2, seq.to_string())
            .set(3, id)
            .set(6, name)
            .set(8, birth_date)
            .set(9, sex)
    }

    /// O: sequence number, specimen ID (O-3), ordered tests (O-5, one repeat each, written
    /// as `^^^code`), priority (O-6), action code (O-12) and report type (O-26).
    pub fn order(
        seq: u32,
        specimen_id: &str,
        tests: &[&str],
        priority: &str,
        action_code: &str,
        report_type: &str,
    ) -> Self {
        Self::new(RecordType::Order)
            .set(2, seq.to_string())
            .set(3, specimen_id)
            .set(5, universal_test_ids(tests))
            .set(6, priority)
            .set(12, action_code)
            .set(26, report_type)
    }

    /// R: sequence number, test code (R-3 as `^^^code`), value (R-4), units (R-5), reference
    /// range (R-6), abnormal flags (R-7, repeats) and status (R-9).
    pub fn result(
        seq: u32,
        test: &str,
        value: &str,
        units: &str,
        reference_range: &str,
        flags: &[&str],
        status: &str,
    ) -> Self {
        Self::new(RecordType::Result)
            .set(2, seq.to_string())
            .set(3, universal_test_ids(&[test]))
            .set(4, value)
            .set(5, units)
            .set(6, reference_range)
            .set(7, FieldValue::repeats(flags.iter().map(|f| [*f])))
            .set(9, status)
    }

    /// C: sequence number, source (C-3: `L` information system, `I` instrument), text (C-4)
    /// and type (C-5: `G` generic, …).
    pub fn comment(seq: u32, source: &str, text: &str, comment_type: &str) -> Self {
        Self::new(RecordType::Comment)
            .set(2, seq.to_string())
            .set(3, source)
            .set(4, text)
            .set(5, comment_type)
    }

    /// Q: sequence number, specimen ID (Q-3 as `^id`), tests (Q-5, `ALL` for everything) and
    /// request status code (Q-13, e.g. `O`).
    pub fn query(seq: u32, specimen_id: &str, tests: &[&str], status_code: &str) -> Self {
        Self::new(RecordType::Query)
            .set(2, seq.to_string())
            .set(3, FieldValue::components(["", specimen_id]))
            .set(5, universal_test_ids(tests))
            .set(13, status_code)
    }

    /// L: sequence number 1 and termination code (L-3: `N` normal, `I` no information, `Q`
    /// query error, `F` query processed…).
    pub fn terminator(code: &str) -> Self {
        Self::new(RecordType::Terminator).set(2, "1").set(3, code)
    }
}

fn universal_test_ids(tests: &[&str]) -> FieldValue {
    FieldValue::repeats(tests.iter().map(|t| ["", "", "", *t]))
}

/// Builds message text record by record.
#[derive(Debug, Clone)]
pub struct MessageWriter {
    delims: Delimiters,
    charset: AstmCharset,
    out: Vec<u8>,
}

impl MessageWriter {
    /// A writer using these delimiters and charset ([`AstmCharset::Auto`] writes UTF-8).
    pub fn new(delims: Delimiters, charset: AstmCharset) -> Self {
        Self {
            delims,
            charset,
            out: Vec::with_capacity(256),
        }
    }

    /// Appends one record, ended by CR. In an H record, field 2 is the delimiter definition.
    pub fn record(&mut self, record: &RecordBuilder) -> Result<&mut Self, EncodeError> {
        let d = self.delims;
        let mut buf = Vec::with_capacity(64);
        buf.push(record.type_id);
        let is_header = record.type_id.eq_ignore_ascii_case(&b'H');
        if is_header {
            buf.extend_from_slice(&[d.field, d.repeat, d.component, d.escape]);
        }
        let last = record.fields.iter().rposition(|f| !f.is_empty());
        let fields = last.map_or(&[][..], |l| record.fields.get(..=l).unwrap_or_default());
        for (i, field) in fields.iter().enumerate() {
            if is_header && i == 0 {
                continue;
            }
            buf.push(d.field);
            for (r, repeat) in field.repeats.iter().enumerate() {
                if r > 0 {
                    buf.push(d.repeat);
                }
                for (c, component) in repeat.iter().enumerate() {
                    if c > 0 {
                        buf.push(d.component);
                    }
                    let bytes = self.charset.encode(component)?;
                    escape_into(&bytes, &d, &mut buf);
                }
            }
        }
        buf.push(b'\r');
        self.out.extend_from_slice(&buf);
        Ok(self)
    }

    /// The message text written so far.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Limits, Message};

    #[test]
    fn host_order_download() {
        let mut w = MessageWriter::new(Delimiters::default(), AstmCharset::Latin1);
        w.record(&RecordBuilder::header(
            FieldValue::components(["LIS", "1.0"]),
            "P",
            "LIS2-A2",
            "20260101120000",
        ))
        .unwrap()
        .record(&RecordBuilder::patient(
            1,
            "P|1",
            FieldValue::components(["Müller", "Hans"]),
            "19800101",
            "M",
        ))
        .unwrap()
        .record(&RecordBuilder::order(
            1,
            "S1",
            &["GLU", "NA^K"],
            "R",
            "N",
            "O",
        ))
        .unwrap()
        .record(&RecordBuilder::terminator("N"))
        .unwrap();
        let text = w.finish();
        assert!(text.starts_with(b"H|\\^&|||LIS^1.0|||||||P|LIS2-A2|20260101120000\r"));
        assert!(text.windows(6).any(|w| w == b"P&F&1|"));
        assert!(text.ends_with(b"L|1|N\r"));
        let m = Message::parse(&text, &Limits::default()).unwrap();
        let o = m.records().nth(2).unwrap();
        let tests: Vec<_> = o
            .field(5)
            .unwrap()
            .repeats()
            .map(|r| r.component(4).unwrap().unescaped().into_owned())
            .collect();
        assert_eq!(tests, vec![b"GLU".to_vec(), b"NA^K".to_vec()]);
        assert_eq!(o.field(26).unwrap().raw(), b"O");
    }

    #[test]
    fn unmappable_is_an_error() {
        let mut w = MessageWriter::new(Delimiters::default(), AstmCharset::Latin1);
        let err = w
            .record(&RecordBuilder::comment(1, "L", "Жук", "G"))
            .unwrap_err();
        assert!(matches!(err, EncodeError::Unmappable(_)));
        assert!(RecordBuilder::custom(b'1').is_err());
    }
}
