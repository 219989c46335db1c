#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Record parser throughput: parse a ~1.1 KB result message (H, P, O, R×10, L) and read every
//! observation's code (R-3 4th component, else first non-empty) and value (R-4, unescaped) on
//! the zero-copy path. Criterion prints the throughput in bytes/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use labwire_astm::record::Limits;

#[path = "../tests/record_sample/mod.rs"]
#[allow(dead_code)]
mod sample;

fn records(c: &mut Criterion) {
    let text = sample::result_message();
    let limits = Limits::default();
    assert!(sample::read_observations(&text, &limits) > 0);
    let mut group = c.benchmark_group("records");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_result_message_read_observations", |b| {
        b.iter(|| sample::read_observations(black_box(&text), &limits))
    });
    group.finish();
}

criterion_group!(benches, records);
criterion_main!(benches);
