//! Replays every file of `fuzz/corpus/astm_frame/` and `fuzz/corpus/astm_link/`
//! through the fuzz entry points on stable, so CI exercises the corpora
//! without nightly or cargo-fuzz.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn replay_astm_frame_corpus() {
    let files = corpus("astm_frame");
    assert!(files.len() >= 5, "seed corpus missing");
    for (path, bytes) in files {
        eprintln!("{}", path.display());
        labwire_astm::link::fuzz::frame_decoder(&bytes);
    }
}

#[test]
fn replay_astm_link_corpus() {
    let files = corpus("astm_link");
    assert!(files.len() >= 5, "seed corpus missing");
    for (path, bytes) in files {
        eprintln!("{}", path.display());
        labwire_astm::link::fuzz::link_script(&bytes);
    }
}

#[test]
fn entry_points_survive_edge_inputs() {
    for input in [
        &b""[..],
        b"\x02",
        b"\x02\x02\x02",
        b"\x021\x03",
        b"\x021\x03G",
        &[0xFF; 64],
    ] {
        labwire_astm::link::fuzz::frame_decoder(input);
        labwire_astm::link::fuzz::link_script(input);
    }
}
