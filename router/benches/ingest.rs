#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Ingest gate (`IngestGate`) throughput and latency against a real nats-server, side by side with raw
//! async-nats JetStream publishes of the same 2 KB events.
//!
//! Run: `cargo bench -p labwire-router --bench ingest` (prints a table; nothing is asserted).
//! `LABWIRE_BENCH_SECS` sets the length of each scenario (default 5).
//!
//! Scenarios, each with 100 concurrent producers (one instrument link each, awaiting each
//! receipt or ack before its next event, as a link does):
//! 1. raw: `send_publish` with `Nats-Msg-Id` + await the PublishAck, full speed;
//! 2. gate: `IngestGate::submit`, full speed;
//! 3. gate at half the throughput of (2), paced: the gate latency an instrument sees; and at
//!    1 000 events/s (a busy lab);
//! 4. gate with the server killed: every event goes to the SQLite spool (fsync per commit),
//!    then the server is restarted and the drain time measured.
//!
//! A core subscriber on `lab.bench.*.result` counts what reaches apps.

use futures::StreamExt;
use labwire_event::{Event, EventKind, InstrumentId, Origin, Protocol, SiteId};
use labwire_router::{BusOptions, Router, RouterOptions, SpoolOptions};
use labwire_tests::NatsServer;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PRODUCERS: usize = 100;
const PAYLOAD: usize = 2048;

fn event(scenario: &str, producer: usize, n: u64) -> Event {
    let origin = Origin {
        site: SiteId::new("bench").unwrap(),
        instrument: InstrumentId::new(format!("{scenario}-{producer}")).unwrap(),
        received_at: jiff::Timestamp::now(),
    };
    let head = format!("R|{n}|^^^GLU|5.4|mmol/L|");
    let raw = format!("{head}{}", "x".repeat(PAYLOAD - 400 - head.len()));
    let mut ev = origin.event(EventKind::Result, Protocol::Astm, raw.as_bytes(), 0);
    ev.raw = Some(raw.into());
    ev
}

struct Outcome {
    name: String,
    events: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    delivered: u64,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i]
    }
}

