//! The PHI canary end to end (issue 11, tests): every simulator profile in canary mode (a marker
//! in every identifying field) drives a real `labwire run` with the uplink on to a real
//! mosquitto. A recorder subscribed to `#`, labwire's log at every level up to `info`, the
//! `/metrics` text and the broker's log are scanned for the marker in more than 20 encodings:
//! zero hits. A positive control then publishes a leaking record on the same broker path and
//! the same scan must find it, and every encoding is checked to be caught when planted.
//!
//! The scanner is written here from scratch: it calls nothing of labwire.

use sha2::Digest;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Mixed case, letters and digits only (the simulators' rule), unlikely anywhere by chance.
const MARKER: &str = "QzXkW7vPjR";
const SITE: &str = "site-a";
const PROFILES: &[&str] = &[
    "cobas-c111",
    "sysmex-xn",
    "ba400",
    "genexpert",
    "mindray-cl",
    "erba-xl",
    "vision-lf-latin1",
];
/// Messages each simulated instrument sends.
const MESSAGES: u64 = 25;

// ---------------------------------------------------------------------------------------------
// The scanner.

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64_with(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64 characters that depend on the marker alone, for each of the three alignments it
/// can have inside a longer encoded text.
fn base64_needles(marker: &[u8], alphabet: &[u8; 64]) -> Vec<String> {
    (0..3usize)
        .map(|p| {
            let mut bytes = vec![0u8; p];
            bytes.extend_from_slice(marker);
            let full = base64_with(&bytes, alphabet);
            let skip = [0, 2, 3][p];
            let end = 4 * (bytes.len() / 3);
            full[skip..end].to_owned()
        })
        .collect()
}

fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect()
}

/// The ways a haystack is looked at before needles are searched.
#[derive(Clone, Copy, Debug, PartialEq)]
enum View {
    /// As is, bytes.
    Raw,
    /// ASCII-lowercased.
    Lower,
    /// Lowercased, only ASCII letters and digits kept (whitespace, separators, punctuation,
    /// component and field delimiters gone).
    Alnum,
    /// HL7 (`\F\ \S\ \T\ \R\ \E\`) and ASTM (`&F& &S& &R& &E&`) escapes removed, then Alnum.
    Unescaped,
    /// `%xx` decoded, then lowercased.
    UrlDecoded,
}

fn view(hay: &[u8], v: View) -> Vec<u8> {
    match v {
        View::Raw => hay.to_vec(),
        View::Lower => hay.to_ascii_lowercase(),
        View::Alnum => hay
            .iter()
            .filter(|b| b.is_ascii_alphanumeric())
            .map(u8::to_ascii_lowercase)
            .collect(),
        View::Unescaped => {
            let mut s = hay.to_vec();
            for esc in [
                "\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\", "&F&", "&S&", "&R&", "&E&",
            ] {
                s = replace_all(&s, esc.as_bytes(), b"");
            }
            view(&s, View::Alnum)
        }
        View::UrlDecoded => {
            let mut out = Vec::with_capacity(hay.len());
            let mut i = 0;
            while i < hay.len() {
                if hay[i] == b'%'
                    && i + 2 < hay.len()
                    && let Ok(b) = u8::from_str_radix(
                        std::str::from_utf8(&hay[i + 1..i + 3]).unwrap_or("zz"),
                        16,
                    )
                {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(hay[i]);
                i += 1;
            }
            out.to_ascii_lowercase()
        }
    }
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// One encoding: its name, the view it is searched in, and its needles (all must be found
/// for a hit when `all` is set, e.g. both halves of a split marker).
struct Encoding {
    name: &'static str,
    view: View,
    needles: Vec<Vec<u8>>,
    all: bool,
}

fn encodings(marker: &str) -> Vec<Encoding> {
    let m = marker.as_bytes();
    let lower = marker.to_ascii_lowercase();
    let one = |name, view, needle: String| Encoding {
        name,
        view,
        needles: vec![needle.into_bytes()],
        all: false,
    };
    let any = |name, view, needles: Vec<String>| Encoding {
        name,
        view,
        needles: needles.into_iter().map(String::into_bytes).collect(),
        all: false,
    };
    let utf16 = |big: bool| -> Vec<u8> {
        marker
            .encode_utf16()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    };
    let (h1, h2) = lower.split_at(lower.len() / 2);
    vec![
        one("exact", View::Raw, marker.to_owned()),
        one("lowercase", View::Raw, lower.clone()),
        one("uppercase", View::Raw, marker.to_ascii_uppercase()),
        one("any case", View::Lower, lower.clone()),
        one("reversed", View::Lower, lower.chars().rev().collect()),
        one(
            "whitespace, separators or components between characters",
            View::Alnum,
            lower.clone(),
        ),
        one("HL7 or ASTM escapes inside", View::Unescaped, lower.clone()),
        one(
            "HL7 hex escape \\X..\\",
            View::Lower,
            format!("\\x{}\\", hex(m)),
        ),
        one(
            "URL percent-encoded",
            View::Lower,
            m.iter().map(|b| format!("%{b:02x}")).collect(),
        ),
        one("URL-decoded text", View::UrlDecoded, lower.clone()),
        any("base64", View::Raw, base64_needles(m, B64)),
        any("base64url", View::Raw, base64_needles(m, B64URL)),
        any(
            "base64 of the lowercased marker",
            View::Raw,
            base64_needles(lower.as_bytes(), B64),
        ),
        one("hex", View::Lower, hex(m)),
        one(
            "hex of the lowercased marker",
            View::Lower,
            hex(lower.as_bytes()),
        ),
        Encoding {
            name: "UTF-16LE",
            view: View::Raw,
            needles: vec![utf16(false)],
            all: false,
        },
        Encoding {
            name: "UTF-16BE",
            view: View::Raw,
            needles: vec![utf16(true)],
            all: false,
        },
        one("UTF-16 as hex text", View::Lower, hex(&utf16(true))),
        one(
            "JSON \\u escapes",
            View::Lower,
            m.iter().map(|b| format!("\\u{:04x}", b)).collect(),
        ),
        one(
            "HTML decimal entities",
            View::Lower,
            m.iter().map(|b| format!("&#{b};")).collect(),
        ),
        one(
            "HTML hex entities",
            View::Lower,
            m.iter().map(|b| format!("&#x{b:02x};")).collect(),
        ),
        one("ROT13", View::Lower, rot13(&lower)),
        one("SHA-256 hex", View::Lower, hex(&sha2::Sha256::digest(m))),
        Encoding {
            name: "split in two halves (across components or fields)",
            view: View::Alnum,
            needles: vec![h1.as_bytes().to_vec(), h2.as_bytes().to_vec()],
            all: true,
        },
    ]
}

/// Every (source, encoding) where the marker is found.
fn scan(marker: &str, sources: &[(String, Vec<u8>)]) -> Vec<String> {
    let encodings = encodings(marker);
    let mut hits = Vec::new();
    for (source, hay) in sources {
        for e in &encodings {
            let v = view(hay, e.view);
            let found = if e.all {
                e.needles.iter().all(|n| contains(&v, n))
            } else {
                e.needles.iter().any(|n| contains(&v, n))
            };
            if found {
                hits.push(format!("{source}: {}", e.name));
            }
        }
    }
    hits
}

/// Each encoding planted in otherwise clean JSON is caught, so a zero-hit scan means something.
#[test]
fn the_scanner_catches_every_encoding_it_claims() {
    let m = MARKER;
    let lower = m.to_ascii_lowercase();
    let split = m.len() / 2;
    let url_mixed = format!("{}%{:02x}{}", &m[..4], m.as_bytes()[4], &m[5..]);
    let plants: Vec<(&str, String)> = vec![
        ("exact", m.to_owned()),
        ("lowercase", lower.clone()),
        ("uppercase", m.to_ascii_uppercase()),
        ("any case", "qZxKw7VpJr".to_owned()),
        ("reversed", m.chars().rev().collect()),
        (
            "whitespace, separators or components between characters",
            m.chars().map(|c| format!("{c} ")).collect(),
        ),
        (
            "HL7 or ASTM escapes inside",
            format!("{}\\S\\{}&R&", &m[..3], &m[3..]),
        ),
        (
            "HL7 hex escape \\X..\\",
            format!("\\X{}\\", hex(m.as_bytes()).to_uppercase()),
        ),
        (
            "URL percent-encoded",
            m.bytes().map(|b| format!("%{b:02X}")).collect(),
        ),
        ("URL-decoded text", url_mixed),
        ("base64", base64_with(format!("id:{m}!").as_bytes(), B64)),
        ("base64url", base64_with(format!("x{m}").as_bytes(), B64URL)),
        (
            "base64 of the lowercased marker",
            base64_with(format!("ab{lower}").as_bytes(), B64),
        ),
        ("hex", hex(m.as_bytes()).to_uppercase()),
        ("hex of the lowercased marker", hex(lower.as_bytes())),
        (
            "UTF-16 as hex text",
            hex(&m
                .encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect::<Vec<_>>()),
        ),
        (
            "JSON \\u escapes",
            m.bytes().map(|b| format!("\\u{b:04X}")).collect(),
        ),
        (
            "HTML decimal entities",
            m.bytes().map(|b| format!("&#{b};")).collect(),
        ),
        (
            "HTML hex entities",
            m.bytes().map(|b| format!("&#X{b:02X};")).collect(),
        ),
        ("ROT13", rot13(m)),
        (
            "SHA-256 hex",
            hex(&sha2::Sha256::digest(m.as_bytes())).to_uppercase(),
        ),
        (
            "split in two halves (across components or fields)",
            format!("{}^^DOE|7|{}", &m[..split], &m[split..]),
        ),
    ];
    let mut names: Vec<&str> = plants.iter().map(|(n, _)| *n).collect();
    let mut byte_plants: Vec<(&str, Vec<u8>)> = plants
        .iter()
        .map(|(n, t)| (*n, format!("{{\"value\":\"{t}\"}}").into_bytes()))
        .collect();
    for (name, big) in [("UTF-16LE", false), ("UTF-16BE", true)] {
        let mut b = b"{\"v\":\"".to_vec();
        for u in format!("name={m}").encode_utf16() {
            b.extend(if big {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
        byte_plants.push((name, b));
        names.push(name);
    }
    let all: Vec<&str> = encodings(m).iter().map(|e| e.name).collect();
    assert!(all.len() >= 20, "{} encodings", all.len());
    for e in &all {
        assert!(names.contains(e), "no planted sample for encoding {e}");
    }
    for (name, bytes) in &byte_plants {
        let hits = scan(m, &[(format!("plant {name}"), bytes.clone())]);
        assert!(
            hits.iter().any(|h| h.ends_with(&format!(": {name}"))),
            "encoding {name} not caught in {:?}; hits {hits:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // And clean telemetry with look-alike material is not flagged.
    let clean = br#"{"schema":"labwire.telemetry/v1","site":"site-a","kind":"health","id":"0f3a9c","instruments":[{"instrument":"c111-1","protocol":"astm","state":"up"}]}"#;
    assert_eq!(
        scan(m, &[("clean".into(), clean.to_vec())]),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------------------------
// The end-to-end run.

/// A topic and its payload.
type Message = (String, Vec<u8>);

/// Messages seen on the broker.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Message>>>,
    subscribed: Arc<Mutex<bool>>,
}

impl Recorder {
    fn start(rt: &tokio::runtime::Runtime, port: u16) -> Self {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let r = Self::default();
        let mut o = MqttOptions::new("canary-recorder", "127.0.0.1", port);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(o, 16);
        let rec = r.clone();
        rt.spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.subscribe("#", QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        *rec.subscribed.lock().unwrap() = true
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => rec
                        .seen
                        .lock()
                        .unwrap()
                        .push((p.topic.clone(), p.payload.to_vec())),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        r
    }

    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        self.seen.lock().unwrap().clone()
    }
}

/// Polls `cond` every 50 ms until it holds (a positive signal); fails after `limit`.
fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn no_canary_marker_leaves_the_site_in_any_encoding() {
    let nats = labwire_tests::NatsServer::start().unwrap();
    let broker = labwire_tests::Mosquitto::start().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let recorder = Recorder::start(&rt, broker.port());
    // The local bus, to prove the marker really went through labwire (patient data stays on
    // the local bus by design).
    let bus_seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    {
        let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
        let mut sub = rt
            .block_on(client.subscribe(format!("lab.{SITE}.>")))
            .unwrap();
        rt.block_on(client.flush()).unwrap();
        let bus_seen = bus_seen.clone();
        rt.spawn(async move {
            use futures::StreamExt;
            let _client = client;
            while let Some(m) = sub.next().await {
                bus_seen.lock().unwrap().push(m.payload.to_vec());
            }
        });
    }
    until(
        "the recorder's subscription",
        Duration::from_secs(30),
        || *recorder.subscribed.lock().unwrap(),
    );

    // One instrument per simulator profile, each on its own port.
    let dir = tempfile::tempdir().unwrap();
    let mut config = format!(
        "site = \"{SITE}\"\n[nats]\nurl = \"{}\"\n[storage]\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:0\"\n[uplink]\nurl = \"mqtt://127.0.0.1:{}\"\ninterval = \"5s\"\n",
        nats.url(),
        dir.path().join("spool.db").display().to_string(),
        broker.port(),
    );
    let mut plan = Vec::new();
    for (k, name) in PROFILES.iter().enumerate() {
        let profile = labwire_sim::profile::Profile::load(name).unwrap();
        let port = labwire_tests::free_loopback_port().unwrap();
        let prefix = format!("p{k}");
        let protocol = match profile.protocol {
            labwire_sim::profile::WireProtocol::Astm => "astm",
            labwire_sim::profile::WireProtocol::Hl7 => "hl7",
        };
        let charset = if name.contains("latin1") {
            "charset = \"iso-8859-1\"\n"
        } else {
            ""
        };
        config.push_str(&format!(
            "[[instrument]]\nid = \"{prefix}-1\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:{port}\"\nhost_query_timeout = \"1s\"\n{charset}"
        ));
        plan.push((prefix, profile, port));
    }
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, &config).unwrap();

    let mut labwire = crate::run::Site::start_with_log(&config_path, Some("info"));
    let bound = labwire.wait_for("serving /metrics", Duration::from_secs(60));
    let addr = bound
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    labwire.wait_for("uplink connected", Duration::from_secs(60));
    labwire.wait_for("labwire running", Duration::from_secs(60));

    // `labwire tail`'s readable output is scanned too (issue 9 item 11): a person's console
    // must not show patient data either.
    let mut tail = std::process::Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args(["tail", "--nats-url", &nats.url(), &format!("lab.{SITE}.>")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tail_lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let tail_reader = {
        let out = tail.stdout.take().unwrap();
        let tail_lines = tail_lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                tail_lines.lock().unwrap().push(line);
            }
        })
    };

    // Every profile in canary mode, to completion.
    let site: labwire_event::SiteId = SITE.parse().unwrap();
    let ledger = labwire_sim::ledger::Ledger::new();
    let failed: Arc<Mutex<Vec<String>>> = Arc::default();
    let progress: labwire_sim::runner::ProgressFn = {
        let failed = failed.clone();
        Arc::new(move |p| {
            if let labwire_sim::runner::Progress::Failed { instrument, error } = p {
                failed
                    .lock()
                    .unwrap()
                    .push(format!("{instrument}: {error}"));
            }
        })
    };
    rt.block_on(async {
        let mut runs = tokio::task::JoinSet::new();
        for (k, (prefix, mut profile, port)) in plan.into_iter().enumerate() {
            profile.timers.ack_timeout_ms = 3_000;
            profile.timers.query_reply_ms = 5_000;
            let cfg = labwire_sim::runner::RunConfig {
                site: site.clone(),
                instrument_prefix: prefix,
                instruments: 1,
                profile,
                target: labwire_sim::runner::Target::Connect(vec![format!("127.0.0.1:{port}")]),
                seed: 11 + k as u64,
                rate: 0.0,
                count: Some(MESSAGES),
                duration: Some(Duration::from_secs(120)),
                faults: labwire_sim::fault::FaultPlan::none(),
                canary: Some(MARKER.to_owned()),
                start: None,
            };
            runs.spawn(labwire_sim::runner::run(
                cfg,
                ledger.clone(),
                progress.clone(),
            ));
        }
        while let Some(r) = runs.join_next().await {
            r.unwrap().unwrap();
        }
    });
    assert!(failed.lock().unwrap().is_empty(), "{:?}", failed.lock());
    assert!(ledger.acked() > 0, "nothing acknowledged");
    let traffic_done = jiff::Timestamp::now();

    // Positive signals: a health record made after the traffic, listing every instrument with
    // its events, and the outbox empty.
    until(
        "a health record made after the traffic",
        Duration::from_secs(120),
        || {
            recorder.snapshot().iter().any(|(topic, payload)| {
                if topic != &format!("labwire/{SITE}/health") {
                    return false;
                }
                let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
                let at: jiff::Timestamp = v["at"].as_str().unwrap().parse().unwrap();
                at > traffic_done
            })
        },
    );
    let mut metrics = String::new();
    until("the outbox to drain", Duration::from_secs(60), || {
        metrics = http_get(&addr, "/metrics");
        metric(&metrics, "labwire_uplink_outbox_depth") == Some(0.0)
            && metric(&metrics, "labwire_uplink_sent_total").unwrap_or(0.0) > 0.0
    });
    let seen = recorder.snapshot();
    let health: serde_json::Value = seen
        .iter()
        .rev()
        .find(|(t, _)| t.ends_with("/health"))
        .map(|(_, p)| serde_json::from_slice(p).unwrap())
        .unwrap();
    let listed = health["instruments"].as_array().unwrap();
    assert_eq!(listed.len(), PROFILES.len(), "{health}");
    for i in listed {
        let e = &i["events"];
        let n: u64 = ["result", "qc", "order", "query"]
            .iter()
            .map(|k| e[k].as_u64().unwrap())
            .sum();
        assert!(n > 0, "no events counted for {i}");
        assert!(i["last_message_age_s"].is_u64(), "{i}");
        assert!(i["link"]["reconnects"].is_u64(), "{i}");
    }
    assert!(seen.iter().any(|(t, _)| t.ends_with("/heartbeat")));
    // The marker did go through labwire: it is on the local bus, where patient data belongs.
    let on_bus = bus_seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| contains(p, MARKER.as_bytes()))
        .count();
    assert!(on_bus > 0, "the canary never reached labwire");
    eprintln!(
        "canary: {} messages acked by labwire, {on_bus} bus events carry the marker, {} records at the broker, {} log lines",
        ledger.acked(),
        seen.len(),
        labwire.log.len()
    );

    // Positive signal for tail: it showed results of every instrument.
    until(
        "tail to show every instrument's results",
        Duration::from_secs(60),
        || {
            let lines = tail_lines.lock().unwrap();
            (0..PROFILES.len()).all(|k| {
                let id = format!("  p{k}-1  result");
                lines.iter().any(|l| l.contains(&id))
            })
        },
    );
    let _ = tail.kill();
    let _ = tail.wait();
    tail_reader.join().unwrap();

    // Stop labwire and collect everything it said.
    labwire.signal("TERM");
    let status = labwire.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status}\n{}", labwire.log.join("\n"));

    let mut sources: Vec<(String, Vec<u8>)> = seen
        .iter()
        .map(|(t, p)| {
            let mut b = t.clone().into_bytes();
            b.push(b' ');
            b.extend_from_slice(p);
            (format!("mqtt {t}"), b)
        })
        .collect();
    sources.push(("labwire log".into(), labwire.log.join("\n").into_bytes()));
    sources.push(("/metrics".into(), metrics.clone().into_bytes()));
    sources.push((
        "labwire tail".into(),
        tail_lines.lock().unwrap().join("\n").into_bytes(),
    ));
    sources.push((
        "broker log".into(),
        std::fs::read(broker.dir().join("mosquitto.log")).unwrap_or_default(),
    ));
    assert!(
        labwire.log.len() > 20,
        "the log is too short to mean anything: {:?}",
        labwire.log
    );
    let hits = scan(MARKER, &sources);
    assert!(hits.is_empty(), "the canary left the site: {hits:#?}");

    // Positive control: a record carrying a canary patient id (base64, inside an otherwise
    // well-formed alert) published on the same broker path is caught by the same scan.
    let leak = format!(
        "{{\"schema\":\"labwire.telemetry/v1\",\"site\":\"{SITE}\",\"kind\":\"alert\",\"id\":\"planted\",\"value\":\"{}\"}}",
        base64_with(format!("{MARKER}P0011").as_bytes(), B64)
    );
    rt.block_on(async {
        use rumqttc::{AsyncClient, Event, MqttOptions, QoS};
        let o = MqttOptions::new("canary-control", "127.0.0.1", broker.port());
        let (client, mut eventloop) = AsyncClient::new(o, 4);
        client
            .publish(
                format!("labwire/{SITE}/alert"),
                QoS::AtLeastOnce,
                false,
                leak.clone(),
            )
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Ok(Event::Incoming(rumqttc::Packet::PubAck(_))) = eventloop.poll().await {
                    break;
                }
            }
        })
        .await
        .unwrap();
    });
    until(
        "the planted record at the recorder",
        Duration::from_secs(30),
        || {
            recorder
                .snapshot()
                .iter()
                .any(|(_, p)| p.as_slice() == leak.as_bytes())
        },
    );
    let planted: Vec<(String, Vec<u8>)> = recorder
        .snapshot()
        .into_iter()
        .map(|(t, p)| (format!("mqtt {t}"), p))
        .collect();
    let hits = scan(MARKER, &planted);
    assert!(
        hits.iter().any(|h| h.contains("alert: base64")),
        "the positive control was not caught: {hits:?}"
    );
    eprintln!("positive control caught: {hits:?}");
}
