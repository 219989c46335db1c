#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Interop with an independent ASTM implementation: python-astm (PyPI `astm-2025`, the Python 3
//! port of python-astm 0.5.0; pinned in `tests/interop/requirements.txt`, installed by
//! `scripts/install-deps`).
//!
//! * python-astm's `Client` (its own ENQ/EOT handling, framing and checksums) sends results to
//!   labwire's ASTM listener over real TCP, one record per frame and as one message cut into ETB
//!   frames.
//! * python-astm's codec decodes frames labwire's encoder builds and checks their checksums.
//! * python-astm's `RequestHandler` receives an order download labwire sends as the host.

mod common;
mod interop;

use common::*;
use interop::{run_json, text};
use labwire_astm::link::{EncodeOptions, FrameNumber, encode_message};
use labwire_connectors::MemoryIngest;
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::transport::OnSecondConnection;
use labwire_event::{Event, EventKind};
use serde_json::{Value, json};
use std::time::Duration;

const PEER: Duration = Duration::from_secs(15);
const ENQ: &str = "\u{5}";
const ACK: &str = "\u{6}";
const STX: char = '\u{2}';

/// The records python-astm sends, as its codec takes them (lists are components).
fn records() -> Value {
    json!([
        [
            "H",
            "\\^&",
            null,
            null,
            ["c311", "1.0"],
            null,
            null,
            null,
            null,
            null,
            null,
            "P",
            "LIS2-A2",
            "20261126101500"
        ],
        ["P", "1", null, "PID1", null, ["Müller", "Jürgen"]],
        ["O", "1", "S1", null, [null, null, null, "GLU"], "R"],
        [
            "R",
            "1",
            [null, null, null, "GLU"],
            "5.4",
            "mmol/L",
            "3.9-6.1",
            "N",
            null,
            "F"
        ],
        [
            "R",
            "2",
            [null, null, null, "ALT"],
            "25",
            "U/L",
            "0-40",
            "N",
            null,
            "F"
        ],
        ["L", "1", "N"]
    ])
}

async fn send_with_python_astm(name: &str, extra: &[&str]) -> (Value, Vec<Event>) {
    let ingest = MemoryIngest::new();
    let (transport, addr) = tcp_server(&["127.0.0.1"], OnSecondConnection::Refuse).await;
    let mut config = AstmConfig::default();
    config.link.receiver_timeout = Duration::from_secs(2);
    let c = spawn(
        AstmConnector::new(config),
        transport,
        context(ingest.clone(), name),
    );
    let port = addr.port().to_string();
    let mut args = vec!["127.0.0.1", port.as_str()];
    args.extend_from_slice(extra);
    let stdin = serde_json::to_vec(&records()).unwrap();
    let wire = run_json("astm_send.py", &args, &stdin, PEER).await;
    eprintln!("python-astm's side of the conversation: {wire}");
    wait_until(&ingest, "the result", |e| {
        e.iter().any(|e| e.kind == EventKind::Result)
    })
    .await;
    c.stop().await;
    (wire, ingest.events())
}

