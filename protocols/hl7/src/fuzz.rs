//! The bodies of the `hl7_*` fuzz targets (`fuzz/fuzz_targets/`), public so that
//! `tests/fuzz_replay.rs` replays the saved corpora on stable Rust.
//!
//! Each function must never panic, whatever the input, and checks the invariants the rest of
//! labwire relies on (offsets inside the input, framing bytes never inside a payload, ACKs that
//! parse back and point at the inbound message).

use std::time::{Duration, Instant};

use labwire_event::{InstrumentId, Origin, SiteId};

use crate::ack::{AckCode, AckDialect, AckMode, AckOptions, Outcome, acks_due, build_ack};
use crate::canonical::{DecodeOptions, message_to_events};
use crate::capture::{CaptureLimits, split_capture};
use crate::er7::{Hl7Charset, Index, Limits, Message, Path, Value, parse};
use crate::mllp::{END, Framer, FramerConfig, FramerEvent, START};

/// `hl7_mllp`: feeds the framer in chunks whose sizes come from the input itself, with a small
/// frame limit and a clock that moves, and checks every event.
pub fn mllp(data: &[u8]) {
    let (ctl, bytes) = data.split_first().map_or((0u8, data), |(c, r)| (*c, r));
    let chunk = usize::from(ctl % 17) + 1;
    let cfg = FramerConfig {
        max_frame_bytes: 64 + usize::from(ctl) * 4,
        frame_timeout: Duration::from_secs(1),
    };
    let mut f = Framer::new(cfg);
    let t0 = Instant::now();
    let mut now = t0;
    let mut last_offset = 0u64;
    for (i, part) in bytes.chunks(chunk).enumerate() {
        f.push(now, part);
        if ctl & 0x80 != 0 && i % 3 == 2 {
            now += Duration::from_millis(700);
            f.on_timeout(now);
        }
        while let Some(ev) = f.poll() {
            let offset = match &ev {
                FramerEvent::Frame { offset, payload } => {
                    assert!(!payload.contains(&START) && !payload.contains(&END));
                    assert!(payload.len() <= cfg.max_frame_bytes);
                    offset.saturating_sub(1)
                }
                FramerEvent::CommitAck { offset }
                | FramerEvent::CommitNak { offset }
                | FramerEvent::Skipped { offset, .. }
                | FramerEvent::TooLarge { offset, .. }
                | FramerEvent::Truncated { offset, .. } => *offset,
            };
            assert!(offset <= f.offset());
            last_offset = last_offset.max(offset);
        }
        if let Some(d) = f.next_deadline() {
            assert!(d >= t0);
        }
    }
    f.finish();
    while f.poll().is_some() {}
    assert_eq!(f.offset(), bytes.len() as u64);
    assert!(last_offset <= f.offset());
}

fn walk_value(input: &[u8], v: Value<'_>) {
    let end = v.offset() + v.raw().len();
    assert!(end <= input.len());
    assert_eq!(input.get(v.offset()..end), Some(v.raw()));
    let _ = v.unescaped();
    let _ = v.text(Hl7Charset::Latin1);
}

fn walk(msg: &Message<'_>) {
    let input = msg.as_bytes();
    for seg in msg.segments() {
        for field in seg.fields() {
            walk_value(input, field);
            for rep in field.repetitions().take(64) {
                walk_value(input, rep);
                for comp in rep.components().take(64) {
                    walk_value(input, comp);
                    let mut n = 1;
                    while let Some(sub) = comp.subcomponent(n) {
                        walk_value(input, sub);
                        n += 1;
                        if n > 64 {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// `hl7_er7`: parses the input and reads every field, repetition, component and subcomponent,
/// unescaped and decoded; offsets must point at the bytes returned.
pub fn er7(data: &[u8]) {
    let mut idx = Index::new();
    let limits = Limits {
        max_segments: 500,
        max_fields_per_segment: 500,
        ..Limits::default()
    };
    match parse(data, &mut idx, &limits) {
        Ok(msg) => walk(&msg),
        Err(e) => assert!(e.offset() <= data.len().max(limits.max_message_bytes)),
    }
}

/// `hl7_path`: the first line of the input is a path, the rest a message.
pub fn path(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (p, rest) = data.split_at(split);
    let msg_bytes = rest.get(1..).unwrap_or_default();
    let path_text = String::from_utf8_lossy(p);
    let mut idx = Index::new();
    let Ok(msg) = parse(msg_bytes, &mut idx, &Limits::default()) else {
        return;
    };
    match Path::parse(&path_text) {
        Ok(path) => {
            if let Some(v) = path.get(&msg) {
                walk_value(msg_bytes, v);
            }
        }
        Err(e) => assert!(e.position <= path_text.len()),
    }
}

/// `hl7_ack`: builds standard and Mindray ACKs for the input; each must parse back, mirror the
/// inbound MSH-10 in MSA-2 and carry the requested code.
pub fn ack(data: &[u8]) {
    let mut idx = Index::new();
    let Ok(msg) = parse(data, &mut idx, &Limits::default()) else {
        return;
    };
    let mode = AckMode::of(&msg);
    let due = acks_due(mode, Outcome::Accepted, Some(Outcome::Error));
    let code = due.application.or(due.commit).unwrap_or(AckCode::AA);
    let control = msg
        .header()
        .map(|h| h.raw_field(10).to_vec())
        .unwrap_or_default();
    for dialect in [
        AckDialect::Standard,
        AckDialect::Mindray { error_code: 206 },
    ] {
        let opts = AckOptions {
            control_id: "1".into(),
            timestamp: "20260101000000".into(),
            dialect,
            ..AckOptions::default()
        };
        let Ok(bytes) = build_ack(&msg, code, &opts) else {
            continue;
        };
        let mut idx2 = Index::new();
        let limits = Limits {
            max_message_bytes: usize::MAX,
            ..Limits::default()
        };
        let parsed = parse(&bytes, &mut idx2, &limits);
        assert!(parsed.is_ok(), "ACK does not parse: {:?}", parsed.err());
        let Ok(reply) = parsed else { return };
        let msa = reply.find(b"MSA");
        assert_eq!(msa.map(|m| m.raw_field(1)), Some(code.as_str().as_bytes()));
        // MSA-2 mirrors MSH-10 unless MSH-10 held a segment break (impossible) or a delimiter
        // that differs between the inbound and the reply (only when the inbound had no escape).
        if msg.delimiters().escape.is_some() {
            assert_eq!(msa.map(|m| m.raw_field(2)), Some(control.as_slice()));
        }
    }
}

/// `hl7_parse`: a whole capture through `split_capture` and `message_to_events`.
pub fn parse_capture(data: &[u8]) {
    let (Ok(site), Ok(instrument)) = (SiteId::new("site-a"), InstrumentId::new("fuzz")) else {
        return;
    };
    let origin = Origin {
        site,
        instrument,
        received_at: jiff::Timestamp::UNIX_EPOCH,
    };
    let limits = CaptureLimits {
        max_message_bytes: 1 << 16,
        max_items: 256,
    };
    for item in split_capture(data, &limits) {
        match item {
            Ok(m) => {
                assert!(m.offset <= data.len());
                if let Err(e) = message_to_events(&m.text, &origin, &DecodeOptions::default()) {
                    assert!(!e.to_string().is_empty());
                }
            }
            Err(e) => assert!(e.offset() <= data.len()),
        }
    }
}
