//! Snapshot tests of the `labwire.telemetry/v1` JSON (a new or renamed field is a reviewed
//! diff), content-id stability, and the period summaries built from typed samples.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use labwire_uplink::build::{
    EdgeSnapshot, InstrumentSnapshot, alert, clock_skew, health, heartbeat,
};
use labwire_uplink::record::{AlertKind, EventCounts, LinkCounts, Protocol, Severity};
use labwire_uplink::summaries::{QcSample, Refusal, Summaries};
use labwire_uplink::{InstrumentRef, Kind, SiteRef, TestCode, Version};

fn t(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn site() -> SiteRef {
    SiteRef::new("lab-north").unwrap()
}

fn inst(s: &str) -> InstrumentRef {
    InstrumentRef::new(s).unwrap()
}

fn json(r: &labwire_uplink::Record) -> serde_json::Value {
    serde_json::from_slice(&r.to_json()).unwrap()
}

fn edge() -> EdgeSnapshot {
    EdgeSnapshot {
        version: Version::new("0.1.0").unwrap(),
        started: t("2026-12-03T08:00:00Z"),
        config_hash: [0xab; 32],
        spool_depth: 3,
        outbox_depth: 7,
        outbox_dropped: 0,
        bus_connected: true,
        instruments: 2,
    }
}

#[test]
fn heartbeat_json() {
    let r = heartbeat(&site(), t("2026-12-03T09:00:30Z"), &edge());
    assert_eq!(r.topic(), "labwire/lab-north/heartbeat");
    insta::assert_json_snapshot!(json(&r));
}

#[test]
fn health_json() {
    let snap = |id: &str, up, alarm| InstrumentSnapshot {
        instrument: inst(id),
        protocol: Protocol::Astm,
        link_up: up,
        alarm,
        events: EventCounts {
            result: 120,
            qc: 6,
            error: 1,
            ..Default::default()
        },
        link: LinkCounts {
            naks: 2,
            retransmits: 1,
            checksum_errors: 1,
            reconnects: 3,
            timeouts: 0,
        },
        last_message_at: up.then(|| t("2026-12-03T09:00:00Z")),
    };
    let r = health(
        &site(),
        t("2026-12-03T09:01:00Z"),
        &[
            snap("c311", true, false),
            snap("a-xn", false, false),
            snap("b-ba400", true, true),
        ],
    );
    insta::assert_json_snapshot!(json(&r));
}

#[test]
fn alert_json() {
    let r = alert(
        &site(),
        t("2026-12-03T09:02:00Z"),
        AlertKind::InstrumentDown,
        Severity::Critical,
        Some(&inst("c311")),
        None,
    );
    assert_eq!(r.kind(), Kind::Alert);
    insta::assert_json_snapshot!(json(&r));
    // A skew of 95 s is reported as 120 s: never a message's exact time.
    let r = clock_skew(&site(), t("2026-12-03T09:02:00Z"), &inst("c311"), 95);
    assert_eq!(json(&r)["value"], 120);
}

#[test]
fn content_id_is_stable_and_depends_on_content() {
    let a = heartbeat(&site(), t("2026-12-03T09:00:30Z"), &edge());
    let b = heartbeat(&site(), t("2026-12-03T09:00:30Z"), &edge());
    assert_eq!(a.id, b.id);
    assert_eq!(a.id.len(), 32);
    let c = heartbeat(&site(), t("2026-12-03T09:01:30Z"), &edge());
    assert_ne!(a.id, c.id);
    let other = SiteRef::new("lab-south").unwrap();
    assert_ne!(
        a.id,
        heartbeat(&other, t("2026-12-03T09:00:30Z"), &edge()).id
    );
}

fn qc(s: &mut Summaries, at: &str, value: &str) {
    let sample = QcSample::parse("GLU", Some("2"), Some("mg/dL"), value).unwrap();
    let (closed, ok) = s.qc(t(at), &inst("c311"), sample);
    assert!(closed.is_empty());
    ok.unwrap();
}

#[test]
fn an_hour_of_qc_and_results_closes_into_qc_and_volume_records() {
    let mut s = Summaries::new(site(), 11);
    for v in ["100.0", "102.0", "98.0", "101.0"] {
        qc(&mut s, "2026-12-03T09:10:00Z", v);
    }
    for i in 0..25 {
        let test = if i < 10 { "NA" } else { "K" };
        let (closed, ok) = s.result(t("2026-12-03T09:20:00Z"), &inst("c311"), code(test));
        assert!(closed.is_empty());
        ok.unwrap();
    }
    for _ in 0..30 {
        s.result(t("2026-12-03T09:30:00Z"), &inst("c311"), code("GLU"))
            .1
            .unwrap();
    }
    // Nothing is published before the hour is over.
    assert!(s.tick(t("2026-12-03T09:59:59Z")).is_empty());
    let out = s.tick(t("2026-12-03T10:00:01Z"));
    let kinds: Vec<_> = out.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [Kind::Qc, Kind::Volume]);
    for r in &out {
        // Patient-derived periods are hour-aligned.
        assert_eq!(r.at, t("2026-12-03T10:00:00Z"));
    }
    insta::assert_json_snapshot!("qc_record", json(&out[0]));
    // NA = 10 is suppressed, K = 15 with it (complement); GLU = 30 and the total 55 stay.
    insta::assert_json_snapshot!("volume_record", json(&out[1]));
    let v = json(&out[1]);
    let tests = &v["instruments"][0]["tests"];
    assert_eq!(v["instruments"][0]["total"], 55);
    for cell in tests.as_array().unwrap() {
        assert_ne!(cell["count"], 10);
    }
    // Closed once: the next tick has nothing.
    assert!(s.tick(t("2026-12-03T10:30:00Z")).is_empty());
}

