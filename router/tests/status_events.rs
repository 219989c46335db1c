#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Status events, multi-event messages, and a server that lost its JetStream store.

mod common;

use common::*;
use labwire_event::{EventKind, Protocol};
use labwire_router::status::status_event;
use labwire_tests::NatsServer;
use std::time::Duration;

#[tokio::test]
async fn a_status_event_is_published_durably_when_the_bus_is_up_and_spooled_when_not() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let up = status_event(
        &site(),
        &instrument("cobas-1"),
        Protocol::Astm,
        "connected",
        Some("10.0.0.5:5001".into()),
    );
    assert!(router.status().deliver(up.clone()).await);
    assert_eq!(router.spool().depth(), 0);

    nats.kill();
    let down = status_event(
        &site(),
        &instrument("cobas-1"),
        Protocol::Astm,
        "disconnected",
        None,
    );
    assert_ne!(up.id, down.id);
    assert!(router.status().deliver(down.clone()).await);
    assert_eq!(router.spool().depth(), 1);

    nats.restart().unwrap();
    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    let stored = stream_events(&nats.url()).await;
    let states: Vec<_> = stored
        .iter()
        .map(|e| {
            assert_eq!(e.kind, EventKind::Status);
            assert_eq!(e.subject(), "lab.site-a.cobas-1.status");
            e.status.as_ref().unwrap().state.as_str()
        })
        .collect();
    assert_eq!(states, ["connected", "disconnected"]);
}

#[tokio::test]
async fn the_events_of_one_message_are_stored_in_order_whichever_path_they_take() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let ingest = router.ingest();
    let first: Vec<_> = (0..3).map(|n| result_event("ba400-1", n, 10)).collect();
    let second: Vec<_> = (3..6).map(|n| result_event("ba400-1", n, 10)).collect();
    let r = ingest.submit(first.clone()).await.unwrap();
    assert_eq!((r.events(), r.published()), (3, 3));
    nats.kill();
    let r = ingest.submit(second.clone()).await.unwrap();
    assert_eq!((r.events(), r.spooled()), (3, 3));
    nats.restart().unwrap();
    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    let expected: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_server_that_lost_its_store_gets_the_stream_back_and_the_spool_drains_into_it() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let ingest = router.ingest();
    nats.kill();
    std::fs::remove_dir_all(nats.store_dir()).unwrap();
    let events: Vec<_> = (0..5).map(|n| result_event("cobas-1", n, 10)).collect();
    for ev in &events {
        assert_eq!(ingest.submit(vec![ev.clone()]).await.unwrap().spooled(), 1);
    }
    nats.restart().unwrap();
    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    assert_eq!(
        ids,
        events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>()
    );
    // And direct publishing works again.
    let next = result_event("cobas-1", 99, 10);
    assert_eq!(ingest.submit(vec![next]).await.unwrap().published(), 1);
}
