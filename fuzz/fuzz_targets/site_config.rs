//! Fuzz target: see `labwire_router::fuzz::site_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| labwire_router::fuzz::site_config(data));
