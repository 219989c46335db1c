#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The HL7 link state machine on fake time (issue 9 item 13): every ACK mode, batches,
//! downloads and timers, with instants made up by the test. Answers are read back with plain
//! string splitting here, never with the crate's parser.

use labwire_hl7::ack::{OrderedTest, SpecimenOrder};
use labwire_hl7::link::{Link, LinkConfig, LinkEvent, SendId, Token};
use proptest::prelude::*;
use std::time::{Duration, Instant};

const VT: u8 = 0x0b;
const FS: u8 = 0x1c;
const CR: u8 = 0x0d;

fn wall() -> jiff::Timestamp {
    "2026-12-03T12:00:00Z".parse().unwrap()
}

fn link(t0: Instant) -> Link {
    Link::new(LinkConfig::default(), t0, wall())
}

fn framed(msg: &str) -> Vec<u8> {
    let mut out = vec![VT];
    out.extend_from_slice(msg.as_bytes());
    out.extend_from_slice(&[FS, CR]);
    out
}

/// MSH with MSH-15/16 as given (`""` for original mode).
fn oru(id: &str, accept: &str, application: &str) -> String {
    let modes = if accept.is_empty() && application.is_empty() {
        String::new()
    } else {
        format!("|||{accept}|{application}")
    };
    format!(
        "MSH|^~\\&|ANALYZER|LAB|LIS|HOSP|20261203115900||ORU^R01|{id}|P|2.5.1{modes}\r\
         PID|1||P-1\rOBR|1||S-1|GLU\rOBX|1|NM|GLU||5.4|mmol/L|||||F\r"
    )
}

/// Every block written since the last call, each without its MLLP framing.
fn sent(link: &mut Link) -> Vec<String> {
    let mut bytes = Vec::new();
    while let Some(b) = link.poll_transmit() {
        bytes.extend(b);
    }
    bytes
        .split(|b| *b == FS)
        .filter_map(|block| {
            let start = block.iter().position(|b| *b == VT)?;
            Some(String::from_utf8(block[start + 1..].to_vec()).unwrap())
        })
        .collect()
}

fn events(link: &mut Link) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

fn token(ev: &LinkEvent) -> Token {
    match ev {
        LinkEvent::Message { token, .. } => *token,
        other => panic!("not a message: {other:?}"),
    }
}

/// Field `n` of the first segment named `seg` in `msg` (MSH counts MSH-1 as the separator).
fn field(msg: &str, seg: &str, n: usize) -> String {
    let line = msg
        .split('\r')
        .find(|l| l.starts_with(seg))
        .unwrap_or_else(|| panic!("no {seg} in {msg:?}"));
    let idx = if matches!(seg, "MSH" | "BHS" | "FHS") {
        n - 1
    } else {
        n
    };
    line.split('|').nth(idx).unwrap_or("").to_owned()
}

fn segments(msg: &str, seg: &str) -> usize {
    msg.split('\r').filter(|l| l.starts_with(seg)).count()
}

/// Receives one message and returns its token; nothing is sent before the decision.
fn receive(link: &mut Link, now: Instant, msg: &str) -> Token {
    link.handle_input(now, &framed(msg));
    let evs = events(link);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(sent(link).is_empty(), "an answer before the decision");
    assert!(!link.is_idle());
    token(&evs[0])
}

#[test]
fn original_mode_commit_is_aa_after_the_decision_with_wall_time_from_the_instants() {
    let t0 = Instant::now();
    let mut l = link(t0);
    let tok = receive(&mut l, t0, &oru("M1", "", ""));
    l.commit(tok, t0 + Duration::from_secs(90));
    let acks = sent(&mut l);
    assert_eq!(acks.len(), 1);
    assert_eq!(field(&acks[0], "MSA", 1), "AA");
    assert_eq!(field(&acks[0], "MSA", 2), "M1");
    assert_eq!(field(&acks[0], "MSH", 7), "20261203120130+0000");
    // Control id: LW, wall time in ms, sequence number.
    assert_eq!(field(&acks[0], "MSH", 10), "LW17962992900000001");
    assert_eq!(segments(&acks[0], "ERR"), 0);
    assert!(l.is_idle());
    // A token is decided once.
    l.commit(tok, t0);
    assert!(sent(&mut l).is_empty());
}

