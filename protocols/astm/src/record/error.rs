//! Errors of the record layer (LIS2-A2 §5, §6): every error carries the byte offset of the
//! problem inside the text handed to the parser.

use thiserror::Error;

/// Why message text was rejected by the record parser.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// The text holds no record at all (empty or only blank lines).
    #[error("no ASTM records in the input")]
    Empty,
    /// The first record of a message is not an H (header) record.
    #[error("not an ASTM message: expected an H record first, found {}", first_record(*.record_type))]
    MissingHeader {
        /// The record type id (field 1) of the first record when it looks like a record (a
        /// letter, then a delimiter or nothing); never any content of the record.
        record_type: Option<char>,
    },
    /// The H record's delimiter definition (H-1/H-2) is unusable.
    #[error("bad delimiter definition in the H record: {0}")]
    BadDelimiters(&'static str),
    /// A record other than H follows the L (terminator) record.
    #[error("record after the L terminator record and before the next H record")]
    RecordAfterTerminator,
    /// The message is longer than [`crate::record::Limits::max_message_bytes`].
    #[error("message longer than the limit of {limit} bytes")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The message has more records than [`crate::record::Limits::max_records`].
    #[error("more than {limit} records in one message")]
    TooManyRecords {
        /// The configured limit.
        limit: usize,
    },
    /// A record has more fields than [`crate::record::Limits::max_fields`].
    #[error("more than {limit} fields in one record")]
    TooManyFields {
        /// The configured limit.
        limit: usize,
    },
    /// The input holds more messages than [`crate::record::Limits::max_messages`].
    #[error("more than {limit} messages in one input")]
    TooManyMessages {
        /// The configured limit.
        limit: usize,
    },
}

fn first_record(record_type: Option<char>) -> String {
    match record_type {
        Some(t) => format!("record type {t}"),
        None => "text that is not a record".to_owned(),
    }
}

/// A record-layer error: what is wrong and where (byte offset into the parsed input).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct RecordError {
    /// Byte offset of the problem, counted from the start of the input given to the parser.
    pub offset: usize,
    /// What is wrong.
    pub kind: RecordErrorKind,
}

impl RecordError {
    pub(crate) fn new(offset: usize, kind: RecordErrorKind) -> Self {
        Self { offset, kind }
    }
}
