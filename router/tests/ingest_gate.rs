#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The durability gate against a real nats-server: direct publish, fall back to the spool when
//! the server is killed, drain after restart, a full spool refuses.

mod common;

use common::*;
use labwire_event::EventKind;
use labwire_router::{IngestError, IngestErrorKind, Router};
use labwire_tests::NatsServer;
use std::time::{Duration, Instant};

#[tokio::test]
async fn with_the_bus_up_events_are_acked_by_jetstream_and_retransmits_stored_once() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let ingest = router.ingest();

    let events: Vec<_> = (0..30).map(|n| result_event("cobas-1", n, 100)).collect();
    for ev in &events {
        let r = ingest.submit(vec![ev.clone()]).await.unwrap();
        assert_eq!((r.events(), r.published(), r.spooled()), (1, 1, 0));
    }
    // The instrument did not see our ACK for the last message and sends it again.
    let again = ingest.submit(vec![events[29].clone()]).await.unwrap();
    assert_eq!(again.deduplicated(), 1);

    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, expected);
    let s = router.stats().snapshot();
    assert_eq!((s.published, s.spooled, s.deduplicated), (31, 0, 1));
    assert_eq!(s.receipts, 31);
}

#[tokio::test]
async fn server_killed_mid_stream_spools_promptly_and_drains_in_order_after_restart() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let ingest = router.ingest();
    let events: Vec<_> = (0..300).map(|n| result_event("cobas-1", n, 200)).collect();

    let mut slowest = Duration::ZERO;
    for (n, ev) in events.iter().enumerate() {
        if n == 100 {
            nats.kill();
        }
        if n == 200 {
            nats.restart().unwrap();
        }
        let t = Instant::now();
        let receipt = ingest.submit(vec![ev.clone()]).await.unwrap();
        slowest = slowest.max(t.elapsed());
        assert_eq!(receipt.events(), 1);
    }
    // The ack deadline is 500 ms: no receipt waits much longer than that.
    assert!(
        slowest < Duration::from_millis(1500),
        "slowest receipt {slowest:?}"
    );
    let s = router.stats().snapshot();
    assert!(s.spooled >= 100, "only {} spooled", s.spooled);

    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids.len(), expected.len(), "gaps or duplicates");
    assert_eq!(ids, expected, "stream order differs from submit order");
    assert_eq!(router.stats().snapshot().drained, s.spooled);
}

#[tokio::test]
async fn events_spooled_by_a_previous_instance_drain_on_the_next_start_and_retransmits_dedupe() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..40).map(|n| result_event("ba400-1", n, 50)).collect();

    // First instance: the first half goes straight to the bus, then the bus dies and the second
    // half is spooled. The instance "crashes" after its receipts, before the instruments got
    // their ACKs.
    {
        let router = ready_router(&nats.url(), dir.path()).await;
        let ingest = router.ingest();
        for ev in &events[..20] {
            assert_eq!(
                ingest.submit(vec![ev.clone()]).await.unwrap().published(),
                1
            );
        }
        nats.kill();
        for ev in &events[20..] {
            assert_eq!(ingest.submit(vec![ev.clone()]).await.unwrap().spooled(), 1);
        }
        assert_eq!(router.spool().depth(), 20);
        drop(router);
    }

    // Second instance, same spool file, bus back.
    nats.restart().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    // The instruments retransmit everything they were not ACKed for.
    let ingest = router.ingest();
    for ev in &events {
        let r = ingest.submit(vec![ev.clone()]).await.unwrap();
        assert_eq!(r.deduplicated(), 1, "{} stored twice", ev.id);
    }
    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_full_spool_refuses_and_queues_a_spool_full_status_event() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = router_options(&nats.url(), dir.path());
    opts.spool.max_rows = 5;
    let router = Router::start(opts).await.unwrap();
    wait_for(Duration::from_secs(5), || router.bus().is_ready()).await;
    let ingest = router.ingest();
    nats.kill();

    let events: Vec<_> = (0..7).map(|n| result_event("cobas-1", n, 10)).collect();
    for ev in &events[..5] {
        assert_eq!(ingest.submit(vec![ev.clone()]).await.unwrap().spooled(), 1);
    }
    for ev in &events[5..] {
        let err = ingest.submit(vec![ev.clone()]).await.unwrap_err();
        assert!(matches!(err, IngestError::SpoolFull(_)), "{err}");
        assert_eq!(err.kind(), IngestErrorKind::SpoolFull);
    }
    assert_eq!(router.stats().snapshot().refused, 2);
    // The status event is queued beyond the data limit (one report per episode).
    wait_for(Duration::from_secs(5), || router.spool().depth() == 6).await;

    nats.restart().unwrap();
    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    let stored = stream_events(&nats.url()).await;
    assert_eq!(stored.len(), 6);
    let status: Vec<_> = stored
        .iter()
        .filter(|e| e.kind == EventKind::Status)
        .collect();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].status.as_ref().unwrap().state, "spool-full");
    assert_eq!(status[0].subject(), "lab.site-a.cobas-1.status");

    // Room again: the refused events are accepted on retransmit, and recovery is reported.
    for ev in &events[5..] {
        assert_eq!(ingest.submit(vec![ev.clone()]).await.unwrap().events(), 1);
    }
}

