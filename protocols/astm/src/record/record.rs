//! One record (LIS2-A2 §5.3): a line of the message, its type and its fields.

use super::scan::{find_delim, find1};
use super::{Delimiters, Field};

/// The record types of LIS2-A2 §5.5 (record type ID, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// `H`: message header.
    Header,
    /// `P`: patient information.
    Patient,
    /// `O`: test order.
    Order,
    /// `R`: result.
    Result,
    /// `C`: comment.
    Comment,
    /// `Q`: request information (host query).
    Query,
    /// `L`: message terminator.
    Terminator,
    /// `S`: scientific record.
    Scientific,
    /// `M`: manufacturer information.
    Manufacturer,
    /// Any other record type ID (manufacturer-specific).
    Other,
}

impl RecordType {
    /// Classifies a record type ID (field 1), ignoring case.
    pub fn from_id(id: &[u8]) -> Self {
        match id {
            [b] => match b.to_ascii_uppercase() {
                b'H' => Self::Header,
                b'P' => Self::Patient,
                b'O' => Self::Order,
                b'R' => Self::Result,
                b'C' => Self::Comment,
                b'Q' => Self::Query,
                b'L' => Self::Terminator,
                b'S' => Self::Scientific,
                b'M' => Self::Manufacturer,
                _ => Self::Other,
            },
            _ => Self::Other,
        }
    }

    /// The upper-case record type ID (`H`, `P`, …); `None` for [`RecordType::Other`].
    pub fn id(self) -> Option<u8> {
        Some(match self {
            Self::Header => b'H',
            Self::Patient => b'P',
            Self::Order => b'O',
            Self::Result => b'R',
            Self::Comment => b'C',
            Self::Query => b'Q',
            Self::Terminator => b'L',
            Self::Scientific => b'S',
            Self::Manufacturer => b'M',
            Self::Other => return None,
        })
    }
}

/// The record type ID: the bytes before the first field delimiter.
#[inline]
pub(crate) fn type_id(text: &[u8], field: u8) -> &[u8] {
    if text.get(1).is_none_or(|&b| b == field) {
        return text.get(..1).unwrap_or_default();
    }
    let end = find1(text, field).unwrap_or(text.len());
    text.get(..end).unwrap_or_default()
}

/// One record of a message: a zero-copy view over its text (terminator excluded).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    text: &'a [u8],
    offset: usize,
    delims: Delimiters,
    /// Known to hold no escape character (outside an H record's delimiter definition).
    plain: bool,
}

impl<'a> Record<'a> {
    /// A record; `plain` when the caller knows it holds no escape character (outside an H
    /// record's delimiter definition), else the record is checked when its fields are split.
    pub(crate) fn new(text: &'a [u8], offset: usize, delims: Delimiters, plain: bool) -> Self {
        Self {
            text,
            offset,
            delims,
            plain,
        }
    }

    /// The record text as sent, without its terminator.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// Byte offset of the record inside the input given to the parser.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The record type ID as sent (field 1).
    pub fn type_id(&self) -> &'a [u8] {
        type_id(self.text, self.delims.field)
    }

    /// The record type (case-insensitive).
    pub fn record_type(&self) -> RecordType {
        RecordType::from_id(self.type_id())
    }

    /// The fields in order, field 1 being the record type ID.
    ///
    /// In an H record, field 2 is the delimiter definition, returned raw (do not split it).
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            rest: Some(self.text),
            // Without any escape character, fields split on the field delimiter alone.
            plain: self.plain || memchr::memchr(self.delims.escape, self.text).is_none(),
            raw_left: if self.record_type() == RecordType::Header {
                2
            } else {
                1
            },
            delims: self.delims,
        }
    }

    /// Field `n`, 1-based as in the standard (field 1 = record type ID). `None` for 0 or for a
    /// field past the end of the record (trailing empty fields may be left out by the sender).
    pub fn field(&self, n: usize) -> Option<Field<'a>> {
        self.fields().nth(n.checked_sub(1)?)
    }

    /// The delimiters of the message.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }
}

/// Iterator over the fields of a [`Record`].
#[derive(Clone)]
pub struct Fields<'a> {
    rest: Option<&'a [u8]>,
    /// Fields still to split on the raw field delimiter: the type ID, and in an H record the
    /// delimiter definition (which holds the escape character itself).
    raw_left: u8,
    delims: Delimiters,
    plain: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    #[inline]
    fn next(&mut self) -> Option<Field<'a>> {
        let rest = self.rest?;
        let end = if self.raw_left > 0 {
            self.raw_left -= 1;
            find1(rest, self.delims.field)
        } else {
            find_delim(rest, self.delims.field, &self.delims, self.plain)
        };
        let raw = match end {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)?
            }
            None => {
                self.rest = None;
                rest
            }
        };
        Some(Field::new(raw, self.delims, self.plain))
    }
}

// Hand-written Debug: record text is patient data and must not reach a log through `{:?}`.
impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("type", &self.record_type())
            .field("offset", &self.offset)
            .field("len", &self.text.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &[u8]) -> Record<'_> {
        Record::new(s, 0, Delimiters::default(), false)
    }

    #[test]
    fn field_access_is_one_based() {
        let r = rec(b"R|1|^^^GLU|5.4|mmol/L");
        assert_eq!(r.record_type(), RecordType::Result);
        assert_eq!(r.field(0), None);
        assert_eq!(r.field(1).unwrap().raw(), b"R");
        assert_eq!(r.field(3).unwrap().component(4).unwrap().raw(), b"GLU");
        assert_eq!(r.field(5).unwrap().raw(), b"mmol/L");
        assert_eq!(r.field(6), None);
        assert_eq!(r.fields().count(), 5);
    }

    #[test]
    fn header_definition_is_one_field() {
        let r = rec(b"H|\\^&|||Sender^1.0");
        assert_eq!(r.field(2).unwrap().raw(), b"\\^&");
        assert_eq!(r.field(5).unwrap().component(2).unwrap().raw(), b"1.0");
        let gx = Record::new(
            b"H|@^\\|ID||GX",
            0,
            Delimiters::from_header(b"H|@^\\|").unwrap(),
            false,
        );
        assert_eq!(gx.field(2).unwrap().raw(), b"@^\\");
        assert_eq!(gx.field(3).unwrap().raw(), b"ID");
        assert_eq!(gx.field(5).unwrap().raw(), b"GX");
        assert_eq!(rec(b"H").fields().count(), 1);
        assert_eq!(rec(b"H|\\^&").fields().count(), 2);
    }

    #[test]
    fn debug_output_is_redacted() {
        let m = crate::record::Message::parse(b"H|\\^&\rP|1||Doe^Jane\rL\r", &Default::default())
            .unwrap();
        let p = m.records().nth(1).unwrap();
        let shown = format!(
            "{m:?} {p:?} {:?} {:?}",
            p.field(4).unwrap(),
            p.field(4).unwrap().component(1).unwrap()
        );
        assert!(!shown.contains("Doe"), "{shown}");
        assert!(shown.contains("Patient"));
    }

    #[test]
    fn repeats_and_components() {
        let r = rec(b"O|1|S1||^^^A\\^^^B&S&x");
        let tests: Vec<_> = r
            .field(5)
            .unwrap()
            .repeats()
            .map(|f| f.component(4).unwrap().unescaped().into_owned())
            .collect();
        assert_eq!(tests, vec![b"A".to_vec(), b"B^x".to_vec()]);
        assert_eq!(RecordType::from_id(b"o"), RecordType::Order);
        assert_eq!(RecordType::from_id(b"Z"), RecordType::Other);
    }
}
