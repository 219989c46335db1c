//! Uplink benchmark (issue 11, performance): against a local mosquitto,
//!
//! 1. a bare rumqttc QoS 1 publisher (same payloads, same in-flight window) — the raw rate;
//! 2. the uplink draining a full outbox (drain rate at its maximum) — target ≥ 50 % of raw;
//! 3. one hour of outage for a 200-instrument site (heartbeat and health every 60 s, QC and
//!    volume for the hour): outbox bytes on disk and time to drain after reconnect at the
//!    default drain rate;
//! 4. the resident memory the uplink added.
//!
//! `cargo bench -p labwire-uplink --bench drain` (`N=…` records for 1 and 2, default 5000).
//! Figures and load average go in docs/benchmarks.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use labwire_tests::Mosquitto;
use labwire_uplink::broker::BrokerUrl;
use labwire_uplink::build::{EdgeSnapshot, InstrumentSnapshot, health, heartbeat};
use labwire_uplink::outbox::{Outbox, OutboxLimits};
use labwire_uplink::record::{EventCounts, LinkCounts, Protocol, Record};
use labwire_uplink::service::{
    DEFAULT_DRAIN_RATE, DEFAULT_MAX_INFLIGHT, EdgeState, Probe, UplinkConfig, start,
};
use labwire_uplink::summaries::{QcSample, Summaries};
use labwire_uplink::{InstrumentRef, SiteRef, TestCode, Version};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const INSTRUMENTS: usize = 200;

struct Quiet;

impl Probe for Quiet {
    fn edge(&self) -> EdgeState {
        EdgeState {
            spool_depth: 0,
            spool_capacity: 0,
            bus_connected: true,
            instruments: INSTRUMENTS as u32,
        }
    }
    fn instruments(&self) -> Vec<InstrumentSnapshot> {
        Vec::new()
    }
}

fn site() -> SiteRef {
    SiteRef::new("site-a").unwrap()
}

fn snapshots(n: usize) -> Vec<InstrumentSnapshot> {
    (0..n)
        .map(|i| InstrumentSnapshot {
            instrument: InstrumentRef::new(&format!("analyser-{i:03}")).unwrap(),
            protocol: if i % 2 == 0 {
                Protocol::Astm
            } else {
                Protocol::Hl7
            },
            link_up: true,
            alarm: false,
            events: EventCounts {
                result: 12_345 + i as u64,
                qc: 321,
                order: 4_000,
                query: 900,
                ..EventCounts::default()
            },
            link: LinkCounts {
                naks: 3,
                retransmits: 7,
                checksum_errors: 1,
                reconnects: 2,
                timeouts: 4,
            },
            last_message_at: Some(jiff::Timestamp::now()),
        })
        .collect()
}

fn edge() -> EdgeSnapshot {
    EdgeSnapshot {
        version: Version::new("0.1.0").unwrap(),
        started: jiff::Timestamp::now(),
        config_hash: [7; 32],
        spool_depth: 0,
        outbox_depth: 0,
        outbox_dropped: 0,
        bus_connected: true,
        instruments: INSTRUMENTS as u32,
    }
}

/// `n` small records (a health record of 3 instruments, distinct times so distinct ids).
fn small_records(n: usize) -> Vec<Record> {
    let snaps = snapshots(3);
    let t0 = jiff::Timestamp::now();
    (0..n)
        .map(|i| {
            health(
                &site(),
                t0 + jiff::SignedDuration::from_millis(i as i64),
                &snaps,
            )
        })
        .collect()
}

