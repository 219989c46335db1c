#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The ASTM simulator against a minimal E1381 host over a real TCP socket: every fault type
//! shows up on the wire as specified, and the messages still arrive intact.

use labwire_astm::link::control::{ACK, ENQ, EOT, NAK};
use labwire_astm::link::{Decoded, FrameDecoder, FrameEnd, FrameLimits, FrameNumber, encode_frame};
use labwire_event::{InstrumentId, SiteId};
use labwire_sim::astm_session::AstmInstrument;
use labwire_sim::fault::{FaultKind, FaultPlan, ScriptedFault};
use labwire_sim::ledger::Ledger;
use labwire_sim::wire::Endpoint;
use labwire_sim::{Profile, SimMessage, Traffic, TrafficConfig, Work};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the host saw.
#[derive(Debug, Default)]
struct HostLog {
    connections: usize,
    reads: usize,
    messages: Vec<Vec<u8>>,
    naks_sent: usize,
    frame_errors: Vec<String>,
    noise_bytes: usize,
    naks_received: usize,
    reply_timeouts: usize,
    contentions: usize,
    replies_completed: usize,
}

type Log = Arc<Mutex<HostLog>>;

const HOST_ACK_TIMER: Duration = Duration::from_millis(800);
const ANSWER: &[u8] = b"H|\\^&\rP|1\rO|1|Q-SPEC||^^^717/|R\rL|1|N\r";

async fn read_byte(s: &mut TcpStream, wait: Duration) -> Option<u8> {
    let mut b = [0u8; 1];
    match tokio::time::timeout(wait, s.read(&mut b)).await {
        Ok(Ok(1)) => Some(b[0]),
        _ => None,
    }
}

/// The host's answer to a host query, sent in the sender role with a short timer.
async fn answer_query(s: &mut TcpStream, log: &Log) {
    let mut established = false;
    for _ in 0..3 {
        s.write_all(&[ENQ]).await.unwrap();
        match read_byte(s, Duration::from_secs(3)).await {
            Some(ACK) => {
                established = true;
                break;
            }
            Some(ENQ) => {
                // Contention: the instrument has priority. Answer its next ENQ, wait for its EOT.
                log.lock().unwrap().contentions += 1;
                while read_byte(s, Duration::from_secs(3))
                    .await
                    .is_some_and(|b| b != ENQ)
                {}
                s.write_all(&[ACK]).await.unwrap();
                while read_byte(s, Duration::from_secs(3))
                    .await
                    .is_some_and(|b| b != EOT)
                {}
            }
            _ => {}
        }
    }
    if !established {
        return;
    }
    let mut frame = Vec::new();
    encode_frame(FrameNumber::FIRST, ANSWER, FrameEnd::Last, &mut frame);
    for _ in 0..6 {
        s.write_all(&frame).await.unwrap();
        match read_byte(s, HOST_ACK_TIMER).await {
            Some(ACK) => {
                s.write_all(&[EOT]).await.unwrap();
                log.lock().unwrap().replies_completed += 1;
                return;
            }
            Some(NAK) => log.lock().unwrap().naks_received += 1,
            _ => {
                log.lock().unwrap().reply_timeouts += 1;
                s.write_all(&[EOT]).await.unwrap();
                return;
            }
        }
    }
}

