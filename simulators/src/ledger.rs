//! The ledger: what each simulated instrument sent, when, and when the host acknowledged it.
//!
//! **Correlation.** Each entry carries the event ids labwire will derive for the message,
//! computed by the simulator itself from the id specification in `docs/events.md`
//! ([`crate::expected_id`], never labwire's own `EventId::derive`: the oracle must not share the
//! implementation it checks) over exactly the bytes the simulator framed, index
//! 0..event_count, so the verifier matches bus events by id. The
//! specimen ids are kept as a second key: an event whose id is unknown but whose instrument and
//! specimen id match an entry is counted as delivered and reported as `id_mismatch`, which
//! points at a disagreement about the raw bytes rather than a loss.
//!
//! A message counts once, however often faults made it go over the wire (`attempts`).

use labwire_event::{EventId, EventKind, InstrumentId};
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};

/// One message a simulator sent.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    /// The simulated instrument.
    pub instrument: InstrumentId,
    /// Message number within that instrument (0-based).
    pub seq: u64,
    /// Event kind labwire should publish.
    pub kind: EventKind,
    /// Message control id.
    pub control_id: String,
    /// Specimen / control ids in the message.
    pub specimen_ids: Vec<String>,
    /// Event ids labwire should publish for it.
    pub event_ids: Vec<EventId>,
    /// When the first transmission started.
    pub sent_at: jiff::Timestamp,
    /// When the host acknowledged the whole message (`None`: never).
    pub acked_at: Option<jiff::Timestamp>,
    /// Transmissions of the whole message (more than 1 after lost ACKs and reconnects).
    pub attempts: u32,
    /// Faults injected while sending it.
    pub faults: Vec<&'static str>,
    /// For host queries: orders the host sent back (`None`: no answer).
    pub orders_received: Option<usize>,
}

/// A shared, append-only ledger (cheap to clone; all simulators of a run share one).
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<Vec<LedgerEntry>>>);

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<LedgerEntry>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a message as sent now; returns its index for later updates.
    pub fn record(&self, entry: LedgerEntry) -> usize {
        let mut v = self.lock();
        v.push(entry);
        v.len() - 1
    }

    /// Updates entry `index` in place.
    pub fn update(&self, index: usize, f: impl FnOnce(&mut LedgerEntry)) {
        if let Some(e) = self.lock().get_mut(index) {
            f(e);
        }
    }

    /// A copy of all entries.
    pub fn entries(&self) -> Vec<LedgerEntry> {
        self.lock().clone()
    }

    /// Runs `f` on the entries without copying them (for live views; keep `f` short, the
    /// simulators wait for the lock meanwhile).
    pub fn inspect<R>(&self, f: impl FnOnce(&[LedgerEntry]) -> R) -> R {
        f(&self.lock())
    }

    /// Number of messages recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages the host acknowledged.
    pub fn acked(&self) -> usize {
        self.lock().iter().filter(|e| e.acked_at.is_some()).count()
    }

    /// Writes the ledger as NDJSON (one entry per line).
    pub fn write_ndjson(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for e in self.lock().iter() {
            serde_json::to_writer(&mut *out, e)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, acked: bool) -> LedgerEntry {
        LedgerEntry {
            instrument: InstrumentId::new("c111-1").unwrap(),
            seq,
            kind: EventKind::Result,
            control_id: seq.to_string(),
            specimen_ids: Vec::new(),
            event_ids: Vec::new(),
            sent_at: jiff::Timestamp::UNIX_EPOCH,
            acked_at: acked.then_some(jiff::Timestamp::UNIX_EPOCH),
            attempts: 1,
            faults: Vec::new(),
            orders_received: None,
        }
    }

    #[test]
    fn inspect_sees_every_entry_and_later_updates() {
        let ledger = Ledger::new();
        let first = ledger.record(entry(0, false));
        ledger.record(entry(1, true));
        assert_eq!(
            ledger.inspect(|e| e.iter().filter(|e| e.acked_at.is_some()).count()),
            1
        );
        ledger.update(first, |e| e.acked_at = Some(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(
            ledger.inspect(|e| e.iter().map(|e| e.seq).collect::<Vec<_>>()),
            [0, 1]
        );
        assert_eq!(
            ledger.inspect(|e| e.iter().filter(|e| e.acked_at.is_some()).count()),
            2
        );
    }
}
