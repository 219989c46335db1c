//! `split_capture` on hand-built transcripts and record text: the rules of
//! the module docs, one per test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_astm::capture::{CaptureErrorKind, CaptureLimits, CapturedMessage, split_capture};
use labwire_astm::link::{FrameEnd, FrameErrorKind, FrameNumber, encode_frame};

const ENQ: u8 = 0x05;
const ACK: u8 = 0x06;
const NAK: u8 = 0x15;
const EOT: u8 = 0x04;

fn frame(n: u8, text: &[u8], end: FrameEnd) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(FrameNumber::new_wrapping(n), text, end, &mut out);
    out
}

fn last(n: u8, text: &[u8]) -> Vec<u8> {
    frame(n, text, FrameEnd::Last)
}

fn mid(n: u8, text: &[u8]) -> Vec<u8> {
    frame(n, text, FrameEnd::Intermediate)
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn split(bytes: &[u8]) -> Vec<Result<CapturedMessage, labwire_astm::capture::CaptureError>> {
    split_capture(bytes, &CaptureLimits::default())
}

fn texts(bytes: &[u8]) -> Vec<Vec<u8>> {
    split(bytes).into_iter().map(|r| r.unwrap().text).collect()
}

const H: &[u8] = b"H|\\^&|||x\r";
const P: &[u8] = b"P|1\r";
const L: &[u8] = b"L|1|N\r";

#[test]
fn retransmission_after_nak_replaces_the_frame() {
    let bytes = join(&[
        &[ENQ],
        &[ACK],
        &mid(1, H),
        &[ACK],
        &mid(2, b"P|1 first copy\r"),
        &[NAK],
        &mid(2, P),
        &[ACK],
        &last(3, L),
        &[ACK, EOT],
    ]);
    assert_eq!(texts(&bytes), vec![join(&[H, P, L])]);
}

#[test]
fn identical_repeat_after_lost_ack_is_dropped() {
    let f2 = mid(2, P);
    let bytes = join(&[&[ENQ], &mid(1, H), &f2, &f2, &last(3, L), &[EOT]]);
    assert_eq!(texts(&bytes), vec![join(&[H, P, L])]);
}

#[test]
fn bad_frame_then_good_retransmission_is_recovered() {
    let mut bad = mid(2, P);
    bad[3] ^= 0x20; // checksum no longer matches
    let bytes = join(&[
        &[ENQ],
        &mid(1, H),
        &bad,
        &[NAK],
        &mid(2, P),
        &last(3, L),
        &[EOT],
    ]);
    assert_eq!(texts(&bytes), vec![join(&[H, P, L])]);
}

#[test]
fn bad_frame_not_recovered_is_an_error_at_its_offset() {
    let f1 = mid(1, H);
    let mut bad = mid(2, P);
    bad[3] ^= 0x20;
    let bytes = join(&[&[ENQ], &f1, &bad, &[EOT]]);
    let got = split(&bytes);
    assert_eq!(got.len(), 1);
    let err = got[0].as_ref().unwrap_err();
    assert_eq!(err.offset(), 1 + f1.len());
    assert!(matches!(
        err.kind(),
        CaptureErrorKind::Frame(FrameErrorKind::ChecksumMismatch { .. })
    ));
}

#[test]
fn etb_then_eot_is_truncated_at_message_start() {
    let bytes = join(&[
        &[ENQ],
        &mid(1, H),
        &mid(2, P),
        &[EOT],
        &[ENQ],
        &last(1, &join(&[H, L])),
        &[EOT],
    ]);
    let got = split(&bytes);
    assert_eq!(got.len(), 2);
    let err = got[0].as_ref().unwrap_err();
    assert_eq!(err.offset(), 1);
    assert_eq!(err.kind(), &CaptureErrorKind::Truncated { by: "EOT" });
    assert_eq!(got[1].as_ref().unwrap().text, join(&[H, L]));
}

#[test]
fn framed_message_without_l_at_end_of_input_is_an_error() {
    let bytes = join(&[&last(1, H), &last(2, P)]);
    let got = split(&bytes);
    assert_eq!(got.len(), 1);
    let err = got[0].as_ref().unwrap_err();
    assert_eq!(err.offset(), 0);
    assert_eq!(
        err.kind(),
        &CaptureErrorKind::MissingTerminator { by: "end of input" }
    );
}

#[test]
fn eot_followed_by_next_frame_is_a_receiver_interrupt() {
    let bytes = join(&[&[ENQ], &mid(1, H), &[EOT], &mid(2, P), &last(3, L), &[EOT]]);
    assert_eq!(texts(&bytes), vec![join(&[H, P, L])]);
}

#[test]
fn two_messages_in_one_transfer_and_noise_between_frames() {
    let bytes = join(&[
        &[ENQ],
        b"~~line noise~~",
        &last(1, H),
        &last(2, L),
        b"\xff\xfe",
        &last(3, H),
        &last(4, P),
        &last(5, L),
        &[EOT],
    ]);
    let got = split(&bytes);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().unwrap().text, join(&[H, L]));
    assert_eq!(
        got[0].as_ref().unwrap().offset,
        1 + 14,
        "after ENQ and 14 noise bytes"
    );
    assert_eq!(got[1].as_ref().unwrap().text, join(&[H, P, L]));
}

