#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `tail::follow` against a real nats-server: events published on `lab.>` come out as one line
//! each, a redelivered event (same id) is shown once, and `--json` lines parse back to events.

use labwire_event::{EventKind, InstrumentId, Observation, Origin, Protocol, SiteId, Specimen};
use labwire_router::bus::BusOptions;
use labwire_router::tail::{self, Tail};
use labwire_tests::NatsServer;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn result_event(specimen: &str, glucose: &str) -> labwire_event::Event {
    let origin = Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("c311-1").unwrap(),
        received_at: "2026-11-26T10:15:00.123Z".parse().unwrap(),
    };
    let mut ev = origin.event(
        EventKind::Result,
        Protocol::Astm,
        format!("R|1|^^^GLU|{glucose}|{specimen}").as_bytes(),
        0,
    );
    ev.specimen = Some(Specimen {
        id: Some(specimen.into()),
        specimen_type: None,
    });
    ev.observations = vec![Observation {
        code: Some("GLU".into()),
        value: Some(glucose.into()),
        units: Some("mmol/L".into()),
        ..Observation::default()
    }];
    ev
}

async fn run_tail(json: bool, count: u64) -> (String, tail::TailSummary) {
    let nats = NatsServer::start().unwrap();
    let opts = BusOptions::new(nats.url());
    let client = tail::connect(&opts).await.unwrap();
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    let shutdown = CancellationToken::new();

    let sub = tail::subscribe(&client, "lab.>").await.unwrap();
    let follower = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut renderer = Tail::new(json, 100);
            let mut out = Vec::new();
            let mut notes = Vec::new();
            let summary = tail::follow(
                sub,
                &mut renderer,
                &mut out,
                &mut notes,
                Some(count),
                shutdown,
            )
            .await
            .unwrap();
            (String::from_utf8(out).unwrap(), summary)
        })
    };
    let first = result_event("S1", "5.4");
    let second = result_event("S2", "7.9");
    for ev in [&first, &first, &second] {
        publisher
            .publish(ev.subject(), serde_json::to_vec(ev).unwrap().into())
            .await
            .unwrap();
    }
    // Outside the followed subject: never shown.
    publisher
        .publish("other.subject", b"{}".as_slice().into())
        .await
        .unwrap();
    publisher.flush().await.unwrap();

    let result = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("tail printed the expected lines in time")
        .unwrap();
    shutdown.cancel();
    result
}

#[tokio::test]
async fn follows_lab_subjects_and_shows_each_event_once() {
    let (out, summary) = run_tail(false, 2).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "2026-11-26T10:15:00.123Z  c311-1  result  GLU=5.4 mmol/L",
            "2026-11-26T10:15:00.123Z  c311-1  result  GLU=7.9 mmol/L",
        ]
    );
    assert_eq!(summary.duplicates, 1);
    assert_eq!(summary.printed, 2);
}

#[tokio::test]
async fn json_mode_prints_the_events_themselves() {
    let (out, summary) = run_tail(true, 2).await;
    let events: Vec<labwire_event::Event> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events,
        [result_event("S1", "5.4"), result_event("S2", "7.9")]
    );
    assert_eq!(summary.duplicates, 1);
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() {
    let port = labwire_tests::free_loopback_port().unwrap();
    let mut opts = BusOptions::new(format!("nats://127.0.0.1:{port}"));
    opts.connect_timeout = Duration::from_millis(500);
    let err = tail::connect(&opts).await.unwrap_err();
    assert!(matches!(err, tail::TailError::Connect { .. }), "{err}");
}
