//! Fuzz target: the E1381 link state machine driven by a script of
//! operations (body in `labwire_astm::link::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| labwire_astm::link::fuzz::link_script(data));
