#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg(feature = "router")]
//! Issue 9 item 2: a message that can never fit on the bus gets a definite answer.
//!
//! A 2 MiB ORU^R01 (an embedded PDF in OBX-5) against a nats-server with the default
//! `max_payload` (1 MiB): the sender gets `AR` (original mode) or `CR` (enhanced mode) with an
//! ERR segment within seconds, never `AE`/`CE` (which asks for a resend that can never succeed);
//! an `error` event naming the size and the limit, with a bounded excerpt, is in the `LAB`
//! stream before that answer; the next message on the same connection is served normally.

mod common;

use common::hl7_instrument::{Hl7Instrument, field};
use common::*;
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::transport::OnSecondConnection;
use labwire_connectors::{Connector, RouterIngest};
use labwire_event::Event;
use labwire_tests::NatsServer;
use std::time::Duration;
use tokio::net::TcpStream;

/// Far below the 20 s in which today's main never answers.
const T: Duration = Duration::from_secs(5);

/// The NATS server's default `max_payload`, written out here rather than read from labwire.
const SERVER_DEFAULT_MAX_PAYLOAD: usize = 1_048_576;

/// An ORU^R01 whose OBX-5 holds `pdf_bytes` of base64-like text (an embedded PDF).
fn big_oru(control_id: &str, enhanced: bool, pdf_bytes: usize) -> String {
    let pdf: String = "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K"
        .chars()
        .cycle()
        .take(pdf_bytes)
        .collect();
    let modes = if enhanced { "|||AL|AL" } else { "" };
    format!(
        "MSH|^~\\&|ANALYZER|LAB|LIS|HOSP|20261203120000||ORU^R01|{control_id}|P|2.5.1{modes}\r\
         PID|1||P-1\rOBR|1||S-BIG|PDF^Report\r\
         OBX|1|ED|PDF^Report||^AP^PDF^Base64^{pdf}||||||F\r"
    )
}

/// The newest `error` event of the instrument in the `LAB` stream (read with a direct get, so
/// it proves the event was stored, not only published).
async fn stored_error(client: &async_nats::Client, instrument: &str) -> Option<Event> {
    let js = async_nats::jetstream::new(client.clone());
    let stream = js.get_stream("LAB").await.unwrap();
    let msg = stream
        .get_last_raw_message_by_subject(&format!("lab.site-a.{instrument}.error"))
        .await
        .ok()?;
    Some(serde_json::from_slice(&msg.payload).unwrap())
}

#[tokio::test]
async fn a_message_larger_than_the_bus_accepts_gets_ar_or_cr_and_an_error_event() {
    let nats = NatsServer::start().unwrap();
    let router = start_router(&nats).await;
    let app = async_nats::connect(nats.url()).await.unwrap();
    assert_eq!(app.server_info().max_payload, SERVER_DEFAULT_MAX_PAYLOAD);

    let (transport, addr) = tcp_server(&[], OnSecondConnection::Refuse).await;
    let ingest = RouterIngest::new(&router);
    let name = "oversize-1";
    let connector = Hl7Connector::new(Hl7Config::default());
    assert_eq!(connector.protocol(), labwire_event::Protocol::Hl7);
    let spawned = spawn(connector, transport, context(ingest, name));
    let mut hl7 = Hl7Instrument::new(TcpStream::connect(addr).await.unwrap());

    // Original mode: one ACK, AR with ERR; the error event is stored before it.
    let big = big_oru("BIG-1", false, 2 << 20);
    assert!(big.len() > 2 * SERVER_DEFAULT_MAX_PAYLOAD);
    hl7.send(&big).await;
    let ack = hl7.recv(T).await.expect("an answer within seconds");
    assert_eq!(field(&ack, "MSA", 1), "AR", "{ack}");
    assert_eq!(field(&ack, "MSA", 2), "BIG-1");
    assert!(ack.contains("\rERR|"), "{ack}");
    let ev = stored_error(&app, name).await.expect("error event in LAB");
    let error = ev.error.as_ref().unwrap();
    assert!(
        error.reason.contains(&big.len().to_string()),
        "{}",
        error.reason
    );
    assert!(
        error
            .reason
            .contains(&SERVER_DEFAULT_MAX_PAYLOAD.to_string()),
        "{}",
        error.reason
    );
    let raw = ev.raw.as_deref().unwrap();
    assert!(raw.starts_with("MSH|^~\\&|ANALYZER|"), "{raw:.80}");
    assert!(
        raw.len() <= 8 << 10,
        "excerpt is bounded: {} bytes",
        raw.len()
    );

    // Enhanced mode (MSH-15/16 AL): CR with ERR, no application ACK asking for a resend.
    hl7.send(&big_oru("BIG-2", true, 2 << 20)).await;
    let ack = hl7.recv(T).await.expect("an answer within seconds");
    assert_eq!(field(&ack, "MSA", 1), "CR", "{ack}");
    assert_eq!(field(&ack, "MSA", 2), "BIG-2");
    assert!(ack.contains("\rERR|"), "{ack}");
    let ev = stored_error(&app, name).await.expect("error event in LAB");
    assert!(ev.raw.as_deref().unwrap().contains("|BIG-2|"));

    // The same connection then serves an ordinary result.
    hl7.send(
        "MSH|^~\\&|ANALYZER|LAB|LIS|HOSP|20261203120100||ORU^R01|OK-3|P|2.5.1\r\
         PID|1||P-2\rOBR|1||S-3|GLU\rOBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F\r",
    )
    .await;
    let ack = hl7.recv(T).await.expect("an answer");
    assert_eq!(field(&ack, "MSA", 1), "AA", "{ack}");
    assert_eq!(field(&ack, "MSA", 2), "OK-3");
    let js = async_nats::jetstream::new(app.clone());
    let result = js
        .get_stream("LAB")
        .await
        .unwrap()
        .get_last_raw_message_by_subject(&format!("lab.site-a.{name}.result"))
        .await
        .expect("result in LAB");
    let result: Event = serde_json::from_slice(&result.payload).unwrap();
    assert_eq!(result.observations[0].value.as_deref(), Some("5.4"));
    spawned.stop().await;
}
