//! Link state machine tests with fake time: a host link and an instrument
//! link wired together in memory through an injectable lossy wire, plus
//! focused tests that feed one link by hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use labwire_astm::link::control::{ACK, ENQ, EOT, NAK, STX};
use labwire_astm::link::{
    Direction, EncodeOptions, FrameEnd, FrameNumber, Link, LinkConfig, LinkEvent, Role,
    SendFailure, encode_frame, encode_message,
};

const SECOND: Duration = Duration::from_secs(1);

/// Rewrites (or drops) one transmission on its way across the wire.
type Wire = Box<dyn FnMut(&[u8]) -> Vec<u8>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Host,
    Instrument,
}

struct Pair {
    host: Link,
    inst: Link,
    start: Instant,
    now: Instant,
    to_host: Wire,
    to_inst: Wire,
    host_events: Vec<LinkEvent>,
    inst_events: Vec<LinkEvent>,
    /// Every transmission as sent (before the wire), in order.
    log: Vec<(Side, Instant, Vec<u8>)>,
    auto_commit: bool,
    /// Messages the host received, in order.
    received: Vec<Vec<u8>>,
    /// Messages the instrument received, in order.
    inst_received: Vec<Vec<u8>>,
    held: Vec<labwire_astm::link::DeliveryToken>,
}

impl Pair {
    fn new(host: LinkConfig, inst: LinkConfig) -> Self {
        let start = Instant::now();
        Self {
            host: Link::new(host),
            inst: Link::new(inst),
            start,
            now: start,
            to_host: Box::new(|b| b.to_vec()),
            to_inst: Box::new(|b| b.to_vec()),
            host_events: Vec::new(),
            inst_events: Vec::new(),
            log: Vec::new(),
            auto_commit: true,
            received: Vec::new(),
            inst_received: Vec::new(),
            held: Vec::new(),
        }
    }

    fn standard() -> Self {
        Self::new(
            LinkConfig::new(Role::Host),
            LinkConfig::new(Role::Instrument),
        )
    }

