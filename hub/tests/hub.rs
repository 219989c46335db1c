//! The hub end to end: a real mosquitto, records built with labwire-uplink's builders
//! published over MQTT, the hub storing into SQLite and into a real PostgreSQL, and its JSON API
//! and console read over real HTTP. Every wait is for a positive signal (a counter or an API
//! answer) with a deadline; the oracles are the published records and raw SQL, never the hub's
//! own code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use labwire_hub::Hub;
use labwire_hub::config::HubConfig;
use labwire_tests::{Mosquitto, Postgres};
use labwire_uplink::build::{self, EdgeSnapshot, InstrumentSnapshot};
use labwire_uplink::record::{AlertKind, EventCounts, LinkCounts, Protocol, Record, Severity};
use labwire_uplink::summaries::{QcSample, Summaries};
use labwire_uplink::{InstrumentRef, SiteRef, TestCode, Version};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(30);

/// The database a case runs against.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(Postgres),
}

impl Db {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }
    fn postgres() -> Self {
        let pg = Postgres::start().expect("postgres (apt-get install postgresql)");
        pg.create_db("hub").unwrap();
        Self::Postgres(pg)
    }
    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("hub.db").display()),
            Self::Postgres(pg) => pg.url("hub"),
        }
    }
    /// Raw SQL, independent of the hub's store code.
    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.url()).await.unwrap();
        let row: (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        row.0
    }
}

fn config(broker: &Mosquitto, db: &Db) -> HubConfig {
    let text = format!(
        "[mqtt]\nurl = \"{}\"\n[database]\nurl = \"{}\"\nretention = \"30d\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
        broker.url(),
        db.url()
    );
    HubConfig::from_toml_str(&text, "hub.toml").unwrap()
}

async fn start(broker: &Mosquitto, db: &Db) -> Hub {
    let hub = Hub::start(&config(broker, db)).await.unwrap();
    wait_for("the hub's subscription", || async { hub.subscribed() }).await;
    hub
}

