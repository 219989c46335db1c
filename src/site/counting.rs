//! The router's ingest gate, counting durable events for `labwire_events_total`.

use labwire_connectors::{Ingest, IngestFailure, RouterIngest};
use labwire_event::{Event, EventKind, InstrumentId, QueryReply};
use labwire_router::metrics::EventCounters;

/// [`RouterIngest`] that counts each event per instrument and kind once it is durable (host
/// queries when asked).
#[derive(Clone)]
pub struct CountingIngest {
    inner: RouterIngest,
    counters: EventCounters,
}

impl std::fmt::Debug for CountingIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingIngest")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl CountingIngest {
    /// Counts what `inner` makes durable into `counters`.
    pub fn new(inner: RouterIngest, counters: EventCounters) -> Self {
        Self { inner, counters }
    }
}

impl Ingest for CountingIngest {
    async fn submit(&self, events: Vec<Event>) -> Result<(), IngestFailure> {
        let kinds: Vec<(InstrumentId, EventKind)> = events
            .iter()
            .map(|e| (e.instrument.clone(), e.kind))
            .collect();
        self.inner.submit(events).await?;
        for (instrument, kind) in &kinds {
            self.counters.record(instrument, *kind);
        }
        Ok(())
    }

    async fn host_query(&self, query: Event) -> Option<QueryReply> {
        self.counters.record(&query.instrument, query.kind);
        self.inner.host_query(query).await
    }
}
