//! Helpers shared by the connector integration tests.
#![allow(dead_code)]

pub mod astm_instrument;
pub mod hl7_instrument;

use labwire_connectors::transport::{BackoffConfig, Connection, Transport};
use labwire_connectors::{ConnectorContext, DriverConfig, Ingest, MemoryIngest};
use labwire_event::{Event, EventKind, InstrumentId, SiteId};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_serial::SerialStream;

pub fn site() -> SiteId {
    SiteId::new("site-a").unwrap()
}

pub fn instrument(name: &str) -> InstrumentId {
    InstrumentId::new(name).unwrap()
}

pub fn fast_backoff() -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        jitter: 0.2,
    }
}

pub fn context<I: Ingest>(ingest: I, name: &str) -> ConnectorContext<I> {
    let mut ctx = ConnectorContext::new(site(), instrument(name), ingest);
    ctx.config = DriverConfig {
        idle_timeout: Some(Duration::from_secs(5)),
        write_timeout: Duration::from_millis(500),
        ingest_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(1),
        read_chunk: 4096,
    };
    ctx
}

/// A transport that opens one fresh pseudo-terminal pair per connection: the connector gets the
/// slave side (what a device path would give), the test gets the master side (the "device").
pub fn pty_transport() -> (Transport, mpsc::Receiver<SerialStream>) {
    let (tx, rx) = mpsc::channel(8);
    let transport = Transport::custom(
        move || {
            let tx = tx.clone();
            async move {
                let (master, slave) = SerialStream::pair().map_err(|e| e.to_string())?;
                tx.send(master).await.map_err(|e| e.to_string())?;
                Ok(Connection::new(Box::new(slave), "pty"))
            }
        },
        fast_backoff(),
    );
    (transport, rx)
}

pub fn states(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Status)
        .filter_map(|e| e.status.as_ref().map(|s| s.state.clone()))
        .collect()
}

pub fn count_state(events: &[Event], state: &str) -> usize {
    states(events).iter().filter(|s| *s == state).count()
}

/// Waits (up to 5 s) until `pred` holds for what the memory ingest stored.
pub async fn wait_until(
    ingest: &MemoryIngest,
    what: &str,
    pred: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    match tokio::time::timeout(Duration::from_secs(5), ingest.wait_for(pred)).await {
        Ok(events) => events,
        Err(_) => panic!(
            "timed out waiting for {what}; got {:#?}",
            summary(&ingest.events())
        ),
    }
}

pub fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{:?} {:?} {:?} {:?}",
                e.kind,
                e.status.as_ref().map(|s| (&s.state, &s.detail)),
                e.error.as_ref().map(|x| (&x.reason, x.offset)),
                e.raw
            )
        })
        .collect()
}
