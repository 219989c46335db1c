#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The ASTM connector over real TCP sockets, against a simulated instrument running the real
//! E1381 link in the instrument role. The ingest is in memory here; `end_to_end_nats.rs` runs the
//! same paths through a real nats-server.

mod common;

use common::astm_instrument::AstmInstrument;
use common::*;
use labwire_astm::link::{FrameEnd, FrameNumber, SendFailure, encode_frame};
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::transport::OnSecondConnection;
use labwire_connectors::{CommandOutcome, ConnectorContext, LinkHealth, MemoryIngest};
use labwire_event::{EventKind, Order, QueryReply};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const RESULT: &[u8] = ASTM_RESULT;
const QUERY: &[u8] =
    b"H|\\^&|||c311^1.0|||||||P|LIS2-A2|20261126101500\rQ|1|^S1||ALL||||||||O\rL|1|N\r";

fn astm_config() -> AstmConfig {
    let mut c = AstmConfig::default();
    c.link.receiver_timeout = Duration::from_millis(600);
    c.link.sender_timeout = Duration::from_secs(2);
    c.link.host_contention_wait = Duration::from_millis(200);
    c
}

struct Running {
    addr: SocketAddr,
    health: LinkHealth,
    spawned: Spawned,
}

impl Running {
    async fn stop(self) {
        self.spawned.stop().await;
    }
}

async fn start(
    ingest: &MemoryIngest,
    name: &str,
    policy: OnSecondConnection,
    tweak: impl FnOnce(&mut ConnectorContext<MemoryIngest>),
) -> Running {
    let (transport, addr) = tcp_server(&["127.0.0.1"], policy).await;
    let mut ctx = context(ingest.clone(), name);
    tweak(&mut ctx);
    let spawned = spawn(AstmConnector::new(astm_config()), transport, ctx);
    Running {
        addr,
        health: spawned.health.clone(),
        spawned,
    }
}

async fn instrument(addr: SocketAddr) -> AstmInstrument<TcpStream> {
    AstmInstrument::new(TcpStream::connect(addr).await.unwrap())
}

fn results(ingest: &MemoryIngest) -> usize {
    ingest.of_kind(EventKind::Result).len()
}

#[tokio::test]
async fn a_result_is_acknowledged_once_it_is_durable() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-1", OnSecondConnection::Refuse, |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(RESULT).await.unwrap();
    let events = ingest.of_kind(EventKind::Result);
    assert_eq!(events.len(), 1, "stored before the final ACK");
    assert_eq!(events[0].observations[0].value.as_deref(), Some("5.4"));
    assert_eq!(
        events[0].specimen.as_ref().unwrap().id.as_deref(),
        Some("S1")
    );
    assert_eq!(c.health.snapshot().messages, 1);
    c.stop().await;
}

#[tokio::test]
async fn an_ingest_outage_naks_the_final_frame_and_the_retransmission_is_stored() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-2", OnSecondConnection::Refuse, |_| {}).await;
    let mut inst = instrument(c.addr).await;
    // The link's own status event goes first; then exactly one refused submit.
    wait_until(&ingest, "connected", |e| count_state(e, "connected") == 1).await;
    ingest.fail_next(1);
    inst.send(RESULT).await.unwrap();
    assert_eq!(results(&ingest), 1);
    let h = c.health.snapshot();
    assert_eq!(h.naks_sent, 1, "{h:?}");
    assert_eq!(h.ingest_failures, 1, "{h:?}");
    c.stop().await;
}

#[tokio::test]
async fn a_permanent_outage_never_acknowledges() {
    let ingest = MemoryIngest::new();
    ingest.set_failing(true);
    let c = start(&ingest, "c311-3", OnSecondConnection::Refuse, |_| {}).await;
    let mut inst = instrument(c.addr).await;
    assert_eq!(
        inst.send(RESULT).await,
        Err(Some(SendFailure::TooManyRetries))
    );
    let h = c.health.snapshot();
    assert_eq!(h.messages, 0);
    assert!(h.naks_sent >= 6, "{h:?}");
    c.stop().await;
}

