//! One E1381 frame: `STX FN text ETB|ETX C1 C2 CR LF` (ASTM E1381 §6.3 / CLSI LIS1-A §8.3).
//!
//! * FN is one ASCII digit `0`..`7`; the first frame of a transfer is `1`, and
//!   numbering wraps from `7` to `0` (§8.3.1.1).
//! * The text of an intermediate frame ends with ETB, the last frame of a
//!   message with ETX. The standard limits text to 240 bytes (§8.3.1.2), but
//!   real instruments send single frames of 2.6 KB to 26 KB, so the receive
//!   limit is configurable in [`FrameLimits`].
//! * The checksum is described in [`super::checksum`].

use super::checksum::{checksum, checksum_digits};
use super::control::{CR, ETB, ETX, LF, STX};

/// Frame text length allowed by the standard (CLSI LIS1-A §8.3.1.2).
pub const STANDARD_MAX_TEXT: usize = 240;

/// Default receive limit on the text of one frame: 64 KiB.
///
/// Generous on purpose: the largest real frame in the corpus is 26,647 bytes
/// (Horiba Yumizen H500) and OsmoTECH XT documents 64,000 characters.
pub const DEFAULT_MAX_FRAME_TEXT: usize = labwire_event::limits::DEFAULT_FRAME_BYTES;

/// Bytes a frame adds around its text: STX, FN, ETX/ETB, C1, C2, CR, LF.
pub const FRAME_OVERHEAD: usize = 7;

/// Receive limits for frames. Every buffer in the decoder is bounded by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Maximum text bytes in one frame (between FN and ETX/ETB).
    /// Default [`DEFAULT_MAX_FRAME_TEXT`] (64 KiB).
    pub max_text: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_text: DEFAULT_MAX_FRAME_TEXT,
        }
    }
}

/// A frame number: the digit `0`..`7` after STX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameNumber(u8);

impl FrameNumber {
    /// Frame number of the first frame of every transfer phase: 1.
    pub const FIRST: Self = Self(1);

    /// The frame number for the ASCII digit `byte`, if it is `0`..`7`.
    #[must_use]
    pub fn from_ascii(byte: u8) -> Option<Self> {
        match byte {
            b'0'..=b'7' => Some(Self(byte - b'0')),
            _ => None,
        }
    }

    /// The frame number `value % 8`.
    #[must_use]
    pub fn new_wrapping(value: u8) -> Self {
        Self(value % 8)
    }

    /// Numeric value, `0..=7`.
    #[must_use]
    pub fn value(self) -> u8 {
        self.0
    }

    /// The ASCII digit sent on the wire.
    #[must_use]
    pub fn ascii(self) -> u8 {
        b'0' + self.0
    }

    /// The number of the following frame (7 wraps to 0).
    #[must_use]
    pub fn next(self) -> Self {
        Self((self.0 + 1) % 8)
    }
}

impl std::fmt::Display for FrameNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a frame's text ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameEnd {
    /// ETB: an intermediate frame; the message continues in the next frame.
    Intermediate,
    /// ETX: the last frame of a message.
    Last,
}

impl FrameEnd {
    /// The control byte that ends the text (ETB or ETX).
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            Self::Intermediate => ETB,
            Self::Last => ETX,
        }
    }
}

/// A decoded frame whose checksum and frame number digit were valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Frame number from the wire.
    pub number: FrameNumber,
    /// Whether the message continues (ETB) or ends (ETX).
    pub end: FrameEnd,
    /// Text between FN and ETX/ETB, exactly as received.
    pub text: &'a [u8],
    /// Byte offset of the frame's STX in the input stream.
    pub offset: usize,
}

/// Appends one complete frame `STX FN text end C1 C2 CR LF` to `out`.
///
/// The text is written as given: splitting to a size limit is the job of
/// [`super::encode`].
pub fn encode_frame(number: FrameNumber, text: &[u8], end: FrameEnd, out: &mut Vec<u8>) {
    out.reserve(text.len() + FRAME_OVERHEAD);
    out.push(STX);
    let start = out.len();
    out.push(number.ascii());
    out.extend_from_slice(text);
    out.push(end.byte());
    let sum = checksum(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&checksum_digits(sum));
    out.push(CR);
    out.push(LF);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_python_astm_vector() {
        let mut out = Vec::new();
        encode_frame(FrameNumber::FIRST, b"A|B|C|D\r", FrameEnd::Last, &mut out);
        assert_eq!(out, b"\x021A|B|C|D\r\x03BF\r\n");
    }

    #[test]
    fn frame_numbers_wrap() {
        let mut n = FrameNumber::FIRST;
        let seq: Vec<u8> = (0..9)
            .map(|_| {
                let d = n.ascii();
                n = n.next();
                d
            })
            .collect();
        assert_eq!(seq, b"123456701");
        assert_eq!(FrameNumber::from_ascii(b'8'), None);
        assert_eq!(
            FrameNumber::from_ascii(b'0'),
            Some(FrameNumber::new_wrapping(8))
        );
    }
}
