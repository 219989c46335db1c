//! ACK, RSP^K11 and OML^O33 builders against the corpus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_hl7::ack::*;
use labwire_hl7::er7::{Index, Limits, parse};

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/corpus/hl7")
            .join(name),
    )
    .unwrap()
}

fn trim_mllp(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\x0b").unwrap_or(b);
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b'\r' | b'\n' | 0x1c))
        .map_or(0, |p| p + 1);
    &b[..end]
}

#[test]
fn ack_to_ba400_matches_the_lis_reply_in_the_corpus() {
    let oul = corpus("biosystems-ba400-oul-r22-lab29-single-result.hl7");
    let mut idx = Index::new();
    let msg = parse(&oul, &mut idx, &Limits::default()).unwrap();
    assert_eq!(
        AckMode::of(&msg),
        AckMode::Enhanced {
            accept: AckCondition::OnError,
            application: AckCondition::Always
        }
    );
    let due = acks_due(
        AckMode::of(&msg),
        Outcome::Accepted,
        Some(Outcome::Accepted),
    );
    assert_eq!(
        due,
        AcksDue {
            commit: None,
            application: Some(AckCode::AA)
        }
    );
    let opts = AckOptions {
        control_id: "29401".into(),
        timestamp: "20230511164516.31+0530".into(),
        ..AckOptions::default()
    };
    let ack = build_ack(&msg, AckCode::AA, &opts).unwrap();
    let expected = corpus("lis-hmislk-ack-r22-to-ba400.hl7");
    assert_eq!(
        String::from_utf8_lossy(trim_mllp(&ack)),
        String::from_utf8_lossy(trim_mllp(&expected))
    );
}

#[test]
fn mindray_dialect_matches_the_manual() {
    let oru = corpus("mindray-cl-series-oru-r01-patient-result-mllp-converted.hl7");
    let body = trim_mllp(&oru);
    let mut idx = Index::new();
    let msg = parse(body, &mut idx, &Limits::default()).unwrap();
    // Mindray's MSH-16 "0" is not a table 0155 value: original mode.
    assert_eq!(AckMode::of(&msg), AckMode::Original);
    let opts = AckOptions {
        control_id: "1".into(),
        timestamp: "20120508094823".into(),
        dialect: AckDialect::Mindray { error_code: 0 },
        ..AckOptions::default()
    };
    let ack = build_ack(&msg, AckCode::AA, &opts).unwrap();
    // The manual's ACK^R01 (mindray-cl-series-ack-r01-aa-textual.hl7) in bytes.
    assert_eq!(
        String::from_utf8(ack).unwrap(),
        "MSH|^~\\&|||||20120508094823||ACK^R01|1|P|2.3.1||||0||ASCII|||\rMSA|AA|1|Message accepted|||0|\r"
    );
}

#[test]
fn err_segment_names_location_code_severity_and_text() {
    let mut idx = Index::new();
    let msg = parse(
        b"MSH|^~\\&|LAB|HOSP|LIS|HOSP|20260101||ORU^R01|42|P|2.5.1\rPID|1\r",
        &mut idx,
        &Limits::default(),
    )
    .unwrap();
    let opts = AckOptions {
        control_id: "7".into(),
        timestamp: "20260101000000".into(),
        errors: vec![AckError {
            location: Some(ErrorLocation {
                segment: "PID".into(),
                sequence: 1,
                field: Some(3),
                repetition: Some(1),
                component: Some(1),
                subcomponent: None,
            }),
            code: ErrorCode::RequiredFieldMissing,
            severity: Severity::Error,
            message: Some("patient id | missing".into()),
        }],
        ..AckOptions::default()
    };
    let ack = String::from_utf8(build_ack(&msg, AckCode::AE, &opts).unwrap()).unwrap();
    assert_eq!(
        ack,
        "MSH|^~\\&|LIS|HOSP|LAB|HOSP|20260101000000||ACK^R01^ACK|7|P|2.5.1\rMSA|AE|42\r\
         ERR||PID^1^3^1^1|101^Required field missing^HL70357|E||||patient id \\F\\ missing\r"
    );
}

