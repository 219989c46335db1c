#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg(feature = "router")]
//! An ASTM and an HL7 instrument exchanging results, host queries and orders with an app on a
//! real nats-server, through the real router (JetStream + spool), the connectors and real TCP
//! sockets. The "app" is a plain NATS client.

mod common;

use common::astm_instrument::AstmInstrument;
use common::hl7_instrument::{Hl7Instrument, field};
use common::*;
use futures::StreamExt;
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::transport::{OnSecondConnection, TcpServer, TcpServerConfig, Transport};
use labwire_connectors::{Connector, RouterIngest, run, spawn_command_pump};
use labwire_event::{COMMAND_SCHEMA, Command, Event, Order, Protocol, QueryReply};
use labwire_router::{CommandOptions, CommandTarget, Router};
use labwire_tests::NatsServer;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(5);

/// Starts a connector on a fresh port with the router's ingest and command queue.
async fn start_connector<C: Connector>(
    router: &Router,
    connector: C,
    name: &str,
) -> (SocketAddr, CancellationToken) {
    let server = TcpServer::bind(TcpServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_peers: Vec::new(),
        on_second_connection: OnSecondConnection::Refuse,
        ..TcpServerConfig::new("127.0.0.1:0".parse().unwrap())
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let ingest = RouterIngest::new(router).with_query_timeout(Duration::from_secs(2));
    let mut ctx = context(ingest, name);
    let mut opts = CommandOptions::default();
    opts.retry_delay = Duration::from_millis(200);
    let queue = router
        .commands(
            CommandTarget {
                site: site(),
                instrument: instrument(name),
                protocol: connector.protocol(),
            },
            opts,
        )
        .await
        .unwrap();
    ctx.commands = Some(spawn_command_pump(queue, ctx.health.clone()));
    let shutdown = ctx.shutdown.clone();
    tokio::spawn(run(connector, Transport::from(server), ctx));
    (addr, shutdown)
}

/// The lab app: answers host queries for specimen `Q-*` with one order, others with nothing.
fn spawn_query_app(client: async_nats::Client) {
    tokio::spawn(async move {
        let mut queries = client.subscribe("lab.site-a.*.query").await.unwrap();
        while let Some(msg) = queries.next().await {
            let ev: Event = serde_json::from_slice(&msg.payload).unwrap();
            let q = ev.query.unwrap_or_default();
            let orders = q
                .specimen_ids
                .iter()
                .filter(|s| s.starts_with("Q-"))
                .map(|s| Order {
                    specimen_id: s.clone(),
                    tests: vec!["GLU".into()],
                    ..Order::default()
                })
                .collect();
            let reply = serde_json::to_vec(&QueryReply { orders }).unwrap();
            if let Some(to) = msg.reply {
                client.publish(to, reply.into()).await.unwrap();
            }
        }
    });
}

async fn publish_command(client: &async_nats::Client, instrument: &str, id: &str, specimen: &str) {
    let js = async_nats::jetstream::new(client.clone());
    let cmd = Command {
        schema: COMMAND_SCHEMA.into(),
        id: id.into(),
        orders: vec![Order {
            specimen_id: specimen.into(),
            tests: vec!["NA".into()],
            ..Order::default()
        }],
    };
    let msg = async_nats::jetstream::message::PublishMessage::build()
        .payload(serde_json::to_vec(&cmd).unwrap().into())
        .message_id(id);
    js.send_publish(format!("lab.site-a.{instrument}.cmd"), msg)
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn next_event(sub: &mut async_nats::Subscriber) -> Event {
    let msg = tokio::time::timeout(T, sub.next())
        .await
        .expect("event in time")
        .unwrap();
    serde_json::from_slice(&msg.payload).unwrap()
}

#[tokio::test]
async fn astm_and_hl7_instruments_exchange_results_queries_and_orders_with_an_app() {
    let nats = NatsServer::start().unwrap();
    let router = start_router(&nats).await;
    let app = async_nats::connect(nats.url()).await.unwrap();
    let mut results = app.subscribe("lab.site-a.*.result").await.unwrap();
    let mut statuses = app.subscribe("lab.site-a.*.status").await.unwrap();
    app.flush().await.unwrap();
    spawn_query_app(app.clone());

    let mut astm_cfg = AstmConfig::default();
    astm_cfg.link.host_contention_wait = Duration::from_millis(200);
    let (astm_addr, astm_stop) =
        start_connector(&router, AstmConnector::new(astm_cfg), "c311-e2e").await;
    let (hl7_addr, hl7_stop) = start_connector(
        &router,
        Hl7Connector::new(Hl7Config::default()),
        "ba400-e2e",
    )
    .await;

    // --- ASTM: a result, acknowledged after JetStream stored it.
    let mut astm = AstmInstrument::new(TcpStream::connect(astm_addr).await.unwrap());
    let connected = next_event(&mut statuses).await;
    assert_eq!(connected.status.unwrap().state, "connected");
    astm.send(b"H|\\^&|||c311\rP|1\rO|1|S-1||^^^GLU\rR|1|^^^GLU|5.4|mmol/L||N||F\rL|1|N\r")
        .await
        .unwrap();
    let ev = next_event(&mut results).await;
    assert_eq!(ev.instrument.as_str(), "c311-e2e");
    assert_eq!(ev.protocol, Protocol::Astm);
    assert_eq!(ev.observations[0].value.as_deref(), Some("5.4"));

    // --- ASTM: a host query the app answers, and one it has nothing for.
    astm.send(b"H|\\^&|||c311\rQ|1|^Q-7||ALL||||||||O\rL|1|N\r")
        .await
        .unwrap();
    let answer = String::from_utf8(astm.receive(T).await.unwrap()).unwrap();
    assert!(answer.contains("O|1|Q-7||^^^GLU"), "{answer}");
    astm.send(b"H|\\^&|||c311\rQ|1|^X-1||ALL||||||||O\rL|1|N\r")
        .await
        .unwrap();
    let answer = astm.receive(T).await.unwrap();
    assert!(answer.ends_with(b"L|1|I\r"));

    // --- ASTM: an order download published by the app on the cmd subject.
    publish_command(&app, "c311-e2e", "cmd-astm-1", "D-1").await;
    let download = String::from_utf8(astm.receive(T).await.unwrap()).unwrap();
    assert!(download.contains("O|1|D-1||^^^NA"), "{download}");

    // --- HL7: result, query, download.
    let mut hl7 = Hl7Instrument::new(TcpStream::connect(hl7_addr).await.unwrap());
    hl7.send(
        "MSH|^~\\&|BA400|Bio|Host|Lab|20261126||OUL^R22^OUL_R22|H1|P|2.5.1|||ER|AL\r\
         SPM|1|S-2||SER\rOBR||\"\"||CREA^Creatinine\rOBX|1|NM|CREA^Creatinine||1.1|mg/dL||N|||F\r",
    )
    .await;
    let ack = hl7.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AA");
    let ev = next_event(&mut results).await;
    assert_eq!(ev.instrument.as_str(), "ba400-e2e");
    assert_eq!(ev.observations[0].value.as_deref(), Some("1.1"));

    hl7.send(
        "MSH|^~\\&|BA400|Bio|Host|Lab|20261126||QBP^Q11^QBP_Q11|H2|P|2.5.1|||ER|AL\r\
         QPD|WOS^Work Order Step^IHE_LABTF|QT2|Q-9\rRCP|I||R\r",
    )
    .await;
    let rsp = hl7.recv(T).await.unwrap();
    assert_eq!(field(&rsp, "QAK", 2), "OK");
    assert_eq!(field(&rsp, "SPM", 2), "Q-9");

    publish_command(&app, "ba400-e2e", "cmd-hl7-1", "D-2").await;
    let oml = hl7.recv(T).await.unwrap();
    assert_eq!(field(&oml, "SPM", 2), "D-2");
    let id = field(&oml, "MSH", 10);
    hl7.send(&format!(
        "MSH|^~\\&|BA400|Bio|labwire||20261126||ORL^O34^ORL_O34|H3|P|2.5.1\rMSA|AA|{id}\r"
    ))
    .await;

    // The commands were acked on the bus, so nothing is redelivered: both instruments' command
    // consumers report nothing pending and nothing awaiting an ack (the positive signal).
    commands_all_acked(&app, &["c311-e2e", "ba400-e2e"]).await;

    astm_stop.cancel();
    hl7_stop.cancel();
    router.shutdown().await;
}

#[tokio::test]
async fn with_the_bus_down_results_are_spooled_acknowledged_and_delivered_after_restart() {
    let mut nats = NatsServer::start().unwrap();
    let router = start_router(&nats).await;
    let (addr, stop) = start_connector(
        &router,
        AstmConnector::new(AstmConfig::default()),
        "c311-spool",
    )
    .await;
    let mut astm = AstmInstrument::new(TcpStream::connect(addr).await.unwrap());

    nats.kill();
    let sent = astm
        .send(b"H|\\^&|||c311\rP|1\rO|1|S-9||^^^K\rR|1|^^^K|4.1|mmol/L||N||F\rL|1|N\r")
        .await;
    assert_eq!(sent, Ok(()), "ACKed once spooled to disk");
    assert!(router.spool().depth() >= 1);

    nats.restart().unwrap();
    let app = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(app);
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = js.get_stream("LAB").await
            && let Ok(info) = stream.info().await
            && info.state.messages >= 1
            && router.spool().depth() == 0
        {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "spool not drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    router.shutdown().await;
}

#[tokio::test]
async fn a_download_the_instrument_refuses_is_redelivered_until_it_is_taken() {
    let nats = NatsServer::start().unwrap();
    let router = start_router(&nats).await;
    let app = async_nats::connect(nats.url()).await.unwrap();
    let cfg = Hl7Config {
        download_ack_timeout: Duration::from_secs(2),
        ..Hl7Config::default()
    };
    let (addr, stop) = start_connector(&router, Hl7Connector::new(cfg), "ba400-retry").await;
    let mut hl7 = Hl7Instrument::new(TcpStream::connect(addr).await.unwrap());
    publish_command(&app, "ba400-retry", "cmd-retry-1", "R-1").await;

    let answer = |code: &str, id: &str| {
        format!("MSH|^~\\&|BA400|Bio|labwire||20261126||ACK^O33^ACK|X|P|2.5.1\rMSA|{code}|{id}\r")
    };
    let first = hl7.recv(T).await.expect("first delivery");
    assert_eq!(field(&first, "SPM", 2), "R-1");
    hl7.send(&answer("AR", &field(&first, "MSH", 10))).await;
    let second = hl7.recv(T).await.expect("redelivered after the refusal");
    assert_eq!(field(&second, "SPM", 2), "R-1");
    assert_ne!(field(&second, "MSH", 10), field(&first, "MSH", 10));
    hl7.send(&answer("AA", &field(&second, "MSH", 10))).await;
    // Taken: acked on the bus, not offered again.
    assert_eq!(hl7.recv(Duration::from_millis(800)).await, None);
    let js = async_nats::jetstream::new(app.clone());
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("LAB")
        .await
        .unwrap()
        .get_consumer("cmd-site-a_ba400-retry")
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(info.num_ack_pending, 0, "{info:?}");
    assert_eq!(info.num_pending, 0, "{info:?}");

    stop.cancel();
    router.shutdown().await;
}

/// Waits until the command consumer of each instrument has every delivered command acked and
/// none pending.
async fn commands_all_acked(app: &async_nats::Client, instruments: &[&str]) {
    let js = async_nats::jetstream::new(app.clone());
    let stream = js.get_stream("LAB").await.unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    for instrument in instruments {
        let name = format!("cmd-{}_{instrument}", site());
        loop {
            let info = stream
                .consumer_info(&name)
                .await
                .unwrap_or_else(|e| panic!("consumer {name}: {e}"));
            if info.num_ack_pending == 0
                && info.num_pending == 0
                && info.delivered.stream_sequence > 0
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "{name}: commands not acked: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