/// What python-astm saw: every ENQ and frame it sent was answered with ACK, nothing else came.
fn assert_every_frame_acked(wire: &Value) -> usize {
    let sent: Vec<&str> = wire["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let frames = sent.iter().filter(|s| s.starts_with(STX)).count();
    let enqs = sent.iter().filter(|s| **s == ENQ).count();
    let received = wire["received"].as_array().unwrap();
    assert!(
        received.iter().all(|r| r == ACK),
        "labwire answered something else than ACK: {wire}"
    );
    assert_eq!(
        received.len(),
        frames + enqs,
        "one ACK per ENQ and frame: {wire}"
    );
    assert_eq!(wire["naks"], 0, "{wire}");
    frames
}

fn assert_the_result(events: &[Event]) {
    let results: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Result)
        .collect();
    assert_eq!(results.len(), 1, "{:#?}", summary(events));
    let r = results[0];
    assert_eq!(
        r.specimen.as_ref().and_then(|s| s.id.as_deref()),
        Some("S1")
    );
    assert_eq!(
        r.patient.as_ref().and_then(|p| p.id.as_deref()),
        Some("PID1")
    );
    // python-astm encodes Latin-1 (the LIS2-A2 default), as labwire decodes by default.
    assert_eq!(
        r.patient.as_ref().and_then(|p| p.name.as_deref()),
        Some("Müller Jürgen")
    );
    let obs: Vec<_> = r
        .observations
        .iter()
        .map(|o| {
            (
                o.code.as_deref(),
                o.value.as_deref(),
                o.units.as_deref(),
                o.reference_range.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        obs,
        [
            (Some("GLU"), Some("5.4"), Some("mmol/L"), Some("3.9-6.1")),
            (Some("ALT"), Some("25"), Some("U/L"), Some("0-40")),
        ]
    );
    let errors: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Error)
        .collect();
    assert!(errors.is_empty(), "{:#?}", summary(events));
}

#[tokio::test]
async fn python_astm_client_one_record_per_frame_is_acked_and_stored() {
    let (wire, events) = send_with_python_astm("c311-interop-1", &[]).await;
    let frames = assert_every_frame_acked(&wire);
    assert_eq!(
        frames, 6,
        "python-astm sends each record in its own frame: {wire}"
    );
    assert_the_result(&events);
}

#[tokio::test]
async fn python_astm_client_one_message_in_etb_frames_is_acked_and_stored() {
    let (wire, events) = send_with_python_astm("c311-interop-2", &["--bulk", "16"]).await;
    let frames = assert_every_frame_acked(&wire);
    assert!(frames >= 5, "the message was cut into ETB frames: {wire}");
    let etb = wire["sent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.as_str().unwrap().contains('\u{17}'))
        .count();
    assert_eq!(etb, frames - 1, "{wire}");
    // python-astm numbered them 1..7, 0, 1..: labwire followed the wrap.
    assert!(frames > 8, "{wire}");
    let numbers: Vec<char> = wire["sent"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str().unwrap().strip_prefix(STX))
        .map(|f| f.chars().next().unwrap())
        .collect();
    let want: Vec<char> = (1..=frames)
        .map(|i| char::from_digit((i % 8) as u32, 10).unwrap())
        .collect();
    assert_eq!(numbers, want, "{wire}");
    assert_the_result(&events);
}

/// What python-astm's codec makes of labwire's frames.
async fn decode_with_python_astm(frames: &[u8]) -> Value {
    let got = run_json("astm_decode.py", &[], frames, PEER).await;
    assert_eq!(got["log"], json!([]), "python-astm complained: {got}");
    for f in got["frames"].as_array().unwrap() {
        assert_eq!(f["checksum"], f["computed"], "checksum of {f}");
    }
    got
}

const MESSAGE: &[u8] = b"H|\\^&|||labwire^1.0|||||||P|LIS2-A2|20261126101500\rP|1||PID1||M\xfcller^J\xfcrgen\rO|1|S1||^^^GLU\\^^^ALT|R\rR|1|^^^GLU|5.4|mmol/L|3.9-6.1|N||F\rL|1|N\r";

fn expected_message() -> Value {
    json!([
        [
            "H",
            [[null], [null, "&"]],
            null,
            null,
            ["labwire", "1.0"],
            null,
            null,
            null,
            null,
            null,
            null,
            "P",
            "LIS2-A2",
            "20261126101500"
        ],
        ["P", "1", null, "PID1", null, ["Müller", "Jürgen"]],
        [
            "O",
            "1",
            "S1",
            null,
            [[null, null, null, "GLU"], [null, null, null, "ALT"]],
            "R"
        ],
        [
            "R",
            "1",
            [null, null, null, "GLU"],
            "5.4",
            "mmol/L",
            "3.9-6.1",
            "N",
            null,
            "F"
        ],
        ["L", "1", "N"]
    ])
}

#[tokio::test]
async fn python_astm_decodes_labwires_etb_frames_and_verifies_every_checksum() {
    let mut wire = Vec::new();
    let options = EncodeOptions {
        max_text: 16,
        record_per_frame: false,
    };
    encode_message(MESSAGE, FrameNumber::FIRST, &options, &mut wire);
    let got = decode_with_python_astm(&wire).await;
    let frames = got["frames"].as_array().unwrap();
    let n = MESSAGE.len().div_ceil(16);
    assert_eq!(frames.len(), n, "{got}");
    let numbers: Vec<_> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (1..=n as u64).map(|i| i % 8).collect();
    assert_eq!(numbers, want, "frame numbers wrap 7 -> 0");
    let ends: Vec<_> = frames.iter().map(|f| text(f, "/end")).collect();
    let mut want_ends = vec!["ETB"; n - 1];
    want_ends.push("ETX");
    assert_eq!(ends, want_ends);
    assert_eq!(got["message"], expected_message(), "{got}");
}

#[tokio::test]
async fn python_astm_decodes_labwires_record_per_frame_messages() {
    let mut wire = Vec::new();
    let options = EncodeOptions {
        max_text: 240,
        record_per_frame: true,
    };
    encode_message(MESSAGE, FrameNumber::FIRST, &options, &mut wire);
    let got = decode_with_python_astm(&wire).await;
    let frames = got["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 5, "{got}");
    assert!(frames.iter().all(|f| f["end"] == "ETX"), "{got}");
    let numbers: Vec<_> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    assert_eq!(got["message"], expected_message(), "{got}");
}

/// labwire as the sender: an order download received by python-astm's `RequestHandler`, which
/// checks the frames and reassembles them, over a connection it opened to labwire's listener.
#[tokio::test]
async fn python_astm_receives_labwires_order_download() {
    let ingest = MemoryIngest::new();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (transport, addr) = tcp_server(&["127.0.0.1"], OnSecondConnection::Refuse).await;
    let mut ctx = context(ingest.clone(), "c311-interop-3");
    ctx.commands = Some(rx);
    let c = spawn(AstmConnector::new(AstmConfig::default()), transport, ctx);
    let (command, outcome) = delivery(
        "cmd-interop-1",
        labwire_event::Order {
            specimen_id: "S7".into(),
            tests: vec!["NA".into(), "K".into()],
            priority: Some("S".into()),
            ..labwire_event::Order::default()
        },
    );
    tx.send(command).await.unwrap();
    let port = addr.port().to_string();
    let got = run_json("astm_receive.py", &["127.0.0.1", &port, "5"], b"", PEER).await;
    eprintln!("python-astm's side of the conversation: {got}");
    assert_eq!(got["complete"], true, "{got}");
    assert_eq!(got["log"], json!([]), "python-astm complained: {got}");
    let records = got["records"].as_array().unwrap();
    let types: Vec<_> = records.iter().map(|r| text(r, "/0")).collect();
    assert_eq!(types.first(), Some(&"H"), "{got}");
    assert_eq!(types.last(), Some(&"L"), "{got}");
    let orders: Vec<_> = records.iter().filter(|r| r[0] == "O").collect();
    assert_eq!(orders.len(), 1, "{got}");
    assert_eq!(orders[0][2], "S7", "{got}");
    assert_eq!(
        orders[0][4],
        json!([[null, null, null, "NA"], [null, null, null, "K"]]),
        "{got}"
    );
    assert!(
        got["sent"].as_array().unwrap().iter().all(|s| s == ACK),
        "python-astm NAKed something: {got}"
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(3), outcome)
            .await
            .unwrap()
            .unwrap(),
        labwire_connectors::CommandOutcome::Delivered
    );
    c.stop().await;
}
