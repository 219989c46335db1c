//! Frame-level errors found by the decoder (ASTM E1381 §6.3 / CLSI LIS1-A §8.3, §8.5).

use std::fmt;

/// Maximum number of bytes kept in an error excerpt.
pub const EXCERPT_LEN: usize = 32;

/// Why a frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameErrorKind {
    /// The byte after STX is not a frame number `0`..`7`. Vendor-native
    /// framings (Siemens Dimension `STX R FS…`, bioMerieux `STX RS…`) end up here.
    #[error("byte after STX is {}, not a frame number 0-7 (not an E1381 frame)", show_byte(*.found))]
    BadFrameNumber {
        /// The byte found where FN belongs.
        found: u8,
    },
    /// The checksum digits do not match the computed sum.
    #[error("checksum mismatch: frame carries {received:02X}, computed {computed:02X}")]
    ChecksumMismatch {
        /// Checksum carried by the frame.
        received: u8,
        /// Checksum computed over FN..ETX/ETB.
        computed: u8,
    },
    /// ETX/ETB was not followed by two hex digits.
    #[error("no checksum after ETX/ETB: found {} (not an E1381 frame)", show_byte(*.found))]
    MalformedChecksum {
        /// The first byte that is not a hex digit.
        found: u8,
    },
    /// The frame text exceeds the configured limit.
    #[error("frame text longer than the limit of {limit} bytes")]
    TooLong {
        /// The configured limit ([`super::FrameLimits::max_text`]).
        limit: usize,
    },
    /// STX, ENQ or EOT arrived inside the frame text: the frame was cut short.
    #[error("frame cut short by {} at byte {at}", show_byte(*.by))]
    Interrupted {
        /// The control byte that interrupted the frame.
        by: u8,
        /// Offset of that byte.
        at: usize,
    },
    /// The input ended inside a frame.
    #[error("input ended inside a frame")]
    Truncated,
}

/// A rejected frame: what was wrong, where it started, and its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Byte offset of the frame's STX in the input stream.
    pub offset: usize,
    /// What was wrong.
    pub kind: FrameErrorKind,
    /// Up to [`EXCERPT_LEN`] bytes from the frame start, for logs.
    pub excerpt: Vec<u8>,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad frame at byte {}: {}", self.offset, self.kind)
    }
}

impl std::error::Error for FrameError {}

/// Renders a byte for reasons: control bytes by their code (`0xNN`), anything else as "a text
/// byte" — never its value, which may be part of patient data (conventions §3: reasons name
/// positions and field ids, not contents).
pub(crate) fn show_byte(b: u8) -> String {
    if b.is_ascii_control() {
        format!("0x{b:02X}")
    } else {
        "a text byte".to_owned()
    }
}
