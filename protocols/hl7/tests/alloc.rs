//! Zero heap allocations per message on the parse path, counted by a global allocator: parse a
//! 1.8 KB ORU^R01 into a warmed-up index and read every OBX-3 and OBX-5 (raw, unescaped, text).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;

use labwire_hl7::er7::{Hl7Charset, Index, Limits, parse};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ORU: &[u8] = include_bytes!("../benches/data/oru-r01-10-obx.hl7");

fn read_all(index: &mut Index) -> usize {
    let msg = parse(ORU, index, &Limits::default()).unwrap();
    let mut n = 0;
    for obx in msg.segments_named(b"OBX") {
        let code = obx.field(3).and_then(|f| f.component(1)).unwrap();
        let value = obx.field(5).unwrap();
        n += code.raw().len() + value.raw().len();
        n += code.unescaped().len() + value.text(Hl7Charset::Utf8).len();
    }
    n
}

/// Runs without the libtest harness (see Cargo.toml), so no other thread allocates meanwhile.
fn main() {
    parse_path_allocates_nothing_once_the_index_is_warm();
    println!("alloc: parse path allocates nothing once the index is warm: ok");
}

fn parse_path_allocates_nothing_once_the_index_is_warm() {
    // A cold index must grow: this shows the counter sees allocations at all.
    let cold = Region::new(GLOBAL);
    let mut index = Index::new();
    let expected = read_all(&mut index);
    assert!(cold.change().allocations > 0);

    let warm = Region::new(GLOBAL);
    let mut total = 0;
    for _ in 0..1000 {
        total += read_all(&mut index);
    }
    let stats = warm.change();
    assert_eq!(total, expected * 1000);
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");
}
