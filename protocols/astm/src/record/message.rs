//! Messages (LIS2-A2 §5.1, §6, §12): the records from an H record to its L record.
//!
//! Records end with CR (§5.3); stored and exported text also uses LF, CRLF, doubled terminators
//! and blank lines, so any run of CR/LF ends a record and blank (or space-only) lines are skipped.
//! Several messages back to back (`H…L H…L`) are split at each H record.

use super::error::{RecordError, RecordErrorKind};
use super::record::type_id;
use super::{Delimiters, Record, RecordType};

/// Bounds on what one message may hold, so that hostile or broken input cannot make the parser
/// or a mapping grow without limit. Checked while splitting, before any record is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message in bytes (default [`labwire_event::limits::DEFAULT_MESSAGE_BYTES`], 4 MiB; the largest real message seen is ~32 KB).
    pub max_message_bytes: usize,
    /// Most records in one message (default 10 000).
    pub max_records: usize,
    /// Most fields in one record (default 1 000; LIS2-A2 defines at most 35).
    pub max_fields: usize,
    /// Most messages in one input (default 10 000).
    pub max_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: labwire_event::limits::DEFAULT_MESSAGE_BYTES,
            max_records: 10_000,
            max_fields: 1_000,
            max_messages: 10_000,
        }
    }
}

/// One ASTM message: its text, delimiters and records. Zero-copy and allocation-free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    text: &'a [u8],
    offset: usize,
    delims: Delimiters,
    records: usize,
    /// No escape character after the H record's delimiter definition: every record splits on
    /// its delimiters alone.
    plain: bool,
    /// The H record's delimiter definition (H-2) was empty: standard delimiters assumed.
    defaulted: bool,
}

impl<'a> Message<'a> {
    /// Parses exactly one message (leading and trailing blank lines allowed).
    pub fn parse(input: &'a [u8], limits: &Limits) -> Result<Self, RecordError> {
        let mut all = messages(input, limits);
        let first = all
            .next()
            .unwrap_or_else(|| Err(RecordError::new(0, RecordErrorKind::Empty)))?;
        match all.next() {
            None => Ok(first),
            Some(Err(e)) => Err(e),
            Some(Ok(second)) => Err(RecordError::new(
                second.offset,
                RecordErrorKind::TooManyMessages { limit: 1 },
            )),
        }
    }

    /// The message text, from its H record to the terminator after its last record.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// Byte offset of the message inside the input given to the parser.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The delimiters declared by the H record.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// True when the H record's delimiter definition (H-2) was empty and the standard
    /// delimiters were assumed ([`Delimiters::from_header_lenient`]).
    pub fn delimiters_defaulted(&self) -> bool {
        self.defaulted
    }

    /// Number of records (blank lines not counted).
    pub fn record_count(&self) -> usize {
        self.records
    }

    /// The records, H first.
    pub fn records(&self) -> Records<'a> {
        Records {
            lines: Lines::new(self.text, self.offset),
            delims: self.delims,
            plain: self.plain,
        }
    }

    /// The H record.
    pub fn header(&self) -> Option<Record<'a>> {
        self.records().next()
    }
}

/// Iterator over the records of a [`Message`].
#[derive(Clone)]
pub struct Records<'a> {
    lines: Lines<'a>,
    delims: Delimiters,
    plain: bool,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        let (text, offset, _) = self.lines.next()?;
        Some(Record::new(text, offset, self.delims, self.plain))
    }
}

/// Splits `input` into messages (each starting at an H record). Yields an error, then stops,
/// at the first input that is not a well-formed message sequence.
pub fn messages<'a>(input: &'a [u8], limits: &Limits) -> Messages<'a> {
    Messages {
        input,
        lines: Lines::new(input, 0),
        limits: *limits,
        count: 0,
        after_terminator: false,
        done: false,
    }
}

/// Iterator over the messages of an input; see [`messages`].
#[derive(Clone)]
pub struct Messages<'a> {
    input: &'a [u8],
    lines: Lines<'a>,
    limits: Limits,
    count: usize,
    after_terminator: bool,
    done: bool,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_message();
        if !matches!(result, Some(Ok(_))) {
            self.done = true;
        }
        result
    }
}