    /// Moves bytes and events until nothing changes.
    fn drive(&mut self) {
        loop {
            let mut progress = false;
            if let Some(bytes) = self.inst.poll_transmit() {
                self.log.push((Side::Instrument, self.now, bytes.clone()));
                let bytes = (self.to_host)(&bytes);
                self.host.handle_input(self.now, &bytes);
                progress = true;
            }
            if let Some(bytes) = self.host.poll_transmit() {
                self.log.push((Side::Host, self.now, bytes.clone()));
                let bytes = (self.to_inst)(&bytes);
                self.inst.handle_input(self.now, &bytes);
                progress = true;
            }
            while let Some(event) = self.host.poll_event() {
                progress = true;
                match event {
                    LinkEvent::Message { token, text } => {
                        self.received.push(text);
                        if self.auto_commit {
                            assert!(self.host.commit(token, self.now));
                        } else {
                            self.held.push(token);
                        }
                    }
                    other => self.host_events.push(other),
                }
            }
            while let Some(event) = self.inst.poll_event() {
                progress = true;
                match event {
                    // The instrument side always commits at once.
                    LinkEvent::Message { token, text } => {
                        self.inst_received.push(text);
                        assert!(self.inst.commit(token, self.now));
                    }
                    other => self.inst_events.push(other),
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Drives, then jumps to the next deadline, until both links are idle
    /// or `limit` of fake time has passed.
    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.drive();
            let next = [self.host.poll_timeout(), self.inst.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.host.handle_timeout(self.now);
                    self.inst.handle_timeout(self.now);
                }
                _ => {
                    self.drive();
                    return;
                }
            }
        }
    }

    fn sent_frames(&self, side: Side) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter(|(s, _, b)| *s == side && b.first() == Some(&STX))
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    fn count(&self, side: Side, byte: u8) -> usize {
        self.log
            .iter()
            .filter(|(s, _, _)| *s == side)
            .map(|(_, _, b)| b.iter().filter(|&&x| x == byte).count())
            .sum()
    }
}

fn result_message(results: usize) -> Vec<u8> {
    let mut m = b"H|\\^&|||analyzer^1|||||host||P|1\rP|1||PID1\rO|1|SID1||^^^GLU|R\r".to_vec();
    for i in 0..results {
        m.extend_from_slice(format!("R|{}|^^^T{i}|{}.5|mg/dL||N||F\r", i + 1, i * 3).as_bytes());
    }
    m.extend_from_slice(b"L|1|N\r");
    m
}

fn small_frames(max_text: usize) -> LinkConfig {
    let mut c = LinkConfig::new(Role::Instrument);
    c.encode = EncodeOptions {
        max_text,
        record_per_frame: false,
    };
    c
}

#[test]
fn normal_transfer_delivers_once_and_both_go_idle() {
    let mut p = Pair::standard();
    let msg = result_message(3);
    let id = p.inst.send_message(msg.clone(), p.now).unwrap();
    p.run(60 * SECOND);
    assert_eq!(p.received, vec![msg]);
    assert!(p.inst_events.contains(&LinkEvent::Sent(id)));
    assert!(
        p.host_events
            .contains(&LinkEvent::Established(Direction::Receiving))
    );
    assert!(p.host.is_idle() && p.inst.is_idle());
    assert_eq!(p.count(Side::Instrument, EOT), 1);
    assert_eq!(p.now, p.start, "no timer needed");
}

#[test]
fn multi_frame_message_wraps_frame_numbers_past_seven() {
    let mut p = Pair::new(LinkConfig::new(Role::Host), small_frames(16));
    let msg = result_message(4); // ~ 170 bytes -> 11+ frames
    p.inst.send_message(msg.clone(), p.now).unwrap();
    p.run(60 * SECOND);
    assert_eq!(p.received, vec![msg.clone()]);
    let frames = p.sent_frames(Side::Instrument);
    assert_eq!(frames.len(), msg.len().div_ceil(16));
    let numbers: Vec<u8> = frames.iter().map(|f| f[1]).collect();
    assert_eq!(&numbers[..10], b"1234567012");
    assert!(
        frames[..frames.len() - 1].iter().all(|f| f.contains(&0x17)),
        "ETB frames"
    );
    assert!(frames.last().unwrap().contains(&0x03), "ETX last");
}

#[test]
fn bad_checksum_is_naked_and_retransmitted() {
    let mut p = Pair::new(LinkConfig::new(Role::Host), small_frames(20));
    let mut frames_seen = 0;
    p.to_host = Box::new(move |b| {
        let mut b = b.to_vec();
        if b.first() == Some(&STX) {
            frames_seen += 1;
            if frames_seen == 2 {
                b[3] ^= 0x01; // flip a text bit in the 2nd frame
            }
        }
        b
    });
    let msg = result_message(2);
    p.inst.send_message(msg.clone(), p.now).unwrap();
    p.run(60 * SECOND);
    assert_eq!(p.received, vec![msg]);
    assert_eq!(p.host.stats().checksum_errors, 1);
    assert_eq!(p.host.stats().naks_sent, 1);
    assert_eq!(p.inst.stats().retransmits, 1);
    assert_eq!(p.inst.stats().naks_received, 1);
    assert!(
        p.host_events.iter().any(
            |e| matches!(e, LinkEvent::Rejected { reason, .. } if reason.contains("checksum"))
        )
    );
}

#[test]
fn six_retries_then_eot_and_abort() {
    let mut p = Pair::standard();
    p.to_host = Box::new(|b| {
        let mut b = b.to_vec();
        if b.first() == Some(&STX) {
            b[2] ^= 0x01;
        }
        b
    });
    let id = p.inst.send_message(result_message(1), p.now).unwrap();
    p.run(60 * SECOND);
    assert!(p.received.is_empty());
    assert_eq!(
        p.sent_frames(Side::Instrument).len(),
        7,
        "1 send + 6 retransmissions"
    );
    assert!(p.inst_events.contains(&LinkEvent::SendFailed {
        id,
        reason: SendFailure::TooManyRetries
    }));
    assert_eq!(p.count(Side::Instrument, EOT), 1);
    assert_eq!(p.host.stats().naks_sent, 7);
    assert!(p.host.is_idle() && p.inst.is_idle());
}

#[test]
fn garbled_ack_causes_retransmit_that_is_deduplicated() {
    let mut p = Pair::new(LinkConfig::new(Role::Host), small_frames(20));
    let mut acks = 0;
    p.to_inst = Box::new(move |b| {
        let mut b = b.to_vec();
        for byte in &mut b {
            if *byte == ACK {
                acks += 1;
                if acks == 3 {
                    *byte = b'?'; // the ACK of frame 2 arrives garbled
                }
            }
        }
        b
    });
    let msg = result_message(2);
    p.inst.send_message(msg.clone(), p.now).unwrap();
    p.run(60 * SECOND);
    assert_eq!(p.received, vec![msg], "text not duplicated");
    assert_eq!(p.host.stats().duplicates, 1);
    assert_eq!(p.inst.stats().retransmits, 1);
}

#[test]
fn sender_timer_expiry_sends_eot_and_fails() {
    let mut p = Pair::standard();
    let mut acks = 0;
    p.to_inst = Box::new(move |b| {
        let mut out = Vec::new();
        for &byte in b {
            if byte == ACK {
                acks += 1;
                if acks >= 2 {
                    continue; // the ACK to the frame is lost on the line
                }
            }
            out.push(byte);
        }
        out
    });
    let id = p.inst.send_message(result_message(1), p.now).unwrap();
    p.auto_commit = true;
    p.run(100 * SECOND);
    assert!(p.inst_events.contains(&LinkEvent::SendFailed {
        id,
        reason: SendFailure::Timeout
    }));
    let eot_time = p
        .log
        .iter()
        .find(|(s, _, b)| *s == Side::Instrument && b == &[EOT])
        .map(|(_, t, _)| *t)
        .unwrap();
    assert_eq!(eot_time - p.start, 15 * SECOND);
    assert_eq!(p.inst.stats().timeouts, 1);
}

#[test]
fn receiver_timer_discards_partial_message() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::new(Role::Host));
    host.handle_input(t0, &[ENQ]);
    let mut f = Vec::new();
    encode_frame(
        FrameNumber::FIRST,
        b"H|\\^&|||x\rP|1",
        FrameEnd::Intermediate,
        &mut f,
    );
    host.handle_input(t0 + SECOND, &f);
    assert_eq!(host.poll_transmit().unwrap(), vec![ACK, ACK]);
    assert_eq!(host.poll_timeout(), Some(t0 + 31 * SECOND));
    host.handle_timeout(t0 + 30 * SECOND);
    assert!(host.poll_transmit().is_none(), "not yet");
    host.handle_timeout(t0 + 31 * SECOND);
    let events: Vec<_> = std::iter::from_fn(|| host.poll_event()).collect();
    assert!(events.contains(&LinkEvent::Discarded {
        len: 13,
        reason: "receiver timer expired",
        offset: Some(1),
        text: b"H|\\^&|||x\rP|1".to_vec(),
    }));
    assert!(events.contains(&LinkEvent::Terminated));
    assert!(host.is_idle());
    assert_eq!(host.stats().timeouts, 1);
}

