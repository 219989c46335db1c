#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 9 items 1 and 3 end to end through the ASTM connector over real TCP, with the
//! deterministic in-memory ingest told to refuse and then accept:
//!
//! - a message whose final frame was refused until the instrument gave up is never a (truncated)
//!   result, only one `error` event with the partial bytes;
//! - text ended by ETX frames without an L record is not lost when its ingest fails;
//! - error events about nothing (noise) get distinct ids.

mod common;

use common::*;
use labwire_astm::link::{FrameEnd, FrameNumber, encode_frame};
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::transport::OnSecondConnection;
use labwire_connectors::{LinkHealth, MemoryIngest};
use labwire_event::EventKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ENQ: u8 = 0x05;
const ACK: u8 = 0x06;
const NAK: u8 = 0x15;
const EOT: u8 = 0x04;

const FIRST: &[u8] = b"H|\\^&|||c311\rP|1||PID1\rO|1|S1||^^^GLU\rR|1|^^^GLU|12";
const LAST: &[u8] = b"3.4|mmol/L||N||F\rL|1|N\r";

fn frame(n: u8, text: &[u8], end: FrameEnd) -> Vec<u8> {
    let mut f = Vec::new();
    encode_frame(FrameNumber::new_wrapping(n), text, end, &mut f);
    f
}

async fn start(ingest: &MemoryIngest, name: &str) -> (Spawned, TcpStream, LinkHealth) {
    let (transport, addr) = tcp_server(&["127.0.0.1"], OnSecondConnection::Refuse).await;
    let mut config = AstmConfig::default();
    config.link.receiver_timeout = Duration::from_secs(5);
    let spawned = spawn(
        AstmConnector::new(config),
        transport,
        context(ingest.clone(), name),
    );
    let health = spawned.health.clone();
    let stream = TcpStream::connect(addr).await.unwrap();
    (spawned, stream, health)
}

async fn expect(stream: &mut TcpStream, byte: u8) {
    let mut b = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(15), stream.read_exact(&mut b))
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(b[0], byte);
}

#[tokio::test]
async fn a_refused_final_frame_becomes_one_error_event_never_a_result() {
    let ingest = MemoryIngest::new();
    ingest.set_failing(true);
    let (spawned, mut s, _health) = start(&ingest, "c311-refused").await;
    s.write_all(&[ENQ]).await.unwrap();
    expect(&mut s, ACK).await;
    s.write_all(&frame(1, FIRST, FrameEnd::Intermediate))
        .await
        .unwrap();
    expect(&mut s, ACK).await;
    // The first transmission of the final frame and six retries: each one NAKed (bus down).
    for _ in 0..7 {
        s.write_all(&frame(2, LAST, FrameEnd::Last)).await.unwrap();
        expect(&mut s, NAK).await;
    }
    // The bus recovers; the instrument gives up.
    ingest.set_failing(false);
    s.write_all(&[EOT]).await.unwrap();
    let events = wait_until(&ingest, "the error event", |e| {
        e.iter().any(|e| e.kind == EventKind::Error)
    })
    .await;
    let errors: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", summary(&events));
    assert_eq!(
        errors[0].raw.as_deref().map(str::as_bytes),
        Some(FIRST),
        "the partial bytes are kept"
    );
    let reason = &errors[0].error.as_ref().unwrap().reason;
    assert!(
        !reason.contains("GLU") && !reason.contains("PID1"),
        "{reason}"
    );
    // The instrument sends the message again, whole: now it is a result, with the whole value.
    s.write_all(&[ENQ]).await.unwrap();
    expect(&mut s, ACK).await;
    s.write_all(&frame(1, FIRST, FrameEnd::Intermediate))
        .await
        .unwrap();
    expect(&mut s, ACK).await;
    s.write_all(&frame(2, LAST, FrameEnd::Last)).await.unwrap();
    expect(&mut s, ACK).await;
    s.write_all(&[EOT]).await.unwrap();
    let events = ingest.events();
    let results: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Result)
        .collect();
    assert_eq!(results.len(), 1, "{:?}", summary(&events));
    assert_eq!(results[0].observations[0].value.as_deref(), Some("123.4"));
    spawned.stop().await;
}

#[tokio::test]
async fn etx_text_without_l_record_is_kept_until_the_ingest_takes_it() {
    let ingest = MemoryIngest::new();
    ingest.set_failing(true);
    let (spawned, mut s, health) = start(&ingest, "c311-unheld").await;
    s.write_all(&[ENQ]).await.unwrap();
    expect(&mut s, ACK).await;
    s.write_all(&frame(1, b"H|\\^&|||c311\r", FrameEnd::Last))
        .await
        .unwrap();
    expect(&mut s, ACK).await;
    s.write_all(&frame(
        2,
        b"P|1\rO|1|S1||^^^GLU\rR|1|^^^GLU|5.4|mmol/L||N||F\r",
        FrameEnd::Last,
    ))
    .await
    .unwrap();
    expect(&mut s, ACK).await;
    s.write_all(&[EOT]).await.unwrap();
    // Positive signal that the ingest refused it once, then heal the bus.
    tokio::time::timeout(Duration::from_secs(5), async {
        while health.snapshot().ingest_failures == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the ingest was asked and refused");
    ingest.set_failing(false);
    let events = wait_until(&ingest, "the result", |e| {
        e.iter().any(|e| e.kind == EventKind::Result)
    })
    .await;
    let results: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Result)
        .collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].observations[0].value.as_deref(), Some("5.4"));
    spawned.stop().await;
}

#[tokio::test]
async fn noise_twice_gives_two_error_events_with_distinct_ids() {
    let ingest = MemoryIngest::new();
    let (spawned, mut s, _health) = start(&ingest, "c311-noise").await;
    s.write_all(b"noise\r\n").await.unwrap();
    wait_until(&ingest, "the first error", |e| {
        e.iter().filter(|e| e.kind == EventKind::Error).count() >= 1
    })
    .await;
    s.write_all(b"noise\r\n").await.unwrap();
    let events = wait_until(&ingest, "the second error", |e| {
        e.iter().filter(|e| e.kind == EventKind::Error).count() >= 2
    })
    .await;
    let ids: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Error)
        .map(|e| e.id.clone())
        .collect();
    assert_ne!(ids[0], ids[1], "JetStream would store only the first");
    spawned.stop().await;
}
