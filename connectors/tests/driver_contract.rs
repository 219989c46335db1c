#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The driver loop's contract with any `Link`, checked with a deliberately small link on a real
//! pseudo-terminal: a stale deadline does not spin the loop, counters add up across reconnects,
//! and a slow ingest is not mistaken for a silent peer.

mod common;

use bytes::BytesMut;
use common::*;
use labwire_connectors::{Connector, Link, LinkCounters, LinkEvent, MemoryIngest, Token};
use labwire_event::{Event, EventKind, InputError, Origin, Protocol};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Every byte `!` is a message; every byte `x` counts as a NAK sent. Its deadline never moves.
struct ProbeLink {
    born: Instant,
    timeouts: Arc<AtomicUsize>,
    events: Vec<LinkEvent>,
    counters: LinkCounters,
    next: u64,
}

impl Link for ProbeLink {
    fn handle_input(&mut self, _now: Instant, bytes: &[u8]) {
        for b in bytes {
            match b {
                b'!' => {
                    self.next += 1;
                    self.events.push(LinkEvent::Message {
                        token: Token(self.next),
                        raw: vec![b'!'],
                    });
                }
                b'x' => self.counters.naks_sent += 1,
                _ => {}
            }
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {
        self.timeouts.fetch_add(1, Ordering::SeqCst);
    }
    fn poll_transmit(&mut self, _out: &mut BytesMut) -> bool {
        false
    }
    fn poll_event(&mut self) -> Option<LinkEvent> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.born)
    }
    fn commit(&mut self, _token: Token, _now: Instant) {}
    fn reject(&mut self, _token: Token, _now: Instant) {}
    fn counters(&self) -> LinkCounters {
        self.counters
    }
}

struct Probe {
    timeouts: Arc<AtomicUsize>,
}

impl Connector for Probe {
    type Link = ProbeLink;
    fn protocol(&self) -> Protocol {
        Protocol::Serial
    }
    fn open_link(&self, now: Instant) -> ProbeLink {
        ProbeLink {
            born: now,
            timeouts: Arc::clone(&self.timeouts),
            events: Vec::new(),
            counters: LinkCounters::default(),
            next: 0,
        }
    }
    fn decode(&self, message: &[u8], origin: &Origin) -> Result<Vec<Event>, InputError> {
        Ok(vec![origin.event(
            EventKind::Telemetry,
            Protocol::Serial,
            message,
            0,
        )])
    }
}

#[tokio::test]
async fn a_deadline_the_link_never_clears_does_not_spin_the_loop() {
    let ingest = MemoryIngest::new();
    let timeouts = Arc::new(AtomicUsize::new(0));
    let (transport, mut devices) = pty_transport();
    let ctx = context(ingest.clone(), "probe-1");
    let c = spawn(
        Probe {
            timeouts: Arc::clone(&timeouts),
        },
        transport,
        ctx,
    );
    let mut dev = devices.recv().await.unwrap();
    // Positive signal: the stale deadline was handled once.
    tokio::time::timeout(Duration::from_secs(10), async {
        while timeouts.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the deadline is handled");
    // The loop still serves input; serving it takes further turns of the loop, and a loop that
    // re-handled the stale deadline on every turn would have counted it again by now.
    dev.write_all(b"!").await.unwrap();
    wait_until(&ingest, "message", |e| {
        e.iter().any(|e| e.kind == EventKind::Telemetry)
    })
    .await;
    assert_eq!(
        timeouts.load(Ordering::SeqCst),
        1,
        "woken once, not in a loop"
    );
    c.stop().await;
}

#[tokio::test]
async fn link_counters_add_up_across_reconnects() {
    let ingest = MemoryIngest::new();
    let (transport, mut devices) = pty_transport();
    let ctx = context(ingest.clone(), "probe-2");
    let c = spawn(
        Probe {
            timeouts: Arc::new(AtomicUsize::new(0)),
        },
        transport,
        ctx,
    );
    for round in 1..=3u64 {
        let mut dev = devices.recv().await.unwrap();
        dev.write_all(b"xx!").await.unwrap();
        let want = round as usize;
        wait_until(&ingest, "message", |e| {
            e.iter().filter(|e| e.kind == EventKind::Telemetry).count() >= want
        })
        .await;
        drop(dev);
        wait_until(&ingest, "disconnect", |e| {
            count_state(e, "disconnected") >= want
        })
        .await;
    }
    let h = c.health.snapshot();
    assert_eq!(h.naks_sent, 6, "2 per connection, 3 connections: {h:?}");
    let metrics = labwire_router::metrics::Metrics::new();
    labwire_connectors::register_link_metrics(
        &metrics,
        instrument("probe-2"),
        Protocol::Serial,
        c.health.clone(),
    );
    let text = metrics.render();
    assert!(
        text.contains(r#"labwire_link_naks_sent_total{instrument="probe-2",protocol="serial"} 6"#),
        "{text}"
    );
    // The transport may already have opened a fourth line.
    assert!((2..=3).contains(&h.reconnects), "{h:?}");
    assert!(
        h.last_message_age_ms(u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap())
            .is_some()
    );
    c.stop().await;
}
