#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Fleet benchmark: 200 concurrent instruments (100 ASTM, 100 HL7) on one `labwire run` process.
//!
//! Starts a real `nats-server` (JetStream), writes a site config with 100 `astm` and 100 `hl7`
//! listeners on loopback, spawns the real `labwire` binary as a child process and drives it from
//! this process with 200 lightweight instruments (tokio tasks over TCP):
//!
//! - ASTM: ENQ → frames (E1381, 240-byte text, one ACK awaited per frame) → EOT, one message per
//!   session; latency = last frame sent → its ACK (gated on durability: bus ack or spool commit).
//! - HL7: MLLP-framed ORU^R01 with a unique MSH-10; latency = message sent → `MSA|AA`.
//!
//! Every message carries a unique specimen id, so every message is a distinct result event.
//! Scenarios: (a) full speed, every instrument back-to-back; (b) paced at 1 000 results/s in
//! total. labwire's RSS (`/proc/<pid>/status`) and CPU (`/proc/<pid>/stat`) are sampled during
//! each scenario, the generator's own CPU too (to show it is not the bottleneck). At the end the
//! stream `LAB` must hold one `result` event per ACKed message; then labwire gets SIGTERM and must
//! exit 0.
//!
//! Run: `CARGO_TARGET_DIR=target/fleet cargo bench -p labwire --bench fleet`
//! (`FLEET_SECS` sets the scenario length, default 10).

use labwire_astm::link::{EncodeOptions, FrameEnd, FrameNumber, encode::pieces, encode_frame};
use labwire_tests::NatsServer;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream as StdTcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ASTM_INSTRUMENTS: usize = 100;
const HL7_INSTRUMENTS: usize = 100;
const SITE: &str = "bench";
const ACK: u8 = 0x06;
const ENQ: u8 = 0x05;
const EOT: u8 = 0x04;

/// One instrument the generator plays.
#[derive(Clone, Copy)]
enum Kind {
    Astm,
    Hl7,
}

#[derive(Clone, Copy)]
struct Instrument {
    index: usize,
    kind: Kind,
    port: u16,
}

/// What one scenario asks of each instrument.
#[derive(Clone, Copy)]
enum Pace {
    /// Back-to-back: the next message as soon as the previous one is ACKed.
    FullSpeed,
    /// Each instrument sends one message per `period` (staggered start).
    Every(Duration),
}

/// What one instrument saw during a scenario.
#[derive(Default)]
struct Tally {
    acked: u64,
    refused: u64,
    latencies_us: Vec<u32>,
    last_ack: Option<Instant>,
}

/// The processes whose CPU is measured, and clock ticks per second.
#[derive(Clone, Copy)]
struct Procs {
    labwire: u32,
    nats: u32,
    ticks: f64,
}

/// The labwire child process, killed if the bench panics before stopping it.
struct Labwire(Child);