#[test]
fn busy_nak_on_enq_retries_after_ten_seconds() {
    let t0 = Instant::now();
    let mut inst = Link::new(LinkConfig::new(Role::Instrument));
    inst.send_message(result_message(0), t0).unwrap();
    assert_eq!(inst.poll_transmit().unwrap(), vec![ENQ]);
    inst.handle_input(t0 + SECOND, &[NAK]);
    assert_eq!(inst.poll_event(), Some(LinkEvent::PeerBusy));
    assert_eq!(inst.poll_timeout(), Some(t0 + 11 * SECOND));
    inst.handle_timeout(t0 + 10 * SECOND);
    assert!(inst.poll_transmit().is_none());
    inst.handle_timeout(t0 + 11 * SECOND);
    assert_eq!(inst.poll_transmit().unwrap(), vec![ENQ]);
    inst.handle_input(t0 + 12 * SECOND, &[ACK]);
    assert_eq!(inst.poll_transmit().unwrap()[..2], [STX, b'1']);
}

#[test]
fn contention_instrument_wins_and_host_waits_twenty_seconds() {
    let mut p = Pair::standard();
    let from_inst = result_message(1);
    let from_host = b"H|\\^&|||host\rO|1|SID9||^^^GLU|R\rL|1|N\r".to_vec();
    // Both send ENQ at the same instant.
    p.inst.send_message(from_inst.clone(), p.now).unwrap();
    p.host.send_message(from_host.clone(), p.now).unwrap();
    p.run(120 * SECOND);
    assert_eq!(p.received, vec![from_inst]);
    // The instrument received the host's message afterwards, and the host
    // learnt that it was sent.
    assert_eq!(p.inst_received, vec![from_host]);
    assert!(
        p.host_events
            .iter()
            .any(|e| matches!(e, LinkEvent::Sent(_)))
    );
    // Instrument re-sent its ENQ after 1 s.
    let inst_enqs: Vec<Instant> = p
        .log
        .iter()
        .filter(|(s, _, b)| *s == Side::Instrument && b == &[ENQ])
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(inst_enqs[..2], [p.start, p.start + SECOND]);
    // The host's next ENQ comes 20 s after the instrument's EOT.
    let inst_eot = p
        .log
        .iter()
        .find(|(s, _, b)| *s == Side::Instrument && b.contains(&EOT))
        .unwrap()
        .1;
    let host_enqs: Vec<Instant> = p
        .log
        .iter()
        .filter(|(s, _, b)| *s == Side::Host && b.contains(&ENQ))
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(host_enqs, vec![p.start, inst_eot + 20 * SECOND]);
}

