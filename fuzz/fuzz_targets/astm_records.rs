//! Fuzz the E1394 record parser: message splitting, field/repeat/component access, unescaping.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    labwire_astm::record::fuzz_entry(data);
});