#[test]
fn original_mode_reject_refuse_and_unstorable() {
    let t0 = Instant::now();
    let mut l = link(t0);
    let a = receive(&mut l, t0, &oru("R1", "", ""));
    l.reject(a, t0);
    let ack = sent(&mut l).remove(0);
    assert_eq!(field(&ack, "MSA", 1), "AE");
    assert!(field(&ack, "ERR", 3).starts_with("207^"), "{ack}");

    let b = receive(&mut l, t0, &oru("R2", "", ""));
    l.refuse(b, "message type \"ADT^A01\" carries no lab results", t0);
    let ack = sent(&mut l).remove(0);
    assert_eq!(field(&ack, "MSA", 1), "AR");
    assert!(field(&ack, "ERR", 3).starts_with("200^"), "{ack}");

    let c = receive(&mut l, t0, &oru("R3", "", ""));
    l.refuse(c, "OBX-2 is not a value type", t0);
    let ack = sent(&mut l).remove(0);
    assert!(field(&ack, "ERR", 3).starts_with("102^"), "{ack}");

    let d = receive(&mut l, t0, &oru("R4", "", ""));
    l.refuse_unstorable(d, "message of 2097152 bytes cannot be stored", t0);
    let acks = sent(&mut l);
    assert_eq!(acks.len(), 1);
    assert_eq!(field(&acks[0], "MSA", 1), "AR");
    assert_eq!(field(&acks[0], "MSA", 2), "R4");
    assert_eq!(
        field(&acks[0], "ERR", 8),
        "message of 2097152 bytes cannot be stored"
    );
    assert_eq!(l.stats().naks_sent, 4);
}

/// (MSH-15, MSH-16, decision) → the MSA-1 codes sent, in order.
#[test]
fn enhanced_mode_sends_what_msh15_and_msh16_ask_for() {
    type Decide = fn(&mut Link, Token, Instant);
    let commit: Decide = |l, t, n| l.commit(t, n);
    let reject: Decide = |l, t, n| l.reject(t, n);
    let refuse: Decide = |l, t, n| l.refuse(t, "bad", n);
    let unstorable: Decide = |l, t, n| l.refuse_unstorable(t, "too large", n);
    let cases: [(&str, &str, Decide, &[&str]); 14] = [
        ("AL", "AL", commit, &["CA", "AA"]),
        ("AL", "NE", commit, &["CA"]),
        ("NE", "AL", commit, &["AA"]),
        ("NE", "NE", commit, &[]),
        ("ER", "ER", commit, &[]),
        ("ER", "ER", reject, &["CE"]),
        ("SU", "SU", commit, &["CA", "AA"]),
        ("SU", "SU", reject, &[]),
        ("AL", "AL", reject, &["CE"]),
        ("AL", "AL", refuse, &["CA", "AR"]),
        ("AL", "ER", refuse, &["CA", "AR"]),
        ("AL", "AL", unstorable, &["CR"]),
        ("ER", "AL", unstorable, &["CR"]),
        ("NE", "AL", unstorable, &[]),
    ];
    let t0 = Instant::now();
    for (i, (accept, application, decide, want)) in cases.iter().enumerate() {
        let mut l = link(t0);
        let tok = receive(&mut l, t0, &oru(&format!("E{i}"), accept, application));
        decide(&mut l, tok, t0);
        let codes: Vec<String> = sent(&mut l).iter().map(|a| field(a, "MSA", 1)).collect();
        assert_eq!(
            codes, *want,
            "MSH-15 {accept} MSH-16 {application} case {i}"
        );
        assert!(l.is_idle());
    }
}

fn batch(with_file: bool, count: &str) -> String {
    let mut b = String::new();
    if with_file {
        b.push_str("FHS|^~\\&|ANALYZER|LAB|LIS|HOSP|20261203||||F-9\r");
    }
    b.push_str("BHS|^~\\&|ANALYZER|LAB|LIS|HOSP|20261203||||B-7\r");
    b.push_str(&oru("B1", "", ""));
    b.push_str(&oru("B2", "", ""));
    b.push_str(&format!("BTS|{count}\r"));
    if with_file {
        b.push_str("FTS|1\r");
    }
    b
}

