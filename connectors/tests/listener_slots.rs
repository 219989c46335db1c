#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Who gets a listener's connection slots: a dead or quiet peer never locks the analyser out
//! (ASTM keeps one session at a time), and HL7 senders that open a connection per message are
//! served concurrently within per-listener and per-peer limits. Real TCP sockets throughout;
//! the takeover threshold runs on tokio's paused clock.

mod common;

use common::astm_instrument::AstmInstrument;
use common::hl7_instrument::{Hl7Instrument, field};
use common::*;
use labwire_astm::link::{FrameEnd, FrameNumber, encode_frame};
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::transport::Transport;
use labwire_connectors::{MemoryIngest, site};
use labwire_event::EventKind;
use labwire_hl7::mllp::{self, Framer, FramerConfig, FramerEvent};
use labwire_router::config::SiteConfig;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RESULT: &[u8] = ASTM_RESULT;

fn oru(control_id: &str, specimen: &str) -> String {
    format!(
        "MSH|^~\\&|BA400|Biosystems|Host|Lab|20261126101500||OUL^R22^OUL_R22|{control_id}|P|2.5.1\r\
         SPM|1|{specimen}||SER\r\
         OBR||\"\"||GLU^Glucose^A400\r\
         OBX|1|NM|GLU^Glucose^A400||5.4|mmol/L^mmol/L||N|||F\r"
    )
}

/// A listener built from a site config the way `labwire run` builds it (defaults included).
async fn listener_from_config(protocol: &str, extra: &str) -> (Transport, SocketAddr) {
    let port = labwire_tests::free_loopback_port().unwrap();
    let text = format!(
        "site = \"site-a\"\n[nats]\nurl = \"nats://127.0.0.1:4222\"\n[storage]\npath = \"x.db\"\n\
         [[instrument]]\nid = \"i1\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:{port}\"\n{extra}"
    );
    let site = SiteConfig::from_toml_str(&text, "site.toml").unwrap();
    let transport = site::transport_for(&site.instruments[0]).await.unwrap();
    (transport, format!("127.0.0.1:{port}").parse().unwrap())
}

/// Reads until the peer closes; no deadline (the paused clock would fire it while the runtime
/// waits on the socket), the close itself is the signal.
async fn read_until_closed(s: &mut TcpStream) {
    let mut b = [0u8; 256];
    while let Ok(n) = s.read(&mut b).await {
        if n == 0 {
            return;
        }
    }
}

/// The next MLLP frame, without a deadline (see [`read_until_closed`]).
async fn next_frame(s: &mut TcpStream, framer: &mut Framer) -> String {
    let mut buf = [0u8; 4096];
    loop {
        while let Some(ev) = framer.poll() {
            if let FramerEvent::Frame { payload, .. } = ev {
                return String::from_utf8(payload).unwrap();
            }
        }
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the ACK");
        framer.push(std::time::Instant::now(), &buf[..n]);
    }
}

async fn send_frame(s: &mut TcpStream, msg: &str) {
    let mut out = Vec::new();
    mllp::frame(msg.as_bytes(), &mut out);
    s.write_all(&out).await.unwrap();
}

