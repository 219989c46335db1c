//! Fuzz target: see `labwire_hl7::fuzz::ack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| labwire_hl7::fuzz::ack(data));
