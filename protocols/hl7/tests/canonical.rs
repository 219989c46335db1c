//! Mapping rules of `message_to_events` on small hand-written messages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_event::{Event, EventKind, Origin};
use labwire_hl7::canonical::{DecodeOptions, MapError, message_to_events};
use labwire_hl7::er7::Hl7Charset;

fn origin() -> Origin {
    Origin {
        site: "site-a".parse().unwrap(),
        instrument: "analyzer-1".parse().unwrap(),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    }
}

fn events(msg: &[u8]) -> Vec<Event> {
    message_to_events(msg, &origin(), &DecodeOptions::default()).unwrap()
}

#[test]
fn observation_fields_follow_the_conventions() {
    let ev = events(
        b"MSH|^~\\&|ANALYZER|LAB|||20260102030405||OUL^R22^OUL_R22|1|P|2.5.1\r\
SPM|1|S-1||SER^Serum\r\
OBR|1\r\
OBX|1|SN|^GLU^L||^182^^|^^mg/dL|70-105|H~A|||F|||20260102030000\r\
OBX|2|NM|K||  4.1  |mmol/L||\"\"|||F||||||||20260102031000\r\
OBX|3|ST|X||a\\S\\b^^c^^|\r",
    );
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e.kind, EventKind::Result);
    assert_eq!(e.message_time.as_deref(), Some("2026-01-02T03:04:05"));
    let s = e.specimen.as_ref().unwrap();
    assert_eq!(
        (s.id.as_deref(), s.specimen_type.as_deref()),
        (Some("S-1"), Some("Serum"))
    );
    let o = &e.observations;
    assert_eq!(o[0].code.as_deref(), Some("GLU"));
    assert_eq!(o[0].test_id.as_deref(), Some("^GLU^L"));
    assert_eq!(o[0].value.as_deref(), Some("^182"));
    assert_eq!(o[0].units.as_deref(), Some("mg/dL"));
    assert_eq!(o[0].flags, ["H", "A"]);
    assert_eq!(o[0].completed_at.as_deref(), Some("2026-01-02T03:00:00"));
    assert_eq!(o[1].value.as_deref(), Some("4.1"));
    assert!(o[1].flags.is_empty(), "the HL7 null is not a flag");
    assert_eq!(
        o[1].completed_at.as_deref(),
        Some("2026-01-02T03:10:00"),
        "OBX-19 fallback"
    );
    assert_eq!(
        o[2].value.as_deref(),
        Some("a^b^^c"),
        "escaped ^ kept, trailing empties dropped"
    );
    assert_eq!(o[2].units, None);
}

#[test]
fn qc_from_specimen_role_or_processing_id() {
    let spm_q = events(b"MSH|^~\\&|A||||||OUL^R22|1|P|2.5.1\rPID|1||P1\rSPM|1|QC-LOT-7||SER|||||||Q\rOBR|1\rOBX|1|NM|GLU||5\r");
    assert_eq!(spm_q[0].kind, EventKind::Qc);
    assert!(spm_q[0].patient.is_none(), "QC events carry no patient");
    let msh_q = events(b"MSH|^~\\&|A||||||ORU^R01|1|Q|2.5.1\rOBR|1\rOBX|1|NM|GLU||5\r");
    assert_eq!(msh_q[0].kind, EventKind::Qc);
    let patient = events(b"MSH|^~\\&|A||||||ORU^R01|1|P|2.5.1\rPID|1||P1||Doe^Jane||19700101|F\rOBR|1\rOBX|1|NM|GLU||5\r");
    assert_eq!(patient[0].kind, EventKind::Result);
    let p = patient[0].patient.as_ref().unwrap();
    assert_eq!(
        (p.id.as_deref(), p.name.as_deref(), p.birth_date.as_deref()),
        (Some("P1"), Some("Doe Jane"), Some("1970-01-01"))
    );
}

#[test]
fn one_event_per_obr_with_stable_distinct_ids() {
    let msg = b"MSH|^~\\&|A||||||ORU^R01|1|P|2.5.1\rOBR|1||F1\rOBX|1|NM|A||1\rNTE|1||first\rOBR|2||F2\rOBX|1|NM|B||2\r";
    let a = events(msg);
    let b = events(msg);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].id, b[0].id);
    assert_ne!(a[0].id, a[1].id);
    assert_eq!(a[0].specimen.as_ref().unwrap().id.as_deref(), Some("F1"));
    assert_eq!(a[1].specimen.as_ref().unwrap().id.as_deref(), Some("F2"));
    assert_eq!(a[0].comments, ["first"]);
    assert!(a[1].comments.is_empty());
    assert_eq!(a[0].raw.as_deref(), Some(std::str::from_utf8(msg).unwrap()));
}

#[test]
fn unsupported_and_malformed_messages_are_errors_with_offsets() {
    let ack = b"MSH|^~\\&|A|B|C|D|2026||ACK^R01^ACK|1|P|2.5.1\rMSA|AA|9\r";
    let err = message_to_events(ack, &origin(), &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(&err, MapError::UnsupportedMessageType { message_type, .. } if message_type == "ACK^R01^ACK")
    );
    assert_eq!(&ack[err.offset()..err.offset() + 3], b"ACK");
    let bad = message_to_events(b"\r\nPID|1\r", &origin(), &DecodeOptions::default()).unwrap_err();
    assert_eq!(bad.offset(), 2);
    assert_eq!(
        bad.to_string(),
        "message does not start with an MSH segment"
    );
}

