//! `labwire parse` on the shared corpus and on bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn labwire() -> Command {
    Command::new(env!("CARGO_BIN_EXE_labwire"))
}

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/corpus")
        .join(rel)
}

fn parse(files: &[&Path], extra: &[&str]) -> Output {
    labwire()
        .arg("parse")
        .args(["--received-at", "2026-01-01T00:00:00Z"])
        .args(extra)
        .args(files)
        .output()
        .unwrap()
}

fn events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn corpus_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(corpus(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "astm" || e == "hl7"))
        .collect();
    files.sort();
    files
}

/// Checks that every line on stderr reads `FILE:OFFSET: reason` for this file.
fn assert_error_lines(file: &Path, stderr: &[u8]) {
    let stderr = String::from_utf8_lossy(stderr);
    let prefix = format!("{}:", file.display());
    assert!(
        !stderr.trim().is_empty(),
        "{}: no error reported",
        file.display()
    );
    for line in stderr.lines() {
        let rest = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("error line without file name: {line}"));
        let (offset, reason) = rest
            .split_once(": ")
            .unwrap_or_else(|| panic!("error line without offset: {line}"));
        offset
            .parse::<usize>()
            .unwrap_or_else(|_| panic!("offset is not a number: {line}"));
        assert!(!reason.trim().is_empty(), "empty reason: {line}");
    }
}

#[test]
fn every_astm_capture_gives_events_or_a_located_error() {
    let mut with_events = 0;
    for file in corpus_files("astm") {
        let out = parse(&[&file], &[]);
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let evs = events(&out);
        for ev in &evs {
            assert_eq!(ev["schema"], "labwire.event/v1", "{name}");
            assert_eq!(ev["protocol"], "astm", "{name}");
            assert_eq!(ev["site"], "local");
            assert_eq!(ev["received_at"], "2026-01-01T00:00:00Z");
        }
        if out.status.code() == Some(0) {
            assert!(!evs.is_empty(), "{name}: exit 0 but no events");
            assert!(out.stderr.is_empty(), "{name}: exit 0 with errors");
            with_events += 1;
        } else {
            assert_eq!(out.status.code(), Some(2), "{name}");
            assert_error_lines(&file, &out.stderr);
        }
        if name.contains("NOT-ASTM") || name.contains("bad-checksum") {
            assert_eq!(out.status.code(), Some(2), "{name} must be rejected");
            assert!(evs.is_empty(), "{name} must give no events");
        }
    }
    assert!(
        with_events >= 25,
        "only {with_events} ASTM captures decoded"
    );
}

#[test]
fn every_hl7_capture_gives_events_or_a_located_error() {
    let mut with_events = 0;
    for file in corpus_files("hl7") {
        let out = parse(&[&file], &[]);
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let evs = events(&out);
        for ev in &evs {
            assert_eq!(ev["protocol"], "hl7", "{name}");
        }
        if out.status.code() == Some(0) {
            assert!(!evs.is_empty(), "{name}: exit 0 but no events");
            with_events += 1;
        } else {
            assert_eq!(out.status.code(), Some(2), "{name}");
            assert_error_lines(&file, &out.stderr);
        }
    }
    assert!(with_events >= 20, "only {with_events} HL7 captures decoded");
}

#[test]
fn cobas_result_maps_to_one_result_event_with_its_observations() {
    let file = corpus("astm/roche-cobas-c311-result-single-619byte-frame.astm");
    let out = parse(&[&file], &["--site", "site-a", "--instrument", "c311-1"]);
    assert_eq!(out.status.code(), Some(0));
    let evs = events(&out);
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!(ev["kind"], "result");
    assert_eq!(ev["site"], "site-a");
    assert_eq!(ev["instrument"], "c311-1");
    assert_eq!(ev["sender"]["name"], "c311");
    let obs = ev["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 7);
    assert_eq!(obs[0]["code"], "685/");
    assert_eq!(obs[0]["value"], "22.4");
    assert_eq!(obs[0]["units"], "U/l");
    assert_eq!(obs[2]["flags"], serde_json::json!(["L"]));
}

#[test]
fn ids_are_stable_across_runs_and_depend_on_the_instrument() {
    let file = corpus("hl7/biosystems-ba400-oul-r22-four-obr-groups.hl7");
    let a = events(&parse(&[&file], &[]));
    let b = events(&parse(&[&file], &[]));
    let c = events(&parse(&[&file], &["--instrument", "other"]));
    assert_eq!(a.len(), 4);
    let ids = |v: &[serde_json::Value]| v.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(ids(&a), ids(&c));
    let mut unique = ids(&a);
    unique.dedup();
    assert_eq!(unique.len(), 4, "each group has its own id");
}

#[test]
fn a_bad_file_does_not_stop_the_others() {
    let bad = corpus("astm/siemens-dimension-native-result-frame-and-host-ack-NOT-ASTM.astm");
    let good = corpus("astm/abbott-afinion2-hba1c-single-frame.astm");
    let hl7 = corpus("hl7/nist-oru-r01-v251-elr-testcase1.hl7");
    let out = parse(&[&bad, &good, &hl7], &[]);
    assert_eq!(out.status.code(), Some(2));
    let evs = events(&out);
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0]["protocol"], "astm");
    assert_eq!(evs[1]["protocol"], "hl7");
    assert_error_lines(&bad, &out.stderr);
}

#[test]
fn a_corrupted_checksum_is_reported_at_its_frame() {
    let mut bytes = std::fs::read(corpus("astm/abbott-afinion2-hba1c-single-frame.astm")).unwrap();
    // Flip one text byte inside the frame: the checksum no longer matches.
    let pos = bytes.iter().position(|&b| b == b'|').unwrap();
    bytes[pos + 1] ^= 0x01;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.astm");
    std::fs::write(&path, &bytes).unwrap();
    let out = parse(&[&path], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(events(&out).is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checksum"), "{err}");
    assert_error_lines(&path, &out.stderr);
}

#[test]
fn reads_standard_input() {
    let bytes = std::fs::read(corpus("hl7/boditech-ichroma2-oul-r24-mllp-framed.hl7")).unwrap();
    let mut child = labwire()
        .args(["parse", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(events(&out).len(), 1);
}

#[test]
fn forcing_the_wrong_protocol_is_an_error_not_a_panic() {
    let file = corpus("astm/sysmex-xn550-cbc-single-2609byte-frame.astm");
    let out = parse(&[&file], &["--protocol", "hl7"]);
    assert_eq!(out.status.code(), Some(2));
    assert_error_lines(&file, &out.stderr);
}

#[test]
fn unknown_input_and_bad_usage_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.bin");
    std::fs::write(&path, b"hello, this is not a lab message\n").unwrap();
    let out = parse(&[&path], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_error_lines(&path, &out.stderr);

    let out = parse(&[&path], &["--site", "Site.A"]);
    assert_eq!(out.status.code(), Some(2));
    let out = labwire().args(["parse"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let missing = dir.path().join("missing.astm");
    let out = parse(&[&missing], &[]);
    assert_eq!(out.status.code(), Some(2));
}