#[tokio::test]
async fn a_host_query_is_answered_with_the_apps_orders() {
    let ingest = MemoryIngest::new();
    ingest.answer(
        "S1",
        QueryReply {
            orders: vec![Order {
                specimen_id: "S1".into(),
                tests: vec!["GLU".into(), "CREA".into()],
                ..Order::default()
            }],
        },
    );
    let c = start(&ingest, "c311-4", OnSecondConnection::Refuse, |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(QUERY).await.unwrap();
    let answer = inst
        .receive(Duration::from_secs(5))
        .await
        .expect("an answer");
    let text = String::from_utf8(answer).unwrap();
    assert!(
        text.contains("\rO|1|S1||^^^GLU\\^^^CREA|R||||||A||||||||||||||Q\r"),
        "{text}"
    );
    assert!(text.ends_with("L|1|F\r"), "{text}");
    let q = ingest.of_kind(EventKind::Query);
    assert_eq!(
        q[0].query.as_ref().unwrap().specimen_ids,
        vec!["S1".to_owned()]
    );
    c.stop().await;
}

#[tokio::test]
async fn an_unanswered_host_query_gets_no_information() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-5", OnSecondConnection::Refuse, |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(QUERY).await.unwrap();
    let answer = inst
        .receive(Duration::from_secs(5))
        .await
        .expect("an answer");
    assert!(
        answer.ends_with(b"\rL|1|I\r"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    c.stop().await;
}

#[tokio::test]
async fn orders_from_the_command_consumer_are_downloaded_when_the_line_is_idle() {
    let ingest = MemoryIngest::new();
    let (tx, rx) = mpsc::channel(4);
    let c = start(&ingest, "c311-6", OnSecondConnection::Refuse, |ctx| {
        ctx.commands = Some(rx)
    })
    .await;
    let mut inst = instrument(c.addr).await;
    let (command, outcome) = delivery(
        "cmd-1",
        Order {
            specimen_id: "S7".into(),
            tests: vec!["NA".into()],
            priority: Some("S".into()),
            ..Order::default()
        },
    );
    tx.send(command).await.unwrap();
    let got = inst
        .receive(Duration::from_secs(5))
        .await
        .expect("a download");
    let text = String::from_utf8(got).unwrap();
    assert!(
        text.contains("\rO|1|S7||^^^NA|S||||||A||||||||||||||O\r"),
        "{text}"
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(2), outcome)
            .await
            .unwrap()
            .unwrap(),
        CommandOutcome::Delivered
    );
    // And results still flow the other way afterwards.
    inst.send(RESULT).await.unwrap();
    assert_eq!(results(&ingest), 1);
    c.stop().await;
}

#[tokio::test]
async fn a_cable_pulled_mid_frame_ends_in_a_status_event_and_a_clean_reconnect() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-7", OnSecondConnection::Refuse, |_| {}).await;
    let mut raw = TcpStream::connect(c.addr).await.unwrap();
    raw.write_all(&[0x05]).await.unwrap();
    let mut ack = [0u8; 1];
    raw.read_exact(&mut ack).await.unwrap();
    assert_eq!(ack, [0x06]);
    raw.write_all(b"\x021H|\\^&|||c311").await.unwrap();
    drop(raw);
    let events = wait_until(&ingest, "disconnect", |e| {
        count_state(e, "disconnected") == 1
    })
    .await;
    assert_eq!(count_state(&events, "connected"), 1);
    let mut inst = instrument(c.addr).await;
    inst.send(RESULT).await.unwrap();
    assert_eq!(results(&ingest), 1);
    assert_eq!(c.health.snapshot().reconnects, 1);
    c.stop().await;
}

#[tokio::test]
async fn garbage_and_a_bad_checksum_become_error_events_and_the_link_keeps_serving() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-8", OnSecondConnection::Refuse, |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.stream
        .write_all(b"\x00\xffnoise on the line\r\n")
        .await
        .unwrap();
    // A frame with a wrong checksum inside a transfer: NAKed, then the real message.
    inst.stream.write_all(&[0x05]).await.unwrap();
    let mut b = [0u8; 1];
    inst.stream.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x06]);
    inst.stream
        .write_all(b"\x021H|\\^&\r\x0300\r\n")
        .await
        .unwrap();
    inst.stream.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x15], "bad checksum is NAKed");
    inst.stream.write_all(&[0x04]).await.unwrap();
    inst.send(RESULT).await.unwrap();
    let events = wait_until(&ingest, "result and errors", |e| {
        e.iter().any(|e| e.kind == EventKind::Result)
            && e.iter().filter(|e| e.kind == EventKind::Error).count() >= 2
    })
    .await;
    let errors: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Error)
        .collect();
    assert!(
        errors
            .iter()
            .all(|e| e.error.as_ref().unwrap().offset.is_some())
    );
    let h = c.health.snapshot();
    assert!(h.checksum_errors >= 1 && h.naks_sent >= 1, "{h:?}");
    c.stop().await;
}

#[tokio::test]
async fn a_byte_by_byte_sender_is_served() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-9", OnSecondConnection::Refuse, |_| {}).await;
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    let mut b = [0u8; 1];
    s.write_all(&[0x05]).await.unwrap();
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x06]);
    let mut frame = Vec::new();
    encode_frame(FrameNumber::FIRST, RESULT, FrameEnd::Last, &mut frame);
    for byte in &frame {
        s.write_all(std::slice::from_ref(byte)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x06]);
    s.write_all(&[0x04]).await.unwrap();
    assert_eq!(results(&ingest), 1);
    c.stop().await;
}

