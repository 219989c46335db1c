#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 9 item 2, ASTM side: a message whose event the bus can never accept is acknowledged
//! (E1381 has no "never send this again"; a NAK only starts six futile retries) once an `error`
//! event naming the size and the limit, with the start of the message, is durable. The ingest
//! is in memory with a bus limit; `hl7_oversize_nats.rs` runs the HL7 side on a real
//! nats-server.

mod common;

use common::astm_instrument::AstmInstrument;
use common::*;
use labwire_connectors::MemoryIngest;
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::transport::OnSecondConnection;
use labwire_event::EventKind;
use std::time::Duration;
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

/// The bus limit of this test's in-memory ingest (bytes of one event's JSON).
const LIMIT: usize = 16_384;

#[tokio::test]
async fn an_astm_message_larger_than_the_bus_is_acked_after_its_error_event_is_durable() {
    let ingest = MemoryIngest::new();
    ingest.set_bus_limit(Some(LIMIT));
    let (transport, addr) = tcp_server(&["127.0.0.1"], OnSecondConnection::Refuse).await;
    let mut config = AstmConfig::default();
    config.link.host_contention_wait = Duration::from_millis(200);
    let spawned = spawn(
        AstmConnector::new(config),
        transport,
        context(ingest.clone(), "c311-big"),
    );
    let mut inst = AstmInstrument::new(TcpStream::connect(addr).await.unwrap());

    let comment = "x".repeat(40_000);
    let big = format!(
        "H|\\^&|||c311^1.0|||||||P|LIS2-A2|20261126101500\rP|1\rO|1|S-BIG||^^^GLU|R\r\
         R|1|^^^GLU|5.4|mmol/L||N||F\rC|1|I|{comment}|G\rL|1|N\r"
    );
    // Every frame ACKed: the instrument is done with it, no retries.
    tokio::time::timeout(T, inst.send(big.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    let errors = tokio::time::timeout(
        T,
        ingest.wait_for(|evs| evs.iter().any(|e| e.kind == EventKind::Error)),
    )
    .await
    .unwrap();
    let error = errors.iter().find(|e| e.kind == EventKind::Error).unwrap();
    let reason = &error.error.as_ref().unwrap().reason;
    assert!(reason.contains(&big.len().to_string()), "{reason}");
    assert!(reason.contains(&LIMIT.to_string()), "{reason}");
    let raw = error.raw.as_deref().unwrap();
    assert!(raw.starts_with("H|\\^&|||c311"), "{raw:.40}");
    assert!(raw.len() < LIMIT, "excerpt is bounded: {}", raw.len());
    assert!(ingest.of_kind(EventKind::Result).is_empty());

    // The next message is served normally.
    tokio::time::timeout(T, inst.send(ASTM_RESULT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ingest.of_kind(EventKind::Result).len(), 1);
    spawned.stop().await;
}
