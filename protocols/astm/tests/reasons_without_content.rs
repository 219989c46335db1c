//! Issue 9 item 11 (ASTM part): error reasons name positions and field ids, never the content of
//! the message (patient data). A canary identifier is placed where each error is detected and
//! every reason is scanned for it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_astm::canonical::{DecodeOptions, message_to_events};
use labwire_astm::capture::detect_format;
use labwire_astm::charset::AstmCharset as Charset;
use labwire_astm::link::{Decoded, FrameDecoder, FrameErrorKind};
use labwire_event::{InstrumentId, Origin, SiteId};

const CANARY: &str = "Zq7CANARY";

fn origin() -> Origin {
    Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("c311").unwrap(),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    }
}

fn assert_clean(reason: &str) {
    assert!(!reason.contains(CANARY), "reason quotes content: {reason}");
    assert!(!reason.contains("Zq7"), "reason quotes content: {reason}");
    assert!(
        !reason.contains('Z'),
        "reason quotes a content byte: {reason}"
    );
}

#[test]
fn a_message_without_header_is_described_without_its_bytes() {
    for text in [
        format!("{CANARY}|x\rL|1\r"),
        format!("P|1|{CANARY}\rL|1\r"),
        format!("Z{CANARY}\r"),
    ] {
        let err = message_to_events(text.as_bytes(), &origin(), &DecodeOptions::default())
            .expect_err("no H record");
        assert_clean(&err.to_string());
    }
}

#[test]
fn the_record_type_of_a_misplaced_first_record_is_named() {
    let err = message_to_events(
        format!("P|1|{CANARY}\rL|1\r").as_bytes(),
        &origin(),
        &DecodeOptions::default(),
    )
    .expect_err("no H record");
    let reason = err.to_string();
    assert!(reason.contains("record type P"), "{reason}");
}

#[test]
fn frame_errors_do_not_quote_text_bytes() {
    for kind in [
        FrameErrorKind::BadFrameNumber { found: b'Z' },
        FrameErrorKind::MalformedChecksum { found: b'Z' },
    ] {
        assert_clean(&kind.to_string());
    }
    // Through the decoder: a frame whose checksum position holds text.
    let mut d = FrameDecoder::default();
    let mut input: &[u8] = b"\x021Zq7\x03Zq\r\n";
    let mut reasons = Vec::new();
    while let Some(item) = d.decode(&mut input) {
        if let Decoded::Error(e) = item {
            reasons.push(e.to_string());
        }
    }
    assert!(!reasons.is_empty());
    for r in &reasons {
        assert_clean(r);
    }
}

#[test]
fn an_unencodable_character_is_named_by_position() {
    let err = Charset::Latin1.encode("Zq7 Nguyễn").unwrap_err();
    let reason = err.to_string();
    assert!(!reason.contains('ễ'), "{reason}");
    assert!(reason.contains("position 8"), "{reason}");
    let err = Charset::Windows1252.encode("Zq7 Nguyễn").unwrap_err();
    assert!(!err.to_string().contains('ễ'), "{err}");
}

#[test]
fn a_capture_that_is_not_astm_is_described_without_its_bytes() {
    let err = detect_format(format!("{CANARY} and more\r\n").as_bytes()).unwrap_err();
    assert_clean(&err.kind().to_string());
}