/// Counts messages reaching a core subscriber (none while the server is down).
async fn subscriber(url: &str) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let count = Arc::new(AtomicU64::new(0));
    let Ok(client) = async_nats::connect(url).await else {
        return (count, tokio::spawn(async {}));
    };
    let mut sub = client.subscribe("lab.bench.*.result").await.unwrap();
    // A round trip on this connection: the server has the subscription before producers start.
    client
        .request("$JS.API.INFO", bytes::Bytes::new())
        .await
        .unwrap();
    let c = Arc::clone(&count);
    let task = tokio::spawn(async move {
        let _client = client;
        while sub.next().await.is_some() {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    (count, task)
}

/// Runs `PRODUCERS` producers for `secs`; each calls `one(producer, n)` and records its latency.
/// With `pace`, each producer waits so that it sends one event per `pace`.
async fn run<F, Fut>(
    name: &str,
    url: &str,
    secs: Duration,
    pace: Option<Duration>,
    one: F,
) -> Outcome
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (delivered, sub_task) = subscriber(url).await;
    let start = Instant::now();
    let end = start + secs;
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let one = one.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            let mut next_at = tokio::time::Instant::now()
                + pace.map_or(Duration::ZERO, |d| d.mul_f64(p as f64 / PRODUCERS as f64));
            while Instant::now() < end {
                if let Some(d) = pace {
                    tokio::time::sleep_until(next_at).await;
                    next_at += d;
                }
                let t = Instant::now();
                one(p, n).await;
                lat.push(t.elapsed());
                n += 1;
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub_task.abort();
    latencies.sort_unstable();
    Outcome {
        name: name.to_owned(),
        events: latencies.len() as u64,
        elapsed,
        latencies,
        delivered: delivered.load(Ordering::Relaxed),
    }
}

/// What a gate scenario expects of each receipt.
#[derive(Clone, Copy)]
enum Expect {
    Any,
    Spooled,
}

/// A producer step submitting one event of `scenario` through the gate.
fn gate_step(
    ingest: &labwire_router::IngestGate,
    scenario: &'static str,
    expect: Expect,
) -> impl Fn(usize, u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
+ Clone
+ Send
+ 'static {
    let ingest = ingest.clone();
    move |p, n| {
        let ingest = ingest.clone();
        Box::pin(async move {
            let r = ingest.submit(vec![event(scenario, p, n)]).await.unwrap();
            match expect {
                Expect::Any => assert_eq!(r.events(), 1),
                Expect::Spooled => assert_eq!(r.spooled(), 1),
            }
        })
    }
}

async fn purge(url: &str) {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    js.get_stream("LAB").await.unwrap().purge().await.unwrap();
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

fn main() {
    let secs = Duration::from_secs(
        std::env::var("LABWIRE_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(secs));
}

async fn bench(secs: Duration) {
    let mut nats = NatsServer::start().unwrap();
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let mut spool = SpoolOptions::new(dir.path().join("spool.db"));
    spool.max_rows = 10_000_000;
    spool.max_bytes = 16 << 30;
    let router = Router::start(RouterOptions::new(BusOptions::new(&url), spool))
        .await
        .unwrap();
    while !router.bus().is_ready() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_start = rss_kib("VmRSS:");
    let mut outcomes = Vec::new();

    // 1. Raw JetStream publish + ack.
    let js = router.bus().jetstream().clone();
    let raw = run("raw js publish+ack", &url, secs, None, move |p, n| {
        let js = js.clone();
        async move {
            let ev = event("raw", p, n);
            let msg = async_nats::jetstream::message::PublishMessage::build()
                .payload(serde_json::to_vec(&ev).unwrap().into())
                .message_id(ev.id.as_str());
            js.send_publish(ev.subject(), msg)
                .await
                .unwrap()
                .await
                .unwrap();
        }
    })
    .await;
    outcomes.push(raw);
    purge(&url).await;

    // 2. The gate at full speed.
    let ingest = router.ingest();
    let gate = run(
        "gate submit (full speed)",
        &url,
        secs,
        None,
        gate_step(&ingest, "gate", Expect::Any),
    )
    .await;
    let half_rate = gate.rate() / 2.0;
    outcomes.push(gate);
    purge(&url).await;

    // 3. The gate at half its maximum throughput.
    let pace = Duration::from_secs_f64(PRODUCERS as f64 / half_rate);
    let paced = run(
        "gate submit (half max, paced)",
        &url,
        secs,
        Some(pace),
        gate_step(&ingest, "paced", Expect::Any),
    )
    .await;
    outcomes.push(paced);
    purge(&url).await;

    // 3b. The gate at a lab's pace: 1 000 events/s in total.
    let light = run(
        "gate submit (1000/s, paced)",
        &url,
        secs,
        Some(Duration::from_secs_f64(PRODUCERS as f64 / 1000.0)),
        gate_step(&ingest, "light", Expect::Any),
    )
    .await;
    outcomes.push(light);
    purge(&url).await;

    // 4. Bus down: everything to the spool; then restart and drain.
    nats.kill();
    while router.bus().is_connected() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spool_secs = secs.min(Duration::from_secs(3));
    let spooled = run(
        "gate submit (bus down, spool)",
        &url,
        spool_secs,
        None,
        gate_step(&ingest, "spool", Expect::Spooled),
    )
    .await;
    let to_drain = router.spool().depth();
    nats.restart().unwrap();
    while !router.bus().is_ready() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t = Instant::now();
    while !router.spool().is_empty() && t.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_time = t.elapsed();
    outcomes.push(spooled);

    let rss_end = rss_kib("VmRSS:");
    let rss_peak = rss_kib("VmHWM:");

    println!();
    println!(
        "labwire ingest bench: {PRODUCERS} producers, {PAYLOAD}-byte events, {}s per scenario, nats-server on loopback",
        secs.as_secs()
    );
    println!(
        "{:<32} {:>9} {:>10} {:>9} {:>9} {:>9} {:>10}",
        "scenario", "events", "events/s", "p50 ms", "p99 ms", "max ms", "delivered"
    );
    for o in &outcomes {
        println!(
            "{:<32} {:>9} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>10}",
            o.name,
            o.events,
            o.rate(),
            o.pct(0.50).as_secs_f64() * 1e3,
            o.pct(0.99).as_secs_f64() * 1e3,
            o.latencies
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
            o.delivered
        );
    }
    let ratio = outcomes[1].rate() / outcomes[0].rate() * 100.0;
    println!("gate / raw throughput: {ratio:.0}% (target >= 70%)");
    println!(
        "gate p99 at half max ({:.0}/s): {:.3} ms (target < 5 ms)",
        outcomes[2].rate(),
        outcomes[2].pct(0.99).as_secs_f64() * 1e3
    );
    println!(
        "drain once the bus was back: {to_drain} events in {:.2}s ({:.0}/s); spool empty: {}",
        drain_time.as_secs_f64(),
        to_drain as f64 / drain_time.as_secs_f64().max(1e-9),
        router.spool().is_empty()
    );
    println!(
        "RSS: {} MiB at start, {} MiB at end, peak {} MiB (target < 50 MB)",
        rss_start / 1024,
        rss_end / 1024,
        rss_peak / 1024
    );
    let s = router.stats().snapshot();
    println!(
        "router counters: published={} spooled={} drained={} deduplicated={} refused={}",
        s.published, s.spooled, s.drained, s.deduplicated, s.refused
    );
    router.shutdown().await;
}
