#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Order downloads through a durable pull consumer on a real nats-server.

mod common;

use common::*;
use futures::StreamExt;
use labwire_event::{COMMAND_SCHEMA, Command, Event, EventKind, Order, Protocol};
use labwire_router::{CommandOptions, CommandQueue, CommandTarget, Router};
use labwire_tests::NatsServer;
use std::time::Duration;

fn target(inst: &str) -> CommandTarget {
    CommandTarget {
        site: site(),
        instrument: instrument(inst),
        protocol: Protocol::Astm,
    }
}

fn options() -> CommandOptions {
    let mut o = CommandOptions::default();
    o.ack_wait = Duration::from_secs(1);
    o.retry_delay = Duration::from_millis(100);
    o
}

fn command(id: &str, specimen: &str) -> Command {
    Command {
        schema: COMMAND_SCHEMA.to_owned(),
        id: id.to_owned(),
        orders: vec![Order {
            specimen_id: specimen.to_owned(),
            tests: vec!["GLU".into()],
            ..Default::default()
        }],
    }
}

/// An app publishes a command durably (JetStream, msg-id = command id).
async fn app_publishes(url: &str, subject: &str, payload: Vec<u8>, id: &str) {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let msg = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .message_id(id);
    js.send_publish(subject.to_owned(), msg)
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn open(router: &Router, inst: &str) -> CommandQueue {
    router.commands(target(inst), options()).await.unwrap()
}

async fn next(queue: &mut CommandQueue) -> labwire_router::PendingCommand {
    tokio::time::timeout(Duration::from_secs(5), queue.next())
        .await
        .expect("no command within 5 s")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_command_sent_while_the_instrument_is_offline_waits_and_is_delivered_once_acked() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    // Nobody reads commands for cobas-1 yet (instrument offline).
    let payload = serde_json::to_vec(&command("c-1", "S-1")).unwrap();
    app_publishes(&nats.url(), "lab.site-a.cobas-1.cmd", payload, "c-1").await;

    let mut queue = open(&router, "cobas-1").await;
    let pending = next(&mut queue).await;
    assert_eq!(pending.command().id, "c-1");
    assert_eq!(pending.delivered(), 1);
    pending.accepted().await.unwrap();

    // Acked: not delivered again, even after ack_wait, nor to a new queue (reconnect).
    drop(queue);
    let mut queue = open(&router, "cobas-1").await;
    let again = tokio::time::timeout(Duration::from_millis(1500), queue.next()).await;
    assert!(again.is_err(), "acked command delivered again");
}

#[tokio::test]
async fn an_unacked_or_refused_command_is_redelivered() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let mut queue = open(&router, "cobas-1").await;
    let payload = serde_json::to_vec(&command("c-2", "S-2")).unwrap();
    app_publishes(&nats.url(), "lab.site-a.cobas-1.cmd", payload, "c-2").await;

    // The instrument is busy: retry later.
    let first = next(&mut queue).await;
    assert_eq!(first.delivered(), 1);
    first.retry_later().await.unwrap();
    // The connector dies mid-download: no verdict at all.
    let second = next(&mut queue).await;
    assert_eq!(
        (second.command().id.as_str(), second.delivered()),
        ("c-2", 2)
    );
    drop(second);
    // Redelivered after ack_wait (1 s).
    let third = next(&mut queue).await;
    assert_eq!(third.delivered(), 3);
    third.accepted().await.unwrap();
}

#[tokio::test]
async fn commands_of_other_instruments_are_not_delivered() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let mut queue = open(&router, "cobas-1").await;
    let p = serde_json::to_vec(&command("other", "S-3")).unwrap();
    app_publishes(&nats.url(), "lab.site-a.ba400-1.cmd", p, "other").await;
    let p = serde_json::to_vec(&command("mine", "S-4")).unwrap();
    app_publishes(&nats.url(), "lab.site-a.cobas-1.cmd", p, "mine").await;
    let got = next(&mut queue).await;
    assert_eq!(got.command().id, "mine");
    got.accepted().await.unwrap();
}

#[tokio::test]
async fn an_invalid_command_is_terminated_and_reported_as_an_error_event() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut errors = client.subscribe("lab.site-a.cobas-1.error").await.unwrap();
    sync_interest(&client).await;

    let mut queue = open(&router, "cobas-1").await;
    app_publishes(
        &nats.url(),
        "lab.site-a.cobas-1.cmd",
        b"{not json".to_vec(),
        "bad",
    )
    .await;
    let good = serde_json::to_vec(&command("c-5", "S-5")).unwrap();
    app_publishes(&nats.url(), "lab.site-a.cobas-1.cmd", good, "c-5").await;

    // The bad one is skipped, the good one comes through.
    let got = next(&mut queue).await;
    assert_eq!(got.command().id, "c-5");
    got.accepted().await.unwrap();

    let msg = tokio::time::timeout(Duration::from_secs(5), errors.next())
        .await
        .unwrap()
        .unwrap();
    let ev: Event = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(ev.kind, EventKind::Error);
    let err = ev.error.unwrap();
    assert!(err.reason.contains("labwire.command/v1"), "{}", err.reason);
    assert_eq!(err.offset, Some(1));
    assert_eq!(ev.raw.as_deref(), Some("{not json"));

    // Terminated: never redelivered, even after ack_wait.
    let again = tokio::time::timeout(Duration::from_millis(1500), queue.next()).await;
    assert!(again.is_err(), "terminated command came back");
}

#[tokio::test]
async fn the_queue_keeps_delivering_after_the_server_restarts() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    let mut queue = open(&router, "cobas-1").await;
    nats.kill();
    nats.restart().unwrap();
    wait_for(Duration::from_secs(10), || router.bus().is_ready()).await;
    let payload = serde_json::to_vec(&command("c-after", "S-7")).unwrap();
    app_publishes(&nats.url(), "lab.site-a.cobas-1.cmd", payload, "c-after").await;
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match queue.next().await {
                Some(Ok(cmd)) => return cmd,
                Some(Err(e)) => eprintln!("transient: {e}"),
                None => panic!("command stream ended"),
            }
        }
    })
    .await
    .expect("no command within 20 s after the restart");
    assert_eq!(got.command().id, "c-after");
    got.accepted().await.unwrap();
}
