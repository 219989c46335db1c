//! The verifier: checks the simulators' ledger against what reached the NATS bus.
//!
//! Two sources:
//! - [`Collector`]: a core subscription on `lab.<site>.>`, started before the simulators. It
//!   sees every publish, so a retransmission that JetStream de-duplicated still shows here as a
//!   duplicate; that is what an app with a core subscription would see.
//! - [`read_stream`]: every message stored in the JetStream stream (`LAB`), read by sequence
//!   after the run and matched with [`reconcile_stored`] (queries are not stored); duplicates
//!   here mean the bus really stored an event twice.
//!
//! [`reconcile`] matches bus events to ledger entries by event id (see [`crate::ledger`] for the
//! correlation rule) and computes the [`Report`]: `sent` counts messages the host acknowledged,
//! `delivered` those whose every expected event arrived, `lost = sent - delivered`, `duplicates`
//! every extra copy of an event id, and latency percentiles from the ledger's `sent_at` to the
//! first arrival of the message's last event (end to end) and to the host's ACK.

use crate::ledger::LedgerEntry;
use futures::StreamExt;
use labwire_event::SiteId;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Connecting to NATS failed.
    #[error("connecting to NATS at {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// Subscribing or reading the stream failed.
    #[error("NATS: {0}")]
    Nats(String),
}

/// One event seen on the bus (only the fields the verifier needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Event id.
    pub id: String,
    /// Instrument id.
    pub instrument: String,
    /// Event kind.
    pub kind: String,
    /// Specimen id, when the event has one.
    pub specimen: Option<String>,
    /// When it reached the verifier (core) or was stored (stream).
    pub at: jiff::Timestamp,
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    instrument: String,
    kind: String,
    #[serde(default)]
    specimen: Option<WireSpecimen>,
}

#[derive(Deserialize)]
struct WireSpecimen {
    #[serde(default)]
    id: Option<String>,
}

/// Reads the verifier's fields from an event payload; `None` when it is not a labwire event.
pub fn parse_event(payload: &[u8], at: jiff::Timestamp) -> Option<Seen> {
    let ev: WireEvent = serde_json::from_slice(payload).ok()?;
    Some(Seen {
        id: ev.id,
        instrument: ev.instrument,
        kind: ev.kind,
        specimen: ev.specimen.and_then(|s| s.id),
        at,
    })
}

/// Connects to NATS.
pub async fn connect(url: &str) -> Result<async_nats::Client, VerifyError> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| VerifyError::Connect {
            url: url.to_owned(),
            reason: e.to_string(),
        })
}