impl<'a> Messages<'a> {
    fn next_message(&mut self) -> Option<Result<Message<'a>, RecordError>> {
        let Some((header, start, _)) = self.lines.next() else {
            return (self.count == 0).then(|| Err(RecordError::new(0, RecordErrorKind::Empty)));
        };
        let fail = |kind| Some(Err(RecordError::new(start, kind)));
        if self.count >= self.limits.max_messages {
            return fail(RecordErrorKind::TooManyMessages {
                limit: self.limits.max_messages,
            });
        }
        let is_header = header
            .first()
            .is_some_and(|b| b.eq_ignore_ascii_case(&b'H'));
        if !is_header {
            if self.after_terminator {
                return fail(RecordErrorKind::RecordAfterTerminator);
            }
            let record_type = match header {
                [t] if t.is_ascii_alphabetic() => Some(char::from(*t)),
                [t, d, ..] if t.is_ascii_alphabetic() && !d.is_ascii_alphanumeric() => {
                    Some(char::from(t.to_ascii_uppercase()))
                }
                _ => None,
            };
            return fail(RecordErrorKind::MissingHeader { record_type });
        }
        let (delims, defaulted) = match Delimiters::from_header_lenient(header) {
            Ok(d) => d,
            Err(why) => return fail(RecordErrorKind::BadDelimiters(why)),
        };
        if let Err(e) = self.check_fields(header, start, &delims) {
            return Some(Err(e));
        }
        let mut records = 1;
        let mut end = start + header.len();
        let mut end_with_terminators = self.lines.position();
        self.after_terminator = false;
        loop {
            let mut peek = self.lines.clone();
            let Some((text, offset, _)) = peek.next() else {
                break;
            };
            let kind = RecordType::from_id(type_id(text, delims.field));
            if kind == RecordType::Header {
                break;
            }
            records += 1;
            if records > self.limits.max_records {
                return Some(Err(RecordError::new(
                    offset,
                    RecordErrorKind::TooManyRecords {
                        limit: self.limits.max_records,
                    },
                )));
            }
            if let Err(e) = self.check_fields(text, offset, &delims) {
                return Some(Err(e));
            }
            self.lines = peek;
            end = offset + text.len();
            end_with_terminators = self.lines.position();
            if kind == RecordType::Terminator {
                self.after_terminator = true;
                break;
            }
        }
        if end - start > self.limits.max_message_bytes {
            return fail(RecordErrorKind::MessageTooLarge {
                limit: self.limits.max_message_bytes,
            });
        }
        let text = self.input.get(start..end_with_terminators.max(end))?;
        self.count += 1;
        // The delimiter definition (H-2) holds the escape character itself: look after it.
        let definition_end = header
            .get(2..)
            .and_then(|h| memchr::memchr(delims.field, h))
            .map_or(header.len(), |i| i + 2);
        let plain = text
            .get(definition_end..)
            .is_none_or(|rest| memchr::memchr(delims.escape, rest).is_none());
        Some(Ok(Message {
            text,
            offset: start,
            delims,
            records,
            plain,
            defaulted,
        }))
    }

    fn check_fields(&self, text: &[u8], offset: usize, d: &Delimiters) -> Result<(), RecordError> {
        if text.len() < self.limits.max_fields {
            return Ok(());
        }
        let fields = text.iter().filter(|&&b| b == d.field).count() + 1;
        if fields > self.limits.max_fields {
            return Err(RecordError::new(
                offset,
                RecordErrorKind::TooManyFields {
                    limit: self.limits.max_fields,
                },
            ));
        }
        Ok(())
    }
}