#[test]
fn receiver_interrupt_counts_as_ack_or_ends_after_message() {
    let t0 = Instant::now();
    for honour in [false, true] {
        let mut config = small_frames(20);
        config.honour_interrupt = honour;
        let mut inst = Link::new(config);
        let first = inst.send_message(result_message(1), t0).unwrap();
        inst.send_message(result_message(0), t0).unwrap();
        inst.handle_input(t0, &[ACK]);
        let _ = inst.poll_transmit();
        inst.handle_input(t0, &[EOT]); // interrupt request instead of ACK
        let next = inst.poll_transmit().unwrap();
        assert_eq!(next[..2], [STX, b'2'], "EOT counted as ACK");
        // ACK the remaining frames of the first message.
        let mut sent_after = Vec::new();
        loop {
            inst.handle_input(t0, &[ACK]);
            let out = inst.poll_transmit().unwrap();
            if out == [EOT]
                || out[0] == STX && sent_after.is_empty() && inst.stats().messages_sent == 1
            {
                sent_after = out;
                break;
            }
        }
        let events: Vec<_> = std::iter::from_fn(|| inst.poll_event()).collect();
        assert!(events.contains(&LinkEvent::Sent(first)));
        if honour {
            assert_eq!(
                sent_after,
                vec![EOT],
                "transfer ended after the current message"
            );
            assert!(!inst.is_idle(), "second message still queued");
        } else {
            assert_eq!(
                sent_after[..2][0],
                STX,
                "second message follows in the same transfer"
            );
        }
    }
}

#[test]
fn final_ack_is_held_until_commit() {
    let mut p = Pair::standard();
    p.auto_commit = false;
    let msg = result_message(1);
    let id = p.inst.send_message(msg.clone(), p.now).unwrap();
    p.run(SECOND);
    assert_eq!(p.received, vec![msg.clone()]);
    // Only the ENQ's ACK went out: the frame's ACK is held.
    assert_eq!(p.count(Side::Host, ACK), 1);
    assert!(!p.inst_events.contains(&LinkEvent::Sent(id)));
    let token = p.held.pop().unwrap();
    assert!(p.host.commit(token, p.now));
    p.run(SECOND);
    assert_eq!(p.count(Side::Host, ACK), 2);
    assert!(p.inst_events.contains(&LinkEvent::Sent(id)));
    assert!(p.host.is_idle() && p.inst.is_idle());
}

#[test]
fn reject_naks_and_instrument_retransmits() {
    let mut p = Pair::standard();
    p.auto_commit = false;
    let msg = result_message(1);
    let id = p.inst.send_message(msg.clone(), p.now).unwrap();
    p.run(SECOND);
    let token = p.held.pop().unwrap();
    assert!(p.host.reject(token, p.now));
    p.run(SECOND);
    assert_eq!(
        p.received,
        vec![msg.clone(), msg.clone()],
        "delivered again after retransmission"
    );
    assert_eq!(p.inst.stats().retransmits, 1);
    let token = p.held.pop().unwrap();
    assert!(p.host.commit(token, p.now));
    p.run(SECOND);
    assert!(p.inst_events.contains(&LinkEvent::Sent(id)));
}

#[test]
fn commit_after_sender_gave_up_sends_nothing() {
    let mut p = Pair::standard();
    p.auto_commit = false;
    p.inst.send_message(result_message(1), p.now).unwrap();
    p.run(60 * SECOND); // instrument times out after 15 s and sends EOT
    let token = p.held.pop().unwrap();
    let acks = p.count(Side::Host, ACK);
    assert!(!p.host.commit(token, p.now));
    p.drive();
    assert_eq!(p.count(Side::Host, ACK), acks);
    assert!(p.host.is_idle());
}

