//! Every file of `testdata/corpus/astm/` through `split_capture`, with the
//! expected outcome checked by hand against the bytes (frame lengths,
//! checksums, line counts) — see the comment on each entry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_astm::capture::{CaptureErrorKind, CaptureLimits, split_capture};
use labwire_astm::link::FrameErrorKind;

fn corpus(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../testdata/corpus/astm/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Expected outcome of one message slot.
enum Want {
    /// A message at `offset` with `len` text bytes, ending with `L` record.
    Msg { offset: usize, len: usize },
    /// A message whose text is exactly this.
    Text { offset: usize, text: &'static [u8] },
    /// An error at `offset` whose kind matches.
    Err {
        offset: usize,
        kind: fn(&CaptureErrorKind) -> bool,
    },
}
use Want::*;

fn check(name: &str, want: &[Want]) {
    let got = split_capture(&corpus(name), &CaptureLimits::default());
    assert_eq!(got.len(), want.len(), "{name}: {got:#?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w) {
            (Ok(m), Msg { offset, len }) => {
                assert_eq!((m.offset, m.text.len()), (*offset, *len), "{name} #{i}");
                assert!(m.text.starts_with(b"H"), "{name} #{i}");
                let last = m.text.rsplit(|&b| b == b'\r').nth(1).unwrap();
                assert!(last.starts_with(b"L"), "{name} #{i}: {last:?}");
                assert!(!m.text.contains(&b'\n'), "{name} #{i}: LF left in text");
            }
            (Ok(m), Text { offset, text }) => {
                assert_eq!(
                    (m.offset, m.text.as_slice()),
                    (*offset, *text),
                    "{name} #{i}"
                );
            }
            (Err(e), Err { offset, kind }) => {
                assert_eq!(e.offset(), *offset, "{name} #{i}: {e}");
                assert!(
                    kind(e.kind()),
                    "{name} #{i}: unexpected kind {:?}",
                    e.kind()
                );
                assert!(!e.to_string().is_empty());
            }
            _ => panic!("{name} #{i}: got {g:?}"),
        }
    }
}

fn textual(k: &CaptureErrorKind) -> bool {
    matches!(k, CaptureErrorKind::TextualNotation { .. })
}
fn bad_fn(k: &CaptureErrorKind) -> bool {
    matches!(
        k,
        CaptureErrorKind::Frame(FrameErrorKind::BadFrameNumber { .. })
    )
}

// ---- single E1381 frames -------------------------------------------------

#[test]
fn afinion_single_frame_ending_after_cr() {
    // One frame, 182 text bytes (188 - STX FN ETX C1 C2 CR), file ends after CR.
    check(
        "abbott-afinion2-hba1c-single-frame.astm",
        &[Msg {
            offset: 0,
            len: 182,
        }],
    );
}

#[test]
fn big_single_frames() {
    // Text = frame length minus STX FN ETX C1 C2 and the trailer (CR LF or CR).
    check(
        "roche-cobas-c311-result-single-619byte-frame.astm",
        &[Msg {
            offset: 0,
            len: 617,
        }],
    );
    check(
        "siemens-dca-vantage-albumin-creatinine-single-frame.astm",
        &[Msg {
            offset: 0,
            len: 300,
        }],
    );
    check(
        "sysmex-xn550-cbc-single-2609byte-frame.astm",
        &[Msg {
            offset: 0,
            len: 2607,
        }],
    );
}

#[test]
fn erba_enq_frame_eot() {
    // ENQ at 0, STX at 1; 198 - ENQ STX FN ETX DC CR LF EOT = 189 (and 193).
    check(
        "erba-xl1000-result-backtick-repeat-delimiter.astm",
        &[Msg {
            offset: 1,
            len: 189,
        }],
    );
    check(
        "erba-xl1000-result-flag-list.astm",
        &[Msg {
            offset: 1,
            len: 193,
        }],
    );
}

#[test]
fn vitros_records_with_frame_digits_inside_one_frame() {
    // One frame whose records after H carry "2P", "3O", "4L": 149 and 135
    // text bytes minus the three digits.
    check(
        "ortho-vitros-3600-lis-order-nopid-noname.astm",
        &[Msg {
            offset: 0,
            len: 146,
        }],
    );
    let got = split_capture(
        &corpus("ortho-vitros-3600-order-all-records-one-frame.astm"),
        &CaptureLimits::default(),
    );
    let text = &got[0].as_ref().unwrap().text;
    assert_eq!(text.len(), 132);
    assert!(text.windows(3).any(|w| w == b"\rP|"));
    assert!(text.ends_with(b"\rL|1|N\r"));
}

// ---- multi-frame transfers ----------------------------------------------

#[test]
fn vitros_sessions_record_per_frame_with_wrap() {
    // 3 ETX frames: 45 + 27 + 6 text bytes.
    check(
        "ortho-vitros-3600-host-query.astm",
        &[Msg { offset: 1, len: 78 }],
    );
    // 9 ETX frames FN 1..7,0,1: 45+4+84+94+84+76+75+76+6 = 544.
    check(
        "ortho-vitros-3600-result-session.astm",
        &[Msg {
            offset: 1,
            len: 544,
        }],
    );
}

#[test]
fn yumizen_125_frame_session_is_one_message() {
    // 125 frames (89 ETB, 36 ETX), FN in sequence, one H and one L; joined
    // text is 24,639 bytes (counted with a separate script).
    check(
        "horiba-yumizen-h500-session-enq-etb-eot-125-frames.astm",
        &[Msg {
            offset: 1,
            len: 24_639,
        }],
    );
}

#[test]
fn yumizen_qc_frame_numbers_restart_mid_message() {
    // Frames 1..5 then FN 1 at byte 279 (expected 6): rejected, rest skipped
    // because no later frame starts a new message with H.
    check(
        "horiba-yumizen-h500-qc-histograms-26kb-frame.astm",
        &[Err {
            offset: 279,
            kind: |k| {
                matches!(
                    k,
                    CaptureErrorKind::OutOfSequence {
                        expected: 6,
                        found: 1
                    }
                )
            },
        }],
    );
}

#[test]
fn python_astm_vectors() {
    check(
        "synthetic-python-astm-bad-checksum.astm",
        &[Err {
            offset: 0,
            kind: |k| {
                matches!(
                    k,
                    CaptureErrorKind::Frame(FrameErrorKind::ChecksumMismatch {
                        received: 0x00,
                        computed: 0xBF
                    })
                )
            },
        }],
    );
    check(
        "synthetic-python-astm-cp1251-nonascii-frame.astm",
        &[Text {
            offset: 0,
            text: b"\xc9|\xd6|\xd3|\xca\r",
        }],
    );
    check(
        "synthetic-python-astm-etb-chunked-14byte-frames.astm",
        &[Text {
            offset: 0,
            text: b"foo|1\rbar|24\rbaz|1^2^3|boo\r",
        }],
    );
    // Not E1394 messages (no H), so every ETX frame is a message; 10 frames of 9 bytes.
    let want: Vec<Want> = (0..10)
        .map(|i| Text {
            offset: i * 9,
            text: &b"A\rB\rC\rD\rE\rF\rG\rH\rI\rJ\r"[i * 2..i * 2 + 2],
        })
        .collect();
    check("synthetic-python-astm-frame-number-wrap.astm", &want);
}

// ---- bare record text ---------------------------------------------------

#[test]
fn record_text_files() {
    // len = bytes - terminators + one CR per record.
    check(
        "biorad-ih1000-ihcom-bloodgroup-result.astm",
        &[Msg {
            offset: 0,
            len: 1120 - 11 + 12,
        }],
    );
    check(
        "biorad-ih1000-ihcom-two-patient-groups.astm",
        &[Msg {
            offset: 0,
            len: 1455 - 14 + 15,
        }],
    );
    check(
        "cepheid-genexpert-hiv-vl-above-range-docexample.astm",
        &[Msg {
            offset: 0,
            len: 945,
        }],
    );
    check(
        "cepheid-genexpert-hiv-vl-error-docexample.astm",
        &[Msg {
            offset: 0,
            len: 1173,
        }],
    );
    check(
        "cepheid-genexpert-xpress-covflursv-negative-docexample.astm",
        &[Msg {
            offset: 0,
            len: 2151,
        }],
    );
    check(
        "euroimmun-analyzer1-sarscov2-multi-patient-lf.astm",
        &[Msg {
            offset: 0,
            len: 1793 - 61 + 62,
        }],
    );
    check(
        "horiba-yumizen-h550-double-backslash-header.astm",
        &[Msg {
            offset: 0,
            len: 14_589 - 26 + 27,
        }],
    );
    check(
        "horiba-yumizen-h550-qc-four-m-records-base64.astm",
        &[Msg {
            offset: 0,
            len: 17_242 - 28 + 29,
        }],
    );
    check(
        "horiba-yumizen-h550-result-pathology-flags.astm",
        &[Msg {
            offset: 0,
            len: 1064 - 9 + 10,
        }],
    );
    check(
        "immucor-galileo-echo-abo-screen-result.astm",
        &[Msg {
            offset: 0,
            len: 1035 - 18 + 19,
        }],
    );
    // Ends "L|1|N " (trailing space kept).
    check(
        "immucor-galileo-echo-crossmatch-order.astm",
        &[Msg {
            offset: 0,
            len: 164 - 4 + 5,
        }],
    );
    check(
        "immucor-rvt-query-five-q-records.astm",
        &[Msg {
            offset: 0,
            len: 150 - 6 + 7,
        }],
    );
    check(
        "immucor-rvt-two-orders-one-patient-cr.astm",
        &[Msg {
            offset: 0,
            len: 482,
        }],
    );
    // Trailing LF: one LF per record; bare "L" and "L||" terminators.
    check(
        "ortho-vision-abo-rh-with-m-image-records.astm",
        &[Msg {
            offset: 0,
            len: 917,
        }],
    );
    check(
        "ortho-vision-patient-name-iso8859-1-lossy.astm",
        &[Msg {
            offset: 0,
            len: 344,
        }],
    );
    check(
        "ortho-vision-patient-name-utf8.astm",
        &[Msg {
            offset: 0,
            len: 348,
        }],
    );
}

#[test]
fn snibe_log_lines_lose_their_frame_digits() {
    let got = split_capture(
        &corpus("snibe-maglumi-x3-host-query-loglines-textonly.astm"),
        &CaptureLimits::default(),
    );
    assert_eq!(got.len(), 1);
    let msg = got[0].as_ref().unwrap();
    assert_eq!(
        msg.text,
        b"H|\\^&|||1^Analyzer 1^7.0|||||||P||20240805051727\rQ|1|^2240801063^^||^^^ALL^||||||||O\rL|1|N\r"
    );
}

// ---- rejected -----------------------------------------------------------

#[test]
fn textual_notation_is_rejected() {
    // Mindray manual excerpts: first placeholder "<ENQ>" at 64 and 109.
    check(
        "mindray-cl-series-query-and-download-textual.astm",
        &[Err {
            offset: 64,
            kind: textual,
        }],
    );
    check(
        "mindray-cl-series-result-session-textual.astm",
        &[Err {
            offset: 109,
            kind: textual,
        }],
    );
    // Erba file written with caret notation "^E^B1H|..." and "^C3A".
    check(
        "erba-xl1000-multisample-query-malformed-lf.astm",
        &[Err {
            offset: 0,
            kind: textual,
        }],
    );
}

#[test]
fn vendor_native_framings_are_not_astm() {
    // STX RS…: 0x1E where FN belongs.
    check(
        "biomerieux-minividas-native-protocol-NOT-ASTM.astm",
        &[Err {
            offset: 0,
            kind: bad_fn,
        }],
    );
    // STX 'C' FS… and STX 'R' FS… (the host reply STX 'M' at 112 is skipped).
    check(
        "siemens-dimension-native-calibration-frame-NOT-ASTM.astm",
        &[Err {
            offset: 0,
            kind: bad_fn,
        }],
    );
    check(
        "siemens-dimension-native-result-frame-and-host-ack-NOT-ASTM.astm",
        &[Err {
            offset: 0,
            kind: bad_fn,
        }],
    );
    // STX '2' fixed-width text ETX LF: no checksum digits.
    check(
        "arkray-spotchem-el-native-printout-NOT-ASTM.astm",
        &[Err {
            offset: 0,
            kind: |k| {
                matches!(
                    k,
                    CaptureErrorKind::Frame(FrameErrorKind::MalformedChecksum { found: b'\n' })
                )
            },
        }],
    );
}

#[test]
fn every_corpus_file_is_covered() {
    let src = include_str!("capture_corpus.rs");
    let dir = format!("{}/../../testdata/corpus/astm", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            src.contains(&format!("\"{name}\"")),
            "{name} has no expectation"
        );
    }
}
