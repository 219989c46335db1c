//! Fuzz target: the E1381 frame decoder (body in `labwire_astm::link::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| labwire_astm::link::fuzz::frame_decoder(data));
