//! HL7 v2: MLLP framing, ER7 parsing and encoding, acknowledgements, lab message views; sans-IO.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
