#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Replays the fuzz corpora on stable: every file in `fuzz/corpus/astm_records/` through
//! `record::fuzz_entry` and every file in `fuzz/corpus/astm_parse/` through
//! `canonical::fuzz_entry`, plus every prefix of the small ones (truncated input).

use std::path::Path;

fn replay(dir: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(dir);
    let mut count = 0;
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        entry(&data);
        if data.len() <= 4096 {
            for end in 0..data.len() {
                entry(&data[..end]);
            }
        }
        count += 1;
    }
    count
}

#[test]
fn replay_astm_records_corpus() {
    assert!(replay("astm_records", labwire_astm::record::fuzz_entry) >= 40);
}

#[test]
fn replay_astm_parse_corpus() {
    assert!(replay("astm_parse", labwire_astm::canonical::fuzz_entry) >= 40);
}
