#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The HL7 connector over real TCP sockets (server and client roles) and a pty, against a
//! simulated MLLP instrument.

mod common;

use common::hl7_instrument::{Hl7Instrument, field, segments};
use common::*;
use labwire_connectors::hl7::{Hl7Config, Hl7Connector};
use labwire_connectors::transport::{OnSecondConnection, TcpClient, TcpClientConfig, Transport};
use labwire_connectors::{
    CommandDelivery, CommandOutcome, ConnectorContext, LinkHealth, MemoryIngest,
};
use labwire_event::{EventKind, Order, QueryReply};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const T: Duration = Duration::from_secs(3);

fn oru(control_id: &str, msh15: &str, msh16: &str) -> String {
    format!(
        "MSH|^~\\&|BA400|Biosystems|Host|Lab|20261126101500||OUL^R22^OUL_R22|{control_id}|P|2.5.1|||{msh15}|{msh16}||UNICODE UTF-8\r\
         SPM|1|S1||SER\r\
         OBR||\"\"||GLU^Glucose^A400\r\
         OBX|1|NM|GLU^Glucose^A400||5.4|mmol/L^mmol/L||N|||F\r"
    )
}

/// Proves that labwire sent nothing since the last answer: a sentinel message in original mode
/// is sent, and the very next thing received must be its AA (anything labwire had still sent
/// before would arrive first on the one connection).
async fn nothing_sent_before_the_sentinel(inst: &mut Hl7Instrument<TcpStream>, sentinel: &str) {
    inst.send(&oru(sentinel, "", "")).await;
    let next = inst.recv(T).await.unwrap();
    assert_eq!(
        (field(&next, "MSA", 1), field(&next, "MSA", 2)),
        ("AA".to_owned(), sentinel.to_owned()),
        "the next message received answers the sentinel: {next:?}"
    );
}

fn qbp(control_id: &str, specimen: &str) -> String {
    format!(
        "MSH|^~\\&|BA400|Biosystems|Host|Lab|20261126101500||QBP^Q11^QBP_Q11|{control_id}|P|2.5.1|||ER|AL\r\
         QPD|WOS^Work Order Step^IHE_LABTF|QT{control_id}|{specimen}\r\
         RCP|I||R\r"
    )
}

fn hl7_config() -> Hl7Config {
    let mut c = Hl7Config::default();
    c.framer.frame_timeout = Duration::from_millis(400);
    c.download_ack_timeout = Duration::from_secs(2);
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
    tweak: impl FnOnce(&mut ConnectorContext<MemoryIngest>),
) -> Running {
    let (transport, addr) = tcp_server(&[], OnSecondConnection::Refuse).await;
    let mut ctx = context(ingest.clone(), name);
    tweak(&mut ctx);
    let spawned = spawn(Hl7Connector::new(hl7_config()), transport, ctx);
    Running {
        addr,
        health: spawned.health.clone(),
        spawned,
    }
}

async fn instrument(addr: SocketAddr) -> Hl7Instrument<TcpStream> {
    Hl7Instrument::new(TcpStream::connect(addr).await.unwrap())
}

#[tokio::test]
async fn original_mode_gets_aa_only_after_the_result_is_stored() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-1", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(&oru("M1", "", "")).await;
    let ack = inst.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AA");
    assert_eq!(field(&ack, "MSA", 2), "M1");
    assert_eq!(field(&ack, "MSH", 9), "ACK^R22^ACK");
    let results = ingest.of_kind(EventKind::Result);
    assert_eq!(results.len(), 1, "stored before the ACK was written");
    assert_eq!(results[0].observations[0].value.as_deref(), Some("5.4"));
    c.stop().await;
}

#[tokio::test]
async fn enhanced_mode_follows_msh15_and_msh16() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-2", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(&oru("M2", "AL", "AL")).await;
    let first = inst.recv(T).await.unwrap();
    let second = inst.recv(T).await.unwrap();
    assert_eq!(field(&first, "MSA", 1), "CA");
    assert_eq!(field(&second, "MSA", 1), "AA");
    // BA400 style: accept ACK only on error, application ACK always.
    inst.send(&oru("M3", "ER", "AL")).await;
    let only = inst.recv(T).await.unwrap();
    assert_eq!(field(&only, "MSA", 1), "AA");
    assert_eq!(field(&only, "MSA", 2), "M3");
    // No commit ACK for ER.
    nothing_sent_before_the_sentinel(&mut inst, "M3-SENTINEL").await;
    c.stop().await;
}

