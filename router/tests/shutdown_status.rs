#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The last status events of a stopping site are durable before `Router::shutdown` returns
//! (issue 9 item 5): the process exits right after, and a status event still on its way to the
//! spool would be lost with the runtime.

mod common;

use common::*;
use labwire_event::Protocol;
use labwire_tests::NatsServer;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    // One thread, so the deliveries only make progress while `shutdown` lets them.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn status_events_reported_just_before_shutdown_survive_it() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = nats.url();
    // The bus is down while the site stops (a common reason to stop it): the status events go
    // to the spool. The runtime ends with the router, as `labwire run`'s does.
    let reported = runtime().block_on(async {
        let router = ready_router(&url, dir.path()).await;
        nats.kill();
        wait_for(Duration::from_secs(10), || !router.bus().is_ready()).await;
        let mut ids = Vec::new();
        for n in 0..20 {
            let ev = labwire_router::status::status_event(
                &site(),
                &instrument(&format!("analyser-{n}")),
                Protocol::Astm,
                "stopped",
                Some("labwire is shutting down".into()),
            );
            ids.push(ev.id.to_string());
            router.status().report(ev);
        }
        router.shutdown().await;
        ids
    });
    // The next run delivers what the last one made durable.
    nats.restart().unwrap();
    let stored: Vec<String> = runtime().block_on(async {
        let router = ready_router(&url, dir.path()).await;
        wait_for(Duration::from_secs(20), || router.spool().is_empty()).await;
        let ids = stream_ids(&url).await.into_values().collect();
        router.shutdown().await;
        ids
    });
    let mut want = reported.clone();
    want.sort();
    let mut got = stored.clone();
    got.sort();
    assert_eq!(
        got, want,
        "every status event reported before shutdown is stored"
    );
}
