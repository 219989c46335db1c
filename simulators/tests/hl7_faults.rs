#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The HL7 simulator against a tiny MLLP acker over a real TCP socket: each fault shows up on
//! the wire as specified, and the messages still arrive intact and acknowledged.

use labwire_event::{InstrumentId, SiteId};
use labwire_hl7::er7::{Index, Limits, parse};
use labwire_hl7::mllp::{Framer, FramerConfig, FramerEvent, frame};
use labwire_sim::fault::{FaultKind, FaultPlan, ScriptedFault};
use labwire_sim::hl7_session::Hl7Instrument;
use labwire_sim::ledger::Ledger;
use labwire_sim::wire::Endpoint;
use labwire_sim::{Profile, SimMessage, Traffic, TrafficConfig, Work};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Default)]
struct AckerLog {
    connections: usize,
    reads: usize,
    messages: Vec<Vec<u8>>,
    too_large: usize,
    skipped: usize,
}

type Log = Arc<Mutex<AckerLog>>;

fn msh10_and_type(payload: &[u8]) -> (String, String) {
    let mut index = Index::new();
    let msg = parse(payload, &mut index, &Limits::default()).unwrap();
    let get = |p: &str| {
        msg.get(p)
            .unwrap()
            .map(|v| String::from_utf8_lossy(v.raw()).into_owned())
            .unwrap_or_default()
    };
    (get("MSH-10"), get("MSH-9"))
}

async fn serve(mut s: TcpStream, log: Log) {
    let mut framer = Framer::new(FramerConfig {
        max_frame_bytes: 64 * 1024,
        ..FramerConfig::default()
    });
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        log.lock().unwrap().reads += 1;
        framer.push(Instant::now(), &buf[..n]);
        while let Some(ev) = framer.poll() {
            let reply = match ev {
                FramerEvent::Frame { payload, .. } => {
                    let (id, kind) = msh10_and_type(&payload);
                    log.lock().unwrap().messages.push(payload);
                    let body = if kind.starts_with("QBP") {
                        format!(
                            "MSH|^~\\&|Host||SIM||20261126||RSP^K11^RSP_K11|r{id}|P|2.5.1\rMSA|AA|{id}\rQAK|{id}|OK\rSPM|1|X\rORC|NW\rORC|NW\r"
                        )
                    } else {
                        format!("MSH|^~\\&|Host||SIM||20261126||ACK|a{id}|P|2.5.1\rMSA|AA|{id}\r")
                    };
                    let mut out = Vec::new();
                    frame(body.as_bytes(), &mut out);
                    out
                }
                FramerEvent::TooLarge { .. } => {
                    log.lock().unwrap().too_large += 1;
                    continue;
                }
                FramerEvent::Skipped { len, .. } => {
                    log.lock().unwrap().skipped += len;
                    continue;
                }
                _ => continue,
            };
            if s.write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

async fn acker() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: Log = Arc::default();
    let l2 = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            l2.lock().unwrap().connections += 1;
            tokio::spawn(serve(s, l2.clone()));
        }
    });
    (addr, log)
}

struct Run {
    log: Log,
    ledger: Ledger,
    sent: Vec<SimMessage>,
}

async fn run(profile: &str, messages: usize, plan: FaultPlan, query: bool) -> Run {
    let (addr, log) = acker().await;
    let mut p = Profile::load(profile).unwrap();
    p.timers.ack_timeout_ms = 1_500;
    let ledger = Ledger::new();
    let mut sim = Hl7Instrument::new(
        SiteId::new("site-a").unwrap(),
        InstrumentId::new("sim-hl7-1").unwrap(),
        p.clone(),
        Endpoint::Connect(addr),
        plan,
        ledger.clone(),
        3,
    );
    let mut t = Traffic::new(
        p.clone(),
        TrafficConfig {
            seed: 3,
            instrument_index: 0,
            start: "2026-11-26T08:00:00".parse().unwrap(),
            canary: None,
        },
    );
    let mut sent = Vec::new();
    for i in 0..messages {
        let work = if query {
            Work::Query(t.next_query())
        } else {
            Work::Patient(t.next_patient())
        };
        let msg = SimMessage::build(&p, &work, i as u64);
        assert!(sim.send(&msg).await.unwrap(), "message {i} acknowledged");
        sent.push(msg);
    }
    Run { log, ledger, sent }
}

fn one(kind: FaultKind) -> FaultPlan {
    FaultPlan::scripted(vec![ScriptedFault { message: 0, kind }])
}