async fn serve_connection(mut s: TcpStream, log: Log) {
    let mut decoder = FrameDecoder::new(FrameLimits::default());
    let mut expected = FrameNumber::FIRST;
    let mut text = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        log.lock().unwrap().reads += 1;
        let mut input = &buf[..n];
        let mut replies = Vec::new();
        let mut answer = false;
        while let Some(item) = decoder.decode(&mut input) {
            let mut l = log.lock().unwrap();
            match item {
                Decoded::Control { control, .. } if control.byte() == ENQ => {
                    expected = FrameNumber::FIRST;
                    text.clear();
                    replies.push(ACK);
                }
                Decoded::Control { control, .. } if control.byte() == EOT => {
                    // A message is everything between ENQ and EOT (E1381 §8.2-8.4).
                    if !text.is_empty() {
                        answer = text.windows(3).any(|w| w == b"\rQ|");
                        l.messages.push(std::mem::take(&mut text));
                    }
                }
                Decoded::Control { .. } => {}
                Decoded::Frame(f) if f.number == expected => {
                    text.extend_from_slice(f.text);
                    expected = expected.next();
                    replies.push(ACK);
                }
                Decoded::Frame(f) if f.number.next() == expected => replies.push(ACK),
                Decoded::Frame(_) => {
                    l.naks_sent += 1;
                    replies.push(NAK);
                }
                Decoded::Error(e) => {
                    l.frame_errors.push(e.to_string());
                    l.naks_sent += 1;
                    replies.push(NAK);
                }
                Decoded::Noise { len, .. } => l.noise_bytes += len,
            }
        }
        if !replies.is_empty() && s.write_all(&replies).await.is_err() {
            return;
        }
        if answer {
            answer_query(&mut s, &log).await;
        }
    }
}

async fn host() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: Log = Arc::default();
    let l2 = log.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            l2.lock().unwrap().connections += 1;
            tokio::spawn(serve_connection(s, l2.clone()));
        }
    });
    (addr, log)
}

fn fast_profile(name: &str) -> Profile {
    let mut p = Profile::load(name).unwrap();
    p.timers.ack_timeout_ms = 1_500;
    p.timers.busy_retry_ms = 50;
    p.timers.contention_ms = 100;
    p.timers.query_reply_ms = 5_000;
    p
}

fn traffic(p: &Profile) -> Traffic {
    Traffic::new(
        p.clone(),
        TrafficConfig {
            seed: 9,
            instrument_index: 0,
            start: "2026-11-26T08:00:00".parse().unwrap(),
            canary: None,
        },
    )
}

struct Run {
    log: Log,
    ledger: Ledger,
    sent: Vec<SimMessage>,
}

async fn run(profile: &str, messages: usize, plan: FaultPlan, query: bool) -> Run {
    let (addr, log) = host().await;
    let p = fast_profile(profile);
    let ledger = Ledger::new();
    let mut sim = AstmInstrument::new(
        SiteId::new("site-a").unwrap(),
        InstrumentId::new("sim-astm-1").unwrap(),
        p.clone(),
        Endpoint::Connect(addr),
        plan,
        ledger.clone(),
        9,
    );
    let mut t = traffic(&p);
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
    // Positive signal: the host has taken in every acknowledged message (it records one at the
    // EOT that follows the last ACK) and finished answering every query.
    let want = sent.len();
    host_has(&log, |l| {
        l.messages.len() >= want && (!query || l.replies_completed + l.reply_timeouts >= want)
    })
    .await;
    Run { log, ledger, sent }
}