#[test]
fn a_batch_is_answered_once_every_member_is_settled() {
    for with_file in [false, true] {
        let t0 = Instant::now();
        let mut l = link(t0);
        l.handle_input(t0, &framed(&batch(with_file, "2")));
        let evs = events(&mut l);
        assert_eq!(evs.len(), 2);
        let (a, b) = (token(&evs[0]), token(&evs[1]));
        l.commit(a, t0);
        assert!(
            sent(&mut l).is_empty(),
            "answered before every member settled"
        );
        l.reject(b, t0);
        let reply = sent(&mut l);
        assert_eq!(reply.len(), 1, "one block");
        let r = &reply[0];
        assert_eq!(field(r, "BHS", 3), "labwire");
        assert_eq!(field(r, "BHS", 5), "ANALYZER");
        assert_eq!(field(r, "BHS", 12), "B-7");
        assert_eq!(segments(r, "MSA"), 2);
        let msas: Vec<&str> = r.split('\r').filter(|s| s.starts_with("MSA")).collect();
        assert_eq!(msas, ["MSA|AA|B1", "MSA|AE|B2"]);
        assert_eq!(field(r, "BTS", 1), "2");
        assert_eq!(segments(r, "FHS"), usize::from(with_file));
        assert_eq!(segments(r, "FTS"), usize::from(with_file));
        if with_file {
            assert_eq!(field(r, "FHS", 12), "F-9");
            assert!(
                r.starts_with("FHS|") && r.ends_with("BTS|2\rFTS|1\r"),
                "{r}"
            );
        } else {
            assert!(r.starts_with("BHS|") && r.ends_with("BTS|2\r"), "{r}");
        }
        assert!(l.is_idle());
    }
}

#[test]
fn a_batch_that_cannot_be_split_is_handed_over_whole_and_refused_as_one() {
    let t0 = Instant::now();
    let mut l = link(t0);
    let block = batch(false, "5");
    l.handle_input(t0, &framed(&block));
    let evs = events(&mut l);
    assert_eq!(evs.len(), 1);
    let LinkEvent::Message { token, raw } = &evs[0] else {
        panic!("{evs:?}")
    };
    assert_eq!(raw, block.as_bytes());
    l.refuse(*token, "HL7 batch cannot be split: BTS-1 counts 5", t0);
    let reply = sent(&mut l).remove(0);
    let msas: Vec<&str> = reply.split('\r').filter(|s| s.starts_with("MSA")).collect();
    assert_eq!(msas, ["MSA|AR|B-7"]);
    assert!(field(&reply, "ERR", 3).starts_with("100^"), "{reply}");
    assert_eq!(field(&reply, "BTS", 1), "1");
}

fn order(specimen: &str) -> SpecimenOrder {
    SpecimenOrder {
        patient: None,
        specimen_id: specimen.into(),
        specimen_type: None,
        placer_order_number: None,
        tests: vec![OrderedTest {
            code: "NA".into(),
            name: None,
            coding_system: None,
        }],
    }
}

fn ack_for(control_id: &str, code: &str) -> String {
    format!(
        "MSH|^~\\&|ANALYZER|LAB|labwire||20261203||ORL^O34|X-{control_id}|P|2.5.1\rMSA|{code}|{control_id}\r"
    )
}

#[test]
fn a_download_completes_when_every_message_is_acknowledged() {
    let t0 = Instant::now();
    let mut l = link(t0);
    l.send_orders(SendId(4), &[order("D-1"), order("D-2")], t0)
        .unwrap();
    assert!(!l.is_idle());
    assert_eq!(
        l.send_orders(SendId(5), &[order("D-3")], t0),
        Err(labwire_hl7::link::SendError::Busy)
    );
    let omls = sent(&mut l);
    assert_eq!(omls.len(), 2);
    assert!(field(&omls[0], "MSH", 9).starts_with("OML^O33"));
    let ids: Vec<String> = omls.iter().map(|m| field(m, "MSH", 10)).collect();
    assert_ne!(ids[0], ids[1]);
    l.handle_input(t0, &framed(&ack_for(&ids[1], "AA")));
    assert!(events(&mut l).is_empty());
    l.handle_input(t0, &framed(&ack_for(&ids[0], "CA")));
    assert_eq!(events(&mut l), [LinkEvent::Sent(SendId(4))]);
    // Responses are never acknowledged back.
    assert!(sent(&mut l).is_empty());
    assert!(l.is_idle());
}

