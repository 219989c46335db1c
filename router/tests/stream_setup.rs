#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! An existing stream `LAB` on a real nats-server (a production one, set up for 30 days) is never
//! cut: `labwire demo --nats-url` uses it unchanged, `labwire run` with shorter limits in its
//! config keeps the server's longer ones.

mod common;

use common::*;
use labwire_router::bus::stream_subjects;
use labwire_router::{Bus, RouterStats, StreamPolicy};
use labwire_tests::NatsServer;
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

/// Creates `LAB` as an operator would: every labwire subject, 30 days, a 1-day window.
async fn production_stream(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "LAB".into(),
        subjects: stream_subjects(),
        max_age: 30 * DAY,
        duplicate_window: DAY,
        ..Default::default()
    })
    .await
    .unwrap();
    js
}

async fn stream_config(
    js: &async_nats::jetstream::Context,
) -> async_nats::jetstream::stream::Config {
    let mut s = js.get_stream("LAB").await.unwrap();
    s.info().await.unwrap().config.clone()
}

/// A bus with 7-day retention and a 2-hour window (the demo's old defaults), under `policy`.
async fn short_bus(url: &str, policy: StreamPolicy) -> Bus {
    let mut o = bus_options(url);
    o.stream.max_age = 7 * DAY;
    o.stream.duplicate_window = Duration::from_secs(2 * 3600);
    o.stream.policy = policy;
    let bus = Bus::connect(o, Arc::new(RouterStats::default()))
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), || bus.is_ready()).await;
    bus
}

#[tokio::test]
async fn using_an_existing_stream_leaves_its_retention_and_window_alone() {
    let nats = NatsServer::start().unwrap();
    let js = production_stream(&nats.url()).await;
    let bus = short_bus(&nats.url(), StreamPolicy::UseExisting).await;
    bus.publish_durable(&result_event("cobas-1", 1, 0))
        .await
        .unwrap();
    let c = stream_config(&js).await;
    assert_eq!(c.max_age, 30 * DAY);
    assert_eq!(c.duplicate_window, DAY);
}

#[tokio::test]
async fn owning_the_stream_never_shortens_it() {
    let nats = NatsServer::start().unwrap();
    let js = production_stream(&nats.url()).await;
    let bus = short_bus(&nats.url(), StreamPolicy::Own).await;
    bus.publish_durable(&result_event("cobas-1", 1, 0))
        .await
        .unwrap();
    let c = stream_config(&js).await;
    assert_eq!(c.max_age, 30 * DAY);
    assert_eq!(c.duplicate_window, DAY);
}

#[tokio::test]
async fn an_existing_stream_without_our_subjects_is_refused_unchanged() {
    let nats = NatsServer::start().unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "LAB".into(),
        subjects: vec!["other.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut o = bus_options(&nats.url());
    o.stream.policy = StreamPolicy::UseExisting;
    let bus = Bus::connect(o, Arc::new(RouterStats::default()))
        .await
        .unwrap();
    wait_for(Duration::from_secs(5), || bus.is_connected()).await;
    let err = bus.ensure_stream().await.unwrap_err().to_string();
    assert!(err.contains("already exists without the subjects"), "{err}");
    assert!(!bus.is_ready());
    assert_eq!(stream_config(&js).await.subjects, ["other.>"]);
}