/// Waits (at most 10 s) until the host's log satisfies `done`.
async fn host_has(log: &Log, done: impl Fn(&HostLog) -> bool) {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&log.lock().unwrap()) {
        assert!(
            tokio::time::Instant::now() < end,
            "host never got there: {:?}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
async fn clean_run_delivers_every_message_intact() {
    let r = run("cobas-c111", 5, FaultPlan::none(), false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().naks_sent, 0);
    assert!(r.ledger.entries().iter().all(|e| e.attempts == 1));
}

#[tokio::test]
async fn bad_checksum_is_naked_and_retransmitted() {
    let r = run("cobas-c111", 2, one(FaultKind::BadChecksum), false).await;
    assert_delivered_once_each(&r);
    let log = r.log.lock().unwrap();
    assert_eq!(log.naks_sent, 1);
    assert!(
        log.frame_errors[0].contains("checksum"),
        "{:?}",
        log.frame_errors
    );
}

#[tokio::test]
async fn wrong_frame_number_is_naked_and_retransmitted() {
    let r = run("cobas-c111", 2, one(FaultKind::WrongFrameNumber), false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().naks_sent, 1);
}

#[tokio::test]
async fn byte_by_byte_writes_arrive_intact() {
    let r = run("sysmex-xn", 1, one(FaultKind::ByteByByte), false).await;
    assert_delivered_once_each(&r);
    let len = r.sent[0].bytes.len();
    let reads = r.log.lock().unwrap().reads;
    assert!(reads > len / 4, "{reads} reads for a {len}-byte frame");
}

#[tokio::test]
async fn garbage_before_the_message_is_noise_to_the_host() {
    let r = run("erba-xl", 1, one(FaultKind::Garbage), false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().noise_bytes, 64);
}

#[tokio::test]
async fn oversize_frame_is_refused_and_the_message_follows() {
    let r = run("genexpert", 1, one(FaultKind::Oversize), false).await;
    assert_delivered_once_each(&r);
    let log = r.log.lock().unwrap();
    assert_eq!(log.naks_sent, 1);
    assert_eq!(log.frame_errors.len(), 1, "{:?}", log.frame_errors);
}

#[tokio::test]
async fn disconnect_mid_frame_reconnects_and_resends_the_whole_message() {
    let r = run("cobas-c111", 2, one(FaultKind::DisconnectMidFrame), false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().connections, 2);
    assert_eq!(r.ledger.entries()[0].attempts, 2);
}

#[tokio::test]
async fn lost_ack_retransmits_identical_bytes_counted_once_in_the_ledger() {
    let r = run("cobas-c111", 1, one(FaultKind::LostAck), false).await;
    host_has(&r.log, |l| l.messages.len() >= 2).await;
    let log = r.log.lock().unwrap();
    assert_eq!(log.messages.len(), 2, "the host receives the message twice");
    assert_eq!(log.messages[0], log.messages[1]);
    assert_eq!(log.messages[0], r.sent[0].bytes);
    let e = &r.ledger.entries()[0];
    assert_eq!((r.ledger.len(), e.attempts), (1, 2));
}

#[tokio::test]
async fn reconnect_storm_opens_many_connections() {
    let mut plan = one(FaultKind::ReconnectStorm);
    plan.storm_connections = 7;
    let r = run("cobas-c111", 1, plan, false).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.log.lock().unwrap().connections, 8);
}

#[tokio::test]
async fn half_open_connection_stays_silent_then_reconnects() {
    let mut plan = one(FaultKind::HalfOpen);
    plan.half_open_ms = 300;
    let started = std::time::Instant::now();
    let r = run("cobas-c111", 1, plan, false).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_delivered_once_each(&r);
    let log = r.log.lock().unwrap();
    assert_eq!(
        log.connections, 2,
        "the silent connection, then a fresh one"
    );
}

#[tokio::test]
async fn host_query_gets_its_orders_back() {
    let r = run("cobas-c111", 1, FaultPlan::none(), true).await;
    assert_delivered_once_each(&r);
    assert_eq!(r.ledger.entries()[0].orders_received, Some(1));
    assert_eq!(r.log.lock().unwrap().replies_completed, 1);
}

#[tokio::test]
async fn instrument_nak_makes_the_host_resend_its_answer() {
    let r = run("cobas-c111", 1, one(FaultKind::InstrumentNak), true).await;
    let log = r.log.lock().unwrap();
    assert_eq!((log.naks_received, log.replies_completed), (1, 1));
    assert_eq!(r.ledger.entries()[0].orders_received, Some(1));
}

#[tokio::test]
async fn delayed_ack_runs_past_the_host_timer() {
    let r = run("cobas-c111", 1, one(FaultKind::DelayedAck), true).await;
    let log = r.log.lock().unwrap();
    assert_eq!((log.reply_timeouts, log.replies_completed), (1, 0));
}

#[tokio::test]
async fn enq_contention_makes_the_host_yield_then_answer() {
    let r = run("cobas-c111", 1, one(FaultKind::EnqContention), true).await;
    let log = r.log.lock().unwrap();
    assert_eq!((log.contentions, log.replies_completed), (1, 1));
    assert_eq!(r.ledger.entries()[0].orders_received, Some(1));
}

async fn replay_file(name: &str) -> (labwire_sim::replay::ReplayOutcome, Log, Ledger) {
    use labwire_sim::replay::Replayer;
    let (addr, log) = host().await;
    let bytes = std::fs::read(format!(
        "{}/../testdata/corpus/astm/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let profile = fast_profile("cobas-c111");
    let ledger = Ledger::new();
    let mut wire = labwire_sim::wire::Wire::new(Endpoint::Connect(addr).open().await.unwrap());
    let replayer = Replayer {
        site: &SiteId::new("site-a").unwrap(),
        instrument: &InstrumentId::new("replay-1").unwrap(),
        profile: &profile,
        ledger: &ledger,
    };
    let outcome = replayer
        .replay(&mut wire, &bytes, labwire_sim::WireProtocol::Astm)
        .await
        .unwrap();
    let acked = ledger.acked();
    host_has(&log, |l| l.messages.len() >= acked).await;
    (outcome, log, ledger)
}

#[tokio::test]
async fn replaying_a_transcript_sends_its_original_frames_and_waits_for_acks() {
    let (outcome, log, ledger) = replay_file("ortho-vitros-3600-result-session.astm").await;
    assert_eq!(
        (
            outcome.messages,
            outcome.acked,
            outcome.frames_sent,
            outcome.naks
        ),
        (1, 1, 9, 0)
    );
    let log = log.lock().unwrap();
    assert_eq!(log.messages.len(), 1);
    assert!(log.messages[0].starts_with(b"H|\\^&|||3600796"));
    assert_eq!(log.naks_sent, 0);
    let e = &ledger.entries()[0];
    assert_eq!(e.kind, labwire_event::EventKind::Result);
    assert_eq!(e.specimen_ids, vec!["1068616".to_owned()]);
}

#[tokio::test]
async fn replaying_a_bad_checksum_frame_is_naked_until_the_retry_limit() {
    let (outcome, log, _) = replay_file("synthetic-python-astm-bad-checksum.astm").await;
    assert_eq!(outcome.acked, 0);
    assert_eq!(outcome.frames_sent, 6);
    assert_eq!(log.lock().unwrap().naks_sent, 6);
}

#[tokio::test]
async fn replaying_record_text_frames_it_per_the_profile() {
    let (outcome, log, _) = replay_file("immucor-rvt-two-orders-one-patient-cr.astm").await;
    assert_eq!((outcome.messages, outcome.acked), (1, 1));
    assert!(outcome.frames_sent > 1, "record per frame");
    assert_eq!(log.lock().unwrap().messages.len(), 1);
}

#[tokio::test]
async fn runner_drives_several_instruments_into_one_ledger() {
    use labwire_sim::runner::{Progress, RunConfig, Target, run as run_sims};
    let (addr, log) = host().await;
    let ledger = Ledger::new();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s2 = sent.clone();
    let cfg = RunConfig {
        site: SiteId::new("site-a").unwrap(),
        instrument_prefix: "Cobas C111".into(),
        instruments: 3,
        profile: fast_profile("cobas-c111"),
        target: Target::Connect(vec![addr]),
        seed: 4,
        rate: 50.0,
        count: Some(4),
        duration: None,
        faults: FaultPlan::none(),
        canary: None,
        start: Some("2026-11-26T08:00:00".parse().unwrap()),
    };
    run_sims(
        cfg,
        ledger.clone(),
        Arc::new(move |p| {
            if let Progress::Sent {
                instrument, acked, ..
            } = p
            {
                s2.lock().unwrap().push((instrument.to_string(), acked));
            }
        }),
    )
    .await
    .unwrap();
    host_has(&log, |l| l.messages.len() >= 12).await;
    let entries = ledger.entries();
    assert_eq!((entries.len(), ledger.acked()), (12, 12));
    let mut ids: Vec<_> = entries.iter().flat_map(|e| e.event_ids.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "every message has its own event id");
    let names: std::collections::BTreeSet<_> = sent
        .lock()
        .unwrap()
        .iter()
        .map(|(i, _)| i.clone())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["cobas-c111-1", "cobas-c111-2", "cobas-c111-3"]
    );
    assert_eq!(log.lock().unwrap().messages.len(), 12);
}
