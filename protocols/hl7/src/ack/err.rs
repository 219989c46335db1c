//! The ERR segment (HL7 v2.5 §2.15.5): where the problem is (ERR-2, ERL data type), what it is
//! (ERR-3, table 0357), how bad (ERR-4, table 0516) and a text for people (ERR-8).

/// HL7 error codes (table 0357, ERR-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: message accepted.
    MessageAccepted,
    /// 100: segment sequence error.
    SegmentSequenceError,
    /// 101: required field missing.
    RequiredFieldMissing,
    /// 102: data type error.
    DataTypeError,
    /// 103: table value not found.
    TableValueNotFound,
    /// 200: unsupported message type.
    UnsupportedMessageType,
    /// 201: unsupported event code.
    UnsupportedEventCode,
    /// 202: unsupported processing id.
    UnsupportedProcessingId,
    /// 203: unsupported version id.
    UnsupportedVersionId,
    /// 204: unknown key identifier.
    UnknownKeyIdentifier,
    /// 205: duplicate key identifier.
    DuplicateKeyIdentifier,
    /// 206: application record locked.
    ApplicationRecordLocked,
    /// 207: application internal error.
    ApplicationInternalError,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Self::MessageAccepted => 0,
            Self::SegmentSequenceError => 100,
            Self::RequiredFieldMissing => 101,
            Self::DataTypeError => 102,
            Self::TableValueNotFound => 103,
            Self::UnsupportedMessageType => 200,
            Self::UnsupportedEventCode => 201,
            Self::UnsupportedProcessingId => 202,
            Self::UnsupportedVersionId => 203,
            Self::UnknownKeyIdentifier => 204,
            Self::DuplicateKeyIdentifier => 205,
            Self::ApplicationRecordLocked => 206,
            Self::ApplicationInternalError => 207,
        }
    }

    /// The table 0357 description.
    pub fn text(self) -> &'static str {
        match self {
            Self::MessageAccepted => "Message accepted",
            Self::SegmentSequenceError => "Segment sequence error",
            Self::RequiredFieldMissing => "Required field missing",
            Self::DataTypeError => "Data type error",
            Self::TableValueNotFound => "Table value not found",
            Self::UnsupportedMessageType => "Unsupported message type",
            Self::UnsupportedEventCode => "Unsupported event code",
            Self::UnsupportedProcessingId => "Unsupported processing id",
            Self::UnsupportedVersionId => "Unsupported version id",
            Self::UnknownKeyIdentifier => "Unknown key identifier",
            Self::DuplicateKeyIdentifier => "Duplicate key identifier",
            Self::ApplicationRecordLocked => "Application record locked",
            Self::ApplicationInternalError => "Application internal error",
        }
    }
}

/// ERR-4 severity (table 0516).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `E`: error; the message was not (fully) processed.
    Error,
    /// `W`: warning; processed anyway.
    Warning,
    /// `I`: information.
    Information,
}

impl Severity {
    /// The one-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "E",
            Self::Warning => "W",
            Self::Information => "I",
        }
    }
}

/// Where the error is (ERR-2, ERL): segment id, its occurrence, field, repetition, component and
/// subcomponent, all 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLocation {
    /// Segment id (`PID`, `OBX`, …).
    pub segment: String,
    /// Which occurrence of that segment in the message.
    pub sequence: u32,
    /// Field position.
    pub field: Option<u32>,
    /// Field repetition.
    pub repetition: Option<u32>,
    /// Component number.
    pub component: Option<u32>,
    /// Subcomponent number.
    pub subcomponent: Option<u32>,
}

/// One problem reported in an ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// ERR-2, when the problem has a place.
    pub location: Option<ErrorLocation>,
    /// ERR-3.
    pub code: ErrorCode,
    /// ERR-4.
    pub severity: Severity,
    /// ERR-8, a message for people (no patient data, please).
    pub message: Option<String>,
}
