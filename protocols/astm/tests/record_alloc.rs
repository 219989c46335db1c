#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The zero-copy record path (parse a message, read every observation's code and value) makes
//! no heap allocation; a counting global allocator measures it. Unescaping a value that holds
//! an escape sequence does allocate, which shows the counter sees allocations. (No libtest
//! harness: its threads would allocate while the counter runs.)

use std::alloc::System;
use std::hint::black_box;

use labwire_astm::record::{Limits, Message};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

mod record_sample;

fn main() {
    reading_observations_does_not_allocate();
    println!("record_alloc: reading observations does not allocate: ok");
}

fn reading_observations_does_not_allocate() {
    let text = record_sample::result_message();
    let limits = Limits::default();
    assert!((1000..1300).contains(&text.len()), "{} bytes", text.len());
    // codes GLU NA K CL CREA UREA ALT AST CRP HBA1C (29 bytes) + values (33 bytes)
    assert_eq!(record_sample::read_observations(&text, &limits), 29 + 33);

    let region = Region::new(GLOBAL);
    let mut total = 0;
    for _ in 0..100 {
        total += record_sample::read_observations(black_box(&text), &limits);
    }
    let stats = region.change();
    assert_eq!(total, 100 * (29 + 33));
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");

    let escaped = b"H|\\^&\rR|1|^^^A|x&S&y\rL\r";
    let region = Region::new(GLOBAL);
    let m = Message::parse(black_box(escaped), &limits).unwrap();
    let value = m.records().nth(1).unwrap().field(4).unwrap().unescaped();
    assert_eq!(value.as_ref(), b"x^y");
    assert!(region.change().allocations >= 1);
}