#[test]
fn wrong_frame_number_is_naked() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::default());
    host.handle_input(t0, &[ENQ]);
    let mut f = Vec::new();
    encode_frame(
        FrameNumber::new_wrapping(3),
        b"H|\\^&\rL|1\r",
        FrameEnd::Last,
        &mut f,
    );
    host.handle_input(t0, &f);
    assert_eq!(host.poll_transmit().unwrap(), vec![ACK, NAK]);
    assert_eq!(host.stats().naks_sent, 1);
    let events: Vec<_> = std::iter::from_fn(|| host.poll_event()).collect();
    assert!(
        events.iter().any(
            |e| matches!(e, LinkEvent::Rejected { reason, .. } if reason.contains("expected 1"))
        )
    );
}

#[test]
fn duplicate_frame_is_acked_again_without_duplicating_text() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::default());
    host.handle_input(t0, &[ENQ]);
    let mut wire = Vec::new();
    let n = encode_message(
        b"H|\\^&\rP|1\r",
        FrameNumber::FIRST,
        &EncodeOptions {
            max_text: 6,
            record_per_frame: false,
        },
        &mut wire,
    );
    assert_eq!(n.value(), 3);
    let first_len = wire.iter().position(|&b| b == b'\n').unwrap() + 1;
    host.handle_input(t0, &wire[..first_len]);
    host.handle_input(t0, &wire[..first_len]); // repeated frame 1
    host.handle_input(t0, &wire[first_len..]);
    let mut last = Vec::new();
    encode_frame(
        FrameNumber::new_wrapping(3),
        b"L|1\r",
        FrameEnd::Last,
        &mut last,
    );
    host.handle_input(t0, &last);
    let Some(LinkEvent::Established(_)) = host.poll_event() else {
        panic!()
    };
    let Some(LinkEvent::Message { token, text }) = host.poll_event() else {
        panic!()
    };
    assert_eq!(text, b"H|\\^&\rP|1\rL|1\r");
    assert!(host.commit(token, t0));
    assert_eq!(host.stats().duplicates, 1);
}

#[test]
fn frame_too_long_is_naked_with_bounded_buffer() {
    let t0 = Instant::now();
    let mut config = LinkConfig::default();
    config.frame_limits.max_text = 10;
    let mut host = Link::new(config);
    host.handle_input(t0, &[ENQ]);
    let mut f = Vec::new();
    encode_frame(FrameNumber::FIRST, &[b'A'; 100], FrameEnd::Last, &mut f);
    host.handle_input(t0, &f);
    assert_eq!(host.poll_transmit().unwrap(), vec![ACK, NAK]);
    let events: Vec<_> = std::iter::from_fn(|| host.poll_event()).collect();
    assert!(events.iter().any(
        |e| matches!(e, LinkEvent::Rejected { reason, .. } if reason.contains("limit of 10"))
    ));
    // The link recovers: the next good frame 1 is accepted.
    let mut g = Vec::new();
    encode_frame(FrameNumber::FIRST, b"x\r", FrameEnd::Last, &mut g);
    host.handle_input(t0, &g);
    assert!(matches!(host.poll_event(), Some(LinkEvent::Message { .. })));
}

#[test]
fn garbage_is_reported_bounded_and_never_answered() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::default());
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| b"xyz|\r\n"[(i % 6) as usize])
        .collect();
    host.handle_input(t0, &garbage);
    host.handle_input(t0, &[ENQ]);
    assert_eq!(
        host.poll_transmit().unwrap(),
        vec![ACK],
        "only the ENQ is answered"
    );
    assert_eq!(host.stats().noise_bytes, 100_000);
    let events: Vec<_> = std::iter::from_fn(|| host.poll_event()).collect();
    let rejected = events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Rejected { .. }))
        .count();
    assert_eq!(rejected, 100_000usize.div_ceil(4096));
}

#[test]
fn enq_flood_gets_bounded_answers() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::default());
    host.handle_input(t0, &[ENQ; 10_000]);
    let out = host.poll_transmit().unwrap();
    assert_eq!(out, vec![ACK; 1 + 8]);
    let events: Vec<_> = std::iter::from_fn(|| host.poll_event()).collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, LinkEvent::Rejected { .. }))
            .count(),
        1
    );
}

#[test]
fn send_queue_is_bounded() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig {
        max_queued_messages: 2,
        ..LinkConfig::default()
    });
    host.send_message(b"L|1\r".to_vec(), t0).unwrap();
    host.send_message(b"L|1\r".to_vec(), t0).unwrap();
    assert!(host.send_message(b"L|1\r".to_vec(), t0).is_err());
}

