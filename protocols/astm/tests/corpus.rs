#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Snapshot of the canonical events (or the error) for every ASTM corpus file.
//!
//! Each file in `testdata/corpus/astm/` is split with `capture::split_capture` (E1381 frames or
//! record text) and every message is mapped with a fixed origin. The JSON snapshots under
//! `tests/snapshots/` were reviewed by eye against the source files; a changed mapping fails
//! here (insta does not update snapshots unless asked, and never under `CI=true`).

use std::path::Path;

use labwire_astm::canonical::{DecodeOptions, message_to_events};
use labwire_astm::capture::{CaptureLimits, split_capture};
use labwire_event::{InstrumentId, Origin, SiteId};
use serde_json::{Value, json};

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/astm")
}

/// The file stem as an instrument id: lowercase `[a-z0-9-]`, at most 64 characters.
fn instrument_id(stem: &str) -> InstrumentId {
    let mut id: String = stem
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .take(64)
        .collect();
    while id.ends_with('-') {
        id.pop();
    }
    InstrumentId::new(id).unwrap()
}

/// Events (as JSON) and errors (`FILE:OFFSET: reason`) for one capture file.
fn decode_file(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let origin = Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: instrument_id(&stem),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    let mut out = Vec::new();
    let messages = split_capture(&bytes, &CaptureLimits::default());
    if messages.is_empty() {
        out.push(json!({ "error": format!("{name}:0: no ASTM message in the file") }));
    }
    for message in messages {
        match message {
            Err(e) => out.push(json!({ "error": format!("{name}:{}: {e}", e.offset()) })),
            Ok(m) => match message_to_events(&m.text, &origin, &DecodeOptions::default()) {
                Ok(events) => out.extend(events.iter().map(|e| serde_json::to_value(e).unwrap())),
                Err(e) => out.push(json!({
                    "error": format!("{name}:{}: {e}", m.offset + e.offset)
                })),
            },
        }
    }
    out
}

#[test]
fn corpus_snapshots() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 40, "corpus not found");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for path in &files {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            insta::assert_json_snapshot!(format!("corpus__{stem}"), decode_file(path));
        }
    });
}

#[test]
fn not_astm_files_end_in_errors() {
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().contains("NOT-ASTM") {
            continue;
        }
        let out = decode_file(&path);
        assert!(!out.is_empty());
        assert!(
            out.iter().all(|v| v.get("error").is_some()),
            "{} produced events: {out:?}",
            path.display()
        );
    }
}
