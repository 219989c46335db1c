//! The uplink against a real mosquitto on loopback: QoS 1 delivery with deletion after PUBACK,
//! a broker outage under a running uplink, and a labwire restart while the broker is down
//! (nothing lost, priority order, paced drain).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{FixedProbe, Recorder, config, until};
use labwire_tests::Mosquitto;
use labwire_uplink::record::{AlertKind, Severity};
use labwire_uplink::service::{Observation, start};
use labwire_uplink::summaries::QcSample;
use labwire_uplink::{InstrumentRef, TestCode};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

/// A broker that keeps the recorder's persistent session (and its queued QoS 1 messages)
/// across a restart, so nothing published while the recorder reconnects is missed.
fn persistent_broker() -> Mosquitto {
    Mosquitto::start_with(|port, dir| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nmax_queued_messages 100000\n",
            dir.display()
        )
    })
    .unwrap()
}

fn c311() -> InstrumentRef {
    InstrumentRef::new("c311").unwrap()
}

/// Ten minutes into the UTC hour `offset` hours from the current one.
fn hour(offset: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(hour_start(offset) + 600).unwrap()
}

/// Unix seconds of the start of the UTC hour `offset` hours from the current one (computed
/// here, independently of the code under test).
fn hour_start(offset: i64) -> i64 {
    (jiff::Timestamp::now().as_second() / 3600 + offset) * 3600
}

/// 15 results and 3 QC results in each hour of `offsets`, then one result in the hour after
/// the last, which closes the last period.
fn hours(offsets: std::ops::RangeInclusive<i64>) -> Vec<Observation> {
    let mut out = Vec::new();
    let end = *offsets.end();
    for h in offsets {
        for _ in 0..15 {
            out.push(Observation::Result {
                at: hour(h),
                instrument: c311(),
                test: TestCode::new("GLU").unwrap(),
            });
        }
        for v in ["5.1", "5.3", "4.9"] {
            out.push(Observation::Qc {
                at: hour(h),
                instrument: c311(),
                sample: QcSample::parse("GLU", Some("1"), Some("mmol/L"), v).unwrap(),
            });
        }
    }
    out.push(Observation::Result {
        at: hour(end + 1),
        instrument: c311(),
        test: TestCode::new("GLU").unwrap(),
    });
    out
}

fn down_alert() -> Observation {
    down_alert_at(jiff::Timestamp::now())
}

