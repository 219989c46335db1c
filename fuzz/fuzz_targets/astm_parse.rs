//! Fuzz the full ASTM decode path: capture splitting (E1381 frames or record text) and the
//! mapping of every message to canonical events.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    labwire_astm::canonical::fuzz_entry(data);
});
