#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Ledger + verifier against a real nats-server: events published as labwire would publish them,
//! with a deliberate loss and a deliberate duplicate that the verifier must report.

use async_nats::jetstream;
use async_nats::jetstream::message::PublishMessage;
use labwire_event::{Event, EventKind, InstrumentId, Protocol, SiteId, Specimen};
use labwire_sim::ledger::{Ledger, LedgerEntry};
use labwire_sim::verify::{Collector, connect, read_stream, reconcile};
use labwire_sim::{Profile, SimMessage, Traffic, TrafficConfig};
use labwire_tests::NatsServer;
use std::time::Duration;

fn site() -> SiteId {
    SiteId::new("site-a").unwrap()
}

fn instrument() -> InstrumentId {
    InstrumentId::new("sim-1").unwrap()
}

/// A ledger of `n` acknowledged cobas-c111 patient messages.
fn ledger(n: usize) -> Ledger {
    let p = Profile::load("cobas-c111").unwrap();
    let mut t = Traffic::new(
        p.clone(),
        TrafficConfig {
            seed: 5,
            instrument_index: 0,
            start: "2026-11-26T08:00:00".parse().unwrap(),
            canary: None,
        },
    );
    let ledger = Ledger::new();
    for seq in 0..n {
        let work = labwire_sim::Work::Patient(t.next_patient());
        let msg = SimMessage::build(&p, &work, seq as u64);
        let now = jiff::Timestamp::now();
        ledger.record(LedgerEntry {
            instrument: instrument(),
            seq: seq as u64,
            kind: msg.kind,
            control_id: msg.control_id.clone(),
            specimen_ids: msg.specimen_ids.clone(),
            event_ids: msg.expected_event_ids(&site(), &instrument()),
            sent_at: now,
            acked_at: Some(now),
            attempts: 1,
            faults: Vec::new(),
            orders_received: None,
        });
    }
    ledger
}

/// The event labwire would publish for a ledger entry.
fn event_for(e: &LedgerEntry) -> (String, Vec<u8>) {
    let mut ev = Event::new(
        e.event_ids[0].clone(),
        site(),
        e.instrument.clone(),
        EventKind::Result,
        Protocol::Astm,
        jiff::Timestamp::now(),
    );
    ev.specimen = Some(Specimen {
        id: Some(e.specimen_ids[0].clone()),
        specimen_type: None,
    });
    (ev.subject(), serde_json::to_vec(&ev).unwrap())
}

#[tokio::test]
async fn core_subscription_reports_a_deliberate_loss_and_duplicate() {
    let nats = NatsServer::start().unwrap();
    let client = connect(&nats.url()).await.unwrap();
    let collector = Collector::subscribe(&client, &site()).await.unwrap();
    let ledger = ledger(10);
    let entries = ledger.entries();
    for (i, e) in entries.iter().enumerate() {
        if i == 3 {
            continue; // the loss
        }
        let (subject, payload) = event_for(e);
        let copies = if i == 5 { 2 } else { 1 }; // the duplicate
        for _ in 0..copies {
            client
                .publish(subject.clone(), payload.clone().into())
                .await
                .unwrap();
        }
    }
    // Noise that is not a labwire event, and a status event, are not counted.
    client
        .publish("lab.site-a.sim-1.status", "{}".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let report = collector.wait_for(&entries, Duration::from_secs(2)).await;
    assert_eq!(
        report.to_string().split(" p50").next().unwrap(),
        "sent=10 delivered=9 lost=1 duplicates=1"
    );
    assert_eq!(report.lost_messages.len(), 1);
    assert!(
        report.lost_messages[0].starts_with("sim-1#3 "),
        "{:?}",
        report.lost_messages
    );
    assert_eq!((report.unexpected, report.id_mismatch), (0, 0));
    assert!(report.p99_ms >= report.p50_ms && report.p50_ms > 0.0);
}

#[tokio::test]
async fn jetstream_stream_dedupes_by_msg_id_and_the_verifier_sees_a_real_duplicate() {
    let nats = NatsServer::start().unwrap();
    let client = connect(&nats.url()).await.unwrap();
    let js = jetstream::new(client.clone());
    js.create_stream(jetstream::stream::Config {
        name: "LAB".into(),
        subjects: vec!["lab.*.*.result".into(), "lab.*.*.qc".into()],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .unwrap();
    let ledger = ledger(8);
    let entries = ledger.entries();
    for (i, e) in entries.iter().enumerate() {
        if i == 2 {
            continue; // the loss
        }
        let (subject, payload) = event_for(e);
        let publish = || {
            PublishMessage::build()
                .payload(payload.clone().into())
                .message_id(e.event_ids[0].as_str())
        };
        js.send_publish(subject.clone(), publish())
            .await
            .unwrap()
            .await
            .unwrap();
        if i == 4 {
            // A retransmission with the same Nats-Msg-Id: the stream stores it once.
            js.send_publish(subject.clone(), publish())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        if i == 6 {
            // A publish without the id: the stream stores a real duplicate.
            let bare = PublishMessage::build().payload(payload.clone().into());
            js.send_publish(subject.clone(), bare)
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }
    let seen = read_stream(&client, "LAB", &site()).await.unwrap();
    assert_eq!(seen.len(), 8);
    let report = reconcile(&entries, &seen);
    assert_eq!(
        (
            report.sent,
            report.delivered,
            report.lost,
            report.duplicates
        ),
        (8, 7, 1, 1)
    );
    assert!(report.lost_messages[0].starts_with("sim-1#2 "));
}

#[test]
fn unacknowledged_messages_are_not_counted_as_sent() {
    let ledger = ledger(3);
    ledger.update(1, |e| e.acked_at = None);
    let report = reconcile(&ledger.entries(), &[]);
    assert_eq!((report.sent, report.lost, report.unacked), (2, 2, 1));
}