/// A core subscription on `lab.<site>.>` collecting events in the background.
pub struct Collector {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    /// Subscribes; start it before the simulators so nothing is missed.
    pub async fn subscribe(
        client: &async_nats::Client,
        site: &SiteId,
    ) -> Result<Self, VerifyError> {
        let mut sub = client
            .subscribe(format!("lab.{site}.>"))
            .await
            .map_err(|e| VerifyError::Nats(e.to_string()))?;
        client
            .flush()
            .await
            .map_err(|e| VerifyError::Nats(e.to_string()))?;
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Some(s) = parse_event(&msg.payload, jiff::Timestamp::now()) {
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(s);
                }
            }
        });
        Ok(Self { seen, task })
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` on everything seen so far without copying it (for live views; keep `f` short).
    pub fn inspect<R>(&self, f: impl FnOnce(&[Seen]) -> R) -> R {
        f(&self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Waits until every acknowledged ledger message is delivered, or `timeout` passes.
    pub async fn wait_for(&self, ledger: &[LedgerEntry], timeout: Duration) -> Report {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let report = reconcile(ledger, &self.seen());
            if report.lost == 0 || tokio::time::Instant::now() >= deadline {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Stream messages requested at once by [`read_stream`] (in sequence order).
const READ_AHEAD: usize = 64;

/// Reads every message stored in JetStream stream `stream` that belongs to `site`.
pub async fn read_stream(
    client: &async_nats::Client,
    stream: &str,
    site: &SiteId,
) -> Result<Vec<Seen>, VerifyError> {
    let js = async_nats::jetstream::new(client.clone());
    let mut s = js
        .get_stream(stream)
        .await
        .map_err(|e| VerifyError::Nats(format!("stream {stream}: {e}")))?;
    let state = s
        .info()
        .await
        .map_err(|e| VerifyError::Nats(format!("stream {stream} info: {e}")))?
        .state
        .clone();
    let prefix = format!("lab.{site}.");
    let mut out = Vec::new();
    if state.messages == 0 {
        return Ok(out);
    }
    // Requests in flight at once: one round trip per message is slow on a long stream.
    let s = &s;
    let mut messages = futures::stream::iter(state.first_sequence..=state.last_sequence)
        .map(|seq| async move { s.get_raw_message(seq).await })
        .buffered(READ_AHEAD);
    while let Some(msg) = messages.next().await {
        let Ok(msg) = msg else {
            continue; // deleted or expired
        };
        if !msg.subject.as_str().starts_with(&prefix) {
            continue;
        }
        let at = jiff::Timestamp::from_nanosecond(msg.time.unix_timestamp_nanos())
            .unwrap_or_else(|_| jiff::Timestamp::now());
        if let Some(seen) = parse_event(&msg.payload, at) {
            out.push(seen);
        }
    }
    Ok(out)
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Messages the host acknowledged.
    pub sent: usize,
    /// Acknowledged messages whose every expected event reached the bus.
    pub delivered: usize,
    /// `sent - delivered`.
    pub lost: usize,
    /// Extra copies of event ids on the bus.
    pub duplicates: usize,
    /// Messages the host never acknowledged (not counted in `sent`).
    pub unacked: usize,
    /// Bus events matched to a message by instrument and specimen id but not by event id.
    pub id_mismatch: usize,
    /// Bus events (result/qc/query/order) that match no ledger entry.
    pub unexpected: usize,
    /// `error` events (labwire rejected input).
    pub rejected: usize,
    /// End-to-end latency percentiles (ledger `sent_at` → event on the bus), ms.
    pub p50_ms: f64,
    /// 99th percentile of the same.
    pub p99_ms: f64,
    /// Host acknowledgement latency percentiles (`sent_at` → ACK), ms.
    pub ack_p50_ms: f64,
    /// 99th percentile of the same.
    pub ack_p99_ms: f64,
    /// The lost messages: `instrument#seq specimen`.
    pub lost_messages: Vec<String>,
}

impl Report {
    /// True when everything acknowledged arrived exactly once and nothing unexpected showed up.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.unexpected == 0
    }
}

impl std::fmt::Display for Report {
    /// The summary line (shared conventions §4).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent={} delivered={} lost={} duplicates={} p50_ms={:.1} p99_ms={:.1}",
            self.sent, self.delivered, self.lost, self.duplicates, self.p50_ms, self.p99_ms
        )
    }
}

/// Nearest-rank percentile of `values` (sorted in place); 0 when empty.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values
        .get(rank.saturating_sub(1).min(values.len() - 1))
        .copied()
        .unwrap_or(0.0)
}

fn ms(from: jiff::Timestamp, to: jiff::Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64() * 1000.0
}

/// [`reconcile`] for events read from the JetStream stream: host queries are request/reply on
/// `lab.<site>.<instrument>.query` and never stored in the stream (shared conventions §2), so
/// query messages are left out of the count (check them with a core subscription).
pub fn reconcile_stored(ledger: &[LedgerEntry], seen: &[Seen]) -> Report {
    let stored: Vec<LedgerEntry> = ledger
        .iter()
        .filter(|e| e.kind != labwire_event::EventKind::Query)
        .cloned()
        .collect();
    reconcile(&stored, seen)
}

