//! Frame decoding throughput: a 14-frame E1381 transcript (ENQ, frames of
//! at most 80 text bytes with checksums, EOT) built with the encoder from a
//! ~1.1 KB result message (H, P, O, 10 R, L).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use labwire_astm::capture::{CaptureLimits, split_capture};
use labwire_astm::link::{Decoded, EncodeOptions, FrameDecoder, FrameNumber, encode_message};

fn transcript() -> (Vec<u8>, usize) {
    let mut m = b"H|\\^&|||XN-550^00-24^22723|||||||P|E1394-97|20240627135407\r".to_vec();
    m.extend_from_slice(b"P|1|||37182|^Doe^Jane||19870626|F\r");
    m.extend_from_slice(b"O|1||^^27^B|^^^^WBC\\^^^^RBC|||||||N||||||||||||||F\r");
    for i in 0..10 {
        m.extend_from_slice(
            format!(
                "R|{}|^^^^ANALYTE{i:02}^1|{}.{:02}|10*3/uL|4.00-10.00|N||F||LABUSER^^USER|20240627135000|20240627135407\r",
                i + 1,
                i + 3,
                i * 7
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(b"L|1|N\r");
    let mut wire = vec![0x05];
    let options = EncodeOptions {
        max_text: 80,
        record_per_frame: false,
    };
    encode_message(&m, FrameNumber::FIRST, &options, &mut wire);
    wire.push(0x04);
    (wire, m.len())
}

fn decode(decoder: &mut FrameDecoder, wire: &[u8], chunk: usize) -> usize {
    let mut text = 0;
    for mut piece in wire.chunks(chunk) {
        while let Some(item) = decoder.decode(&mut piece) {
            if let Decoded::Frame(f) = item {
                text += f.text.len();
            }
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let (wire, text_len) = transcript();
    let frames = wire.iter().filter(|&&b| b == 0x02).count();
    println!(
        "transcript: {} bytes, {frames} frames, message text {text_len} bytes",
        wire.len()
    );
    let mut group = c.benchmark_group("e1381_decode");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    let mut decoder = FrameDecoder::default();
    group.bench_function("whole_transcript", |b| {
        b.iter(|| black_box(decode(&mut decoder, black_box(&wire), usize::MAX)))
    });
    group.bench_function("64_byte_reads", |b| {
        b.iter(|| black_box(decode(&mut decoder, black_box(&wire), 64)))
    });
    group.bench_function("split_capture", |b| {
        b.iter(|| black_box(split_capture(black_box(&wire), &CaptureLimits::default())))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
