//! HL7 v2: MLLP framing, ER7 parsing and encoding, acknowledgements, lab message views; sans-IO.
//!
//! - [`mllp`]: the Minimal Lower Layer Protocol framer and encoder (HL7 v2.5 Appendix C).
//! - [`er7`]: zero-copy parsing, path access, escapes, character sets, batches, building.
//! - [`ack`]: original and enhanced mode acknowledgements (HL7 v2.5 §2.9), plus RSP^K11 and
//!   OML^O33 builders for host-query answers and order downloads.
//! - [`link`]: the MLLP link as a sans-IO state machine (ACK modes, batches, downloads, timers).
//! - [`canonical`]: lab messages (ORU, OUL, OML, ORM, QBP, Mindray QRY/DSR) → canonical events.
//! - [`capture`]: splits a capture file (MLLP-framed or plain) into messages.
//! - [`fuzz`]: the bodies of the fuzz targets, replayed by the test suite on stable.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod ack;
pub mod canonical;
pub mod capture;
pub mod er7;
pub mod fuzz;
pub mod link;
pub mod mllp;
