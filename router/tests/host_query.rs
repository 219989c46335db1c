#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Host queries over real NATS request/reply: answered, no responder, too slow, bad reply.

mod common;

use common::*;
use futures::StreamExt;
use labwire_event::{Event, EventKind, HostQuery, Order, QueryReply};
use labwire_router::{NoOrdersReason, QueryOutcome};
use labwire_tests::NatsServer;
use std::time::{Duration, Instant};

fn query_event(specimen: &str) -> Event {
    let mut ev = result_event("cobas-1", 0, 0);
    ev.kind = EventKind::Query;
    ev.query = Some(HostQuery {
        specimen_ids: vec![specimen.to_owned()],
        tests: vec!["ALL".into()],
        status_code: Some("O".into()),
        query_tag: None,
    });
    ev
}

/// A lab app answering queries on `subject` with `answer(payload)` after `delay`.
async fn responder(
    url: &str,
    subject: &str,
    delay: Duration,
    answer: impl Fn(&Event) -> Vec<u8> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let client = async_nats::connect(url).await.unwrap();
    let mut sub = client.subscribe(subject.to_owned()).await.unwrap();
    sync_interest(&client).await;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let ev: Event = serde_json::from_slice(&msg.payload).unwrap();
            tokio::time::sleep(delay).await;
            let reply = msg.reply.unwrap();
            client.publish(reply, answer(&ev).into()).await.unwrap();
            client.flush().await.unwrap();
        }
    })
}

#[tokio::test]
async fn an_app_answers_a_host_query_with_orders() {
    let nats = NatsServer::start().unwrap();
    let bus = ready_bus(&nats.url()).await;
    let app = responder(&nats.url(), "lab.site-a.*.query", Duration::ZERO, |ev| {
        let specimen = ev.query.as_ref().unwrap().specimen_ids[0].clone();
        let reply = QueryReply {
            orders: vec![Order {
                specimen_id: specimen,
                tests: vec!["GLU".into(), "CREA".into()],
                ..Default::default()
            }],
        };
        serde_json::to_vec(&reply).unwrap()
    })
    .await;

    let outcome = bus
        .host_query(&query_event("S-42"), Duration::from_secs(2))
        .await;
    let QueryOutcome::Orders(reply) = outcome else {
        panic!("expected orders, got {outcome:?}");
    };
    assert_eq!(reply.orders[0].specimen_id, "S-42");
    assert_eq!(reply.orders[0].tests, ["GLU", "CREA"]);
    // The query was not stored in the stream.
    assert_eq!(stream_len(&nats.url()).await, 0);
    app.abort();
}

#[tokio::test]
async fn without_a_responder_the_answer_is_no_orders_at_once() {
    let nats = NatsServer::start().unwrap();
    let bus = ready_bus(&nats.url()).await;
    let t = Instant::now();
    let outcome = bus
        .host_query(&query_event("S-1"), Duration::from_secs(5))
        .await;
    assert_eq!(
        outcome,
        QueryOutcome::NoOrders(NoOrdersReason::NoResponders)
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_slow_app_gives_no_orders_after_the_timeout() {
    let nats = NatsServer::start().unwrap();
    let bus = ready_bus(&nats.url()).await;
    let app = responder(
        &nats.url(),
        "lab.site-a.cobas-1.query",
        Duration::from_secs(3),
        |_| b"{\"orders\":[]}".to_vec(),
    )
    .await;
    let t = Instant::now();
    let outcome = bus
        .host_query(&query_event("S-1"), Duration::from_millis(300))
        .await;
    assert_eq!(
        outcome,
        QueryOutcome::NoOrders(NoOrdersReason::Timeout(Duration::from_millis(300)))
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    app.abort();
}

#[tokio::test]
async fn a_bad_or_empty_reply_gives_no_orders_with_the_reason() {
    let nats = NatsServer::start().unwrap();
    let bus = ready_bus(&nats.url()).await;
    let app = responder(
        &nats.url(),
        "lab.site-a.cobas-1.query",
        Duration::ZERO,
        |ev| {
            if ev.query.as_ref().unwrap().specimen_ids[0] == "bad" {
                b"{\"orders\": [ oops".to_vec()
            } else {
                b"{\"orders\": []}".to_vec()
            }
        },
    )
    .await;
    let bad = bus
        .host_query(&query_event("bad"), Duration::from_secs(2))
        .await;
    let QueryOutcome::NoOrders(NoOrdersReason::BadReply(reason)) = bad else {
        panic!("{bad:?}");
    };
    assert!(reason.contains("byte offset 13"), "{reason}");
    let empty = bus
        .host_query(&query_event("S-9"), Duration::from_secs(2))
        .await;
    assert_eq!(empty, QueryOutcome::NoOrders(NoOrdersReason::AppHasNone));
    app.abort();
}