/// An instrument-down alert made at `at` (distinct times give distinct content ids).
fn down_alert_at(at: jiff::Timestamp) -> Observation {
    Observation::Alert {
        at,
        alert: AlertKind::InstrumentDown,
        severity: Severity::Critical,
        instrument: Some(c311()),
        value: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_delivered_with_qos1_and_deleted_after_puback() {
    let broker = Mosquitto::start().unwrap();
    let recorder = Recorder::start(broker.port(), None);
    until("the recorder to subscribe", || recorder.subscribed() >= 1).await;
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let up = start(
        config(
            "lab-north",
            &broker.url(),
            &dir.path().join("outbox.db"),
            None,
        ),
        Arc::new(FixedProbe),
        shutdown.clone(),
    )
    .await
    .unwrap();
    up.input.offer(down_alert());
    until("heartbeat, health and alert at the broker", || {
        let kinds: BTreeSet<String> = recorder.snapshot().iter().map(|s| s.kind()).collect();
        ["alert", "health", "heartbeat"]
            .iter()
            .all(|k| kinds.contains(*k))
    })
    .await;
    until("the outbox to empty after PUBACKs", || {
        up.stats.outbox_depth.load(Ordering::Relaxed) == 0
    })
    .await;
    for s in recorder.snapshot() {
        let j = s.json();
        assert_eq!(j["schema"], "labwire.telemetry/v1");
        assert_eq!(j["site"], "lab-north");
        assert_eq!(s.topic, format!("labwire/lab-north/{}", s.kind()));
    }
    assert!(up.stats.sent.load(Ordering::Relaxed) >= 3);
    assert!(up.stats.last_puback_ms.load(Ordering::Relaxed) > 0);
    shutdown.cancel();
    up.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_and_restart_while_offline_lose_nothing_and_drain_by_priority_paced() {
    let mut broker = persistent_broker();
    let recorder = Recorder::start(broker.port(), None);
    until("the recorder to subscribe", || recorder.subscribed() >= 1).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.db");
    let mut cfg = config("lab-north", &broker.url(), &outbox, None);
    cfg.drain_rate = 10;

    // Phase 1: the broker goes away under a running uplink, comes back; the uplink reconnects
    // by itself and delivers what was made meanwhile.
    let shutdown = CancellationToken::new();
    let up = start(cfg.clone(), Arc::new(FixedProbe), shutdown.clone())
        .await
        .unwrap();
    until("the first heartbeat", || {
        recorder.snapshot().iter().any(|s| s.kind() == "heartbeat")
    })
    .await;
    broker.stop();
    until("the uplink to notice", || {
        !up.stats.connected.load(Ordering::Relaxed)
    })
    .await;
    // Hours -2 and -1 close: 2 qc + 2 volume records.
    for o in hours(-2..=-1) {
        up.input.offer(o);
    }
    until("2 qc + 2 volume in the outbox", || {
        up.stats.outbox_depth.load(Ordering::Relaxed) >= 4
    })
    .await;
    broker.restart().unwrap();
    until("the backlog of phase 1 at the broker", || {
        let s = recorder.snapshot();
        s.iter().filter(|s| s.kind() == "volume").count() >= 2
            && s.iter().filter(|s| s.kind() == "qc").count() >= 2
    })
    .await;
    until("the outbox to empty", || {
        up.stats.outbox_depth.load(Ordering::Relaxed) == 0
    })
    .await;

    // Phase 2: broker down, records made, labwire stopped while offline.
    broker.stop();
    until("the uplink to notice", || {
        !up.stats.connected.load(Ordering::Relaxed)
    })
    .await;
    let before = recorder.snapshot().len();
    // Hours 1 to 8 (times are the observations' own): the open period (hour 0, one result
    // from phase 1) and hours 1 to 8 close: 9 volume and 8 qc records.
    for o in hours(1..=8) {
        up.input.offer(o);
    }
    // Five distinct alerts: their times differ by a second each, so their content ids do too
    // (no waiting for the clock to move).
    let first = jiff::Timestamp::now();
    for n in 0..5i64 {
        up.input
            .offer(down_alert_at(first + jiff::SignedDuration::from_secs(n)));
    }
    // 8 qc + 9 volume + 5 alerts (+ nothing else: the interval is an hour).
    until("22 records in the outbox", || {
        up.stats.outbox_depth.load(Ordering::Relaxed) >= 22
    })
    .await;
    let held = up.stats.outbox_depth.load(Ordering::Relaxed);
    shutdown.cancel();
    up.task.await.unwrap();

    // The broker comes back first, then labwire starts again on the same outbox.
    broker.restart().unwrap();
    until("the recorder to resubscribe", || recorder.subscribed() >= 3).await;
    let shutdown = CancellationToken::new();
    let up = start(cfg, Arc::new(FixedProbe), shutdown.clone())
        .await
        .unwrap();
    assert_eq!(up.stats.outbox_depth.load(Ordering::Relaxed), held);
    until("the whole backlog at the broker", || {
        let s = recorder.snapshot();
        let new = s.get(before..).unwrap_or_default();
        new.iter().filter(|s| s.kind() == "alert").count() >= 5
            && new.iter().filter(|s| s.kind() == "qc").count() >= 8
            && new.iter().filter(|s| s.kind() == "volume").count() >= 9
    })
    .await;
    let new: Vec<_> = recorder.snapshot().split_off(before);

    // Nothing lost: every past hour has its volume and qc record (derived from the hours
    // offered, not from the code under test); duplicates are allowed (QoS 1), dropped by id.
    let ids: BTreeSet<String> = new
        .iter()
        .map(|s| s.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.len() >= 23, "{} distinct records", ids.len());
    for (kind, first_hour) in [("volume", 0), ("qc", 1)] {
        let starts: BTreeSet<String> = new
            .iter()
            .filter(|s| s.kind() == kind)
            .map(|s| s.json()["period_start"].as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = (first_hour..=8)
            .map(|h| {
                jiff::Timestamp::from_second(hour_start(h))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(starts, expected, "{kind} periods");
    }
    // Priority: the live heartbeat first, then alerts, then qc, then volume.
    let order: Vec<String> = new.iter().map(|s| s.kind()).collect();
    assert_eq!(order[0], "heartbeat", "{order:?}");
    let last = |k: &str| order.iter().rposition(|o| o == k).unwrap();
    let first = |k: &str| order.iter().position(|o| o == k).unwrap();
    assert!(last("alert") < first("qc"), "{order:?}");
    assert!(last("qc") < first("volume"), "{order:?}");
    // Paced: 22+ records at 10/s take well over a second (a lower bound, never an upper one).
    let span = new.last().unwrap().at - new.first().unwrap().at;
    assert!(
        span >= std::time::Duration::from_millis(1500),
        "drained in {span:?}"
    );
    until("the outbox to empty", || {
        up.stats.outbox_depth.load(Ordering::Relaxed) == 0
    })
    .await;
    shutdown.cancel();
    up.task.await.unwrap();
}
