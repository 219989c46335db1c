//! The router's ingest gate, counting durable events for `labwire_events_total`.

use labwire_connectors::{Ingest, IngestFailure, RouterIngest};
use labwire_event::{Event, EventKind, InstrumentId, QueryReply};
use labwire_router::metrics::EventCounters;
use labwire_uplink::service::UplinkInput;

/// [`RouterIngest`] that counts each event per instrument and kind once it is durable (host
/// queries when asked).
#[derive(Clone)]
pub struct CountingIngest {
    inner: RouterIngest,
    counters: EventCounters,
    /// The uplink's input, when configured: it gets the allow-listed projection of each
    /// stored event ([`super::uplink::project`]), never the event.
    uplink: Option<UplinkInput>,
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
        Self {
            inner,
            counters,
            uplink: None,
        }
    }

    /// Also hands the uplink the allow-listed projection of each event once it is durable.
    #[must_use]
    pub fn with_uplink(mut self, uplink: Option<UplinkInput>) -> Self {
        self.uplink = uplink;
        self
    }
}

impl Ingest for CountingIngest {
    async fn submit(&self, events: Vec<Event>) -> Result<(), IngestFailure> {
        let kinds: Vec<(InstrumentId, EventKind)> = events
            .iter()
            .map(|e| (e.instrument.clone(), e.kind))
            .collect();
        let observed: Vec<_> = match &self.uplink {
            Some(_) => events.iter().flat_map(super::uplink::project).collect(),
            None => Vec::new(),
        };
        self.inner.submit(events).await?;
        for (instrument, kind) in &kinds {
            self.counters.record(instrument, *kind);
        }
        // Only durable events count; `offer` never waits.
        if let Some(uplink) = &self.uplink {
            for o in observed {
                uplink.offer(o);
            }
        }
        Ok(())
    }

    async fn host_query(&self, query: Event) -> Option<QueryReply> {
        self.counters.record(&query.instrument, query.kind);
        self.inner.host_query(query).await
    }
}