#[tokio::test]
async fn a_frame_that_never_ends_is_cut_at_the_limit() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-10", OnSecondConnection::Refuse, |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.stream.write_all(&[0x05]).await.unwrap();
    let mut b = [0u8; 1];
    inst.stream.read_exact(&mut b).await.unwrap();
    inst.stream.write_all(b"\x021").await.unwrap();
    let chunk = vec![b'A'; 8192];
    for _ in 0..10 {
        inst.stream.write_all(&chunk).await.unwrap();
    }
    wait_until(&ingest, "over-long frame error", |e| {
        e.iter().any(|e| e.kind == EventKind::Error)
    })
    .await;
    // After the receiver timer the link is neutral again and a real message goes through.
    inst.stream.write_all(&[0x04]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut sink = [0u8; 64];
    let _ = tokio::time::timeout(Duration::from_millis(50), inst.stream.read(&mut sink)).await;
    inst.send(RESULT).await.unwrap();
    assert_eq!(results(&ingest), 1);
    c.stop().await;
}

#[tokio::test]
async fn an_enq_flood_does_not_wedge_the_link() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-11", OnSecondConnection::Refuse, |_| {}).await;
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    s.write_all(&[0x05; 5000]).await.unwrap();
    s.write_all(&[0x04]).await.unwrap();
    // Drain what the host answered, then behave.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut sink = vec![0u8; 8192];
    let answered = tokio::time::timeout(Duration::from_millis(100), s.read(&mut sink))
        .await
        .map_or(0, |r| r.unwrap());
    assert!(
        answered <= 16,
        "the flood is not answered byte for byte ({answered})"
    );
    let mut inst = AstmInstrument::new(s);
    inst.send(RESULT).await.unwrap();
    assert_eq!(results(&ingest), 1);
    c.stop().await;
}

#[tokio::test]
async fn a_silent_peer_is_timed_out_and_disconnected() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-12", OnSecondConnection::Refuse, |ctx| {
        ctx.config.idle_timeout = Some(Duration::from_millis(1500));
    })
    .await;
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    s.write_all(&[0x05]).await.unwrap();
    // Half-open: the peer never says anything again.
    let events = wait_until(&ingest, "idle disconnect", |e| {
        count_state(e, "disconnected") == 1
    })
    .await;
    let detail = status_detail(&events, "disconnected");
    assert!(detail.starts_with("idle timeout"), "{detail}");
    let h = c.health.snapshot();
    assert!(h.timeouts >= 2, "receiver timer and idle timeout: {h:?}");
    // The socket was closed by us.
    let mut b = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return 0,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(n, 0);
    c.stop().await;
}

#[tokio::test]
async fn a_second_connection_is_refused_and_reported() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-13", OnSecondConnection::Refuse, |_| {}).await;
    let mut first = instrument(c.addr).await;
    first.send(RESULT).await.unwrap();
    let mut second = TcpStream::connect(c.addr).await.unwrap();
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), second.read(&mut b))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "second connection closed");
    wait_until(&ingest, "refusal status", |e| {
        count_state(e, "second-connection-refused") == 1
    })
    .await;
    // The first keeps working.
    first.send(RESULT).await.unwrap();
    c.stop().await;
}

#[tokio::test]
async fn a_second_connection_replaces_a_stale_one_when_configured() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-14", OnSecondConnection::Replace, |_| {}).await;
    let stale = TcpStream::connect(c.addr).await.unwrap();
    wait_until(&ingest, "first connected", |e| {
        count_state(e, "connected") == 1
    })
    .await;
    let mut fresh = instrument(c.addr).await;
    fresh.send(RESULT).await.unwrap();
    let events = wait_until(&ingest, "replacement", |e| {
        count_state(e, "connection-replaced") == 1
    })
    .await;
    assert_eq!(count_state(&events, "connected"), 2);
    assert_eq!(results(&ingest), 1);
    drop(stale);
    c.stop().await;
}

