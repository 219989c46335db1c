//! The outbox on its own: bounds, drop order, priority order, survival across reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use labwire_uplink::build::alert;
use labwire_uplink::outbox::{Outbox, OutboxLimits};
use labwire_uplink::record::{AlertKind, Severity};
use labwire_uplink::summaries::{QcSample, Summaries};
use labwire_uplink::{InstrumentRef, Record, SiteRef, TestCode};
use std::collections::HashSet;
use std::time::Duration;

fn site() -> SiteRef {
    SiteRef::new("lab-north").unwrap()
}

fn at(h: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_796_000_000 / 3600 * 3600 + h * 3600 + 60).unwrap()
}

/// One qc and one volume record per hour in `0..n`, and an alert per hour.
fn records(n: i64) -> (Vec<Record>, Vec<Record>, Vec<Record>) {
    let c = InstrumentRef::new("c311").unwrap();
    let mut s = Summaries::new(site(), 11);
    let (mut qc, mut vol, mut alerts) = (Vec::new(), Vec::new(), Vec::new());
    for h in 0..=n {
        for _ in 0..12 {
            let (closed, _) = s.result(at(h), &c, TestCode::new("GLU").unwrap());
            for r in closed {
                match r.kind() {
                    labwire_uplink::Kind::Qc => qc.push(r),
                    _ => vol.push(r),
                }
            }
        }
        let sample = QcSample::parse("GLU", None, None, "5.0").unwrap();
        s.qc(at(h), &c, sample).1.unwrap();
        alerts.push(alert(
            &site(),
            at(h),
            AlertKind::InstrumentDown,
            Severity::Critical,
            Some(&c),
            None,
        ));
    }
    alerts.truncate(usize::try_from(n).unwrap());
    (qc, vol, alerts)
}

async fn kinds(o: &mut Outbox) -> Vec<String> {
    o.next(1000, &HashSet::new())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.topic.rsplit('/').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn full_outbox_drops_lowest_lane_oldest_first_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (qc, vol, alerts) = records(4);
    assert_eq!((qc.len(), vol.len(), alerts.len()), (4, 4, 4));
    let size = |r: &[Record]| r.iter().map(|r| r.to_json().len() as u64).sum::<u64>();
    // Room for everything but two volume records.
    let room = size(&qc) + size(&alerts) + size(&vol[..2]);
    let limits = OutboxLimits {
        max_bytes: room,
        max_age: Duration::from_secs(3600 * 24 * 365 * 20),
    };
    let mut o = Outbox::open(&dir.path().join("outbox.db"), limits)
        .await
        .unwrap();
    let mut dropped = 0;
    for r in vol.iter().chain(&qc).chain(&alerts) {
        dropped += o.push(r).await.unwrap().dropped;
    }
    assert_eq!(dropped, 2);
    assert!(o.bytes() <= room);
    // Priority order out: alerts, qc, then the two newest volume records (oldest went).
    let out = o.next(100, &HashSet::new()).await.unwrap();
    let order: Vec<_> = out
        .iter()
        .map(|s| s.topic.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        order,
        [
            "alert", "alert", "alert", "alert", "qc", "qc", "qc", "qc", "volume", "volume"
        ]
    );
    let kept: Vec<&[u8]> = out[8..].iter().map(|s| s.payload.as_slice()).collect();
    assert_eq!(
        kept,
        [vol[2].to_json().as_slice(), vol[3].to_json().as_slice()]
    );

    // The same record again is stored once (content id).
    assert_eq!(o.push(&alerts[0]).await.unwrap().seq, None);

    // Acked rows go; the rest survive a reopen.
    assert!(o.ack(out[0].seq).await.unwrap());
    assert!(!o.ack(out[0].seq).await.unwrap());
    drop(o);
    let mut o = Outbox::open(&dir.path().join("outbox.db"), limits)
        .await
        .unwrap();
    assert_eq!(o.depth(), 9);
    assert_eq!(kinds(&mut o).await.len(), 9);
}

#[tokio::test]
async fn records_older_than_max_age_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (_, vol, _) = records(1);
    let limits = OutboxLimits {
        max_bytes: 1 << 20,
        max_age: Duration::from_millis(1),
    };
    let mut o = Outbox::open(&dir.path().join("outbox.db"), limits)
        .await
        .unwrap();
    o.push(&vol[0]).await.unwrap();
    assert_eq!(o.depth(), 1);
    // created_at is in milliseconds: wait until the row is strictly older than 1 ms.
    while o.expire().await.unwrap() == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(o.depth(), 0);
}
