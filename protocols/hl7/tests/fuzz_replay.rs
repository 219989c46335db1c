//! Replays the saved fuzz corpora (`fuzz/corpus/hl7_*`) through the fuzz target bodies on stable,
//! so CI exercises them without nightly or cargo-fuzz.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_hl7::fuzz;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        n += 1;
    }
    assert!(n >= 10, "{target}: only {n} inputs");
}

#[test]
fn hl7_mllp() {
    replay("hl7_mllp", fuzz::mllp);
}

#[test]
fn hl7_er7() {
    replay("hl7_er7", fuzz::er7);
}

#[test]
fn hl7_path() {
    replay("hl7_path", fuzz::path);
}

#[test]
fn hl7_ack() {
    replay("hl7_ack", fuzz::ack);
}

#[test]
fn hl7_parse() {
    replay("hl7_parse", fuzz::parse_capture);
}