impl Drop for Labwire {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Figures of one scenario.
struct Row {
    name: &'static str,
    acked: u64,
    refused: u64,
    elapsed: Duration,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rss_peak_mb: f64,
    cpu_pct: f64,
    generator_cpu_pct: f64,
    nats_cpu_pct: f64,
    load: String,
}

fn main() {
    let secs: u64 = std::env::var("FLEET_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let scenario_len = Duration::from_secs(secs);

    let nats = NatsServer::start().expect("nats-server (apt-get install nats-server)");
    let dir = tempfile::Builder::new()
        .prefix("labwire-fleet-")
        .tempdir()
        .unwrap();
    // Held while the instrument ports are chosen, so none of them gets the same port.
    let metrics_probe = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let metrics_port = metrics_probe.local_addr().unwrap().port();
    let instruments = instruments();
    drop(metrics_probe);
    let config = site_config(&nats.url(), dir.path(), metrics_port, &instruments);
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, config).unwrap();

    let log = std::fs::File::create(dir.path().join("labwire.log")).unwrap();
    let mut child = Labwire(
        Command::new(env!("CARGO_BIN_EXE_labwire"))
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    wait_ready(metrics_port, &mut child.0, dir.path());
    let ticks = clock_ticks();
    let nats_pid = pid_with_arg(&nats.store_dir().to_string_lossy()).unwrap_or(0);
    println!(
        "fleet: labwire pid {pid} ready ({} ASTM + {} HL7 listeners), nats {}, {} cores, load {}",
        ASTM_INSTRUMENTS,
        HL7_INSTRUMENTS,
        nats.url(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seq = Arc::new(AtomicU64::new(0));
    let total = (ASTM_INSTRUMENTS + HL7_INSTRUMENTS) as u64;
    let mut rows = Vec::new();
    let scenarios = [
        ("full speed", Pace::FullSpeed),
        (
            "paced 1k/s",
            Pace::Every(Duration::from_micros(1_000_000 * total / 1_000)),
        ),
    ];
    for (name, pace) in scenarios {
        let row = runtime.block_on(run_scenario(
            name,
            pace,
            scenario_len,
            &instruments,
            &seq,
            Procs {
                labwire: pid,
                nats: nats_pid,
                ticks,
            },
        ));
        rows.push(row);
        std::thread::sleep(Duration::from_secs(1));
    }

    let acked_total: u64 = rows.iter().map(|r| r.acked).sum();
    let (results, errors) = runtime.block_on(count_stream(&nats.url()));
    let hwm = proc_status_kb(pid, "VmHWM:").unwrap_or(0);

    print_table(&rows);
    println!("labwire VmHWM (whole run): {:.1} MB", hwm as f64 / 1024.0);
    println!(
        "no loss: {acked_total} messages ACKed, stream LAB holds {results} result events \
         ({errors} error events) -> {}",
        if results == acked_total {
            "OK"
        } else {
            "MISMATCH"
        }
    );

    let status = stop(&mut child.0);
    println!("labwire exit after SIGTERM: {status}");
    log_summary(&dir.path().join("labwire.log"));
    if results != acked_total || !status.success() {
        eprintln!(
            "--- labwire log tail ---\n{}",
            tail(&dir.path().join("labwire.log"), 30)
        );
        std::process::exit(1);
    }
}

/// 200 instruments on distinct free loopback ports: every probe listener is held until all
/// ports are chosen, so the OS never hands out the same port twice.
fn instruments() -> Vec<Instrument> {
    let probes: Vec<TcpListener> = (0..ASTM_INSTRUMENTS + HL7_INSTRUMENTS)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)).unwrap())
        .collect();
    probes
        .iter()
        .enumerate()
        .map(|(index, probe)| Instrument {
            index,
            kind: if index < ASTM_INSTRUMENTS {
                Kind::Astm
            } else {
                Kind::Hl7
            },
            port: probe.local_addr().unwrap().port(),
        })
        .collect()
}

fn instrument_id(i: &Instrument) -> String {
    match i.kind {
        Kind::Astm => format!("astm-{:03}", i.index),
        Kind::Hl7 => format!("hl7-{:03}", i.index),
    }
}

/// The site config. The stream is capped at 1 GiB: with the default 10 GiB, nats-server refuses
/// to create `LAB` (error 10047) when the disk has less than ~13 GB free.
fn site_config(nats_url: &str, dir: &Path, metrics_port: u16, all: &[Instrument]) -> String {
    let mut toml = format!(
        "site = \"{SITE}\"\n\n[nats]\nurl = \"{nats_url}\"\n\n[storage]\npath = \"{}\"\n\n\
         [stream]\nmax_bytes = \"1GiB\"\n\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n\n[logging]\nlevel = \"warn\"\n",
        dir.join("labwire.db").display()
    );
    for i in all {
        let protocol = match i.kind {
            Kind::Astm => "astm",
            Kind::Hl7 => "hl7",
        };
        let _ = write!(
            toml,
            "\n[[instrument]]\nid = \"{}\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:{}\"\n",
            instrument_id(i),
            i.port
        );
    }
    toml
}

/// Polls `/readyz` until it answers 200 with the bus connected.
fn wait_ready(port: u16, child: &mut Child, dir: &Path) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "labwire exited before ready: {status}\n{}",
                tail(&dir.join("labwire.log"), 30)
            );
        }
        if let Some(body) = http_get(port, "/readyz")
            && body.starts_with("HTTP/1.1 200")
            && body.ends_with("ready: bus connected\n")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "labwire not ready after 30 s\n{}",
        tail(&dir.join("labwire.log"), 30)
    );
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = StdTcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