#[test]
fn a_download_fails_on_a_negative_answer() {
    let t0 = Instant::now();
    let mut l = link(t0);
    l.send_orders(SendId(1), &[order("D-1")], t0).unwrap();
    let id = field(&sent(&mut l)[0], "MSH", 10);
    l.handle_input(t0, &framed(&ack_for(&id, "AE")));
    let evs = events(&mut l);
    assert!(
        matches!(&evs[..], [LinkEvent::SendFailed { id: SendId(1), reason }] if reason.contains("AE")),
        "{evs:?}"
    );
    assert_eq!(l.stats().naks_received, 1);
    assert!(l.is_idle());
}

#[test]
fn a_download_fails_at_its_deadline_and_not_before() {
    let t0 = Instant::now();
    let mut l = link(t0);
    let timeout = LinkConfig::default().download_ack_timeout;
    l.send_orders(SendId(2), &[order("D-1")], t0).unwrap();
    let _ = sent(&mut l);
    assert_eq!(l.poll_timeout(), Some(t0 + timeout));
    l.handle_timeout(t0 + timeout - Duration::from_millis(1));
    assert!(events(&mut l).is_empty());
    l.handle_timeout(t0 + timeout);
    let evs = events(&mut l);
    assert!(
        matches!(&evs[..], [LinkEvent::SendFailed { id: SendId(2), .. }]),
        "{evs:?}"
    );
    assert_eq!(l.stats().timeouts, 1);
    assert_eq!(l.poll_timeout(), None);
    // A late answer changes nothing.
    let id = "whatever";
    l.handle_input(t0 + timeout, &framed(&ack_for(id, "AA")));
    assert!(events(&mut l).is_empty());
}

#[test]
fn an_empty_download_is_sent_at_once() {
    let t0 = Instant::now();
    let mut l = link(t0);
    l.send_orders(SendId(3), &[], t0).unwrap();
    assert_eq!(events(&mut l), [LinkEvent::Sent(SendId(3))]);
    assert!(sent(&mut l).is_empty());
}

#[test]
fn a_frame_still_open_at_its_deadline_is_rejected_with_its_bytes() {
    let t0 = Instant::now();
    let mut l = link(t0);
    let frame_timeout = LinkConfig::default().framer.frame_timeout;
    l.handle_input(t0, b"\x0bMSH|^~\\&|X\rPID");
    assert_eq!(l.poll_timeout(), Some(t0 + frame_timeout));
    assert!(!l.is_idle());
    l.handle_timeout(t0 + frame_timeout);
    let evs = events(&mut l);
    let [
        LinkEvent::Rejected {
            reason,
            offset,
            raw,
        },
    ] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert!(
        reason.starts_with("MLLP frame cut short after 14 bytes"),
        "{reason}"
    );
    assert_eq!(*offset, Some(0));
    assert_eq!(raw, b"MSH|^~\\&|X\rPID");
    assert_eq!(l.stats().timeouts, 1);
    assert!(l.is_idle());
}

#[test]
fn a_frame_cut_by_the_end_of_input_is_rejected_without_a_timeout() {
    let t0 = Instant::now();
    let mut l = link(t0);
    l.handle_input(t0, b"\x0bMSH|^~\\&|X\rPID");
    l.handle_end_of_input(t0);
    let evs = events(&mut l);
    assert!(matches!(&evs[..], [LinkEvent::Rejected { raw, .. }] if raw == b"MSH|^~\\&|X\rPID"));
    assert_eq!(l.stats().timeouts, 0);
}

#[test]
fn a_qbp_gets_rsp_k11_and_other_queries_an_ack() {
    let t0 = Instant::now();
    let mut l = link(t0);
    let qbp = "MSH|^~\\&|ANALYZER|LAB|LIS|HOSP|20261203||QBP^Q11^QBP_Q11|Q1|P|2.5.1\r\
               QPD|WOS^Work Order Step^IHE_LABTF|T-1|S-9\rRCP|I||R\r";
    let tok = receive(&mut l, t0, qbp);
    l.answer_query(tok, None, t0);
    let rsp = sent(&mut l).remove(0);
    assert!(field(&rsp, "MSH", 9).starts_with("RSP^K11"), "{rsp}");
    assert_eq!(field(&rsp, "MSA", 2), "Q1");
    assert_eq!(field(&rsp, "QAK", 2), "NF");

    let tok = receive(&mut l, t0, qbp);
    l.answer_query(tok, Some(&order("S-9")), t0);
    let rsp = sent(&mut l).remove(0);
    assert_eq!(field(&rsp, "QAK", 2), "OK");

    let qry = "MSH|^~\\&|BC|M|LIS||20261203||QRY^Q02|Q2|P|2.3.1\rQRD|20261203|R|D|1\r";
    let tok = receive(&mut l, t0, qry);
    l.answer_query(tok, None, t0);
    let ack = sent(&mut l).remove(0);
    assert_eq!(field(&ack, "MSA", 1), "AA");
    assert_eq!(field(&ack, "MSA", 2), "Q2");
    assert!(l.is_idle());
}

