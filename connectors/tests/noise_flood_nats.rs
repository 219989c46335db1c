#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg(feature = "router")]
//! No floods that crowd out results (issue 9 item 7), against a real nats-server: a peer that
//! connects and disconnects 1 000 times gives a bounded number of durable status events in the
//! `LAB` stream (counted with a filtered consumer), the link health (what `/metrics` shows) has
//! the full count of suppressed ones, and a result sent afterwards is stored.

mod common;

use common::astm_instrument::AstmInstrument;
use common::*;
use labwire_connectors::NOISE_BURST;
use labwire_connectors::RouterIngest;
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::transport::OnSecondConnection;
use labwire_event::Event;
use labwire_tests::NatsServer;
use std::time::Duration;
use tokio::net::TcpStream;

const FLAPS: u64 = 1_000;

/// Status events of `instrument` stored in `LAB`.
async fn stored_statuses(js: &async_nats::jetstream::Context, instrument: &str) -> u64 {
    let stream = js.get_stream("LAB").await.unwrap();
    let mut consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("lab.site-a.{instrument}.status"),
            ..Default::default()
        })
        .await
        .unwrap();
    consumer.info().await.unwrap().num_pending
}

#[tokio::test]
async fn a_thousand_connects_give_a_bounded_number_of_status_events_and_results_still_land() {
    let nats = NatsServer::start().unwrap();
    let router = start_router(&nats).await;
    let app = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(app.clone());

    let (transport, addr) = tcp_server(&[], OnSecondConnection::Refuse).await;
    let name = "flappy-1";
    let spawned = spawn(
        AstmConnector::new(AstmConfig::default()),
        transport,
        context(RouterIngest::new(&router), name),
    );
    // One connection at a time (the next waits until the connector saw this one close), so
    // each flap is exactly one `connected` and one `disconnected`, never a `peer-refused`.
    for i in 1..=FLAPS {
        drop(TcpStream::connect(addr).await.unwrap());
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let h = spawned.health.snapshot();
            if h.connections == i && h.live_connections == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "flap {i} not seen: {h:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // Positive signal: every connected/disconnected state was either stored or counted.
    let noise = 2 * FLAPS;
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    let (stored, suppressed) = loop {
        let suppressed = spawned.health.snapshot().noise_suppressed;
        let stored = stored_statuses(&js, name).await;
        if stored + suppressed >= noise {
            break (stored, suppressed);
        }
        assert!(
            tokio::time::Instant::now() < end,
            "stored {stored} + suppressed {suppressed} < {noise}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("{noise} noise states: {stored} status events stored in LAB, {suppressed} suppressed");
    assert_eq!(stored + suppressed, noise);
    // The burst, plus at most one refill per 6 s of test time.
    assert!(stored >= u64::from(NOISE_BURST), "{stored}");
    assert!(
        stored <= u64::from(NOISE_BURST) + 10,
        "{stored} status events stored"
    );

    // A result afterwards is stored.
    let mut astm = AstmInstrument::new(TcpStream::connect(addr).await.unwrap());
    astm.send(b"H|\\^&|||c311\rP|1\rO|1|S-1||^^^GLU\rR|1|^^^GLU|5.4|mmol/L||N||F\rL|1|N\r")
        .await
        .unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    let result = loop {
        let stream = js.get_stream("LAB").await.unwrap();
        if let Ok(msg) = stream
            .get_last_raw_message_by_subject(&format!("lab.site-a.{name}.result"))
            .await
        {
            break serde_json::from_slice::<Event>(&msg.payload).unwrap();
        }
        assert!(tokio::time::Instant::now() < end, "result not stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(result.observations[0].value.as_deref(), Some("5.4"));
    drop(astm);
    spawned.stop().await;
}
