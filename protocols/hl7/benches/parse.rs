//! Parse a 1.8 KB ORU^R01 with 10 OBX and read every OBX-3 and OBX-5: labwire-hl7 side by side
//! with the `hl7-parser` and `rust-hl7` crates, in messages/s and bytes/s.
//!
//! Run: `cargo bench -p labwire-hl7 --bench parse`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use labwire_hl7::er7::{Hl7Charset, Index, Limits, parse};

const ORU: &[u8] = include_bytes!("data/oru-r01-10-obx.hl7");

fn labwire_raw(index: &mut Index) -> usize {
    let msg = parse(black_box(ORU), index, &Limits::default()).unwrap();
    let mut n = 0;
    for obx in msg.segments_named(b"OBX") {
        let code = obx.field(3).and_then(|f| f.component(1)).unwrap();
        let value = obx.field(5).unwrap();
        n += black_box(code.raw()).len() + black_box(value.raw()).len();
    }
    n
}

fn labwire_text(index: &mut Index) -> usize {
    let msg = parse(black_box(ORU), index, &Limits::default()).unwrap();
    let mut n = 0;
    for obx in msg.segments_named(b"OBX") {
        let code = obx.field(3).and_then(|f| f.component(1)).unwrap();
        let value = obx.field(5).unwrap();
        n += black_box(code.text(Hl7Charset::Utf8)).len()
            + black_box(value.text(Hl7Charset::Utf8)).len();
    }
    n
}

fn hl7_parser(text: &str) -> usize {
    let msg = hl7_parser::Message::parse(black_box(text)).unwrap();
    let mut n = 0;
    for seg in msg.segments().filter(|s| s.name == "OBX") {
        let code = seg.field(3).unwrap().component(1).unwrap().raw_value();
        let value = seg.field(5).unwrap().raw_value();
        n += black_box(code).len() + black_box(value).len();
    }
    n
}

fn rust_hl7(text: &str) -> usize {
    let msg = rusthl7::message::Message::new(black_box(text));
    let mut n = 0;
    for seg in msg.segments.iter().filter(|s| s.fields[0].source == "OBX") {
        let code = seg.fields[3].components[0][0];
        let value = seg.fields[5].source;
        n += black_box(code).len() + black_box(value).len();
    }
    n
}

/// Best-of-`rounds` time per message over batches of `batch` messages: the minimum is the figure
/// least disturbed by other work on the machine.
fn best_of(rounds: usize, batch: usize, mut f: impl FnMut() -> usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let mut sink = 0usize;
        for _ in 0..batch {
            sink = sink.wrapping_add(f());
        }
        black_box(sink);
        best = best.min(start.elapsed() / batch as u32);
    }
    best
}

fn summary(peer_text: &str) {
    let mut index = Index::new();
    let rows: [(&str, Duration); 4] = [
        ("labwire-hl7", best_of(30, 4000, || labwire_raw(&mut index))),
        (
            "labwire-hl7 (unescaped text)",
            best_of(30, 4000, || labwire_text(&mut index)),
        ),
        ("hl7-parser 0.3", best_of(30, 200, || hl7_parser(peer_text))),
        ("rust-hl7 0.5", best_of(30, 200, || rust_hl7(peer_text))),
    ];
    let fastest_peer = rows[2].1.min(rows[3].1);
    println!("\nbest of 30 batches, {} bytes per message:", ORU.len());
    println!("| parser | time/msg | msg/s | MB/s | vs fastest peer |");
    println!("|---|---|---|---|---|");
    for (name, t) in rows {
        let secs = t.as_secs_f64();
        println!(
            "| {name} | {:.2} µs | {:.0} | {:.0} | {:.1}x |",
            secs * 1e6,
            1.0 / secs,
            ORU.len() as f64 / secs / 1e6,
            fastest_peer.as_secs_f64() / secs
        );
    }
    println!();
}

fn bench(c: &mut Criterion) {
    let text = std::str::from_utf8(ORU).unwrap();
    // Peers must see the same message: strip the trailing CR some of them read as an empty segment.
    let peer_text = text.trim_end_matches('\r');
    let mut index = Index::new();
    assert_eq!(labwire_raw(&mut index), hl7_parser(peer_text));
    assert_eq!(labwire_raw(&mut index), rust_hl7(peer_text));
    summary(peer_text);
    for (group, throughput) in [
        ("oru_r01_msgs", Throughput::Elements(1)),
        ("oru_r01_bytes", Throughput::Bytes(ORU.len() as u64)),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(throughput);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        g.bench_function("labwire-hl7", |b| b.iter(|| labwire_raw(&mut index)));
        g.bench_function("labwire-hl7 (unescaped text)", |b| {
            b.iter(|| labwire_text(&mut index))
        });
        g.bench_function("hl7-parser 0.3", |b| b.iter(|| hl7_parser(peer_text)));
        g.bench_function("rust-hl7 0.5", |b| b.iter(|| rust_hl7(peer_text)));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
