//! Memory per message is bounded independent of its shape (issue 9 item 6).
//!
//! One ORU^R01 of 10 000 OBR groups with a 3.9 MB NTE, mapped with every allocation counted by
//! a global allocator. The counter's total of bytes allocated during the mapping (every
//! allocation and every growth, frees not subtracted) is an upper bound of the heap's
//! high-water mark; it must stay under 8 × the message size + 32 MiB. Before the fix every
//! group's event carried a decoded copy of the whole message and of the message-level NTE
//! (about 80 GB for this message).
//!
//! The process re-runs itself under `ulimit -v` (4 GiB of address space), so a regression ends
//! in a failed allocation in the child and a clear failure here, not in a machine out of memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;

use labwire_event::{EventKind, InstrumentId, Origin, SiteId, limits};
use labwire_hl7::canonical::{DecodeOptions, MapError, message_to_events};
use labwire_hl7::er7::Limits;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const GROUPS: usize = 10_000;
const BIG: usize = 3_900_000;
const CHILD: &str = "LABWIRE_PEAK_MEMORY_CHILD";
/// Address space the child may use: far above the bound, far below "tens of GB".
const ADDRESS_SPACE_KIB: u64 = 4 << 20;

/// MSH, PID, `big_segment` (a segment holding `BIG` bytes of text), then `GROUPS` OBR groups
/// with one OBX each.
fn message(big_segment: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(BIG + GROUPS * 80 + 200);
    m.extend_from_slice(
        b"MSH|^~\\&|ANALYSER|LAB|LIS|LAB|20261126101500||ORU^R01|MSG1|P|2.5.1\r\
          PID|1||MRN-1||Doe^Jane\r",
    );
    m.extend_from_slice(big_segment.as_bytes());
    m.extend_from_slice(b"|");
    m.extend(std::iter::repeat_n(b'x', BIG));
    m.push(b'\r');
    for i in 0..GROUPS {
        m.extend_from_slice(
            format!("OBR|{i}||S{i}|GLU\rOBX|1|NM|GLU^Glucose||5.4|mmol/L|3.9-6.1|N|||F\r")
                .as_bytes(),
        );
    }
    m
}

fn origin() -> Origin {
    Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("analyser-1").unwrap(),
        received_at: jiff::Timestamp::UNIX_EPOCH,
    }
}

/// Prints the figure and asserts `allocated` < 8 × `message_bytes` + 32 MiB.
fn assert_within_bound(what: &str, message_bytes: usize, allocated: usize) {
    let bound = 8 * message_bytes + (32 << 20);
    println!(
        "{what}: {message_bytes} bytes, {GROUPS} groups: allocated at most {allocated} bytes \
         ({:.1}x the message; bound {bound})",
        allocated as f64 / message_bytes as f64
    );
    assert!(
        allocated < bound,
        "{what}: {allocated} bytes allocated for a {message_bytes}-byte message (bound {bound})"
    );
}

/// Maps `msg` and returns (result, bytes allocated during the mapping).
fn measured(msg: &[u8]) -> (Result<Vec<labwire_event::Event>, MapError>, usize) {
    let origin = origin();
    // The message is larger than the default limits (4 MiB, 10 000 segments); the bound must
    // hold whatever a site configures them to.
    let opts = DecodeOptions {
        limits: Limits {
            max_message_bytes: 8 << 20,
            max_segments: 3 * GROUPS,
            ..Limits::default()
        },
        ..DecodeOptions::default()
    };
    let region = Region::new(GLOBAL);
    let out = message_to_events(msg, &origin, &opts);
    let allocated = region.change().bytes_allocated;
    (out, allocated)
}

/// The issue's message: the 3.9 MB NTE comes before the first OBR, so it is a message comment
/// that goes to every group. 10 000 copies cannot be made within the bound: mapping stops with
/// a clear error (the events could not fit on the bus either).
fn message_level_note_stops_within_the_bound() {
    let msg = message("NTE|1|L");
    let (out, allocated) = measured(&msg);
    let err = out.expect_err("10 000 copies of a 3.9 MB note are more than the budget");
    assert!(matches!(err, MapError::TooMuchOutput(_)), "{err}");
    assert!(err.to_string().contains("take more than"), "{err}");
    println!("error: {err}");
    assert_within_bound("message-level NTE", msg.len(), allocated);
}

/// The same size in a segment no event copies (a vendor Z segment): all 10 000 events are
/// made, they share one `raw` cut at its limit, and each one's JSON fits on a default bus.
fn many_groups_map_within_the_bound() {
    let msg = message("ZPD|1|L");
    let (out, allocated) = measured(&msg);
    let events = out.expect("maps");
    assert_eq!(events.len(), GROUPS);
    assert!(events.iter().all(|e| e.kind == EventKind::Result));
    assert_within_bound("Z segment", msg.len(), allocated);
    // One shared copy of `raw`, cut with a note naming sizes only.
    let first = events[0].raw.as_ref().unwrap();
    assert!(
        events
            .iter()
            .all(|e| std::sync::Arc::ptr_eq(e.raw.as_ref().unwrap(), first))
    );
    assert!(first.len() <= limits::MAX_RAW_JSON_BYTES);
    let note = format!(
        "raw cut at {} of {} bytes (limit {} bytes of JSON)",
        first.len(),
        msg.len(),
        limits::MAX_RAW_JSON_BYTES
    );
    assert_eq!(events[GROUPS - 1].notes, [note]);
    // Every event has the same shape; serialising all 10 000 (2.5 GB of JSON) is slow in debug.
    for ev in [&events[0], &events[GROUPS / 2], &events[GROUPS - 1]] {
        let json = serde_json::to_vec(ev).unwrap();
        assert!(
            json.len() + limits::EVENT_OVERHEAD_BYTES <= limits::NATS_DEFAULT_MAX_PAYLOAD,
            "event JSON of {} bytes",
            json.len()
        );
    }
    assert_eq!(events[7].observations[0].value.as_deref(), Some("5.4"));
    assert_eq!(
        events[7].specimen.as_ref().unwrap().id.as_deref(),
        Some("S7")
    );
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        message_level_note_stops_within_the_bound();
        many_groups_map_within_the_bound();
        println!("peak_memory: ok");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\""))
        .arg(&exe)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("peak_memory: ok"),
        "mapping under a {ADDRESS_SPACE_KIB} KiB address-space limit failed ({}): memory per \
         message is not bounded",
        out.status
    );
}
