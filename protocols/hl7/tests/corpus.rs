//! Every file of `testdata/corpus/hl7/` through `split_capture` and `message_to_events`,
//! snapshotted as JSON (events, or the error with its offset). Review changes by eye against the
//! file: `cargo insta review`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_event::{InstrumentId, Origin, SiteId};
use labwire_hl7::canonical::{DecodeOptions, message_to_events};
use labwire_hl7::capture::{CaptureLimits, split_capture};
use serde_json::{Value, json};

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/hl7")
}

fn instrument_from_stem(stem: &str) -> InstrumentId {
    let s: String = stem
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    InstrumentId::new(s).unwrap()
}

fn decode_file(path: &std::path::Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let origin = Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: instrument_from_stem(stem),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    let items: Vec<Value> = split_capture(&bytes, &CaptureLimits::default())
        .into_iter()
        .map(|item| match item {
            Err(e) => json!({ "offset": e.offset(), "capture_error": e.to_string() }),
            Ok(m) => match message_to_events(&m.text, &origin, &DecodeOptions::default()) {
                Ok(events) => json!({ "offset": m.offset, "events": events }),
                Err(e) => json!({
                    "offset": m.offset,
                    "error_offset": m.offset + e.offset(),
                    "error": e.to_string(),
                }),
            },
        })
        .collect();
    json!(items)
}

#[test]
fn corpus_snapshots() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hl7"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "corpus not found: {}", files.len());
    for path in files {
        let value = decode_file(&path);
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        insta::with_settings!({ snapshot_suffix => "", prepend_module_to_snapshot => false }, {
            insta::assert_json_snapshot!(name, value);
        });
    }
}
