#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A line-oriented serial device on a real pseudo-terminal, through the shared driver.

mod common;

use common::*;
use labwire_connectors::serial_line::{LineError, SerialLineConnector};
use labwire_connectors::{Connector, MemoryIngest};
use labwire_event::{EventKind, Observation};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A tiny parser for `ST,GS,+0012.34 g` (the example has the nom version).
fn parse(line: &str) -> Result<Vec<Observation>, LineError> {
    let mut parts = line.splitn(3, ',');
    let (Some(stab), Some(_mode), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(LineError {
            reason: "expected three comma-separated fields".into(),
            column: 0,
        });
    };
    let (value, units) = rest.trim().split_once(' ').ok_or(LineError {
        reason: "no units".into(),
        column: 6,
    })?;
    Ok(vec![Observation {
        code: Some("weight".into()),
        value: Some(value.trim_start_matches('+').to_owned()),
        units: Some(units.trim().to_owned()),
        status: Some(if stab == "ST" { "F" } else { "P" }.into()),
        ..Observation::default()
    }])
}

fn connector() -> impl Connector {
    SerialLineConnector::new(parse).with_max_line(64)
}

#[tokio::test]
async fn readings_arrive_byte_by_byte_and_bad_lines_become_error_events() {
    let ingest = MemoryIngest::new();
    let (transport, mut devices) = pty_transport();
    let ctx = context(ingest.clone(), "balance-1");
    let c = spawn(connector(), transport, ctx);

    let mut dev = devices.recv().await.unwrap();
    // Slow writer: one byte at a time.
    for b in b"ST,GS,+0012.34 g\r\n" {
        dev.write_all(std::slice::from_ref(b)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Garbage, a never-ending line (cut only after 4 KiB), then a good reading.
    dev.write_all(b"\x00\x7f\xfe garbage\r\n").await.unwrap();
    dev.write_all(&[b'9'; 4096]).await.unwrap();
    dev.write_all(b"\r\nUS,NT,-0001.50 g\n").await.unwrap();

    let events = wait_until(&ingest, "two readings and two errors", |evs| {
        evs.iter()
            .filter(|e| e.kind == EventKind::Telemetry)
            .count()
            == 2
            && evs.iter().filter(|e| e.kind == EventKind::Error).count() == 2
    })
    .await;
    let telemetry: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Telemetry)
        .collect();
    let first = &telemetry[0].observations[0];
    assert_eq!(first.value.as_deref(), Some("0012.34"));
    assert_eq!(first.units.as_deref(), Some("g"));
    assert_eq!(first.status.as_deref(), Some("F"));
    assert_eq!(
        telemetry[1].observations[0].value.as_deref(),
        Some("-0001.50")
    );
    let errors: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Error)
        .collect();
    assert_eq!(
        errors[0].error.as_ref().unwrap().offset,
        Some(2),
        "bad UTF-8 at byte 2"
    );
    let too_long = errors[1].error.as_ref().unwrap();
    assert!(too_long.reason.contains("longer than 64"), "{too_long:?}");
    // 18 bytes of the first reading + 13 of the garbage line.
    assert_eq!(
        too_long.offset,
        Some(31),
        "stream offset of the over-long line"
    );
    assert_eq!(count_state(&events, "connected"), 1);

    c.stop().await;
}

#[tokio::test]
async fn a_hang_up_is_a_disconnect_and_the_port_is_reopened() {
    let ingest = MemoryIngest::new();
    let (transport, mut devices) = pty_transport();
    let ctx = context(ingest.clone(), "balance-2");
    let c = spawn(connector(), transport, ctx);

    let mut dev = devices.recv().await.unwrap();
    dev.write_all(b"ST,GS,+0001.00 g\r\n").await.unwrap();
    wait_until(&ingest, "first reading", |e| {
        e.iter().any(|e| e.kind == EventKind::Telemetry)
    })
    .await;
    // Cable pulled mid-line: the device side closes; the slave read fails with EIO.
    dev.write_all(b"ST,GS,+00").await.unwrap();
    drop(dev);
    let events = wait_until(&ingest, "disconnected", |e| {
        count_state(e, "disconnected") == 1
    })
    .await;
    let detail = status_detail(&events, "disconnected");
    assert!(
        detail.contains("read failed") || detail.contains("peer closed"),
        "{detail}"
    );

    let mut dev = devices.recv().await.unwrap();
    dev.write_all(b"ST,GS,+0002.00 g\r\n").await.unwrap();
    let events = wait_until(&ingest, "second reading", |e| {
        e.iter().filter(|e| e.kind == EventKind::Telemetry).count() == 2
    })
    .await;
    assert_eq!(count_state(&events, "connected"), 2);
    // The half line from before the hang-up was discarded, not glued to the new one.
    let last = events
        .iter()
        .rfind(|e| e.kind == EventKind::Telemetry)
        .unwrap();
    assert_eq!(last.raw.as_deref(), Some("ST,GS,+0002.00 g"));
    let h = c.health.snapshot();
    assert_eq!(h.reconnects, 1);
    assert_eq!(h.messages, 2);

    c.stop().await;
}

#[tokio::test]
async fn a_silent_device_hits_the_idle_timeout_and_is_reopened() {
    let ingest = MemoryIngest::new();
    let (transport, mut devices) = pty_transport();
    let mut ctx = context(ingest.clone(), "balance-3");
    ctx.config.idle_timeout = Some(Duration::from_millis(200));
    let c = spawn(connector(), transport, ctx);

    let _first = devices.recv().await.unwrap();
    let events = wait_until(&ingest, "idle disconnect", |e| {
        count_state(e, "disconnected") >= 1 && count_state(e, "connected") >= 2
    })
    .await;
    let detail = status_detail(&events, "disconnected");
    assert!(detail.starts_with("idle timeout"), "{detail}");
    let mut second = devices.recv().await.unwrap();
    second.write_all(b"ST,GS,+0003.00 g\n").await.unwrap();
    wait_until(&ingest, "reading after reopen", |e| {
        e.iter().any(|e| e.kind == EventKind::Telemetry)
    })
    .await;
    assert!(c.health.snapshot().timeouts >= 1);

    c.stop().await;
}

#[tokio::test]
async fn readings_are_not_acknowledged_as_stored_when_the_ingest_fails() {
    let ingest = MemoryIngest::new();
    ingest.set_failing(true);
    let (transport, mut devices) = pty_transport();
    let ctx = context(ingest.clone(), "balance-4");
    let c = spawn(connector(), transport, ctx);

    let mut dev = devices.recv().await.unwrap();
    dev.write_all(b"ST,GS,+0001.00 g\r\n").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while c.health.snapshot().ingest_failures == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(c.health.snapshot().messages, 0);
    ingest.set_failing(false);
    dev.write_all(b"ST,GS,+0002.00 g\r\n").await.unwrap();
    let events = wait_until(&ingest, "reading after recovery", |e| {
        e.iter().any(|e| e.kind == EventKind::Telemetry)
    })
    .await;
    let telemetry: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Telemetry)
        .collect();
    assert_eq!(telemetry.len(), 1);
    assert_eq!(telemetry[0].raw.as_deref(), Some("ST,GS,+0002.00 g"));

    c.stop().await;
}
