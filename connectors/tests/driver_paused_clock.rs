#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The driver's timers on tokio's paused clock (issue 9 item 16): the ASTM connector over an
//! in-memory duplex stream, so no real time passes and every deadline is exact. The ingest
//! deadline decides when a message that is not durable is NAKed; the E1381 receiver timer (30 s)
//! returns a stalled link to neutral.

mod common;

use common::*;
use labwire_astm::link::control::{ACK, ENQ, EOT, NAK};
use labwire_astm::link::{FrameEnd, FrameNumber, encode_frame};
use labwire_connectors::astm::{AstmConfig, AstmConnector};
use labwire_connectors::transport::{Connection, Transport};
use labwire_connectors::{Ingest, IngestFailure, MemoryIngest};
use labwire_event::{Event, EventKind, QueryReply};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Hangs the first `hang` submits of instrument data forever (status events pass), then
/// stores in `inner`.
#[derive(Clone)]
struct HangingIngest {
    hang: Arc<AtomicU32>,
    inner: MemoryIngest,
}

impl Ingest for HangingIngest {
    async fn submit(&self, events: Vec<Event>) -> Result<(), IngestFailure> {
        let data = events.iter().any(|e| e.kind != EventKind::Status);
        let hang = data
            && self
                .hang
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if hang {
            std::future::pending::<()>().await;
        }
        self.inner.submit(events).await
    }

    async fn host_query(&self, query: Event) -> Option<QueryReply> {
        self.inner.host_query(query).await
    }
}

/// One in-memory connection per open; the test holds the instrument's end.
fn duplex_transport() -> (Transport, mpsc::Receiver<DuplexStream>) {
    let (tx, rx) = mpsc::channel(4);
    let transport = Transport::custom(
        move || {
            let tx = tx.clone();
            async move {
                let (host, instrument) = tokio::io::duplex(64 * 1024);
                tx.send(instrument).await.map_err(|e| e.to_string())?;
                Ok(Connection::new(Box::new(host), "duplex"))
            }
        },
        fast_backoff(),
    );
    (transport, rx)
}

async fn byte(s: &mut DuplexStream) -> u8 {
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
    b[0]
}

fn frame(text: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    encode_frame(FrameNumber::FIRST, text, FrameEnd::Last, &mut f);
    f
}

#[tokio::test(start_paused = true)]
async fn a_message_not_durable_by_the_ingest_deadline_is_naked_at_that_deadline() {
    let ingest = HangingIngest {
        hang: Arc::new(AtomicU32::new(1)),
        inner: MemoryIngest::new(),
    };
    let (transport, mut opened) = duplex_transport();
    let mut ctx = context(ingest.clone(), "c311-paused-1");
    let deadline = Duration::from_secs(7);
    ctx.config.ingest_timeout = deadline;
    ctx.config.idle_timeout = None;
    let c = spawn(AstmConnector::new(AstmConfig::default()), transport, ctx);
    let mut inst = opened.recv().await.unwrap();

    inst.write_all(&[ENQ]).await.unwrap();
    assert_eq!(byte(&mut inst).await, ACK);
    inst.write_all(&frame(ASTM_RESULT)).await.unwrap();
    let sent = Instant::now();
    assert_eq!(byte(&mut inst).await, NAK, "not durable: NAK");
    assert_eq!(
        sent.elapsed(),
        deadline,
        "NAKed exactly at the ingest deadline"
    );
    // The retransmission is stored and ACKed at once.
    inst.write_all(&frame(ASTM_RESULT)).await.unwrap();
    assert_eq!(byte(&mut inst).await, ACK);
    inst.write_all(&[EOT]).await.unwrap();
    assert_eq!(ingest.inner.of_kind(EventKind::Result).len(), 1);
    assert_eq!(c.health.snapshot().ingest_failures, 1);
    c.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stalled_transfer_returns_to_neutral_after_the_receiver_timer() {
    let ingest = MemoryIngest::new();
    let (transport, mut opened) = duplex_transport();
    let mut ctx = context(ingest.clone(), "c311-paused-2");
    ctx.config.idle_timeout = None;
    let config = AstmConfig::default();
    let receiver_timer = config.link.receiver_timeout;
    assert_eq!(receiver_timer, Duration::from_secs(30), "E1381 §8.5.1");
    let c = spawn(AstmConnector::new(config), transport, ctx);
    let mut inst = opened.recv().await.unwrap();

    inst.write_all(&[ENQ]).await.unwrap();
    assert_eq!(byte(&mut inst).await, ACK);
    let stalled = Instant::now();
    // Half a frame, then nothing: the instrument hangs.
    let f = frame(ASTM_RESULT);
    inst.write_all(&f[..f.len() / 2]).await.unwrap();
    // Positive signal: the expiry is counted, and not before the timer.
    while c.health.snapshot().timeouts == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited = stalled.elapsed();
    assert!(
        waited >= receiver_timer && waited < receiver_timer + Duration::from_secs(1),
        "{waited:?}"
    );
    // Neutral again: a new transfer is accepted and stored.
    inst.write_all(&[ENQ]).await.unwrap();
    assert_eq!(byte(&mut inst).await, ACK);
    inst.write_all(&f).await.unwrap();
    assert_eq!(byte(&mut inst).await, ACK);
    inst.write_all(&[EOT]).await.unwrap();
    wait_until(&ingest, "result", |e| {
        e.iter().any(|e| e.kind == EventKind::Result)
    })
    .await;
    c.stop().await;
}