#[test]
fn ack_for_a_header_without_escape_character() {
    let mut idx = Index::new();
    let msg = parse(
        b"MSH|^~&|A|B|C|D|20080818||ORU^R01^ORU_R01|1234567890|P^T|2.5.1\r",
        &mut idx,
        &Limits::default(),
    )
    .unwrap();
    let opts = AckOptions {
        control_id: "1".into(),
        timestamp: "2026".into(),
        ..AckOptions::default()
    };
    let ack = String::from_utf8(build_ack(&msg, AckCode::AA, &opts).unwrap()).unwrap();
    assert_eq!(
        ack,
        "MSH|^~\\&|C|D|A|B|2026||ACK^R01^ACK|1|P^T|2.5.1\rMSA|AA|1234567890\r"
    );
}

fn header() -> Header {
    Header {
        sending_application: "LABWIRE".into(),
        sending_facility: "LAB".into(),
        receiving_application: "BA400".into(),
        receiving_facility: "Biosystems".into(),
        timestamp: "20230511180308".into(),
        control_id: "900".into(),
        processing_id: "P".into(),
        version: "2.5.1".into(),
    }
}

fn order() -> SpecimenOrder {
    SpecimenOrder {
        patient: Some(labwire_event::Patient {
            id: Some("P1".into()),
            name: Some("Doe Jane".into()),
            birth_date: Some("1962-08-24".into()),
            sex: Some("F".into()),
        }),
        specimen_id: "32971968".into(),
        specimen_type: Some("SER".into()),
        placer_order_number: Some("ORD1".into()),
        tests: vec![
            OrderedTest {
                code: "ALT-GPT".into(),
                name: Some("ALT-GPT".into()),
                coding_system: Some("A400".into()),
            },
            OrderedTest {
                code: "CRP".into(),
                name: None,
                coding_system: None,
            },
        ],
    }
}

#[test]
fn rsp_k11_answers_the_ba400_query_and_reads_back_as_orders() {
    let q = corpus("biosystems-ba400-qbp-q11-lab27-query.hl7");
    let mut idx = Index::new();
    let query = parse(&q, &mut idx, &Limits::default()).unwrap();
    let rsp = build_rsp_k11(&query, &header(), Some(&order())).unwrap();
    let text = String::from_utf8(rsp.clone()).unwrap();
    assert!(text.starts_with("MSH|^~\\&|LABWIRE|LAB|BA400|Biosystems|20230511180308||RSP^K11^RSP_K11|900|P|2.5.1|||||||||LAB-27^IHE\r"), "{text}");
    assert!(text.contains("\rMSA|AA|105c0474-b00b-4c72-8492-fba65c1563d6\rQAK|105c0474b00b4c728492fba65c1563d6|OK|WOS^Work Order Step^IHE_LABTF\rQPD|WOS^Work Order Step^IHE_LABTF|105c0474b00b4c728492fba65c1563d6|32971968\r"), "{text}");
    assert!(text.contains("\rPID|1||P1||Doe Jane||19620824|F\rSPM|1|32971968||SER\rORC|NW|ORD1\rOBR|1|ORD1||ALT-GPT^ALT-GPT^A400\rORC|NW|ORD1\rOBR|2|ORD1||CRP\r"), "{text}");
    // The mapping reads it back as order events.
    let origin = labwire_event::Origin {
        site: "site-a".parse().unwrap(),
        instrument: "ba400".parse().unwrap(),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    let events =
        labwire_hl7::canonical::message_to_events(&rsp, &origin, &Default::default()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].specimen.as_ref().unwrap().id.as_deref(),
        Some("32971968")
    );
    assert_eq!(events[1].observations[0].code.as_deref(), Some("CRP"));

    let none = String::from_utf8(build_rsp_k11(&query, &header(), None).unwrap()).unwrap();
    assert!(none.contains("|NF|"), "{none}");
    assert!(!none.contains("SPM"));
}

#[test]
fn oml_o33_round_trips_through_the_mapping() {
    let oml = build_oml_o33(&header(), &order()).unwrap();
    let origin = labwire_event::Origin {
        site: "site-a".parse().unwrap(),
        instrument: "ba400".parse().unwrap(),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    let events =
        labwire_hl7::canonical::message_to_events(&oml, &origin, &Default::default()).unwrap();
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(e.kind, labwire_event::EventKind::Order);
    assert_eq!(
        e.patient.as_ref().unwrap().birth_date.as_deref(),
        Some("1962-08-24")
    );
    assert_eq!(
        e.specimen.as_ref().unwrap().specimen_type.as_deref(),
        Some("SER")
    );
    assert_eq!(
        e.observations[0].test_id.as_deref(),
        Some("ALT-GPT^ALT-GPT^A400")
    );
}
