//! Shared helpers of the router integration tests: events, a bus on a real server, reading the
//! stream back.
#![allow(dead_code)]

use labwire_event::{Event, EventKind, InstrumentId, Origin, Protocol, SiteId};
use labwire_router::{Bus, BusOptions, RouterStats};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The test site.
pub fn site() -> SiteId {
    SiteId::new("site-a").unwrap()
}

/// A test instrument id.
pub fn instrument(name: &str) -> InstrumentId {
    InstrumentId::new(name).unwrap()
}

/// Result event number `n` from instrument `inst`, with a payload of about `pad` bytes.
pub fn result_event(inst: &str, n: u32, pad: usize) -> Event {
    let origin = Origin {
        site: site(),
        instrument: instrument(inst),
        received_at: "2026-11-26T10:15:00Z".parse().unwrap(),
    };
    let raw = format!("R|{n}|^^^GLU|5.4|mmol/L{}", "x".repeat(pad));
    let mut ev = origin.event(EventKind::Result, Protocol::Astm, raw.as_bytes(), 0);
    ev.raw = Some(raw.into());
    ev
}

/// Bus options for a test server, with a short ack deadline.
pub fn bus_options(url: &str) -> BusOptions {
    let mut o = BusOptions::new(url);
    o.ack_deadline = Duration::from_millis(500);
    o.connect_timeout = Duration::from_millis(500);
    o
}

/// Connects a bus to `url` and waits until it is ready.
pub async fn ready_bus(url: &str) -> Bus {
    let bus = Bus::connect(bus_options(url), Arc::new(RouterStats::default()))
        .await
        .unwrap();
    wait_for(Duration::from_secs(5), || bus.is_ready()).await;
    bus
}

/// Polls `cond` every 20 ms until it holds; panics after `limit`.
pub async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message in the stream `LAB` as (sequence → msg-id), read with a fresh client.
pub async fn stream_ids(url: &str) -> BTreeMap<u64, String> {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("LAB").await.unwrap();
    let info = stream.info().await.unwrap().clone();
    let mut out = BTreeMap::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        if info.state.messages == 0 {
            break;
        }
        let msg = stream.get_raw_message(seq).await.unwrap();
        let id = msg
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        out.insert(seq, id);
    }
    out
}

/// Number of messages in the stream `LAB`.
pub async fn stream_len(url: &str) -> u64 {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("LAB").await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// Router options for a test server and a spool file in `dir`.
pub fn router_options(url: &str, dir: &std::path::Path) -> labwire_router::RouterOptions {
    let spool = labwire_router::SpoolOptions::new(dir.join("spool.db"));
    let mut o = labwire_router::RouterOptions::new(bus_options(url), spool);
    o.drain.max_backoff = Duration::from_millis(200);
    o
}

/// Starts a router and waits until its bus is ready.
pub async fn ready_router(url: &str, dir: &std::path::Path) -> labwire_router::Router {
    let router = labwire_router::Router::start(router_options(url, dir))
        .await
        .unwrap();
    wait_for(Duration::from_secs(5), || router.bus().is_ready()).await;
    router
}

/// The payload of every message in the stream, in stream order, decoded as events.
pub async fn stream_events(url: &str) -> Vec<Event> {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("LAB").await.unwrap();
    let info = stream.info().await.unwrap().clone();
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return out;
    }
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let msg = stream.get_raw_message(seq).await.unwrap();
        out.push(serde_json::from_slice(&msg.payload).unwrap());
    }
    out
}

/// Waits until the server has processed everything `client` sent so far (its subscriptions
/// included): `flush` only writes to the socket, so do a request/reply round trip on the same
/// connection. Needed before another connection publishes to a fresh subscription.
pub async fn sync_interest(client: &async_nats::Client) {
    client.flush().await.unwrap();
    // Any request answered by the server itself will do: the JetStream account info.
    client
        .request("$JS.API.INFO", bytes::Bytes::new())
        .await
        .unwrap();
}