#[test]
fn bytes_outside_a_frame_and_an_oversize_frame_are_rejected() {
    let t0 = Instant::now();
    let mut config = LinkConfig::default();
    config.framer.max_frame_bytes = 64;
    let mut l = Link::new(config, t0, wall());
    l.handle_input(t0, b"noise");
    l.handle_input(t0, &framed(&oru("BIG", "", "")));
    l.handle_input(t0, &framed("MSH|^~\\&|A|B|C|D||ORU^R01|S1|P|2.5\r"));
    let evs = events(&mut l);
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(
        matches!(&evs[0], LinkEvent::Rejected { reason, offset: Some(0), .. } if reason == "5 bytes outside any MLLP frame")
    );
    assert!(
        matches!(&evs[1], LinkEvent::Rejected { reason, offset: Some(5), .. } if reason == "MLLP frame larger than 64 bytes dropped")
    );
    assert!(matches!(&evs[2], LinkEvent::Message { .. }));
}

/// A connection's input: messages of every kind the link answers, plus an ACK (not answered)
/// and noise.
fn stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(framed(&oru("P1", "", "")));
    s.extend(b"\r\n");
    s.extend(framed(&oru("P2", "AL", "AL")));
    s.extend(b"junk");
    s.extend(framed(&batch(true, "2")));
    s.extend(framed(&ack_for("NOBODY", "AA")));
    s.extend(framed(&oru("P3", "ER", "SU")));
    s.extend(framed(&batch(false, "9")));
    s.extend(b"\x0bMSH|^~\\&|cut");
    s
}

/// Feeds `chunks` at one instant, commits every message as it arrives, ends the input; returns
/// every event and every byte written.
fn run(chunks: &[&[u8]]) -> (Vec<LinkEvent>, Vec<u8>) {
    let t0 = Instant::now();
    let mut l = link(t0);
    let mut evs = Vec::new();
    let mut out = Vec::new();
    let settle = |l: &mut Link, evs: &mut Vec<LinkEvent>, out: &mut Vec<u8>| {
        while let Some(ev) = l.poll_event() {
            if let LinkEvent::Message { token, .. } = &ev {
                l.commit(*token, t0);
            }
            evs.push(ev);
        }
        while let Some(b) = l.poll_transmit() {
            out.extend(b);
        }
    };
    for c in chunks {
        l.handle_input(t0, c);
        settle(&mut l, &mut evs, &mut out);
    }
    l.handle_end_of_input(t0);
    settle(&mut l, &mut evs, &mut out);
    (evs, out)
}

proptest! {
    #[test]
    fn any_chunking_of_the_same_stream_gives_the_same_events_and_answers(
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)
    ) {
        let input = stream();
        let (want_events, want_bytes) = run(&[&input]);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for a in at.into_iter().chain([input.len()]) {
            chunks.push(&input[prev..a]);
            prev = a;
        }
        let (events, bytes) = run(&chunks);
        prop_assert_eq!(events, want_events);
        prop_assert_eq!(bytes, want_bytes);
    }
}

#[test]
fn the_reference_stream_exercises_every_path() {
    let input = stream();
    let (events, bytes) = run(&[&input]);
    let messages = events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Message { .. }))
        .count();
    // P1, P2, B1, B2, P3, the unsplittable batch.
    assert_eq!(messages, 6, "{events:?}");
    let rejected = events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Rejected { .. }))
        .count();
    assert_eq!(rejected, 2, "junk and the cut frame: {events:?}");
    let text = String::from_utf8(bytes).unwrap();
    // P1 AA; P2 CA AA; batch reply (2 ACKs); P3 (ER/SU) CA? no: SU commit → AA, ER → none;
    // the unsplittable batch is committed here: one AA in a reply batch.
    assert_eq!(text.matches("MSA|").count(), 1 + 2 + 2 + 1 + 1, "{text}");
}