async fn run_scenario(
    name: &'static str,
    pace: Pace,
    length: Duration,
    all: &[Instrument],
    seq: &Arc<AtomicU64>,
    procs: Procs,
) -> Row {
    let Procs {
        labwire: pid,
        nats: nats_pid,
        ticks,
    } = procs;
    // Connect everyone first, so connection set-up is not part of the measured window.
    let mut streams = Vec::new();
    for i in all {
        let s = TcpStream::connect(("127.0.0.1", i.port)).await.unwrap();
        s.set_nodelay(true).unwrap();
        streams.push((*i, s));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = spawn_rss_sampler(pid, stop.clone());
    let cpu_before = proc_cpu_ticks(&format!("/proc/{pid}/stat"));
    let own_before = proc_cpu_ticks("/proc/self/stat");
    let nats_before = proc_cpu_ticks(&format!("/proc/{nats_pid}/stat"));
    let start = Instant::now();
    let deadline = start + length;
    let count = all.len() as u32;
    let mut tasks = Vec::new();
    for (i, stream) in streams {
        let seq = seq.clone();
        let offset = match pace {
            Pace::FullSpeed => Duration::ZERO,
            Pace::Every(period) => period * i.index as u32 / count,
        };
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut stream = stream;
            let mut next = start + offset;
            let id = instrument_id(&i);
            loop {
                if let Pace::Every(period) = pace {
                    tokio::time::sleep_until(next.into()).await;
                    next += period;
                }
                if Instant::now() >= deadline {
                    break;
                }
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let result = match i.kind {
                    Kind::Astm => astm_message(&mut stream, &id, n).await,
                    Kind::Hl7 => hl7_message(&mut stream, &id, n).await,
                };
                match result {
                    Some(latency) => {
                        tally.acked += 1;
                        tally.last_ack = Some(Instant::now());
                        tally
                            .latencies_us
                            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                    }
                    None => {
                        tally.refused += 1;
                        break;
                    }
                }
            }
            tally
        }));
    }
    let mut acked = 0;
    let mut refused = 0;
    let mut latencies = Vec::new();
    let mut by_protocol = [Vec::new(), Vec::new()];
    let mut last_ack = start;
    for (i, t) in all.iter().zip(tasks) {
        let tally = t.await.unwrap();
        acked += tally.acked;
        refused += tally.refused;
        by_protocol[i.kind as usize].extend_from_slice(&tally.latencies_us);
        latencies.extend(tally.latencies_us);
        last_ack = last_ack.max(tally.last_ack.unwrap_or(start));
    }
    // CPU is measured over the whole window; results/s up to the last ACK (a paced
    // instrument's final sleep may overshoot the deadline).
    let elapsed = start.elapsed();
    let acked_in = last_ack.duration_since(start);
    let cpu_after = proc_cpu_ticks(&format!("/proc/{pid}/stat"));
    let own_after = proc_cpu_ticks("/proc/self/stat");
    let nats_after = proc_cpu_ticks(&format!("/proc/{nats_pid}/stat"));
    stop.store(true, Ordering::Relaxed);
    let rss_peak_kb = sampler.join().unwrap();
    latencies.sort_unstable();
    for (protocol, mut l) in ["ASTM", "HL7"].into_iter().zip(by_protocol) {
        l.sort_unstable();
        println!(
            "  {name}: {protocol} {} messages, ack p50 {:.2} ms, p99 {:.2} ms",
            l.len(),
            percentile_ms(&l, 0.50),
            percentile_ms(&l, 0.99)
        );
    }
    let pct = |ticks_used: u64| ticks_used as f64 / ticks / elapsed.as_secs_f64() * 100.0;
    Row {
        name,
        acked,
        refused,
        elapsed: acked_in,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0),
        rss_peak_mb: rss_peak_kb as f64 / 1024.0,
        cpu_pct: pct(cpu_after - cpu_before),
        generator_cpu_pct: pct(own_after - own_before),
        nats_cpu_pct: pct(nats_after - nats_before),
        load: load_average(),
    }
}

/// One ASTM session: ENQ, the message's frames (one ACK each), EOT. Returns the time from the
/// last frame's final byte written to its ACK, or `None` when something other than ACK came.
async fn astm_message(stream: &mut TcpStream, id: &str, n: u64) -> Option<Duration> {
    let text = astm_text(id, n);
    stream.write_all(&[ENQ]).await.ok()?;
    if read_byte(stream).await? != ACK {
        return None;
    }
    let options = EncodeOptions::default();
    let mut number = FrameNumber::FIRST;
    let mut latency = Duration::ZERO;
    let mut frame = Vec::with_capacity(256);
    for (piece, end) in pieces(text.as_bytes(), &options) {
        frame.clear();
        encode_frame(number, piece, end, &mut frame);
        number = number.next();
        stream.write_all(&frame).await.ok()?;
        let sent = Instant::now();
        if read_byte(stream).await? != ACK {
            return None;
        }
        if end == FrameEnd::Last {
            latency = sent.elapsed();
        }
    }
    stream.write_all(&[EOT]).await.ok()?;
    Some(latency)
}

async fn read_byte(stream: &mut TcpStream) -> Option<u8> {
    let mut b = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut b)).await {
        Ok(Ok(_)) => Some(b[0]),
        _ => None,
    }
}

