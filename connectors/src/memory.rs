//! An in-process [`Ingest`] for examples and tests: keeps events in memory, answers host
//! queries from a table, and can be told to fail. Not durable; never use it in production.

use crate::ingest::{Ingest, IngestFailure};
use labwire_event::{Event, EventKind, QueryReply};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// In-memory ingest (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct MemoryIngest {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<Event>,
    failing: bool,
    /// Submits still to fail before `failing` decides again ([`MemoryIngest::fail_next`]).
    fail_next: u32,
    bus_limit: Option<usize>,
    replies: HashMap<String, QueryReply>,
}

impl MemoryIngest {
    /// An empty store that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every `submit` fail (`true`) or succeed again (`false`).
    pub fn set_failing(&self, failing: bool) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.failing = failing;
        }
    }

    /// Makes exactly the next `n` submits fail, then lets them succeed (unless
    /// [`Self::set_failing`] says otherwise): a deterministic outage for tests.
    pub fn fail_next(&self, n: u32) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.fail_next = n;
        }
    }

    /// Refuses, as a real bus would, every submit holding an event whose JSON is larger than
    /// `limit` bytes ([`IngestFailure::TooLarge`]); `None` lifts the limit.
    pub fn set_bus_limit(&self, limit: Option<usize>) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.bus_limit = limit;
        }
    }

    /// Answers host queries for `specimen_id` with `reply`.
    pub fn answer(&self, specimen_id: impl Into<String>, reply: QueryReply) {
        if let Ok(mut s) = self.inner.state.lock() {
            s.replies.insert(specimen_id.into(), reply);
        }
    }

    /// All events stored so far.
    pub fn events(&self) -> Vec<Event> {
        self.inner
            .state
            .lock()
            .map(|s| s.events.clone())
            .unwrap_or_default()
    }

    /// Stored events of one kind.
    pub fn of_kind(&self, kind: EventKind) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// Waits until `pred` holds for the stored events (or forever; wrap it in a timeout).
    pub async fn wait_for(&self, pred: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        loop {
            let notified = self.inner.changed.notified();
            let events = self.events();
            if pred(&events) {
                return events;
            }
            notified.await;
        }
    }
}

impl Ingest for MemoryIngest {
    async fn submit(&self, events: Vec<Event>) -> Result<(), IngestFailure> {
        {
            let mut s = self
                .inner
                .state
                .lock()
                .map_err(|_| IngestFailure::Unavailable("poisoned".into()))?;
            if s.fail_next > 0 {
                s.fail_next -= 1;
                return Err(IngestFailure::Unavailable(
                    "memory ingest told to fail this submit".into(),
                ));
            }
            if s.failing {
                return Err(IngestFailure::Unavailable(
                    "memory ingest set to fail".into(),
                ));
            }
            if let Some(limit) = s.bus_limit {
                for ev in &events {
                    let size = serde_json::to_vec(ev).map_or(usize::MAX, |json| json.len());
                    if size > limit {
                        return Err(IngestFailure::TooLarge { size, limit });
                    }
                }
            }
            s.events.extend(events);
        }
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn host_query(&self, query: Event) -> Option<QueryReply> {
        if let Ok(mut s) = self.inner.state.lock() {
            s.events.push(query.clone());
        }
        self.inner.changed.notify_waiters();
        let q = query.query?;
        let s = self.inner.state.lock().ok()?;
        let mut orders = Vec::new();
        let mut any = false;
        for id in &q.specimen_ids {
            if let Some(r) = s.replies.get(id) {
                any = true;
                orders.extend(r.orders.iter().cloned());
            }
        }
        any.then_some(QueryReply { orders })
    }
}