#[test]
fn contention_as_instrument_ignores_host_enq_and_retries_after_one_second() {
    let t0 = Instant::now();
    let mut inst = Link::new(LinkConfig::new(Role::Instrument));
    inst.send_message(result_message(0), t0).unwrap();
    assert_eq!(inst.poll_transmit().unwrap(), vec![ENQ]);
    inst.handle_input(t0, &[ENQ]); // the host's ENQ crossed ours
    assert!(
        inst.poll_transmit().is_none(),
        "the instrument does not ACK it"
    );
    assert_eq!(inst.poll_timeout(), Some(t0 + SECOND));
    inst.handle_timeout(t0 + SECOND);
    assert_eq!(inst.poll_transmit().unwrap(), vec![ENQ]);
}

#[test]
fn contention_as_host_acks_instrument_and_backs_off() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::new(Role::Host));
    host.send_message(b"H|\\^&\rL|1\r".to_vec(), t0).unwrap();
    assert_eq!(host.poll_transmit().unwrap(), vec![ENQ]);
    host.handle_input(t0, &[ENQ]);
    assert_eq!(
        host.poll_transmit().unwrap(),
        vec![ACK],
        "host yields to the instrument"
    );
    host.handle_input(t0 + 2 * SECOND, &[EOT]);
    assert!(host.poll_transmit().is_none());
    assert_eq!(host.poll_timeout(), Some(t0 + 22 * SECOND));
    host.handle_timeout(t0 + 22 * SECOND);
    assert_eq!(host.poll_transmit().unwrap(), vec![ENQ]);
}

#[test]
fn etx_text_without_l_is_delivered_at_eot_without_held_ack() {
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::default());
    host.handle_input(t0, &[ENQ]);
    let mut f = Vec::new();
    encode_frame(FrameNumber::FIRST, b"H|\\^&\rP|1\r", FrameEnd::Last, &mut f);
    host.handle_input(t0, &f);
    assert_eq!(
        host.poll_transmit().unwrap(),
        vec![ACK, ACK],
        "no L yet: ACKed at once"
    );
    host.handle_input(t0, &[EOT]);
    let events: Vec<_> = std::iter::from_fn(|| host.poll_event()).collect();
    let token = events
        .into_iter()
        .find_map(|e| match e {
            LinkEvent::Message { token, text } => {
                assert_eq!(text, b"H|\\^&\rP|1\r");
                Some(token)
            }
            _ => None,
        })
        .unwrap();
    assert!(
        !host.commit(token, t0),
        "already ACKed: commit sends nothing"
    );
    assert!(host.poll_transmit().is_none());
}

#[test]
fn records_numbered_inside_one_frame_are_held_and_cleaned() {
    // VITROS-style order: "2P", "3O", "4L" inside one frame.
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::default());
    host.handle_input(t0, &[ENQ]);
    let mut f = Vec::new();
    encode_frame(
        FrameNumber::FIRST,
        b"H|\\^&\r2P|1\r3O|1|SID\r4L|1|N\r",
        FrameEnd::Last,
        &mut f,
    );
    host.handle_input(t0, &f);
    assert_eq!(host.poll_transmit().unwrap(), vec![ACK], "final ACK held");
    let _ = host.poll_event();
    let Some(LinkEvent::Message { token, text }) = host.poll_event() else {
        panic!()
    };
    assert_eq!(text, b"H|\\^&\rP|1\rO|1|SID\rL|1|N\r");
    assert!(host.commit(token, t0));
    assert_eq!(host.poll_transmit().unwrap(), vec![ACK]);
}

#[test]
fn lf_terminated_records_complete_the_message_and_hold_the_ack() {
    // ortho VISION style: records end with LF inside the frame text.
    let mut p = Pair::new(LinkConfig::new(Role::Host), small_frames(40));
    p.auto_commit = false;
    let msg = b"H|\\^&|||OCD^VISION\nP|1|PID\nO|1|SID||ABO-D\nR|1|ABO|A\nL\n".to_vec();
    let id = p.inst.send_message(msg.clone(), p.now).unwrap();
    p.run(SECOND);
    assert_eq!(p.received, vec![msg]);
    let frames = p.sent_frames(Side::Instrument).len();
    assert_eq!(
        p.count(Side::Host, ACK),
        frames,
        "ENQ + all frames but the last"
    );
    let token = p.held.pop().unwrap();
    assert!(p.host.commit(token, p.now));
    p.run(SECOND);
    assert!(p.inst_events.contains(&LinkEvent::Sent(id)));
}
