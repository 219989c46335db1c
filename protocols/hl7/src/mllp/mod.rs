//! MLLP, the Minimal Lower Layer Protocol (HL7 v2.5 Appendix C.4; MLLP release 2 commit
//! acknowledgements from the HL7 "Transport Specification: MLLP, Release 2").
//!
//! A frame is `VT (0x0B)` message `FS (0x1C) CR (0x0D)`. [`Framer`] reassembles frames from bytes
//! as they arrive, in any chunking; [`frame`] writes one.

mod framer;

pub use framer::{Framer, FramerConfig, FramerEvent, TruncationCause};

/// Start block (VT).
pub const START: u8 = 0x0B;
/// End block (FS).
pub const END: u8 = 0x1C;
/// Trailing carriage return.
pub const CR: u8 = 0x0D;
/// MLLP release 2 commit acknowledgement content (ACK).
pub const COMMIT_ACK: u8 = 0x06;
/// MLLP release 2 negative commit acknowledgement content (NAK).
pub const COMMIT_NAK: u8 = 0x15;

/// Appends `msg` wrapped as one MLLP frame to `out`.
pub fn frame(msg: &[u8], out: &mut Vec<u8>) {
    out.reserve(msg.len() + 3);
    out.push(START);
    out.extend_from_slice(msg);
    out.push(END);
    out.push(CR);
}

/// Appends an MLLP release 2 commit acknowledgement block (`VT ACK FS CR`).
pub fn commit_ack(out: &mut Vec<u8>) {
    frame(&[COMMIT_ACK], out);
}

/// Appends an MLLP release 2 negative commit acknowledgement block (`VT NAK FS CR`).
pub fn commit_nak(out: &mut Vec<u8>) {
    frame(&[COMMIT_NAK], out);
}
