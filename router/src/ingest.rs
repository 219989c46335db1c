//! The ingest gate: an instrument message's events become durable before the instrument is ACKed.
//!
//! [`IngestGate::submit`] returns a [`Receipt`] only once every event is either acked by JetStream
//! (stored under `Nats-Msg-Id` = event id) or committed to the SQLite spool with fsync. The
//! connector sends the instrument's ACK only when it holds a receipt; any error (or a dropped
//! future) means no ACK, and the instrument retransmits — the same bytes give the same ids, so the
//! stream still stores each event once.
//!
//! Ordering: events go to the bus directly only while the spool is empty and the bus is ready.
//! Once one event of a message has gone to the spool, the rest of the message follows it, and so
//! does every later submit until the drain has emptied the spool. A producer that awaits each
//! receipt before its next submit (an instrument link does) therefore sees its events on the bus
//! in submit order.

use crate::bus::{Bus, HEADER_OVERHEAD, is_durable_kind};
use crate::error::{BusError, IngestError, SpoolError};
use crate::spool::{Headroom, PendingEvent, Spool};
use crate::stats::RouterStats;
use crate::status::{STATE_SPOOL_FULL, STATE_SPOOL_RECOVERED, StatusPublisher};
use labwire_event::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Proof that every event of one `submit` is durable. Send the instrument's ACK only while
/// holding one. Not clonable, and only the gate can make one.
#[must_use = "the instrument may be ACKed only once the receipt is held"]
#[derive(Debug)]
pub struct Receipt {
    events: usize,
    published: usize,
    spooled: usize,
    deduplicated: usize,
}

impl Receipt {
    /// Events made durable.
    pub fn events(&self) -> usize {
        self.events
    }

    /// Of those, acked by JetStream directly.
    pub fn published(&self) -> usize {
        self.published
    }

    /// Of those, committed to the spool (the drain publishes them later).
    pub fn spooled(&self) -> usize {
        self.spooled
    }

    /// Of the published ones, already stored under the same id (a retransmit).
    pub fn deduplicated(&self) -> usize {
        self.deduplicated
    }
}

/// The gate. Cheap to clone; every connector holds one.
#[derive(Clone)]
pub struct IngestGate {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Bus,
    spool: Arc<Spool>,
    stats: Arc<RouterStats>,
    status: StatusPublisher,
    full_reported: AtomicBool,
}

impl IngestGate {
    /// A gate over `bus` and `spool`, reporting `spool-full` through `status`.
    pub fn new(bus: Bus, spool: Arc<Spool>, status: StatusPublisher) -> Self {
        let stats = Arc::clone(bus.stats());
        Self {
            inner: Arc::new(Inner {
                bus,
                spool,
                stats,
                status,
                full_reported: AtomicBool::new(false),
            }),
        }
    }

    /// The counters (shared with the drain and the spool).
    pub fn stats(&self) -> &Arc<RouterStats> {
        &self.inner.stats
    }

    /// Makes `events` (one instrument message) durable, in order; see the module docs.
    ///
    /// Errors: [`IngestError::SpoolFull`] when the bus cannot take them and the spool is full
    /// (withhold the ACK; a `spool-full` status event is queued), [`IngestError::Spool`] on a disk
    /// failure, [`IngestError::Rejected`] for an event that can never be stored (a `query`, or
    /// larger than the server accepts).
    pub async fn submit(&self, events: Vec<Event>) -> Result<Receipt, IngestError> {
        let started = Instant::now();
        let pending = encode_all(&events, self.inner.bus.client().max_payload())?;
        let mut receipt = Receipt {
            events: pending.len(),
            published: 0,
            spooled: 0,
            deduplicated: 0,
        };
        let inner = &self.inner;
        let mut next = 0;
        for p in &pending {
            if !inner.spool.is_empty() || !inner.bus.is_ready() {
                break;
            }
            match inner
                .bus
                .publish_encoded(&p.subject, &p.id, p.payload.clone())
                .await
            {
                Ok(stored) => {
                    receipt.published += 1;
                    receipt.deduplicated += usize::from(stored.duplicate);
                    next += 1;
                }
                Err(e @ BusError::TooLarge { .. }) => return Err(IngestError::Rejected(e)),
                Err(e) => {
                    tracing::debug!(error = %e, id = %p.id, "bus did not ack in time; spooling");
                    break;
                }
            }
        }
        RouterStats::add(&inner.stats.published, receipt.published as u64);
        let rest = pending.get(next..).unwrap_or_default();
        if !rest.is_empty() {
            match inner.spool.push(rest, Headroom::Data).await {
                Ok(_) => {
                    receipt.spooled = rest.len();
                    RouterStats::add(&inner.stats.spooled, rest.len() as u64);
                    self.clear_full_alarm(&events);
                }
                Err(e @ SpoolError::Full { .. }) => {
                    RouterStats::add(&inner.stats.refused, rest.len() as u64);
                    self.raise_full_alarm(&events, &e);
                    return Err(IngestError::SpoolFull(e));
                }
                Err(e) => return Err(IngestError::Spool(e)),
            }
        }
        inner.stats.gate_latency.record(started.elapsed());
        Ok(receipt)
    }

    fn raise_full_alarm(&self, events: &[Event], e: &SpoolError) {
        tracing::warn!(error = %e, "refusing events: bus unreachable and spool full");
        if !self.inner.full_reported.swap(true, Ordering::AcqRel) {
            self.report(events, STATE_SPOOL_FULL, Some(e.to_string()));
        }
    }

    fn clear_full_alarm(&self, events: &[Event]) {
        if self.inner.full_reported.swap(false, Ordering::AcqRel) {
            self.report(events, STATE_SPOOL_RECOVERED, None);
        }
    }

    /// Reports a spool state change on the status subject of the instrument that hit it.
    fn report(&self, events: &[Event], state: &str, detail: Option<String>) {
        if let Some(ev) = events.first() {
            self.inner
                .status
                .report_state(&ev.site, &ev.instrument, ev.protocol, state, detail);
        }
    }
}

/// Encodes every event, refusing queries and events the server could never accept (larger than
/// its `max_payload`): those must not reach the spool, where they would block the drain.
fn encode_all(events: &[Event], max_payload: usize) -> Result<Vec<PendingEvent>, IngestError> {
    events
        .iter()
        .map(|ev| {
            if !is_durable_kind(ev.kind) {
                return Err(IngestError::NotDurable {
                    id: ev.id.to_string(),
                });
            }
            let payload = crate::bus::encode(ev).map_err(IngestError::Rejected)?;
            let subject = ev.subject();
            let size = payload.len() + ev.id.as_str().len() + HEADER_OVERHEAD;
            if size > max_payload {
                return Err(IngestError::Rejected(BusError::TooLarge {
                    subject,
                    size,
                    limit: max_payload,
                }));
            }
            Ok(PendingEvent {
                subject,
                id: ev.id.to_string(),
                payload,
            })
        })
        .collect()
}