#[test]
fn charset_from_header_or_override() {
    let latin1 = b"MSH|^~\\&|A||||||ORU^R01|1|P|2.5||||||8859/1\rPID|1||1||M\xfcller\rOBR|1\rOBX|1|ST|C||\xe9\r";
    let e = &events(latin1)[0];
    assert_eq!(e.patient.as_ref().unwrap().name.as_deref(), Some("Müller"));
    assert_eq!(e.observations[0].value.as_deref(), Some("é"));
    let undeclared = b"MSH|^~\\&|A||||||ORU^R01|1|P|2.5\rOBR|1\rOBX|1|ST|C||\x8a\r";
    assert_eq!(
        events(undeclared)[0].observations[0].value.as_deref(),
        Some("Š"),
        "Windows-1252 fallback"
    );
    let forced = DecodeOptions {
        charset: Some(Hl7Charset::Utf8),
        ..DecodeOptions::default()
    };
    let e = &message_to_events(latin1, &origin(), &forced).unwrap()[0];
    assert_eq!(e.observations[0].value.as_deref(), Some("\u{fffd}"));
}

#[test]
fn hex_escape_is_decoded_in_the_message_charset() {
    let msg = b"MSH|^~\\&|A||||||ORU^R01|1|P|2.5||||||UNICODE UTF-8\rOBR|1\rOBX|1|ST|C||caf\\XC3A9\\ \\XZZ\\\r";
    assert_eq!(
        events(msg)[0].observations[0].value.as_deref(),
        Some("café \\XZZ\\")
    );
}

#[test]
fn order_and_query_messages() {
    let orm = events(b"MSH|^~\\&|LIS||||||ORM^O01|1|P|2.3\rPID|1||P1\rORC|NW|ORD1\rOBR|1|ORD1||GLU^Glucose\rORC|NW|ORD2\rOBR|2|ORD2||K^Potassium\r");
    assert_eq!(orm.len(), 2);
    assert!(orm.iter().all(|e| e.kind == EventKind::Order));
    assert_eq!(orm[1].observations[0].code.as_deref(), Some("K"));
    assert_eq!(orm[1].observations[0].value, None);
    let qbp = events(b"MSH|^~\\&|A||||||QBP^Q11^QBP_Q11|1|P|2.5.1\rQPD|WOS^Work Order Step^IHE_LABTF|TAG1|S1~S2\rRCP|I\r");
    let q = qbp[0].query.as_ref().unwrap();
    assert_eq!(qbp[0].kind, EventKind::Query);
    assert_eq!(q.specimen_ids, ["S1", "S2"]);
    assert_eq!(q.query_tag.as_deref(), Some("TAG1"));
}

#[test]
fn invalid_text_is_replaced_or_rejected() {
    let msg = b"MSH|^~\\&|A||||||ORU^R01|1|P|2.5||||||UNICODE UTF-8\rOBR|1\rOBX|1|ST|C||a\xffb\r";
    assert_eq!(
        events(msg)[0].observations[0].value.as_deref(),
        Some("a\u{fffd}b")
    );
    let strict = DecodeOptions {
        reject_invalid_text: true,
        ..DecodeOptions::default()
    };
    let err = message_to_events(msg, &origin(), &strict).unwrap_err();
    assert!(matches!(err, MapError::InvalidText { .. }));
    assert_eq!(msg[err.offset()], 0xff);
}

// Issue 9 item 10: legacy result messages (HL7 v2.1–v2.3 trigger events such as ORU^R03, an
// MSH-9 without a trigger, vendor OUL triggers) with OBR/OBX groups map to results.

/// A v2.2-style result message with this MSH-9.
fn legacy(msh9: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|LEGACY|LAB|||19990101120000||{msh9}|77|P|2.2\r\
         PID|1||P7\r\
         OBR|1||SPEC-9|GLU^Glucose\r\
         OBX|1|NM|GLU^Glucose||5.4|mmol/L|3.9-6.1|N|||F\r"
    )
    .into_bytes()
}

#[test]
fn legacy_and_vendor_result_triggers_map_to_results() {
    for msh9 in [
        "ORU^R03", "ORU^R04", "ORU", "ORU^", "oru^r03", "OUL^R20", "ORU^W01",
    ] {
        let events = message_to_events(&legacy(msh9), &origin(), &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{msh9}: {e}"));
        assert_eq!(events.len(), 1, "{msh9}");
        let ev = &events[0];
        assert_eq!(ev.kind, EventKind::Result, "{msh9}");
        assert_eq!(
            ev.specimen.as_ref().and_then(|s| s.id.as_deref()),
            Some("SPEC-9"),
            "{msh9}"
        );
        assert_eq!(ev.observations.len(), 1, "{msh9}");
        assert_eq!(ev.observations[0].code.as_deref(), Some("GLU"), "{msh9}");
        assert_eq!(ev.observations[0].value.as_deref(), Some("5.4"), "{msh9}");
    }
}

#[test]
fn a_legacy_result_message_without_obr_or_obx_is_still_unsupported() {
    // ORU^R03 as a display-oriented report (DSP segments only): nothing to map, and the
    // sender hears why rather than an AA for an empty result.
    let msg = b"MSH|^~\\&|LEGACY|LAB|||19990101||ORU^R03|78|P|2.2\rDSP|1||GLUCOSE 5.4\r";
    let err = message_to_events(msg, &origin(), &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(&err, MapError::UnsupportedMessageType { message_type, .. } if message_type == "ORU^R03"),
        "{err:?}"
    );
}
