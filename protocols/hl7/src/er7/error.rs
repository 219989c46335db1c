//! Why a message could not be parsed.

/// A message that cannot be read as ER7. `Display` is the reason; [`ParseError::offset`] gives
/// the byte offset of the problem inside the parsed input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input does not start with an `MSH` segment followed by its field separator.
    #[error("message does not start with an MSH segment")]
    NoHeader {
        /// Where the first segment starts.
        offset: usize,
    },
    /// MSH-1 or MSH-2 is unusable.
    #[error("bad encoding characters: {reason}")]
    BadEncodingCharacters {
        /// Where MSH-2 starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The message is longer than the configured limit.
    #[error("message is {len} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The message length.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The message has more segments than the configured limit.
    #[error("more than {limit} segments")]
    TooManySegments {
        /// Where the first segment over the limit starts.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A segment has more fields than the configured limit.
    #[error("segment has more than {limit} fields")]
    TooManyFields {
        /// Where the first field over the limit starts.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl ParseError {
    /// Byte offset of the problem inside the parsed input.
    pub fn offset(&self) -> usize {
        match self {
            Self::NoHeader { offset }
            | Self::BadEncodingCharacters { offset, .. }
            | Self::TooManySegments { offset, .. }
            | Self::TooManyFields { offset, .. } => *offset,
            Self::TooLarge { limit, .. } => *limit,
        }
    }
}