#[test]
fn out_of_sequence_frame_skips_to_next_header() {
    let f1 = last(1, H);
    let bytes = join(&[&f1, &last(3, P), &last(4, L), &last(5, H), &last(6, L)]);
    let got = split(&bytes);
    assert_eq!(got.len(), 2, "{got:?}");
    let err = got[0].as_ref().unwrap_err();
    assert_eq!(err.offset(), f1.len());
    assert_eq!(
        err.kind(),
        &CaptureErrorKind::OutOfSequence {
            expected: 2,
            found: 3
        }
    );
    assert_eq!(got[1].as_ref().unwrap().text, join(&[H, L]));
}

#[test]
fn message_and_frame_limits_apply() {
    let limits = CaptureLimits {
        max_frame_text: 8,
        max_message: 1000,
    };
    let got = split_capture(&last(1, &join(&[H, L])), &limits);
    assert!(matches!(
        got[0].as_ref().unwrap_err().kind(),
        CaptureErrorKind::Frame(FrameErrorKind::TooLong { limit: 8 })
    ));
    let limits = CaptureLimits {
        max_frame_text: 100,
        max_message: 12,
    };
    let got = split_capture(&join(&[&mid(1, H), &last(2, L)]), &limits);
    assert!(matches!(
        got[0].as_ref().unwrap_err().kind(),
        CaptureErrorKind::MessageTooLong { limit: 12 }
    ));
    let limits = CaptureLimits {
        max_frame_text: 100,
        max_message: 12,
    };
    let got = split_capture(b"H|\\^&\rP|1|very long patient record\rL|1\r", &limits);
    assert!(matches!(
        got[0].as_ref().unwrap_err().kind(),
        CaptureErrorKind::MessageTooLong { limit: 12 }
    ));
}

#[test]
fn record_text_with_mixed_terminators_and_back_to_back_messages() {
    let bytes = b"\r\nH|\\^&|a\r\n\r\nP|1\n\nL|1|N\r\rH|\\^&|b\rR|1\rL|1\r\n";
    let got = split(bytes);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().unwrap().offset, 2);
    assert_eq!(got[0].as_ref().unwrap().text, b"H|\\^&|a\rP|1\rL|1|N\r");
    assert_eq!(got[1].as_ref().unwrap().text, b"H|\\^&|b\rR|1\rL|1\r");
}

#[test]
fn record_text_errors_have_offsets() {
    let bytes = b"P|0\rH|\\^&|a\rP|1\rH|\\^&|b\rL|1\rQ|1\r";
    let got = split(bytes);
    let kinds: Vec<(usize, String)> = got
        .iter()
        .map(|r| match r {
            Ok(m) => (m.offset, "ok".to_owned()),
            Err(e) => (e.offset(), format!("{:?}", e.kind())),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, "OutsideMessage".to_owned()),
            (4, "MissingTerminator { by: \"next H record\" }".to_owned()),
            (16, "ok".to_owned()),
            (28, "OutsideMessage".to_owned()),
        ]
    );
}

#[test]
fn not_astm_and_empty_inputs() {
    assert!(split(b"").is_empty());
    assert!(split(b"\r\n \n").is_empty());
    // HL7 is not ASTM: "MSH" is not a one-letter record type.
    let got = split(b"MSH|^~\\&|LAB\r");
    assert!(matches!(
        got[0].as_ref().unwrap_err().kind(),
        CaptureErrorKind::NotAstm { .. }
    ));
    let got = split(b"hello world");
    let err = got[0].as_ref().unwrap_err();
    assert!(matches!(err.kind(), CaptureErrorKind::NotAstm { .. }));
    assert!(err.to_string().contains("not ASTM"));
}

#[test]
fn etx_text_without_l_ended_by_eot_is_delivered() {
    // Each frame was ACKed and the sender ended properly: not truncated.
    let bytes = join(&[&[ENQ], &last(1, H), &last(2, P), &[EOT]]);
    assert_eq!(texts(&bytes), vec![join(&[H, P])]);
    // The same ended by a new ENQ (no EOT) is an error.
    let bytes = join(&[&[ENQ], &last(1, H), &last(2, P), &[ENQ]]);
    let got = split(&bytes);
    assert_eq!(
        got[0].as_ref().unwrap_err().kind(),
        &CaptureErrorKind::MissingTerminator { by: "ENQ" }
    );
}