fn assert_delivered_once_each(r: &Run) {
    let log = r.log.lock().unwrap();
    let want: Vec<String> = r
        .sent
        .iter()
        .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
        .collect();
    let got: Vec<String> = log
        .messages
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(got, want, "every message arrives intact, once");
    assert_eq!(r.ledger.acked(), r.sent.len());
}

#[tokio::test]
async fn clean_run_is_acknowledged_message_by_message() {
    let r = run("ba400", 4, FaultPlan::none(), false).await;
    assert_delivered_once_each(&r);
    assert!(
        r.ledger
            .entries()
            .iter()
            .all(|e| e.attempts == 1 && e.acked_at >= Some(e.sent_at))
    );
}

#[tokio::test]
async fn garbage_is_skipped_by_the_framer() {
    let r = run("mindray-cl", 1, one(FaultKind::Garbage), false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().skipped, 64);
}

#[tokio::test]
async fn byte_by_byte_writes_arrive_intact() {
    let r = run("ba400", 1, one(FaultKind::ByteByByte), false).await;
    assert_delivered_once_each(&r);
    let reads = r.log.lock().unwrap().reads;
    assert!(reads > r.sent[0].bytes.len() / 4, "{reads} reads");
}

#[tokio::test]
async fn oversize_block_is_dropped_and_the_message_follows() {
    let r = run("ba400", 1, one(FaultKind::Oversize), false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().too_large, 1);
}

#[tokio::test]
async fn disconnect_mid_frame_resends_on_a_new_connection() {
    let r = run("mindray-cl", 2, one(FaultKind::DisconnectMidFrame), false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().connections, 2);
    assert_eq!(r.ledger.entries()[0].attempts, 2);
}

#[tokio::test]
async fn lost_ack_resends_identical_bytes_counted_once() {
    let r = run("ba400", 1, one(FaultKind::LostAck), false).await;
    let log = r.log.lock().unwrap();
    assert_eq!(log.messages.len(), 2);
    assert_eq!(log.messages[0], log.messages[1]);
    assert_eq!((r.ledger.len(), r.ledger.entries()[0].attempts), (1, 2));
}

#[tokio::test]
async fn reconnect_storm_and_half_open() {
    let mut plan = FaultPlan::scripted(vec![
        ScriptedFault {
            message: 0,
            kind: FaultKind::ReconnectStorm,
        },
        ScriptedFault {
            message: 1,
            kind: FaultKind::HalfOpen,
        },
    ]);
    plan.storm_connections = 5;
    plan.half_open_ms = 200;
    let r = run("ba400", 2, plan, false).await;
    assert_delivered_once_each(&r);
    // 5 storm connections, the one message 0 used, and after the half-open one a fresh one.
    assert_eq!(r.log.lock().unwrap().connections, 7);
}

#[tokio::test]
async fn host_query_counts_the_orders_in_the_rsp_k11() {
    let r = run("ba400", 1, FaultPlan::none(), true).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.ledger.entries()[0].orders_received, Some(2));
}

#[tokio::test]
async fn replaying_captures_sends_each_message_and_waits_for_its_ack() {
    use labwire_sim::replay::Replayer;
    for (name, count) in [
        (
            "mindray-cl-series-oru-r01-patient-result-mllp-converted.hl7",
            1,
        ),
        ("biosystems-ba400-oul-r22-two-results.hl7", 1),
    ] {
        let (addr, log) = acker().await;
        let bytes = std::fs::read(format!(
            "{}/../testdata/corpus/hl7/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut profile = Profile::load("ba400").unwrap();
        profile.timers.ack_timeout_ms = 1_500;
        let ledger = Ledger::new();
        let mut wire = labwire_sim::wire::Wire::new(Endpoint::Connect(addr).open().await.unwrap());
        let replayer = Replayer {
            site: &SiteId::new("site-a").unwrap(),
            instrument: &InstrumentId::new("replay-1").unwrap(),
            profile: &profile,
            ledger: &ledger,
        };
        let outcome = replayer
            .replay(&mut wire, &bytes, labwire_sim::WireProtocol::Hl7)
            .await
            .unwrap();
        assert_eq!(
            (outcome.messages, outcome.acked, outcome.naks),
            (count, count, 0),
            "{name}"
        );
        assert_eq!(log.lock().unwrap().messages.len(), count);
        assert!(
            !ledger.entries()[0].event_ids.is_empty(),
            "{name}: ids from labwire's decoder"
        );
    }
}
