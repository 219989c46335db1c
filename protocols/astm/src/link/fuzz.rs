//! Fuzz entry points, shared by `fuzz/fuzz_targets/astm_frame.rs`,
//! `fuzz/fuzz_targets/astm_link.rs` and the stable replay test
//! `tests/fuzz_replay_link.rs`. Each must never panic on any input.

use std::time::{Duration, Instant};

use super::config::{LinkConfig, Role};
use super::decode::{Decoded, FrameDecoder};
use super::event::LinkEvent;
use super::frame::FrameLimits;
use super::machine::Link;

/// Fuzz body for the frame decoder: decodes `data` whole and in uneven
/// chunks (chunk sizes taken from the first byte) with a small limit, and
/// checks that both give the same items.
pub fn frame_decoder(data: &[u8]) {
    let limits = FrameLimits { max_text: 300 };
    let step = usize::from(data.first().copied().unwrap_or(1) % 17) + 1;
    let whole = collect(FrameDecoder::new(limits), &[data]);
    let chunks: Vec<&[u8]> = data.chunks(step).collect();
    let pieces = collect(FrameDecoder::new(limits), &chunks);
    assert_eq!(whole, pieces, "chunking changed the decoded items");
}

fn collect(mut decoder: FrameDecoder, chunks: &[&[u8]]) -> Vec<String> {
    let mut items = Vec::new();
    let mut noise = 0usize;
    for chunk in chunks {
        let mut input = *chunk;
        while let Some(item) = decoder.decode(&mut input) {
            match item {
                // Noise runs may be reported in different pieces; compare totals.
                Decoded::Noise { len, .. } => noise += len,
                other => items.push(format!("{other:?}")),
            }
        }
    }
    if let Some(item) = decoder.finish() {
        match item {
            Decoded::Noise { len, .. } => noise += len,
            other => items.push(format!("{other:?}")),
        }
    }
    items.push(format!("noise {noise}"));
    items
}

/// Fuzz body for the link: `data` is a script. Each byte pair is an
/// operation (feed bytes, advance time, commit/reject, send) so the state
/// machine sees arbitrary interleavings; it must never panic and its
/// buffers must stay bounded.
pub fn link_script(data: &[u8]) {
    let role = if data.first().is_some_and(|b| b & 1 == 1) {
        Role::Instrument
    } else {
        Role::Host
    };
    let mut config = LinkConfig::new(role);
    config.frame_limits.max_text = 64;
    config.max_message = 256;
    config.encode.max_text = 16;
    let mut link = Link::new(config);
    let start = Instant::now();
    let mut now = start;
    let mut held = Vec::new();
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&op, tail)) = rest.split_first() {
        let len = usize::from(op & 0x1F);
        let (arg, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        match op >> 5 {
            0..=3 => link.handle_input(now, arg),
            4 => {
                now += Duration::from_millis(u64::from(op & 0x1F) * 1000);
                link.handle_timeout(now);
            }
            5 => {
                if let Some(token) = held.pop() {
                    let _ = link.commit(token, now);
                }
            }
            6 => {
                if let Some(token) = held.pop() {
                    let _ = link.reject(token, now);
                }
            }
            _ => {
                let _ = link.send_message(arg.to_vec(), now);
            }
        }
        if let Some(deadline) = link.poll_timeout() {
            assert!(deadline >= start, "deadline before the start");
        }
        while let Some(event) = link.poll_event() {
            if let LinkEvent::Message { token, text } = event {
                assert!(text.len() <= 256, "message over the limit");
                held.push(token);
            }
        }
        let _ = link.poll_transmit();
    }
}