#[test]
fn westgard_flags_come_once_a_target_is_established() {
    let mut s = Summaries::new(site(), 11);
    // 20 in-control values across the first hour establish mean 100, SD ≈ 2.05.
    for i in 0..20 {
        let v = if i % 2 == 0 { "98.0" } else { "102.0" };
        qc(&mut s, "2026-12-03T08:10:00Z", v);
    }
    let first = s.tick(t("2026-12-03T09:00:00Z"));
    assert!(json(&first[0])["westgard"].as_array().unwrap().is_empty());
    assert!(json(&first[0])["target"].is_null());
    // Next hour: two results above +2 SD (> 104.1) in a row: 1_2s and 2_2s.
    qc(&mut s, "2026-12-03T09:10:00Z", "105.0");
    qc(&mut s, "2026-12-03T09:11:00Z", "105.5");
    let second = s.tick(t("2026-12-03T10:00:00Z"));
    assert_eq!(
        json(&second[0])["westgard"],
        serde_json::json!(["1_2s", "2_2s"])
    );
}

#[test]
fn identifying_looking_codes_and_values_are_refused() {
    assert!(TestCode::new("SMITH^JOHN").is_err());
    assert!(TestCode::new("QZX 1234").is_err());
    assert!(TestCode::new("0012345678").is_err());
    assert_eq!(
        QcSample::parse("GLU", None, None, "see comment QZXABC"),
        Err(Refusal::BadValue)
    );
    assert_eq!(
        QcSample::parse("DOE^JANE", None, None, "5.1"),
        Err(Refusal::BadCode)
    );
    assert_eq!(
        QcSample::parse("GLU", None, None, "1e400"),
        Err(Refusal::BadValue)
    );
    // A unit that fails its pattern is left out; the value still counts.
    let s = QcSample::parse("GLU", None, Some("Dr QZX Who"), "5.1").unwrap();
    assert!(s.unit.is_none());
    let mut sums = Summaries::new(site(), 11);
    sums.qc(t("2026-12-03T09:10:00Z"), &inst("c311"), s)
        .1
        .unwrap();
    let out = sums.tick(t("2026-12-03T11:00:00Z"));
    let text: String = out
        .iter()
        .map(|r| String::from_utf8(r.to_json()).unwrap())
        .collect();
    assert!(!text.contains("QZX"), "{text}");
    assert_eq!(out.len(), 1);
    assert!(json(&out[0])["unit"].is_null());
}

fn code(s: &str) -> TestCode {
    TestCode::new(s).unwrap()
}
