//! Control characters of the data-link layer (ASTM E1381 §6.1 / CLSI LIS1-A §8.1).

/// Start of text: first byte of every frame.
pub const STX: u8 = 0x02;
/// End of text: ends the text of the last frame of a message.
pub const ETX: u8 = 0x03;
/// End of transmission: ends the transfer phase; from a receiver, an interrupt request.
pub const EOT: u8 = 0x04;
/// Enquiry: asks to become the sender (establishment phase).
pub const ENQ: u8 = 0x05;
/// Acknowledge: positive reply to ENQ or to a frame.
pub const ACK: u8 = 0x06;
/// Negative acknowledge: busy (reply to ENQ) or bad frame.
pub const NAK: u8 = 0x15;
/// End of transmission block: ends the text of an intermediate frame.
pub const ETB: u8 = 0x17;
/// Carriage return: record terminator in frame text, and first byte of the frame trailer.
pub const CR: u8 = 0x0D;
/// Line feed: last byte of every frame.
pub const LF: u8 = 0x0A;

/// A single-byte link control message seen between frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// ENQ: the peer asks to send.
    Enq,
    /// ACK: positive reply.
    Ack,
    /// NAK: negative reply.
    Nak,
    /// EOT: end of transmission (or receiver interrupt).
    Eot,
}

impl Control {
    /// The control for `byte`, if it is ENQ, ACK, NAK or EOT.
    #[must_use]
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            ENQ => Some(Self::Enq),
            ACK => Some(Self::Ack),
            NAK => Some(Self::Nak),
            EOT => Some(Self::Eot),
            _ => None,
        }
    }

    /// The byte sent on the wire for this control.
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            Self::Enq => ENQ,
            Self::Ack => ACK,
            Self::Nak => NAK,
            Self::Eot => EOT,
        }
    }
}