/// A result message of ~330 bytes (two 240-byte frames): header, patient, order, three results.
fn astm_text(id: &str, n: u64) -> String {
    format!(
        "H|\\^&|||FleetBench^1.0^{id}|||||||P|1|20261126063000\r\
         P|1||PAT{n:010}||Doe^Jane||19800101|F\r\
         O|1|S{n:012}||^^^GLU\\^^^ALT\\^^^AST|R|20261126062900|||||N||||SERUM\r\
         R|1|^^^GLU|5.4|mmol/L|3.9-6.1|N||F||||20261126063000\r\
         R|2|^^^ALT|31|U/L|0-40|N||F||||20261126063000\r\
         R|3|^^^AST|27|U/L|0-40|N||F||||20261126063000\r\
         L|1|N\r"
    )
}

/// One MLLP-framed ORU^R01; returns send → `MSA|AA` time, or `None` on anything else.
async fn hl7_message(stream: &mut TcpStream, id: &str, n: u64) -> Option<Duration> {
    let msg = format!(
        "\x0bMSH|^~\\&|FleetBench|{id}|labwire|{SITE}|20261126063000||ORU^R01|MSG{n:012}|P|2.5.1\r\
         PID|1||PAT{n:010}||Doe^Jane||19800101|F\r\
         OBR|1|S{n:012}||GLU^Glucose|||20261126062900|||||||20261126062900|SER\r\
         OBX|1|NM|GLU^Glucose||5.4|mmol/L|3.9-6.1|N|||F|||20261126063000\r\
         OBX|2|NM|ALT^ALT||31|U/L|0-40|N|||F|||20261126063000\r\
         OBX|3|NM|AST^AST||27|U/L|0-40|N|||F|||20261126063000\r\x1c\r"
    );
    stream.write_all(msg.as_bytes()).await.ok()?;
    let sent = Instant::now();
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..read]);
        if buf.windows(2).any(|w| w == b"\x1c\r") {
            break;
        }
    }
    let latency = sent.elapsed();
    let ack = String::from_utf8_lossy(&buf);
    (ack.contains("MSA|AA|") && ack.contains(&format!("MSG{n:012}"))).then_some(latency)
}

fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

/// Samples VmRSS every 50 ms until `stop`; returns the peak in kB.
fn spawn_rss_sampler(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(proc_status_kb(pid, "VmRSS:").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(50));
        }
        peak.max(proc_status_kb(pid, "VmRSS:").unwrap_or(0))
    })
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime (clock ticks) from a `/proc/<pid>/stat` file.
fn proc_cpu_ticks(path: &str) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
    utime + stime
}

/// The pid of the process whose command line has an argument equal to `arg` (the nats-server
/// harness does not expose its child's pid; its store dir is unique).
fn pid_with_arg(arg: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline
                .split(|&b| b == 0)
                .any(|a| a == arg.as_bytes())
                .then_some(pid)
        })
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// (result events, error events) in stream `LAB` for this site.
async fn count_stream(url: &str) -> (u64, u64) {
    use futures::TryStreamExt;
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("LAB").await.unwrap();
    let count = |filter: String| {
        let stream = stream.clone();
        async move {
            let mut info = stream.info_with_subjects(filter).await.unwrap();
            let mut total = 0;
            while let Some((_, n)) = info.try_next().await.unwrap() {
                total += n as u64;
            }
            total
        }
    };
    let results = count(format!("lab.{SITE}.*.result")).await;
    let errors = count(format!("lab.{SITE}.*.error")).await;
    (results, errors)
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| scenario | instruments | ACKed | refused | secs | results/s | ack p50 ms | ack p99 ms | ack max ms | labwire RSS MB (peak) | labwire CPU % | nats-server CPU % | generator CPU % | load avg |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} ({} ASTM + {} HL7) | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {} |",
            r.name,
            ASTM_INSTRUMENTS + HL7_INSTRUMENTS,
            ASTM_INSTRUMENTS,
            HL7_INSTRUMENTS,
            r.acked,
            r.refused,
            r.elapsed.as_secs_f64(),
            r.acked as f64 / r.elapsed.as_secs_f64(),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.rss_peak_mb,
            r.cpu_pct,
            r.nats_cpu_pct,
            r.generator_cpu_pct,
            r.load
        );
    }
}

fn stop(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait().unwrap()
}

/// How many warnings and errors labwire logged (level `warn`), and the first few.
fn log_summary(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    println!("labwire log: {} warning/error lines", lines.len());
    for l in lines.iter().take(5) {
        println!("  {l}");
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