/// Matches bus events to the ledger and computes the report.
pub fn reconcile(ledger: &[LedgerEntry], seen: &[Seen]) -> Report {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut by_specimen: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, e) in ledger.iter().enumerate() {
        for id in &e.event_ids {
            by_id.insert(id.as_str(), i);
        }
        for s in &e.specimen_ids {
            by_specimen.insert((e.instrument.as_str(), s.as_str()), i);
        }
    }
    let mut report = Report::default();
    let mut copies: HashMap<&str, usize> = HashMap::new();
    // Per ledger entry: the distinct ids that arrived and the first arrival of each.
    let mut arrived: BTreeMap<usize, HashMap<&str, jiff::Timestamp>> = BTreeMap::new();
    for s in seen {
        match s.kind.as_str() {
            "error" => {
                report.rejected += 1;
                continue;
            }
            "status" | "telemetry" => continue,
            _ => {}
        }
        let n = copies.entry(s.id.as_str()).or_default();
        *n += 1;
        if *n > 1 {
            report.duplicates += 1;
            continue;
        }
        let entry = match by_id.get(s.id.as_str()) {
            Some(i) => Some(*i),
            None => {
                let hit = s
                    .specimen
                    .as_deref()
                    .and_then(|sp| by_specimen.get(&(s.instrument.as_str(), sp)).copied());
                if hit.is_some() {
                    report.id_mismatch += 1;
                }
                hit
            }
        };
        match entry {
            Some(i) => {
                arrived
                    .entry(i)
                    .or_default()
                    .entry(s.id.as_str())
                    .or_insert(s.at);
            }
            None => report.unexpected += 1,
        }
    }
    let mut e2e = Vec::new();
    let mut acks = Vec::new();
    for (i, e) in ledger.iter().enumerate() {
        let Some(acked_at) = e.acked_at else {
            report.unacked += 1;
            continue;
        };
        report.sent += 1;
        acks.push(ms(e.sent_at, acked_at));
        let got = arrived.get(&i);
        let want = e.event_ids.len().max(1);
        match got {
            Some(ids) if ids.len() >= want => {
                report.delivered += 1;
                if let Some(last) = ids.values().max() {
                    e2e.push(ms(e.sent_at, *last));
                }
            }
            _ => report.lost_messages.push(format!(
                "{}#{} {}",
                e.instrument,
                e.seq,
                e.specimen_ids.join(",")
            )),
        }
    }
    report.lost = report.sent - report.delivered;
    report.p50_ms = percentile(&mut e2e, 50.0);
    report.p99_ms = percentile(&mut e2e, 99.0);
    report.ack_p50_ms = percentile(&mut acks, 50.0);
    report.ack_p99_ms = percentile(&mut acks, 99.0);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), 50.0);
        assert_eq!(percentile(&mut v, 99.0), 99.0);
        assert_eq!(percentile(&mut [], 99.0), 0.0);
        assert_eq!(percentile(&mut [7.0], 99.0), 7.0);
    }

    #[test]
    fn summary_line_has_the_conventional_form() {
        let r = Report {
            sent: 3,
            delivered: 2,
            lost: 1,
            duplicates: 4,
            p50_ms: 1.25,
            p99_ms: 9.0,
            ..Report::default()
        };
        assert_eq!(
            r.to_string(),
            "sent=3 delivered=2 lost=1 duplicates=4 p50_ms=1.2 p99_ms=9.0"
        );
    }

    #[test]
    fn non_events_are_ignored() {
        assert!(parse_event(b"{\"orders\":[]}", jiff::Timestamp::now()).is_none());
        let s = parse_event(
            br#"{"id":"a","instrument":"i","kind":"result","specimen":{"id":"S1","type":null}}"#,
            jiff::Timestamp::now(),
        )
        .unwrap();
        assert_eq!(s.specimen.as_deref(), Some("S1"));
    }
}