async fn wait_for<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    while !ready().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET over a plain TCP connection: (status, body).
async fn get(hub: &Hub, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(hub.http_addr())
        .await
        .unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(DEADLINE, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

async fn api(hub: &Hub, path: &str) -> Value {
    let (status, body) = get(hub, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn metric(hub: &Hub, name: &str) -> u64 {
    let (_, body) = get(hub, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("labwire_hub_{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A site publisher: QoS 1, each publish waited for until the broker's PUBACK.
struct Site {
    client: AsyncClient,
    acks: tokio::sync::mpsc::Receiver<()>,
}

impl Site {
    async fn connect(broker: &Mosquitto, name: &str) -> Self {
        let mut o = MqttOptions::new(format!("test-{name}"), "127.0.0.1", broker.port());
        o.set_max_packet_size(256 * 1024, 256 * 1024);
        let (client, mut eventloop) = AsyncClient::new(o, 16);
        let (tx, acks) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            while let Ok(ev) = eventloop.poll().await {
                if let Event::Incoming(Packet::PubAck(_)) = ev {
                    let _ = tx.send(()).await;
                }
            }
        });
        Self { client, acks }
    }
    async fn raw(&mut self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        tokio::time::timeout(DEADLINE, self.acks.recv())
            .await
            .unwrap()
            .unwrap();
    }
    async fn send(&mut self, r: &Record) {
        self.raw(&r.topic(), r.to_json()).await;
    }
}

fn site(s: &str) -> SiteRef {
    SiteRef::new(s).unwrap()
}
fn inst(s: &str) -> InstrumentRef {
    InstrumentRef::new(s).unwrap()
}

fn heartbeat(s: &str, at: jiff::Timestamp) -> Record {
    build::heartbeat(
        &site(s),
        at,
        &EdgeSnapshot {
            version: Version::new("0.1.0").unwrap(),
            started: at - jiff::SignedDuration::from_secs(3600),
            config_hash: [7; 32],
            spool_depth: 0,
            outbox_depth: 2,
            outbox_dropped: 0,
            bus_connected: true,
            instruments: 2,
        },
    )
}

fn health(s: &str, at: jiff::Timestamp, analyser_up: bool) -> Record {
    let snap = |id: &str, protocol, up| InstrumentSnapshot {
        instrument: inst(id),
        protocol,
        link_up: up,
        alarm: false,
        events: EventCounts::default(),
        link: LinkCounts {
            naks: 3,
            ..LinkCounts::default()
        },
        last_message_at: Some(at - jiff::SignedDuration::from_secs(5)),
    };
    build::health(
        &site(s),
        at,
        &[
            snap("cobas-1", Protocol::Astm, analyser_up),
            snap("fridge-1", Protocol::Modbus, true),
        ],
    )
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn ago(secs: i64) -> jiff::Timestamp {
    now() - jiff::SignedDuration::from_secs(secs)
}

async fn telemetry_is_validated_deduplicated_stored_and_served(db: Db) {
    let broker = Mosquitto::start().unwrap();
    let hub = start(&broker, &db).await;
    let mut a = Site::connect(&broker, "a").await;

    let hb = heartbeat("site-a", now());
    a.send(&hb).await;
    a.send(&hb).await; // a resend after a lost PUBACK: same content id
    a.send(&health("site-a", now(), false)).await;
    let down = build::alert(
        &site("site-a"),
        ago(30),
        AlertKind::InstrumentDown,
        Severity::Critical,
        Some(&inst("cobas-1")),
        None,
    );
    a.send(&down).await;
    // Not a record: the content must never reach a log, an error or the database.
    a.raw(
        "labwire/site-a/heartbeat",
        br#"{"schema":"labwire.telemetry/v1","patient":"QZXDOE^JANE"}"#.to_vec(),
    )
    .await;
    // A valid record of site-b on site-a's topic.
    a.raw(
        "labwire/site-a/heartbeat",
        heartbeat("site-b", now()).to_json(),
    )
    .await;
    wait_for("six publishes handled", || async {
        metric(&hub, "received_total").await == 6
    })
    .await;
    // The last publish may be counted before its transaction ended: wait for the store counter.
    wait_for("three records stored", || async {
        metric(&hub, "stored_total").await == 3
    })
    .await;
    assert_eq!(metric(&hub, "duplicates_total").await, 1);
    assert_eq!(metric(&hub, "invalid_total").await, 1);
    assert_eq!(metric(&hub, "wrong_topic_total").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM records").await, 3);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM records WHERE body LIKE '%QZX%'")
            .await,
        0
    );

    let sites = api(&hub, "/api/sites").await;
    let sites = sites.as_array().unwrap();
    assert_eq!(sites.len(), 1, "{sites:?}");
    let s = &sites[0];
    assert_eq!(s["site"], "site-a");
    assert_eq!(s["online"], true);
    assert_eq!(s["version"], "0.1.0");
    assert_eq!(s["config_hash"], "07".repeat(32));
    let last_seen: jiff::Timestamp = s["last_seen"].as_str().unwrap().parse().unwrap();
    assert!((now() - last_seen).as_secs().abs() < 60);
    let ins = s["instruments"].as_array().unwrap();
    assert_eq!(ins.len(), 2);
    assert_eq!(
        (
            ins[0]["id"].as_str(),
            ins[0]["protocol"].as_str(),
            ins[0]["state"].as_str()
        ),
        (Some("cobas-1"), Some("astm"), Some("down"))
    );
    assert_eq!(
        (
            ins[1]["id"].as_str(),
            ins[1]["protocol"].as_str(),
            ins[1]["state"].as_str()
        ),
        (Some("fridge-1"), Some("modbus"), Some("up"))
    );
    assert_eq!(ins[0]["link"]["naks"], 3);
    assert!(ins[0]["data_age_s"].as_i64().unwrap() >= 5);
    assert_eq!(s["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(s["alerts"][0]["alert"], "instrument_down");
    assert_eq!(s["alerts"][0]["instrument"], "cobas-1");

    // The link comes back; then an older copy of the down alert arrives late (a backlog): the
    // condition stays closed because the newest alert decides.
    let up = build::alert(
        &site("site-a"),
        ago(10),
        AlertKind::InstrumentUp,
        Severity::Info,
        Some(&inst("cobas-1")),
        None,
    );
    a.send(&up).await;
    let late = build::alert(
        &site("site-a"),
        ago(40),
        AlertKind::InstrumentDown,
        Severity::Critical,
        Some(&inst("cobas-1")),
        None,
    );
    a.send(&late).await;
    a.send(&health("site-a", ago(60), true)).await; // older than the stored health: ignored
    wait_for("the late records stored", || async {
        metric(&hub, "stored_total").await == 6
    })
    .await;
    let s = api(&hub, "/api/sites/site-a").await;
    assert_eq!(s["alerts"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(
        s["instruments"][0]["state"], "down",
        "an older health report replaced a newer one"
    );

    // The console.
    let (status, page) = get(&hub, "/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<a href=\"/sites/site-a\">site-a</a>"),
        "{page}"
    );
    assert!(page.contains("class=\"online\""), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let (status, page) = get(&hub, "/sites/site-a").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("data-instrument=\"cobas-1\"")
            && page.contains("data-instrument=\"fridge-1\""),
        "{page}"
    );
    let (status, _) = get(&hub, "/api/sites/site-zzz").await;
    assert_eq!(status, 404);
    let (status, body) = get(&hub, "/api/sites/QZX%3Cscript%3E").await;
    assert_eq!(status, 404);
    assert!(
        !body.contains("QZX"),
        "the refused id is not echoed: {body}"
    );
    hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_telemetry_is_validated_deduplicated_stored_and_served() {
    telemetry_is_validated_deduplicated_stored_and_served(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_telemetry_is_validated_deduplicated_stored_and_served() {
    telemetry_is_validated_deduplicated_stored_and_served(Db::postgres()).await;
}

async fn offline_overrides_healthy_and_qc_is_charted(db: Db) {
    let broker = Mosquitto::start().unwrap();
    let hub = start(&broker, &db).await;
    let mut b = Site::connect(&broker, "b").await;
    // A site whose last heartbeat and health are two hours old (arriving now, as a backlog):
    // it is offline, and its instruments' last "up" is not shown as up.
    b.send(&heartbeat("site-b", ago(7200))).await;
    b.send(&health("site-b", ago(7200), true)).await;
    // QC summaries from the real accumulator: a few hours with one control.
    let mut summaries = Summaries::new(site("site-b"), 11);
    let start_at = ago(6 * 3600);
    let mut qc = Vec::new();
    for h in 0..5 {
        for k in 0..3 {
            let at = start_at + jiff::SignedDuration::from_secs(h * 3600 + k * 60);
            let sample = QcSample {
                test: TestCode::new("GLU").unwrap(),
                level: None,
                unit: None,
                value: 5.0 + f64::from(k as i32) * 0.1 + h as f64 * 0.05,
            };
            qc.extend(summaries.qc(at, &inst("cobas-1"), sample).0);
        }
    }
    qc.extend(summaries.tick(now()));
    let qc: Vec<Record> = qc
        .into_iter()
        .filter(|r| r.kind() == labwire_uplink::Kind::Qc)
        .collect();
    assert!(qc.len() >= 4, "{qc:?}");
    for r in &qc {
        b.send(r).await;
    }
    let expected = 2 + qc.len() as u64;
    wait_for("all records stored", || async {
        metric(&hub, "stored_total").await == expected
    })
    .await;
    let s = api(&hub, "/api/sites/site-b").await;
    assert_eq!(s["online"], false, "{s}");
    assert_eq!(
        s["last_heartbeat"],
        Value::Null,
        "a backlog heartbeat is not fresh"
    );
    assert_eq!(s["instruments"][0]["state"], "unknown");
    assert_eq!(s["instruments"][0]["reported_state"], "up");
    let (_, page) = get(&hub, "/").await;
    assert!(page.contains("class=\"offline\""), "{page}");
    let (_, page) = get(&hub, "/sites/site-b").await;
    assert!(page.contains("<polyline"), "{page}");
    assert!(page.contains("cobas-1 · GLU"), "{page}");

    // A fresh heartbeat brings it back online at once.
    b.send(&heartbeat("site-b", now())).await;
    wait_for("site-b online", || async {
        api(&hub, "/api/sites/site-b").await["online"] == true
    })
    .await;
    hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_offline_overrides_healthy_and_qc_is_charted() {
    offline_overrides_healthy_and_qc_is_charted(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_offline_overrides_healthy_and_qc_is_charted() {
    offline_overrides_healthy_and_qc_is_charted(Db::postgres()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_published_while_the_hub_is_down_are_stored_when_it_returns() {
    let broker = Mosquitto::start().unwrap();
    let db = Db::sqlite();
    let hub = start(&broker, &db).await;
    hub.stop().await.unwrap();
    let mut c = Site::connect(&broker, "c").await;
    for i in 0..5 {
        c.send(&heartbeat("site-c", ago(100 - i))).await;
    }
    // The broker holds them for the hub's persistent session.
    let hub = start(&broker, &db).await;
    wait_for("the queued records", || async {
        metric(&hub, "stored_total").await == 5
    })
    .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM records WHERE site = 'site-c'")
            .await,
        5
    );
    hub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_records_older_than_the_limit() {
    let broker = Mosquitto::start().unwrap();
    let db = Db::sqlite();
    let hub = start(&broker, &db).await;
    let mut d = Site::connect(&broker, "d").await;
    d.send(&heartbeat("site-d", ago(40 * 24 * 3600))).await; // older than retention = 30d
    d.send(&heartbeat("site-d", now())).await;
    wait_for("both stored", || async {
        metric(&hub, "stored_total").await == 2
    })
    .await;
    hub.stop().await.unwrap();
    // The sweep runs at start.
    let hub = start(&broker, &db).await;
    wait_for("the sweep", || async {
        metric(&hub, "pruned_total").await == 1
    })
    .await;
    assert_eq!(db.count("SELECT COUNT(*) FROM records").await, 1);
    let s = api(&hub, "/api/sites/site-d").await;
    assert_eq!(
        s["online"], true,
        "the site's facts survive the deletion of old records"
    );
    hub.stop().await.unwrap();
}

#[test]
fn a_parse_error_never_quotes_the_payload() {
    for payload in [
        &br#"{"schema":"labwire.telemetry/v1","site":"QZXDOE JANE","kind":"heartbeat"}"#[..],
        br#"{"schema":"QZXDOE","site":"a","id":"00","at":"2026-01-01T00:00:00Z","kind":"alert"}"#,
        br#"QZXDOE^JANE"#,
        br#"{"schema":"labwire.telemetry/v1","site":"a","id":"00000000000000000000000000000000","at":"2026-01-01T00:00:00Z","kind":"alert","alert":"QZXDOE","severity":"info","instrument":null,"value":null}"#,
    ] {
        let e = Record::from_json(payload).unwrap_err().to_string();
        assert!(!e.contains("QZX"), "{e}");
    }
}

#[test]
fn every_kind_round_trips_through_the_parser() {
    let records = [
        heartbeat("site-a", now()),
        health("site-a", now(), true),
        build::alert(
            &site("site-a"),
            now(),
            AlertKind::OutboxFilling,
            Severity::Warning,
            None,
            Some(80),
        ),
    ];
    for r in records {
        assert_eq!(Record::from_json(&r.to_json()).unwrap(), r);
    }
}
