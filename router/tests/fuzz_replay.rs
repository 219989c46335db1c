//! Replays the saved `site_config` fuzz corpus (`fuzz/corpus/site_config/`) through the fuzz
//! target body on stable, so `cargo test` exercises it without nightly or cargo-fuzz.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[test]
fn site_config() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/site_config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| labwire_router::fuzz::site_config(&data));
        assert!(outcome.is_ok(), "site_config: {} panicked", path.display());
        n += 1;
    }
    assert!(n >= 10, "site_config: only {n} inputs");
}
