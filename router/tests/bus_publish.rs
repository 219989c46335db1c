#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Publish-with-ack against a real nats-server: each event stored once, retransmits deduplicated.

mod common;

use common::*;
use labwire_router::BusError;
use labwire_tests::NatsServer;

#[tokio::test]
async fn every_event_lands_once_and_a_retransmit_is_stored_once() {
    let nats = NatsServer::start().unwrap();
    let bus = ready_bus(&nats.url()).await;

    let events: Vec<_> = (0..20).map(|n| result_event("cobas-1", n, 64)).collect();
    for ev in &events {
        let stored = bus.publish_durable(ev).await.unwrap();
        assert!(!stored.duplicate);
    }
    // The instrument retransmits three messages: same bytes, same ids.
    for ev in events.iter().take(3) {
        let stored = bus.publish_durable(ev).await.unwrap();
        assert!(stored.duplicate, "retransmit of {} not deduplicated", ev.id);
    }
    assert_eq!(bus.stats().snapshot().deduplicated, 3);

    let ids = stream_ids(&nats.url()).await;
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids.values().cloned().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn the_stream_lists_kinds_one_by_one_and_leaves_queries_to_request_reply() {
    let nats = NatsServer::start().unwrap();
    let _bus = ready_bus(&nats.url()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let mut stream = js.get_stream("LAB").await.unwrap();
    let info = stream.info().await.unwrap();
    let subjects = &info.config.subjects;
    assert!(subjects.contains(&"lab.*.*.result".to_owned()));
    assert!(!subjects.iter().any(|s| s.contains('>')));
    assert_eq!(
        info.config.duplicate_window,
        std::time::Duration::from_secs(86_400)
    );
    assert_eq!(
        info.config.storage,
        async_nats::jetstream::stream::StorageType::File
    );

    // A request on a query subject gets "no responders", not a stream ack.
    let err = client
        .request("lab.site-a.cobas-1.query", "{}".into())
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        async_nats::client::RequestErrorKind::NoResponders
    );
}

#[tokio::test]
async fn publishing_while_the_server_is_down_is_an_error_not_a_silent_ok() {
    let mut nats = NatsServer::start().unwrap();
    let bus = ready_bus(&nats.url()).await;
    nats.kill();
    let ev = result_event("cobas-1", 1, 0);
    let err = bus.publish_durable(&ev).await.unwrap_err();
    assert!(
        matches!(err, BusError::AckTimeout { .. } | BusError::Publish { .. }),
        "{err}"
    );
}