#[tokio::test]
async fn an_astm_session_its_peer_already_closed_gives_way_to_the_next_one() {
    let ingest = GatedIngest::new();
    let (transport, addr) = listener_from_config("astm", "").await;
    let mut config = AstmConfig::default();
    config.link.receiver_timeout = Duration::from_secs(2);
    let c = spawn(
        AstmConnector::new(config),
        transport,
        context(ingest.clone(), "c311-slot-1"),
    );
    // The old session sends a whole message; while the driver makes it durable (held at the
    // gate, so it is not reading the socket) the analyser closes that connection.
    let mut old = TcpStream::connect(addr).await.unwrap();
    let mut b = [0u8; 1];
    old.write_all(&[0x05]).await.unwrap();
    old.read_exact(&mut b).await.unwrap();
    assert_eq!(b, [0x06]);
    let mut frame = Vec::new();
    encode_frame(FrameNumber::FIRST, RESULT, FrameEnd::Last, &mut frame);
    old.write_all(&frame).await.unwrap();
    ingest.entered().await;
    drop(old);
    // The analyser reconnects at once: it is served, not refused because of the dead session.
    let fresh = TcpStream::connect(addr).await.unwrap();
    wait_until(&ingest.inner, "the closed session to give way", |e| {
        count_state(e, "closed-connection-gave-way") == 1
    })
    .await;
    ingest.open();
    let mut fresh = AstmInstrument::new(fresh);
    fresh.send(RESULT).await.unwrap();
    let events = ingest.inner.events();
    assert_eq!(count_state(&events, "second-connection-refused"), 0);
    assert!(!ingest.inner.of_kind(EventKind::Result).is_empty());
    c.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_quiet_session_gives_its_slot_to_a_new_one_after_takeover_after() {
    let ingest = MemoryIngest::new();
    // One session at a time, as for ASTM; HL7 on the wire keeps the test free of link timers.
    let (transport, addr) = listener_from_config(
        "hl7",
        "max_connections = 1\non_second_connection = \"refuse\"\ntakeover_after = \"30s\"\n",
    )
    .await;
    let mut ctx = context(ingest.clone(), "slot-2");
    ctx.config.idle_timeout = None;
    let c = spawn(Hl7Connector::new(Hl7Config::default()), transport, ctx);

    // A peer that connects and then says nothing (or one byte every few minutes).
    let mut quiet = TcpStream::connect(addr).await.unwrap();
    ingest.wait_for(|e| count_state(e, "connected") == 1).await;
    tokio::time::advance(Duration::from_secs(29)).await;
    // Below the threshold the busy session keeps its slot.
    let mut early = TcpStream::connect(addr).await.unwrap();
    read_until_closed(&mut early).await;
    ingest
        .wait_for(|e| count_state(e, "second-connection-refused") == 1)
        .await;

    tokio::time::advance(Duration::from_secs(2)).await;
    let mut late = TcpStream::connect(addr).await.unwrap();
    read_until_closed(&mut quiet).await;
    let mut framer = Framer::new(FramerConfig::default());
    send_frame(&mut late, &oru("M1", "S1")).await;
    let ack = next_frame(&mut late, &mut framer).await;
    assert_eq!(field(&ack, "MSA", 1), "AA");
    let events = ingest.events();
    assert_eq!(count_state(&events, "connection-taken-over"), 1);
    let detail = status_detail(&events, "connection-taken-over");
    assert!(detail.contains("received nothing for 31s"), "{detail}");
    assert_eq!(ingest.of_kind(EventKind::Result).len(), 1);
    c.stop().await;
}

#[tokio::test]
async fn a_sender_opening_a_connection_per_message_gets_aa_for_each_of_200() {
    let ingest = MemoryIngest::new();
    let (transport, addr) = listener_from_config("hl7", "").await;
    let c = spawn(
        Hl7Connector::new(Hl7Config::default()),
        transport,
        context(ingest.clone(), "slot-3"),
    );
    // The sender closes each connection after its ACK, but the next message is already on its
    // way on a new connection before labwire has seen that close: modelled deterministically by
    // closing connection i only once message i+1 has been sent on connection i+1.
    let mut previous: Option<Hl7Instrument<TcpStream>> = None;
    for i in 0..200 {
        let mut inst = Hl7Instrument::new(TcpStream::connect(addr).await.unwrap());
        let control = format!("M{i}");
        inst.send(&oru(&control, &format!("S{i}"))).await;
        drop(previous.take());
        let ack = inst
            .recv(Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("message {i}: no ACK"));
        assert_eq!(field(&ack, "MSA", 1), "AA", "message {i}");
        assert_eq!(field(&ack, "MSA", 2), control);
        previous = Some(inst);
    }
    drop(previous);
    let mut stored: HashMap<String, usize> = HashMap::new();
    for e in ingest.of_kind(EventKind::Result) {
        let id = e.specimen.and_then(|s| s.id).unwrap();
        *stored.entry(id).or_default() += 1;
    }
    assert_eq!(stored.len(), 200);
    for i in 0..200 {
        assert_eq!(stored.get(&format!("S{i}")), Some(&1), "specimen S{i}");
    }
    c.stop().await;
}

#[tokio::test]
async fn hl7_connections_are_bounded_per_peer_and_in_total() {
    let ingest = MemoryIngest::new();
    let (transport, addr) =
        listener_from_config("hl7", "max_connections = 3\nmax_connections_per_peer = 2\n").await;
    let c = spawn(
        Hl7Connector::new(Hl7Config::default()),
        transport,
        context(ingest.clone(), "slot-4"),
    );
    // Two live connections from 127.0.0.1, each proven served by an ACK.
    let mut held = Vec::new();
    for i in 0..2 {
        let mut inst = Hl7Instrument::new(TcpStream::connect(addr).await.unwrap());
        inst.send(&oru(&format!("P{i}"), &format!("P{i}"))).await;
        let ack = inst.recv(Duration::from_secs(3)).await.unwrap();
        assert_eq!(field(&ack, "MSA", 1), "AA");
        held.push(inst);
    }
    // A third from the same address is refused; the two keep being served.
    let mut third = TcpStream::connect(addr).await.unwrap();
    read_until_closed(&mut third).await;
    wait_until(&ingest, "per-peer refusal", |e| {
        count_state(e, "second-connection-refused") == 1
    })
    .await;
    // Another loopback address is a different peer: it gets the last slot of three.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = Hl7Instrument::new(other.connect(addr).await.unwrap());
    other.send(&oru("Q1", "Q1")).await;
    let ack = other.recv(Duration::from_secs(3)).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AA");
    // The listener is full now: a fourth peer address is refused.
    let fourth = tokio::net::TcpSocket::new_v4().unwrap();
    fourth.bind("127.0.0.3:0".parse().unwrap()).unwrap();
    let mut fourth = fourth.connect(addr).await.unwrap();
    read_until_closed(&mut fourth).await;
    wait_until(&ingest, "limit refusal", |e| {
        count_state(e, "second-connection-refused") == 2
    })
    .await;
    for (i, inst) in held.iter_mut().enumerate() {
        inst.send(&oru(&format!("R{i}"), &format!("R{i}"))).await;
        let ack = inst.recv(Duration::from_secs(3)).await.unwrap();
        assert_eq!(field(&ack, "MSA", 1), "AA");
    }
    assert_eq!(c.health.snapshot().live_connections, 3);
    c.stop().await;
}
