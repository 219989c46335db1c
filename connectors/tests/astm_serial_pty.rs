#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The ASTM connector on a serial line (a real pseudo-terminal pair): results, a cable pulled
//! mid-frame (the pty hang-up shows as EIO), reopening, and a host query answered on the line.

mod common;

use common::astm_instrument::AstmInstrument;
use common::*;
use labwire_connectors::MemoryIngest;
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_event::{EventKind, Order, QueryReply};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESULT: &[u8] =
    b"H|\\^&|||xn^1\rP|1\rO|1|S1||^^^WBC|R\rR|1|^^^WBC|6.1|10*3/uL||N||F\rL|1|N\r";

#[tokio::test]
async fn results_survive_a_serial_hang_up_mid_frame_and_queries_are_answered() {
    let ingest = MemoryIngest::new();
    ingest.answer(
        "S2",
        QueryReply {
            orders: vec![Order {
                specimen_id: "S2".into(),
                tests: vec!["HGB".into()],
                ..Order::default()
            }],
        },
    );
    let (transport, mut lines) = pty_transport();
    let mut cfg = AstmConfig::default();
    cfg.link.receiver_timeout = Duration::from_millis(500);
    cfg.link.host_contention_wait = Duration::from_millis(200);
    let ctx = context(ingest.clone(), "xn-1");
    let c = spawn(AstmConnector::new(cfg), transport, ctx);

    // First line: a good result, then the cable is pulled in the middle of a frame.
    let mut inst = AstmInstrument::new(lines.recv().await.unwrap());
    inst.send(RESULT).await.unwrap();
    assert_eq!(ingest.of_kind(EventKind::Result).len(), 1);
    inst.stream.write_all(&[0x05]).await.unwrap();
    let mut b = [0u8; 1];
    inst.stream.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x06]);
    inst.stream.write_all(b"\x021H|\\^&|||xn").await.unwrap();
    drop(inst);
    let events = wait_until(&ingest, "disconnect", |e| {
        count_state(e, "disconnected") == 1
    })
    .await;
    let detail = status_detail(&events, "disconnected");
    assert!(
        detail.contains("read failed") || detail.contains("peer closed"),
        "{detail}"
    );

    // The port is reopened; the half frame is gone; results and queries work.
    let mut inst = AstmInstrument::new(lines.recv().await.unwrap());
    inst.send(RESULT).await.unwrap();
    inst.send(b"H|\\^&|||xn^1\rQ|1|^S2||ALL||||||||O\rL|1|N\r")
        .await
        .unwrap();
    let answer = String::from_utf8(inst.receive(Duration::from_secs(5)).await.unwrap()).unwrap();
    assert!(answer.contains("O|1|S2||^^^HGB"), "{answer}");
    // The same message twice gives the same event id (JetStream stores it once).
    let results = ingest.of_kind(EventKind::Result);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].id, results[1].id);
    let h = c.health.snapshot();
    assert_eq!(h.reconnects, 1);
    assert_eq!(h.messages, 3);

    c.stop().await;
}
