//! The frame-decode hot path makes no heap allocation once its buffer is
//! warm: a counting global allocator measures a second decode of the same
//! transcript. (No libtest harness: its threads would allocate while the counter runs.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;

use labwire_astm::link::{Decoded, EncodeOptions, FrameDecoder, FrameNumber, encode_message};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn decode_all(decoder: &mut FrameDecoder, wire: &[u8], chunk: usize) -> (usize, usize) {
    let (mut frames, mut text) = (0, 0);
    for mut piece in wire.chunks(chunk) {
        while let Some(item) = decoder.decode(&mut piece) {
            match item {
                Decoded::Frame(f) => {
                    frames += 1;
                    text += f.text.len();
                }
                Decoded::Control { .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }
    (frames, text)
}

fn main() {
    warm_decoder_does_not_allocate();
    println!("link_alloc: a warm decoder does not allocate: ok");
}

fn warm_decoder_does_not_allocate() {
    let mut message = b"H|\\^&|||analyzer\rP|1||PID\rO|1|SID||^^^GLU|R\r".to_vec();
    for i in 0..10 {
        message.extend_from_slice(
            format!("R|{i}|^^^T{i}|{i}.25|mg/dL|1-9|N||F||||20240101120000\r").as_bytes(),
        );
    }
    message.extend_from_slice(b"L|1|N\r");
    let mut wire = vec![0x05];
    let options = EncodeOptions {
        max_text: 80,
        record_per_frame: false,
    };
    encode_message(&message, FrameNumber::FIRST, &options, &mut wire);
    wire.push(0x04);

    let mut decoder = FrameDecoder::default();
    let warm = decode_all(&mut decoder, &wire, wire.len());
    let region = Region::new(GLOBAL);
    let whole = decode_all(&mut decoder, &wire, wire.len());
    let chunked = decode_all(&mut decoder, &wire, 7);
    let stats = region.change();
    assert_eq!(warm, whole);
    assert_eq!(whole, chunked);
    assert_eq!(whole.1, message.len());
    assert_eq!(stats.allocations + stats.reallocations, 0, "{stats:?}");
}