/// One hour of outage at a 200-instrument site.
fn outage_hour() -> Vec<Record> {
    let snaps = snapshots(INSTRUMENTS);
    let hour = jiff::Timestamp::now().as_second().div_euclid(3600) * 3600;
    let t0 = jiff::Timestamp::from_second(hour).unwrap();
    let mut out = Vec::new();
    for m in 0..60 {
        let at = t0 + jiff::SignedDuration::from_secs(60 * m);
        out.push(heartbeat(&site(), at, &edge()));
        out.push(health(&site(), at, &snaps));
    }
    let mut s = Summaries::new(site(), 11);
    let tests = ["GLU", "CREA", "ALT", "AST", "NA", "K"];
    for snap in &snaps {
        for (k, t) in tests.iter().enumerate() {
            for r in 0..(5 + 7 * k) {
                let at = t0 + jiff::SignedDuration::from_secs(10 * r as i64);
                let _ = s.result(at, &snap.instrument, TestCode::new(t).unwrap());
            }
        }
        for t in &tests[..2] {
            for (r, v) in ["5.1", "5.3", "4.9"].iter().enumerate() {
                let at = t0 + jiff::SignedDuration::from_secs(20 * r as i64);
                let sample = QcSample::parse(t, None, Some("mmol/L"), v).unwrap();
                let _ = s.qc(at, &snap.instrument, sample);
            }
        }
    }
    out.extend(s.tick(t0 + jiff::SignedDuration::from_secs(3600)));
    out
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn on_disk(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            std::fs::metadata(format!("{}{s}", path.display()))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

/// The bare publisher: `payloads` on `topics` with QoS 1 and the uplink's in-flight window;
/// returns the time until the last PUBACK.
async fn raw(port: u16, records: &[Record]) -> Duration {
    let mut o = MqttOptions::new("bench-raw", "127.0.0.1", port);
    o.set_inflight(DEFAULT_MAX_INFLIGHT);
    o.set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut eventloop) = AsyncClient::new(o, 64);
    let n = records.len();
    let msgs: Vec<(String, Vec<u8>)> = records.iter().map(|r| (r.topic(), r.to_json())).collect();
    let began = Instant::now();
    let publisher = tokio::spawn(async move {
        for (t, p) in msgs {
            client.publish(t, QoS::AtLeastOnce, false, p).await.unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.unwrap() {
            acked += 1;
        }
    }
    let elapsed = began.elapsed();
    let _client = publisher.await.unwrap();
    elapsed
}

async fn fill(path: &Path, records: &[Record]) -> u64 {
    let mut outbox = Outbox::open(
        path,
        OutboxLimits {
            max_bytes: 1 << 30,
            ..OutboxLimits::default()
        },
    )
    .await
    .unwrap();
    for r in records {
        outbox.push(r).await.unwrap();
    }
    outbox.depth()
}

/// Starts an uplink on `path` and returns the time until `expect` records are acked.
async fn drain(port: u16, path: &Path, drain_rate: u32, expect: u64) -> Duration {
    let config = UplinkConfig {
        site: site(),
        url: BrokerUrl::parse(&format!("mqtt://127.0.0.1:{port}")).unwrap(),
        tls: None,
        interval: Duration::from_secs(3600),
        outbox: path.to_path_buf(),
        limits: OutboxLimits {
            max_bytes: 1 << 30,
            ..OutboxLimits::default()
        },
        drain_rate,
        max_inflight: DEFAULT_MAX_INFLIGHT,
        min_cell: 11,
        alert_fill_percent: 80,
        clock_skew: labwire_uplink::alerts::DEFAULT_CLOCK_SKEW,
        version: Version::new("0.1.0").unwrap(),
        config_hash: [0; 32],
    };
    let shutdown = CancellationToken::new();
    // The filling connection holds the file's exclusive lock until its worker closes it.
    let mut tries = 0;
    let uplink = loop {
        match start(config.clone(), Arc::new(Quiet), shutdown.clone()).await {
            Ok(u) => break u,
            Err(e) if tries < 100 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let began = Instant::now();
    // The interval's first tick stores a heartbeat (and the connect another): wait for the
    // backlog and those to be acked and the outbox to be empty.
    while uplink.stats.sent.load(Ordering::Relaxed) < expect
        || uplink.stats.outbox_depth.load(Ordering::Relaxed) > 0
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = began.elapsed();
    shutdown.cancel();
    let _ = uplink.task.await;
    elapsed
}

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let broker = Mosquitto::start().unwrap();
    let port = broker.port();
    let dir = tempfile::tempdir().unwrap();
    let records = small_records(n);
    let payload = records.first().map(|r| r.to_json().len()).unwrap_or(0);
    let rss_before = rss_kib("VmRSS:");

    let raw_time = rt.block_on(raw(port, &records));
    let raw_rate = n as f64 / raw_time.as_secs_f64();
    println!("raw rumqttc QoS 1: {n} records of {payload} B in {raw_time:.2?}: {raw_rate:.0}/s");

    let path = dir.path().join("drain.db");
    let depth = rt.block_on(fill(&path, &records));
    let t = rt.block_on(drain(port, &path, 10_000, depth));
    let rate = depth as f64 / t.as_secs_f64();
    println!(
        "uplink outbox drain (drain_rate 10000, max_inflight {DEFAULT_MAX_INFLIGHT}): {depth} records in {t:.2?}: {rate:.0}/s = {:.0} % of raw",
        100.0 * rate / raw_rate
    );

    let hour = outage_hour();
    let bytes: usize = hour.iter().map(|r| r.to_json().len()).sum();
    let path = dir.path().join("outage.db");
    let depth = rt.block_on(fill(&path, &hour));
    let disk = on_disk(&path);
    println!(
        "one hour of outage, {INSTRUMENTS} instruments: {depth} records, {bytes} payload bytes, outbox on disk {disk} B ({:.1} MiB)",
        disk as f64 / (1024.0 * 1024.0)
    );
    let t = rt.block_on(drain(port, &path, DEFAULT_DRAIN_RATE, depth));
    println!(
        "  drained after reconnect at the default drain_rate {DEFAULT_DRAIN_RATE}/s in {t:.2?}"
    );
    let depth = rt.block_on(fill(&path, &hour));
    let t = rt.block_on(drain(port, &path, 10_000, depth));
    println!("  drained at drain_rate 10000/s in {t:.2?}");
    let rss_after = rss_kib("VmRSS:");
    let hwm = rss_kib("VmHWM:");
    println!(
        "RSS: {rss_before} KiB before the uplink, {rss_after} KiB after (+{} KiB), peak {hwm} KiB",
        rss_after.saturating_sub(rss_before)
    );
}