#[tokio::test]
async fn a_message_that_cannot_be_stored_gets_ae_with_err_and_the_resend_is_stored() {
    let ingest = MemoryIngest::new();
    ingest.set_failing(true);
    let c = start(&ingest, "ba400-3", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(&oru("M4", "", "")).await;
    let nak = inst.recv(T).await.unwrap();
    assert_eq!(field(&nak, "MSA", 1), "AE");
    assert_eq!(segments(&nak, "ERR"), 1, "{nak}");
    assert!(nak.contains("207"), "application internal error: {nak}");
    assert!(ingest.of_kind(EventKind::Result).is_empty());
    ingest.set_failing(false);
    inst.send(&oru("M4", "", "")).await;
    let ack = inst.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AA");
    assert_eq!(ingest.of_kind(EventKind::Result).len(), 1);
    let h = c.health.snapshot();
    assert_eq!(
        (h.naks_sent, h.ingest_failures, h.messages),
        (1, 1, 1),
        "{h:?}"
    );
    // Enhanced mode: a commit error, no application ACK.
    ingest.set_failing(true);
    inst.send(&oru("M4E", "AL", "AL")).await;
    let ce = inst.recv(T).await.unwrap();
    assert_eq!(field(&ce, "MSA", 1), "CE");
    // No application ACK after the commit error.
    ingest.set_failing(false);
    nothing_sent_before_the_sentinel(&mut inst, "M4E-SENTINEL").await;
    c.stop().await;
}

#[tokio::test]
async fn an_unsupported_message_is_rejected_with_ar_and_recorded_as_an_error() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-4", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send("MSH|^~\\&|X|Y|H|L|20261126||ADT^A04|A1|P|2.5.1\rPID|1||123\r")
        .await;
    let ack = inst.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AR");
    assert!(
        ack.contains("|200"),
        "ERR-3 unsupported message type: {ack}"
    );
    let errors = ingest.of_kind(EventKind::Error);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].error.as_ref().unwrap().offset.is_some());
    // The connection keeps serving.
    inst.send(&oru("M5", "", "")).await;
    assert_eq!(field(&inst.recv(T).await.unwrap(), "MSA", 1), "AA");
    c.stop().await;
}

#[tokio::test]
async fn a_work_order_query_is_answered_with_rsp_k11() {
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
    let c = start(&ingest, "ba400-5", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(&qbp("Q1", "S1")).await;
    let rsp = inst.recv(T).await.unwrap();
    assert_eq!(field(&rsp, "MSH", 9), "RSP^K11^RSP_K11");
    assert_eq!(field(&rsp, "MSA", 2), "Q1");
    assert_eq!(field(&rsp, "QAK", 2), "OK");
    assert_eq!(field(&rsp, "SPM", 2), "S1");
    assert_eq!(segments(&rsp, "OBR"), 2);
    inst.send(&qbp("Q2", "S404")).await;
    let nf = inst.recv(T).await.unwrap();
    assert_eq!(field(&nf, "QAK", 2), "NF");
    assert_eq!(ingest.of_kind(EventKind::Query).len(), 2);
    c.stop().await;
}

fn command(id: &str, specimen: &str) -> (CommandDelivery, oneshot::Receiver<CommandOutcome>) {
    delivery(
        id,
        Order {
            specimen_id: specimen.into(),
            tests: vec!["NA".into()],
            ..Order::default()
        },
    )
}

#[tokio::test]
async fn a_download_goes_out_as_oml_o33_and_completes_on_orl_o34() {
    let ingest = MemoryIngest::new();
    let (tx, rx) = mpsc::channel(4);
    let c = start(&ingest, "ba400-6", |ctx| ctx.commands = Some(rx)).await;
    let mut inst = instrument(c.addr).await;
    wait_until(&ingest, "connected", |e| count_state(e, "connected") == 1).await;
    // An ORL nobody asked for is neither acknowledged nor published.
    inst.send(
        "MSH|^~\\&|BA400|Biosystems|labwire||20261126||ORL^O34^ORL_O34|R0|P|2.5.1\rMSA|AA|NOPE\r",
    )
    .await;
    nothing_sent_before_the_sentinel(&mut inst, "R0-SENTINEL").await;
    assert!(ingest.of_kind(EventKind::Order).is_empty());

    let (delivery, outcome) = command("cmd-1", "S7");
    tx.send(delivery).await.unwrap();
    let oml = inst.recv(T).await.unwrap();
    assert_eq!(field(&oml, "MSH", 9), "OML^O33^OML_O33");
    assert_eq!(field(&oml, "SPM", 2), "S7");
    let id = field(&oml, "MSH", 10);
    inst.send(&format!(
        "MSH|^~\\&|BA400|Biosystems|labwire||20261126||ORL^O34^ORL_O34|R1|P|2.5.1\rMSA|AA|{id}\r"
    ))
    .await;
    assert_eq!(outcome.await.unwrap(), CommandOutcome::Delivered);
    // The ORL is not acknowledged back.
    nothing_sent_before_the_sentinel(&mut inst, "R1-SENTINEL").await;

    let (delivery, outcome) = command("cmd-2", "S8");
    tx.send(delivery).await.unwrap();
    let oml = inst.recv(T).await.unwrap();
    let id = field(&oml, "MSH", 10);
    inst.send(&format!(
        "MSH|^~\\&|BA400|Biosystems|labwire||20261126||ACK^O33^ACK|R2|P|2.5.1\rMSA|AR|{id}\r"
    ))
    .await;
    assert!(matches!(outcome.await.unwrap(), CommandOutcome::Failed(r) if r.contains("AR")));

    let (delivery, outcome) = command("cmd-3", "S9");
    tx.send(delivery).await.unwrap();
    assert!(inst.recv(T).await.is_some());
    // Silence: fails after the download ACK timeout, and the link stays usable.
    let r = tokio::time::timeout(Duration::from_secs(4), outcome)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, CommandOutcome::Failed(_)), "{r:?}");
    inst.send(&oru("M6", "", "")).await;
    assert_eq!(field(&inst.recv(T).await.unwrap(), "MSA", 1), "AA");
    c.stop().await;
}