#[tokio::test]
async fn a_host_query_event_is_not_accepted_for_storage() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let mut ev = result_event("cobas-1", 1, 0);
    ev.kind = EventKind::Query;
    let err = router.ingest().submit(vec![ev]).await.unwrap_err();
    assert!(matches!(err, IngestError::NotDurable { .. }), "{err}");
}

#[tokio::test]
async fn with_no_server_at_start_events_are_spooled_and_drained_once_it_appears() {
    let mut nats = NatsServer::start().unwrap();
    let url = nats.url();
    nats.kill();
    let dir = tempfile::tempdir().unwrap();
    let router = Router::start(router_options(&url, dir.path()))
        .await
        .unwrap();
    let ingest = router.ingest();
    let events: Vec<_> = (0..10).map(|n| result_event("cobas-1", n, 10)).collect();
    let t = Instant::now();
    let r = ingest.submit(events.clone()).await.unwrap();
    assert_eq!(r.spooled(), 10);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());

    nats.restart().unwrap();
    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    let ids: Vec<String> = stream_ids(&url).await.into_values().collect();
    assert_eq!(
        ids,
        events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_hung_server_gives_receipts_within_the_ack_deadline_and_late_acks_are_deduplicated() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let ingest = router.ingest();
    let events: Vec<_> = (0..20).map(|n| result_event("cobas-1", n, 100)).collect();

    // SIGSTOP: the connection stays up, acks never come.
    nats.pause().unwrap();
    let t = Instant::now();
    let first = ingest.submit(vec![events[0].clone()]).await.unwrap();
    let waited = t.elapsed();
    assert_eq!(first.spooled(), 1);
    // The ack deadline is 500 ms.
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
    // Later events do not wait: the spool is not empty, they follow the first one there.
    let t = Instant::now();
    for ev in &events[1..] {
        assert_eq!(ingest.submit(vec![ev.clone()]).await.unwrap().spooled(), 1);
    }
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );

    // The server wakes up and stores the first publish it had received after all; the drain
    // republishes it with the same id and the stream drops the copy.
    nats.resume().unwrap();
    wait_for(Duration::from_secs(15), || router.spool().is_empty()).await;
    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, expected);
    assert!(router.stats().snapshot().deduplicated >= 1);
}

#[tokio::test]
async fn an_event_larger_than_the_server_accepts_is_rejected_not_spooled() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let huge = result_event("cobas-1", 1, 2 * 1024 * 1024);
    for bus_up in [true, false] {
        if !bus_up {
            nats.kill();
        }
        let err = router
            .ingest()
            .submit(vec![huge.clone()])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::Rejected, "{err}");
        assert!(router.spool().is_empty());
    }
    // A normal event still goes through (to the spool, the bus being down).
    let ok = router
        .ingest()
        .submit(vec![result_event("cobas-1", 2, 10)])
        .await;
    assert_eq!(ok.unwrap().spooled(), 1);
}