/// Splits text into non-blank lines on any run of CR/LF; yields (line, absolute offset, end of
/// the terminator run).
#[derive(Clone)]
struct Lines<'a> {
    text: &'a [u8],
    pos: usize,
    base: usize,
    /// The only terminator byte present, when the text uses just one (then a one-byte search
    /// is enough); `None` when both CR and LF occur.
    single: Option<u8>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8], base: usize) -> Self {
        let single = match memchr::memchr(b'\n', text) {
            None => Some(b'\r'),
            Some(_) if memchr::memchr(b'\r', text).is_none() => Some(b'\n'),
            Some(_) => None,
        };
        Self {
            text,
            pos: 0,
            base,
            single,
        }
    }

    /// Absolute offset just after the terminators of the last line handed out.
    fn position(&self) -> usize {
        self.base + self.pos
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (&'a [u8], usize, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.text.get(self.pos..)?;
            if rest.is_empty() {
                return None;
            }
            let start = self.pos;
            let end = match self.single {
                Some(t) => memchr::memchr(t, rest),
                None => memchr::memchr2(b'\r', b'\n', rest),
            };
            let len = end.unwrap_or(rest.len());
            let line = rest.get(..len)?;
            let after = rest.get(len..)?;
            let terms = after
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.pos = start + len + terms;
            if line.iter().all(|&b| b == b' ' || b == b'\t') {
                continue;
            }
            return Some((line, self.base + start, self.base + self.pos));
        }
    }
}

// Hand-written Debug: message text is patient data and must not reach a log through `{:?}`.
impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("offset", &self.offset)
            .field("len", &self.text.len())
            .field("records", &self.records)
            .field("delims", &self.delims)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Messages<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Result<Message<'_>, RecordError>> {
        messages(input, &Limits::default()).collect()
    }

    #[test]
    fn splits_terminator_styles() {
        let text = b"\r\nH|\\^&\r\rP|1\r\n\nO|1|S1\n  \nL|1|N\r";
        let m = Message::parse(text, &Limits::default()).unwrap();
        assert_eq!(m.record_count(), 4);
        assert_eq!(m.offset(), 2);
        let types: Vec<_> = m.records().map(|r| r.record_type()).collect();
        assert_eq!(
            types,
            vec![
                RecordType::Header,
                RecordType::Patient,
                RecordType::Order,
                RecordType::Terminator
            ]
        );
        assert!(m.text().ends_with(b"L|1|N\r"));
    }

    #[test]
    fn back_to_back_messages() {
        let text = b"H|\\^&\rL|1|N\rH|\\^&\rP|1\rH|`^&\rL\r";
        let msgs: Vec<_> = all(text).into_iter().map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1].text(), b"H|\\^&\rP|1\r");
        assert_eq!(msgs[2].delimiters().repeat, b'`');
        assert!(Message::parse(text, &Limits::default()).is_err());
    }

    #[test]
    fn errors_carry_offsets() {
        let e = all(b"\r\nA|B|C|D\r");
        assert_eq!(e.len(), 1);
        let e = e[0].clone().unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(matches!(e.kind, RecordErrorKind::MissingHeader { .. }));
        let e = all(b"H|\\^&\rL|1\rP|1\r");
        assert_eq!(e[1].clone().unwrap_err().offset, 10);
        assert_eq!(
            e[1].clone().unwrap_err().kind,
            RecordErrorKind::RecordAfterTerminator
        );
        assert_eq!(all(b"\r\n ").len(), 1);
        assert_eq!(
            all(b"").pop().unwrap().unwrap_err().kind,
            RecordErrorKind::Empty
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_records: 2,
            max_fields: 3,
            max_message_bytes: 20,
            max_messages: 1,
        };
        let many = messages(b"H|\\^&\rP|1\rO|1\r", &limits).next().unwrap();
        assert_eq!(
            many.unwrap_err().kind,
            RecordErrorKind::TooManyRecords { limit: 2 }
        );
        let wide = messages(b"H|\\^&\rP|1|2|3\r", &limits).next().unwrap();
        assert_eq!(wide.unwrap_err().offset, 6);
        let long = messages(b"H|\\^&|aaaaaaaaaaaaaaaaaaaaa\r", &limits)
            .next()
            .unwrap();
        assert!(long.is_err());
        let two: Vec<_> = messages(b"H|\\^&\rH|\\^&\r", &limits).collect();
        assert!(two[1].is_err());
    }
}