#[tokio::test]
async fn garbage_a_frame_that_never_ends_and_slow_writes_are_survived() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-7", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.stream
        .write_all(b"garbage before any frame")
        .await
        .unwrap();
    // A frame that never ends: cut after the 400 ms frame deadline.
    inst.stream
        .write_all(b"\x0bMSH|^~\\&|never|ending")
        .await
        .unwrap();
    let events = wait_until(&ingest, "two errors", |e| {
        e.iter().filter(|e| e.kind == EventKind::Error).count() >= 2
    })
    .await;
    let reasons: Vec<String> = events
        .iter()
        .filter_map(|e| e.error.as_ref().map(|x| x.reason.clone()))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("outside any MLLP frame")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("cut short")),
        "{reasons:?}"
    );
    // Byte by byte.
    let mut framed = Vec::new();
    labwire_hl7::mllp::frame(oru("M7", "", "").as_bytes(), &mut framed);
    for b in &framed {
        inst.stream
            .write_all(std::slice::from_ref(b))
            .await
            .unwrap();
    }
    let ack = inst.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 2), "M7");
    c.stop().await;
}

#[tokio::test]
async fn as_a_client_labwire_reconnects_after_the_instrument_drops_the_line() {
    let ingest = MemoryIngest::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = TcpClientConfig::new(addr.to_string());
    cfg.backoff = fast_backoff();
    let ctx = context(ingest.clone(), "ba400-8");
    let c = spawn(
        Hl7Connector::new(hl7_config()),
        Transport::from(TcpClient::new(cfg)),
        ctx,
    );
    let (s, _) = listener.accept().await.unwrap();
    let mut inst = Hl7Instrument::new(s);
    // Cable pulled mid-frame.
    inst.stream.write_all(b"\x0bMSH|^~\\&|half").await.unwrap();
    drop(inst);
    let (s, _) = tokio::time::timeout(T, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut inst = Hl7Instrument::new(s);
    inst.send(&oru("M8", "", "")).await;
    assert_eq!(field(&inst.recv(T).await.unwrap(), "MSA", 1), "AA");
    let events = ingest.events();
    assert_eq!(count_state(&events, "connected"), 2);
    assert_eq!(count_state(&events, "disconnected"), 1);
    assert_eq!(c.health.snapshot().reconnects, 1);
    c.stop().await;
}

#[tokio::test]
async fn as_a_client_failed_connects_are_reported_and_retried() {
    let ingest = MemoryIngest::new();
    // Reserve a port, then close it so nothing listens there yet.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = TcpClientConfig::new(addr.to_string());
    cfg.backoff = fast_backoff();
    let ctx = context(ingest.clone(), "ba400-9");
    let c = spawn(
        Hl7Connector::new(hl7_config()),
        Transport::from(TcpClient::new(cfg)),
        ctx,
    );
    wait_until(&ingest, "connect-failed", |e| {
        count_state(e, "connect-failed") >= 2
    })
    .await;
    let listener = TcpListener::bind(addr).await.unwrap();
    let (s, _) = tokio::time::timeout(T, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut inst = Hl7Instrument::new(s);
    inst.send(&oru("M9", "", "")).await;
    assert_eq!(field(&inst.recv(T).await.unwrap(), "MSA", 1), "AA");
    c.stop().await;
}

#[tokio::test]
async fn on_a_pty_a_device_that_stops_reading_hits_the_write_timeout() {
    let ingest = MemoryIngest::new();
    let (transport, mut devices) = pty_transport();
    let ctx = context(ingest.clone(), "ba400-10");
    let c = spawn(Hl7Connector::new(hl7_config()), transport, ctx);
    let dev = devices.recv().await.unwrap();
    let mut inst = Hl7Instrument::new(dev);
    // Keep sending, never read the ACKs: the pty buffer fills and labwire's write blocks.
    let mut i = 0;
    let events = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            i += 1;
            // The device's own writes block too once labwire stops reading: bound them.
            let _ = tokio::time::timeout(
                Duration::from_millis(50),
                inst.send(&oru(&format!("W{i}"), "", "")),
            )
            .await;
            let evs = ingest.events();
            if count_state(&evs, "disconnected") >= 1 {
                return evs;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("write timeout ends the connection");
    let detail = status_detail(&events, "disconnected");
    assert!(detail.starts_with("write timeout"), "{detail}");
    assert!(c.health.snapshot().timeouts >= 1);
    c.stop().await;
}

fn error_events(ingest: &MemoryIngest) -> Vec<(String, Option<u64>, String)> {
    ingest
        .of_kind(EventKind::Error)
        .into_iter()
        .map(|e| {
            let err = e.error.unwrap();
            (
                err.reason,
                err.offset,
                e.raw.as_deref().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_frame_cut_by_a_new_start_block_is_recorded_with_its_bytes_and_the_next_gets_aa() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-cut-vt", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    // python-hl7 sending a file that ends in a stray VT line: `VT msg CR VT CR FS CR`.
    let cut = "MSH|^~\\&|BA400|Biosystems|Host|Lab|20261126||OUL^R22|C1|P|2.5.1\rSPM|1|S1\r";
    let mut wire = vec![0x0b];
    wire.extend_from_slice(cut.as_bytes());
    wire.extend_from_slice(b"\x0b\r\x1c\r");
    inst.stream.write_all(&wire).await.unwrap();
    inst.send(&oru("C2", "", "")).await;
    let ack = inst.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AA");
    assert_eq!(field(&ack, "MSA", 2), "C2", "the cut frame is not answered");
    let errors = wait_until(&ingest, "the cut frame's error event", |ev| {
        ev.iter().any(|e| e.kind == EventKind::Error)
    })
    .await;
    assert_eq!(
        errors.iter().filter(|e| e.kind == EventKind::Error).count(),
        1,
        "no error for the lone CR left in the next block: {:#?}",
        summary(&errors)
    );
    let (reason, offset, raw) = error_events(&ingest).remove(0);
    assert_eq!(raw, cut, "the cut frame's bytes are kept");
    assert_eq!(offset, Some(0));
    assert!(
        reason.contains(&format!("after {} bytes", cut.len())),
        "{reason}"
    );
    assert!(reason.contains("new start block"), "{reason}");
    assert!(!reason.contains("deadline"), "{reason}");
    assert_eq!(ingest.of_kind(EventKind::Result).len(), 1);
    let h = c.health.snapshot();
    assert_eq!((h.timeouts, h.rejected, h.messages), (0, 1, 1), "{h:?}");
    c.stop().await;
}

#[tokio::test]
async fn a_frame_cut_by_the_deadline_is_recorded_with_its_bytes_and_counts_a_timeout() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-cut-deadline", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    let cut = "MSH|^~\\&|X\rPID|1";
    inst.stream.write_all(b"\x0b").await.unwrap();
    inst.stream.write_all(cut.as_bytes()).await.unwrap();
    // hl7_config() sets a 400 ms frame deadline.
    wait_until(&ingest, "the cut frame's error event", |ev| {
        ev.iter().any(|e| e.kind == EventKind::Error)
    })
    .await;
    let (reason, offset, raw) = error_events(&ingest).remove(0);
    assert_eq!(raw, cut);
    assert_eq!(offset, Some(0));
    assert!(
        reason.contains(&format!("after {} bytes", cut.len())),
        "{reason}"
    );
    assert!(reason.contains("deadline"), "{reason}");
    inst.send(&oru("D1", "", "")).await;
    let ack = inst.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AA");
    assert_eq!(field(&ack, "MSA", 2), "D1");
    let h = c.health.snapshot();
    assert_eq!((h.timeouts, h.rejected, h.messages), (1, 1, 1), "{h:?}");
    c.stop().await;
}

fn batch(bhs11: &str, messages: &[String], bts1: usize) -> String {
    let mut b = format!("FHS|^~\\&|BA400|Biosystems|Host|Lab|20261126||||F{bhs11}\r");
    b += &format!("BHS|^~\\&|BA400|Biosystems|Host|Lab|20261126||||{bhs11}\r");
    for m in messages {
        b += m;
    }
    b += &format!("BTS|{bts1}\rFTS|1\r");
    b
}

/// The MSH-10 of each ACK in a response batch, with its MSA-1 and MSA-2.
fn batch_acks(reply: &str) -> Vec<(String, String)> {
    reply
        .split('\r')
        .filter(|l| l.starts_with("MSA|"))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[1].to_owned(), f[2].to_owned())
        })
        .collect()
}

/// Field `n` of an FHS/BHS segment (field 1 is the separator itself, like MSH).
fn header_field(reply: &str, seg: &str, n: usize) -> String {
    field(reply, "MSH", 1); // the reply holds an ACK
    let line = reply.split('\r').find(|l| l.starts_with(seg)).unwrap();
    line.split('|').nth(n - 1).unwrap_or("").to_owned()
}

fn lines(reply: &str) -> Vec<&str> {
    reply
        .split('\r')
        .filter(|l| !l.is_empty())
        .map(|l| &l[..3])
        .collect()
}

#[tokio::test]
async fn a_batch_in_one_block_is_stored_and_answered_with_a_batch_of_acks() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-batch", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send(&batch("B1", &[oru("B1M1", "", ""), oru("B1M2", "", "")], 2))
        .await;
    let reply = inst.recv(T).await.unwrap();
    assert_eq!(
        lines(&reply),
        ["FHS", "BHS", "MSH", "MSA", "MSH", "MSA", "BTS", "FTS"],
        "{reply:?}"
    );
    assert_eq!(
        batch_acks(&reply),
        [("AA".into(), "B1M1".into()), ("AA".into(), "B1M2".into())]
    );
    assert_eq!(
        header_field(&reply, "BHS", 12),
        "B1",
        "BHS-12 names the inbound batch: {reply:?}"
    );
    assert_eq!(header_field(&reply, "BHS", 5), "BA400");
    assert_eq!(header_field(&reply, "BHS", 3), "labwire");
    assert_eq!(header_field(&reply, "FHS", 12), "FB1");
    assert_eq!(field(&reply, "BTS", 1), "2");
    assert_eq!(
        ingest.of_kind(EventKind::Result).len(),
        2,
        "both stored before the reply was written"
    );
    assert!(ingest.of_kind(EventKind::Error).is_empty());
    assert_eq!(c.health.snapshot().messages, 2);
    c.stop().await;
}

#[tokio::test]
async fn a_batch_with_one_unusable_message_gets_aa_and_ar_with_err() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-batch-mixed", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    let adt = "MSH|^~\\&|X|Y|H|L|20261126||ADT^A04|B2M2|P|2.5.1\rPID|1||123\r".to_owned();
    inst.send(&batch(
        "B2",
        &[oru("B2M1", "", ""), adt, oru("B2M3", "", "")],
        3,
    ))
    .await;
    let reply = inst.recv(T).await.unwrap();
    assert_eq!(
        batch_acks(&reply),
        [
            ("AA".into(), "B2M1".into()),
            ("AR".into(), "B2M2".into()),
            ("AA".into(), "B2M3".into())
        ],
        "{reply:?}"
    );
    assert_eq!(segments(&reply, "ERR"), 1, "{reply:?}");
    assert!(
        reply.contains("|200"),
        "ERR-3 unsupported message type: {reply:?}"
    );
    assert_eq!(field(&reply, "BTS", 1), "3");
    assert_eq!(ingest.of_kind(EventKind::Result).len(), 2);
    assert_eq!(ingest.of_kind(EventKind::Error).len(), 1);
    // A batch that cannot be stored: every message AE, nothing answered AA.
    ingest.set_failing(true);
    inst.send(&batch("B3", &[oru("B3M1", "", ""), oru("B3M2", "", "")], 2))
        .await;
    let reply = inst.recv(T).await.unwrap();
    assert_eq!(
        batch_acks(&reply),
        [("AE".into(), "B3M1".into()), ("AE".into(), "B3M2".into())],
        "{reply:?}"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_batch_that_cannot_be_split_gets_ar_naming_why() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-batch-garbage", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    inst.send("BHS|^~\\&|BA400|Biosystems|Host|Lab|20261126||||G1\rnot a message\rBTS|1\r")
        .await;
    let reply = inst.recv(T).await.unwrap();
    assert_eq!(
        lines(&reply),
        ["BHS", "MSH", "MSA", "ERR", "BTS"],
        "{reply:?}"
    );
    assert_eq!(batch_acks(&reply), [("AR".into(), "G1".into())]);
    assert!(
        reply.contains("|100"),
        "ERR-3 segment sequence error: {reply:?}"
    );
    assert!(reply.contains("cannot be split"), "{reply:?}");
    let (reason, _, raw) = error_events(&ingest).remove(0);
    assert!(reason.contains("text outside any message"), "{reason}");
    assert!(raw.starts_with("BHS|"), "{raw:?}");
    // A count that disagrees with the messages present.
    inst.send(&batch("G2", &[oru("G2M1", "", "")], 2)).await;
    let reply = inst.recv(T).await.unwrap();
    assert_eq!(
        batch_acks(&reply),
        [("AR".into(), "G2".into())],
        "{reply:?}"
    );
    assert!(reply.contains("BTS-1 counts 2 messages"), "{reply:?}");
    assert!(ingest.of_kind(EventKind::Result).is_empty());
    // The connection keeps serving.
    inst.send(&oru("G3", "", "")).await;
    assert_eq!(field(&inst.recv(T).await.unwrap(), "MSA", 1), "AA");
    c.stop().await;
}

#[tokio::test]
async fn a_frame_cut_by_the_peer_closing_is_recorded_with_its_bytes() {
    let ingest = MemoryIngest::new();
    let c = start(&ingest, "ba400-cut-close", |_| {}).await;
    let mut inst = instrument(c.addr).await;
    let cut = "MSH|^~\\&|BA400|Biosystems|Host|Lab|20261126||OUL^R22|E1|P|2.5.1\rSPM|1|S";
    inst.stream.write_all(b"\x0b").await.unwrap();
    inst.stream.write_all(cut.as_bytes()).await.unwrap();
    // The cable is pulled mid-frame: the instrument's side closes before the end block.
    inst.stream.shutdown().await.unwrap();
    drop(inst);
    wait_until(&ingest, "the cut frame's error event", |ev| {
        ev.iter().any(|e| e.kind == EventKind::Error)
    })
    .await;
    let (reason, offset, raw) = error_events(&ingest).remove(0);
    assert_eq!(raw, cut, "the bytes received before the close are kept");
    assert_eq!(offset, Some(0));
    assert!(
        reason.contains(&format!("after {} bytes", cut.len())),
        "{reason}"
    );
    assert!(!reason.contains("deadline"), "{reason}");
    assert!(ingest.of_kind(EventKind::Result).is_empty());
    // The connector keeps serving: the next connection's message is stored and acknowledged.
    let mut inst = instrument(c.addr).await;
    inst.send(&oru("E2", "", "")).await;
    let ack = inst.recv(T).await.unwrap();
    assert_eq!(field(&ack, "MSA", 1), "AA");
    assert_eq!(field(&ack, "MSA", 2), "E2");
    assert_eq!(c.health.snapshot().timeouts, 0);
    c.stop().await;
}