#[tokio::test]
async fn a_download_and_a_result_at_the_same_time_both_get_through() {
    let ingest = MemoryIngest::new();
    let (tx, rx) = mpsc::channel(4);
    let c = start(&ingest, "c311-15", OnSecondConnection::Refuse, |ctx| {
        ctx.commands = Some(rx)
    })
    .await;
    let mut inst = instrument(c.addr).await;
    // Both sides want to send at once; contention (if the ENQs cross) goes to the instrument.
    let (command, outcome) = delivery(
        "cmd-2",
        Order {
            specimen_id: "S8".into(),
            tests: vec!["K".into()],
            ..Order::default()
        },
    );
    tx.send(command).await.unwrap();
    inst.send(RESULT).await.unwrap();
    let got = inst
        .receive(Duration::from_secs(5))
        .await
        .expect("download after contention");
    assert!(String::from_utf8_lossy(&got).contains("O|1|S8||^^^K"));
    assert_eq!(outcome.await.unwrap(), CommandOutcome::Delivered);
    assert_eq!(results(&ingest), 1);
    c.stop().await;
}

#[tokio::test]
async fn a_peer_outside_the_allow_list_is_refused_and_reported() {
    let ingest = MemoryIngest::new();
    let (transport, addr) = tcp_server(&["10.0.0.0/8"], OnSecondConnection::Refuse).await;
    let c = spawn(
        AstmConnector::new(astm_config()),
        transport,
        context(ingest.clone(), "c311-16"),
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut b))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "closed at once");
    let events = wait_until(&ingest, "peer-refused", |e| {
        count_state(e, "peer-refused") == 1
    })
    .await;
    assert_eq!(count_state(&events, "connected"), 0);
    c.stop().await;
}

#[tokio::test]
async fn bare_records_without_a_link_layer_are_served_too() {
    use labwire_connectors::astm_records::AstmRecordsConnector;
    let ingest = MemoryIngest::new();
    let (transport, addr) = tcp_server(&[], OnSecondConnection::Refuse).await;
    let c = spawn(
        AstmRecordsConnector::new(astm_config()),
        transport,
        context(ingest.clone(), "c311-17"),
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"R|1|stray record\r").await.unwrap();
    s.write_all(RESULT).await.unwrap();
    s.write_all(QUERY).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    while !answer.ends_with(b"L|1|I\r") {
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"H|\\^&|||labwire|"));
    let events = wait_until(&ingest, "result and error", |e| {
        e.iter().any(|e| e.kind == EventKind::Result)
            && e.iter().any(|e| e.kind == EventKind::Error)
    })
    .await;
    let err = events.iter().find(|e| e.kind == EventKind::Error).unwrap();
    assert_eq!(err.error.as_ref().unwrap().offset, Some(0));
    c.stop().await;
}

#[tokio::test]
async fn a_download_cut_off_by_a_disconnect_is_reported_failed_for_redelivery() {
    let ingest = MemoryIngest::new();
    let (tx, rx) = mpsc::channel(4);
    let c = start(&ingest, "c311-18", OnSecondConnection::Refuse, |ctx| {
        ctx.commands = Some(rx)
    })
    .await;
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    let (command, outcome) = delivery(
        "cmd-cut",
        Order {
            specimen_id: "S5".into(),
            tests: vec!["GLU".into()],
            ..Order::default()
        },
    );
    tx.send(command).await.unwrap();
    // labwire starts the transfer: ENQ. The instrument accepts, takes the first frame, and the
    // cable is pulled before it answers.
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x05]);
    s.write_all(&[0x06]).await.unwrap();
    let mut frame = [0u8; 16];
    let n = s.read(&mut frame).await.unwrap();
    assert!(n > 0 && frame[0] == 0x02, "a frame follows the ACK");
    drop(s);
    let r = tokio::time::timeout(Duration::from_secs(3), outcome)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&r, CommandOutcome::Failed(why) if why.contains("connection ended")),
        "{r:?}"
    );
    // A new connection serves results as usual.
    let mut inst = instrument(c.addr).await;
    inst.send(RESULT).await.unwrap();
    assert_eq!(results(&ingest), 1);
    c.stop().await;
}

#[tokio::test]
async fn a_cable_pulled_after_the_final_ack_loses_nothing() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "c311-19", OnSecondConnection::Refuse, |_| {}).await;
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    let mut b = [0u8; 1];
    s.write_all(&[0x05]).await.unwrap();
    s.read_exact(&mut b).await.unwrap();
    let mut frame = Vec::new();
    encode_frame(FrameNumber::FIRST, RESULT, FrameEnd::Last, &mut frame);
    s.write_all(&frame).await.unwrap();
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x06], "final ACK only once stored");
    assert_eq!(results(&ingest), 1);
    drop(s); // no EOT: termination phase never happens
    wait_until(&ingest, "disconnect", |e| {
        count_state(e, "disconnected") == 1
    })
    .await;
    let mut inst = instrument(c.addr).await;
    inst.send(RESULT).await.unwrap();
    let stored = ingest.of_kind(EventKind::Result);
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0].id, stored[1].id,
        "a resend has the same id: stored once on the bus"
    );
    c.stop().await;
}
