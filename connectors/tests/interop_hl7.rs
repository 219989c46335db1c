#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Interop with an independent HL7 implementation: python-hl7 (PyPI `hl7`, pinned in
//! `tests/interop/requirements.txt`, installed by `scripts/install-deps`).
//!
//! * python-hl7's `MLLPClient` sends corpus messages to labwire's HL7 listener over real TCP; its
//!   parser reads labwire's ACKs.
//! * python-hl7 parses messages labwire's builders encode (ACK with ERR, RSP^K11).

mod common;
mod interop;

use common::*;
use interop::{run, run_json, text};
use labwire_connectors::MemoryIngest;
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::transport::OnSecondConnection;
use labwire_event::{EventKind, Patient};
use labwire_hl7::ack::{
    AckCode, AckError, AckOptions, ErrorCode, ErrorLocation, Header, OrderedTest, Severity,
    SpecimenOrder, build_ack, build_rsp_k11,
};
use labwire_hl7::er7::{Index, Limits, parse};
use serde_json::Value;
use std::time::Duration;

const PEER: Duration = Duration::from_secs(10);

fn corpus(name: &str) -> String {
    format!(
        "{}/../testdata/corpus/hl7/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test]
async fn python_hl7_mllp_client_gets_aa_for_corpus_results_and_they_reach_the_ingest() {
    let ingest = MemoryIngest::new();
    let (transport, addr) = tcp_server(&[], OnSecondConnection::Refuse).await;
    let mut config = Hl7Config::default();
    config.framer.frame_timeout = Duration::from_millis(400);
    let c = spawn(
        Hl7Connector::new(config),
        transport,
        context(ingest.clone(), "ba400-interop"),
    );

    let files = [
        corpus("biosystems-ba400-oul-r22-four-obr-groups.hl7"),
        corpus("nist-oru-r01-v251-elr-testcase1.hl7"),
    ];
    let port = addr.port().to_string();
    let mut args = vec!["127.0.0.1", port.as_str()];
    args.extend(files.iter().map(String::as_str));
    let out = run("hl7_send.py", &args, b"", PEER).await;
    let replies: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 2, "{out}");
    let expected_ids = [
        "a8b7f35d-91d3-49eb-8b4f-bfb76d048f77",
        "NIST-100929110701660",
    ];
    for (reply, id) in replies.iter().zip(expected_ids) {
        assert!(reply.get("error").is_none(), "{reply}");
        assert_eq!(text(reply, "/sent_control_id"), id, "{reply}");
        assert_eq!(text(reply, "/msa1"), "AA", "{reply}");
        assert_eq!(text(reply, "/msa2"), id, "{reply}");
        assert!(text(reply, "/msh9").starts_with("ACK"), "{reply}");
    }
    assert_eq!(text(&replies[0], "/msh9"), "ACK^R22^ACK");
    assert_eq!(text(&replies[1], "/msh9"), "ACK^R01^ACK");

    // Stored before the ACK was written: no waiting.
    let results = ingest.of_kind(EventKind::Result);
    let specimens: Vec<_> = results
        .iter()
        .map(|e| e.specimen.as_ref().and_then(|s| s.id.clone()))
        .collect();
    let mut want = vec![Some("KANCHANA32989054".to_owned()); 4];
    want.push(Some("9700123".to_owned()));
    assert_eq!(specimens, want, "{:#?}", summary(&results));
    let codes: Vec<_> = results
        .iter()
        .flat_map(|e| e.observations.iter().filter_map(|o| o.code.clone()))
        .collect();
    assert_eq!(
        codes,
        [
            "ALT-GPT",
            "AST-GOT",
            "CHOL HDL DIRECT",
            "CHOLESTEROL",
            "10368-9"
        ]
    );
    assert_eq!(
        results[4].patient.as_ref().and_then(|p| p.id.as_deref()),
        Some("9817566735")
    );
    assert_eq!(c.health.snapshot().messages, 2);
    c.stop().await;
}

/// Fields of `message` as python-hl7 reads them.
async fn python_fields(message: &[u8], keys: &[&str]) -> Value {
    run_json("hl7_parse.py", keys, message, PEER).await
}

#[tokio::test]
async fn python_hl7_parses_labwires_ack_with_an_escaped_text_and_an_err_segment() {
    let inbound = b"MSH|^~\\&|BA400|Biosystems|Host|Lab|20261126101500||OUL^R22^OUL_R22|CTRL-7|P|2.5.1\rSPM|1|S1||SER\r";
    let mut index = Index::new();
    let msg = parse(inbound, &mut index, &Limits::default()).unwrap();
    let opts = AckOptions {
        control_id: "ACK-1".into(),
        timestamp: "20261126101501+0000".into(),
        text: Some("bad value | in ^ field & more".into()),
        errors: vec![AckError {
            location: Some(ErrorLocation {
                segment: "OBX".into(),
                sequence: 2,
                field: Some(5),
                repetition: None,
                component: None,
                subcomponent: None,
            }),
            code: ErrorCode::DataTypeError,
            severity: Severity::Error,
            message: Some("not a number".into()),
        }],
        ..AckOptions::default()
    };
    let ack = build_ack(&msg, AckCode::AE, &opts).unwrap();
    let got = python_fields(
        &ack,
        &[
            "MSH.F3",
            "MSH.F4",
            "MSH.F5",
            "MSH.F6",
            "MSH.F7",
            "MSH.F9.R1.C1",
            "MSH.F9.R1.C2",
            "MSH.F9.R1.C3",
            "MSH.F10",
            "MSH.F11",
            "MSH.F12",
            "MSA.F1",
            "MSA.F2",
            "MSA.F3",
            "ERR.F2.R1.C1",
            "ERR.F2.R1.C2",
            "ERR.F2.R1.C3",
            "ERR.F3.R1.C1",
            "ERR.F4",
            "ERR.F8",
        ],
    )
    .await;
    let f = |k: &str| text(&got, &format!("/fields/{k}")).to_owned();
    assert_eq!(
        got["segments"],
        serde_json::json!(["MSH", "MSA", "ERR"]),
        "{got}"
    );
    assert_eq!(
        [f("MSH.F3"), f("MSH.F4"), f("MSH.F5"), f("MSH.F6")],
        ["Host", "Lab", "BA400", "Biosystems"]
    );
    assert_eq!(f("MSH.F7"), "20261126101501+0000");
    assert_eq!(
        [f("MSH.F9.R1.C1"), f("MSH.F9.R1.C2"), f("MSH.F9.R1.C3")],
        ["ACK", "R22", "ACK"]
    );
    assert_eq!(
        [f("MSH.F10"), f("MSH.F11"), f("MSH.F12")],
        ["ACK-1", "P", "2.5.1"]
    );
    assert_eq!([f("MSA.F1"), f("MSA.F2")], ["AE", "CTRL-7"]);
    // python-hl7 unescapes \F\ \S\ \T\ through its accessor: the text comes back whole.
    assert_eq!(f("MSA.F3"), "bad value | in ^ field & more");
    assert_eq!(
        [f("ERR.F2.R1.C1"), f("ERR.F2.R1.C2"), f("ERR.F2.R1.C3")],
        ["OBX", "2", "5"]
    );
    assert_eq!([f("ERR.F3.R1.C1"), f("ERR.F4")], ["102", "E"]);
    assert_eq!(f("ERR.F8"), "not a number");
}

#[tokio::test]
async fn python_hl7_parses_labwires_rsp_k11_answer_to_a_work_order_query() {
    let query = b"MSH|^~\\&|BA400|Biosystems|Host|Lab|20261126101500||QBP^Q11^QBP_Q11|Q-42|P|2.5.1|||ER|AL\rQPD|WOS^Work Order Step^IHE_LABTF|QT42|S-77\rRCP|I||R\r";
    let mut index = Index::new();
    let msg = parse(query, &mut index, &Limits::default()).unwrap();
    let header = Header {
        sending_application: "labwire".into(),
        sending_facility: "Site A".into(),
        receiving_application: "BA400".into(),
        receiving_facility: "Biosystems".into(),
        timestamp: "20261126101502".into(),
        control_id: "RSP-9".into(),
        processing_id: "P".into(),
        version: "2.5.1".into(),
    };
    let order = SpecimenOrder {
        patient: Some(Patient {
            id: Some("PID-1".into()),
            name: Some("Doe John".into()),
            birth_date: Some("1962-08-24".into()),
            sex: Some("M".into()),
        }),
        specimen_id: "S-77".into(),
        specimen_type: Some("SER".into()),
        placer_order_number: Some("PO-1".into()),
        tests: vec![
            OrderedTest {
                code: "GLU".into(),
                name: Some("Glucose".into()),
                coding_system: Some("A400".into()),
            },
            OrderedTest {
                code: "ALT-GPT".into(),
                name: None,
                coding_system: None,
            },
        ],
    };
    let rsp = build_rsp_k11(&msg, &header, Some(&order)).unwrap();
    let got = python_fields(
        &rsp,
        &[
            "MSH.F9.R1.C1",
            "MSH.F9.R1.C2",
            "MSH.F9.R1.C3",
            "MSH.F10",
            "MSH.F21.R1.C1",
            "MSA.F1",
            "MSA.F2",
            "QAK.F1",
            "QAK.F2",
            "QAK.F3.R1.C1",
            "QPD.F1.R1.C2",
            "QPD.F2",
            "QPD.F3",
            "PID.F3",
            "PID.F5",
            "PID.F7",
            "PID.F8",
            "SPM.F2",
            "SPM.F4",
            "ORC.F1",
            "ORC2.F2",
            "OBR.F1",
            "OBR.F4.R1.C1",
            "OBR.F4.R1.C2",
            "OBR.F4.R1.C3",
            "OBR2.F1",
            "OBR2.F2",
            "OBR2.F4.R1.C1",
        ],
    )
    .await;
    let f = |k: &str| text(&got, &format!("/fields/{k}")).to_owned();
    assert_eq!(
        got["segments"],
        serde_json::json!([
            "MSH", "MSA", "QAK", "QPD", "PID", "SPM", "ORC", "OBR", "ORC", "OBR"
        ]),
        "{got}"
    );
    assert_eq!(
        [f("MSH.F9.R1.C1"), f("MSH.F9.R1.C2"), f("MSH.F9.R1.C3")],
        ["RSP", "K11", "RSP_K11"]
    );
    assert_eq!([f("MSH.F10"), f("MSH.F21.R1.C1")], ["RSP-9", "LAB-27"]);
    assert_eq!([f("MSA.F1"), f("MSA.F2")], ["AA", "Q-42"]);
    assert_eq!(
        [f("QAK.F1"), f("QAK.F2"), f("QAK.F3.R1.C1")],
        ["QT42", "OK", "WOS"]
    );
    assert_eq!(
        [f("QPD.F1.R1.C2"), f("QPD.F2"), f("QPD.F3")],
        ["Work Order Step", "QT42", "S-77"]
    );
    assert_eq!(
        [f("PID.F3"), f("PID.F5"), f("PID.F7"), f("PID.F8")],
        ["PID-1", "Doe John", "19620824", "M"]
    );
    assert_eq!([f("SPM.F2"), f("SPM.F4")], ["S-77", "SER"]);
    assert_eq!([f("ORC.F1"), f("ORC2.F2")], ["NW", "PO-1"]);
    assert_eq!(
        [
            f("OBR.F1"),
            f("OBR.F4.R1.C1"),
            f("OBR.F4.R1.C2"),
            f("OBR.F4.R1.C3")
        ],
        ["1", "GLU", "Glucose", "A400"]
    );
    assert_eq!(
        [f("OBR2.F1"), f("OBR2.F2"), f("OBR2.F4.R1.C1")],
        ["2", "PO-1", "ALT-GPT"]
    );
}

/// Messages with the delimiters a sender chose (`#` `$`), without a subcomponent separator, and
/// with an escaped `|` in MSH-10: labwire's ACK must echo them so python-hl7 reads them back.
#[tokio::test]
async fn python_hl7_reads_acks_to_unusual_delimiters_and_escaped_control_ids() {
    let messages = [
        "MSH#$~\\&#BA400#Bio#Host#Lab#20261126101500##OUL$R22$OUL_R22#D1#P#2.5.1\rSPM#1#S1##SER\rOBR####GLU$Glucose$A400\rOBX#1#NM#GLU$Glucose$A400##5.4#mmol/L##N###F\r",
        "MSH|^~\\|BA400|Bio|Host|Lab|20261126101500||OUL^R22^OUL_R22|D2|P|2.5.1\rSPM|1|S2||SER\rOBR||||GLU^Glucose^A400\rOBX|1|NM|GLU^Glucose^A400||5.4|mmol/L||N|||F\r",
        "MSH|^~\\&|BA400|Bio|Host|Lab|20261126101500||OUL^R22^OUL_R22|D3\\F\\x|P|2.5.1\rSPM|1|S3||SER\rOBR||||GLU^Glucose^A400\rOBX|1|NM|GLU^Glucose^A400||5.4|mmol/L||N|||F\r",
    ];
    let dir = std::env::temp_dir().join(format!("labwire-interop-hl7-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = dir.join(format!("m{i}.hl7"));
            std::fs::write(&path, m).unwrap();
            path.display().to_string()
        })
        .collect();

    let ingest = MemoryIngest::new();
    let (transport, addr) = tcp_server(&[], OnSecondConnection::Refuse).await;
    let c = spawn(
        Hl7Connector::new(Hl7Config::default()),
        transport,
        context(ingest.clone(), "ba400-delims"),
    );
    let port = addr.port().to_string();
    let mut args = vec!["127.0.0.1", port.as_str()];
    args.extend(files.iter().map(String::as_str));
    let out = run("hl7_send.py", &args, b"", PEER).await;
    std::fs::remove_dir_all(&dir).unwrap();
    let replies: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<_> = replies
        .iter()
        .map(|r| {
            assert!(r.get("error").is_none(), "{r}");
            (text(r, "/msh9"), text(r, "/msa1"), text(r, "/msa2"))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ACK$R22$ACK", "AA", "D1"),
            ("ACK^R22^ACK", "AA", "D2"),
            ("ACK^R22^ACK", "AA", "D3|x"),
        ]
    );
    let specimens: Vec<_> = ingest
        .of_kind(EventKind::Result)
        .iter()
        .map(|e| e.specimen.as_ref().and_then(|s| s.id.clone()).unwrap())
        .collect();
    assert_eq!(specimens, ["S1", "S2", "S3"]);
    c.stop().await;
}
