#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The whole path, as the demo runs it: simulated ASTM and HL7 instruments (faults on) → labwire's
//! connectors → router (JetStream + spool) → a real nats-server; the verifier reconciles the
//! ledger with a core subscription and with the `LAB` stream.

use futures::StreamExt;
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::transport::{OnSecondConnection, TcpServer, TcpServerConfig, Transport};
use labwire_connectors::{Connector, ConnectorContext, RouterIngest, run};
use labwire_event::{Event, InstrumentId, Order, QueryReply, SiteId};
use labwire_router::{BusOptions, Router, RouterOptions, SpoolOptions};
use labwire_sim::astm_session::AstmInstrument;
use labwire_sim::fault::{FaultKind, FaultPlan, ScriptedFault};
use labwire_sim::hl7_session::Hl7Instrument;
use labwire_sim::ledger::Ledger;
use labwire_sim::verify::{Collector, connect, read_stream, reconcile_stored};
use labwire_sim::wire::Endpoint;
use labwire_sim::{Profile, SimMessage, Traffic, TrafficConfig};
use labwire_tests::NatsServer;
use std::time::Duration;

fn site() -> SiteId {
    SiteId::new("site-a").unwrap()
}

async fn start_router(nats: &NatsServer) -> Router {
    let mut bus = BusOptions::new(nats.url());
    bus.ack_deadline = Duration::from_millis(500);
    let router = Router::start(RouterOptions::new(
        bus,
        SpoolOptions::new(nats.dir().join("spool.db")),
    ))
    .await
    .unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while !router.bus().is_ready() {
        assert!(tokio::time::Instant::now() < end, "bus not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    router
}

async fn start_connector<C: Connector>(router: &Router, connector: C, name: &str) -> String {
    let server = TcpServer::bind(TcpServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_peers: Vec::new(),
        on_second_connection: OnSecondConnection::Replace,
        ..TcpServerConfig::new("127.0.0.1:0".parse().unwrap())
    })
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    let ingest = RouterIngest::new(router).with_query_timeout(Duration::from_secs(2));
    let ctx = ConnectorContext::new(site(), InstrumentId::new(name).unwrap(), ingest);
    tokio::spawn(run(connector, Transport::from(server), ctx));
    addr
}

/// The lab app: answers every host query with one order per specimen.
fn spawn_query_app(client: async_nats::Client) {
    tokio::spawn(async move {
        let mut queries = client.subscribe("lab.site-a.*.query").await.unwrap();
        while let Some(msg) = queries.next().await {
            let Ok(ev) = serde_json::from_slice::<Event>(&msg.payload) else {
                continue;
            };
            let orders = ev
                .query
                .unwrap_or_default()
                .specimen_ids
                .into_iter()
                .map(|s| Order {
                    specimen_id: s,
                    tests: vec!["717/".into()],
                    ..Order::default()
                })
                .collect();
            if let Some(to) = msg.reply {
                let reply = serde_json::to_vec(&QueryReply { orders }).unwrap();
                client.publish(to, reply.into()).await.unwrap();
            }
        }
    });
}

fn plan() -> FaultPlan {
    let at = |message, kind| ScriptedFault { message, kind };
    FaultPlan::scripted(vec![
        at(1, FaultKind::Garbage),
        at(2, FaultKind::ByteByByte),
        at(3, FaultKind::LostAck),
        at(4, FaultKind::DisconnectMidFrame),
        at(5, FaultKind::BadChecksum),
        at(6, FaultKind::Oversize),
    ])
}

fn messages(profile: &Profile, index: u32, n: usize) -> Vec<SimMessage> {
    let mut t = Traffic::new(
        profile.clone(),
        TrafficConfig {
            seed: 11,
            instrument_index: index,
            start: "2026-11-26T08:00:00".parse().unwrap(),
            canary: None,
        },
    );
    (0..n)
        .map(|i| SimMessage::build(profile, &t.next_work(), i as u64))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulators_through_labwire_to_nats_lose_nothing_and_the_stream_stores_each_event_once() {
    let nats = NatsServer::start().unwrap();
    let router = start_router(&nats).await;
    let client = connect(&nats.url()).await.unwrap();
    spawn_query_app(client.clone());
    let collector = Collector::subscribe(&client, &site()).await.unwrap();
    let astm_addr = start_connector(
        &router,
        AstmConnector::new(AstmConfig::default()),
        "cobas-c111-1",
    )
    .await;
    let hl7_addr =
        start_connector(&router, Hl7Connector::new(Hl7Config::default()), "ba400-1").await;

    let ledger = Ledger::new();
    let mut astm_profile = Profile::load("cobas-c111").unwrap();
    astm_profile.timers.ack_timeout_ms = 3_000;
    astm_profile.timers.busy_retry_ms = 100;
    astm_profile.timers.query_reply_ms = 5_000;
    let mut hl7_profile = Profile::load("ba400").unwrap();
    hl7_profile.timers.ack_timeout_ms = 3_000;
    let mut astm = AstmInstrument::new(
        site(),
        InstrumentId::new("cobas-c111-1").unwrap(),
        astm_profile.clone(),
        Endpoint::Connect(astm_addr),
        plan(),
        ledger.clone(),
        1,
    );
    let mut hl7 = Hl7Instrument::new(
        site(),
        InstrumentId::new("ba400-1").unwrap(),
        hl7_profile.clone(),
        Endpoint::Connect(hl7_addr),
        plan(),
        ledger.clone(),
        2,
    );
    let astm_task = tokio::spawn(async move {
        for m in messages(&astm_profile, 0, 12) {
            assert!(astm.send(&m).await.unwrap(), "astm message acknowledged");
        }
    });
    let hl7_task = tokio::spawn(async move {
        for m in messages(&hl7_profile, 1, 12) {
            assert!(hl7.send(&m).await.unwrap(), "hl7 message acknowledged");
        }
    });
    astm_task.await.unwrap();
    hl7_task.await.unwrap();

    let entries = ledger.entries();
    let core = collector.wait_for(&entries, Duration::from_secs(10)).await;
    eprintln!(
        "core subscription: {core}  (id_mismatch={} unexpected={} rejected={})",
        core.id_mismatch, core.unexpected, core.rejected
    );
    assert_eq!(
        (core.sent, core.delivered, core.lost, core.id_mismatch),
        (24, 24, 0, 0),
        "{core:?}"
    );
    // The lost ACKs made both instruments send message 3 twice; the router published it twice
    // (same Nats-Msg-Id), which a core subscriber sees.
    assert!(core.duplicates > 0);
    let stream = reconcile_stored(
        &entries,
        &read_stream(&client, "LAB", &site()).await.unwrap(),
    );
    let stored = entries
        .iter()
        .filter(|e| e.kind != labwire_event::EventKind::Query)
        .count();
    eprintln!("stream LAB:        {stream}");
    assert_eq!(
        (
            stream.sent,
            stream.delivered,
            stream.lost,
            stream.duplicates,
            stream.id_mismatch
        ),
        (stored, stored, 0, 0, 0),
        "the stream stores every event once: {stream:?}"
    );
    let queries: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == labwire_event::EventKind::Query)
        .collect();
    assert!(
        queries
            .iter()
            .all(|q| q.orders_received.is_some_and(|n| n >= 1)),
        "{queries:?}"
    );
}
