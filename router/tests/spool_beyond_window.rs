#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A spooled event that waited longer than the stream's duplicate window is still delivered,
//! and the drain says so (issue 9 item 4): the stream could no longer drop a repeat of it, so
//! `labwire_events_drained_beyond_window_total` counts it and consumers dedupe on the id.

mod common;

use common::*;
use labwire_tests::NatsServer;
use sqlx::Connection;
use std::time::Duration;

#[tokio::test]
async fn a_spooled_event_older_than_the_duplicate_window_is_delivered_and_counted() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let old = result_event("cobas-1", 1, 10);
    let fresh = result_event("cobas-1", 2, 10);
    {
        // A run during an outage: both events are spooled, then labwire stops.
        let router = ready_router(&nats.url(), dir.path()).await;
        nats.kill();
        wait_for(Duration::from_secs(10), || !router.bus().is_ready()).await;
        let ingest = router.ingest();
        for ev in [&old, &fresh] {
            let receipt = ingest.submit(vec![ev.clone()]).await.unwrap();
            assert_eq!(
                receipt.spooled(),
                1,
                "the bus is down: the event is spooled"
            );
        }
        drop(ingest);
        router.shutdown().await;
    }

    // As if the first event had been spooled two days ago (the default window is one day). The
    // spool holds its file exclusively while open: wait for the stopped run to let go of it.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("spool.db"))
        .busy_timeout(Duration::from_secs(10));
    let mut db = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let aged = sqlx::query("UPDATE spool SET created_at = created_at - ? WHERE id = ?")
        .bind(2 * 86_400_000_i64)
        .bind(old.id.to_string())
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(aged.rows_affected(), 1);
    db.close().await.unwrap();

    // The next run drains both once the bus is back, and counts the old one.
    nats.restart().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    wait_for(Duration::from_secs(20), || router.spool().is_empty()).await;
    let stats = router.stats().snapshot();
    assert_eq!(stats.drained, 2);
    assert_eq!(stats.drained_beyond_window, 1);
    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    assert_eq!(ids, vec![old.id.to_string(), fresh.id.to_string()]);
    router.shutdown().await;
}
