//! Stable event ids (the specification is in `docs/events.md`, "Event ids").
//!
//! An id is a SHA-256 over length-prefixed parts, truncated to 128 bits and written as 32
//! lowercase hex digits:
//!
//! ```text
//! lp(x)  = u64 big-endian length of x || x
//! digest = SHA-256( lp(site) || lp(instrument) || lp(protocol) || lp(kind)
//!                   || lp(raw) || u32 big-endian index || lp(situation) )
//! id     = lowercase hex of digest[0..16]
//! ```
//!
//! For events mapped from a message, `raw` is the message bytes, `index` the event's number
//! within the message and `situation` is empty: the same message retransmitted by an instrument
//! gives the same ids, which JetStream uses (`Nats-Msg-Id`) to store it once.
//!
//! An `error` event describes a situation, not only bytes: its `situation` is the reason and
//! the offset ([`situation`]), and when there are no raw bytes to tell two occurrences apart
//! (noise counted but not kept, an incomplete message dropped, skipped bytes) also the receive
//! time. So a retransmitted bad message keeps its id, while two separate content-less problems
//! never collapse into one stored event.

use crate::{EventKind, InputError, InstrumentId, Protocol, SiteId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A stable event id (32 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// Derives the id of event number `index` of kind `kind` produced from message bytes `raw`.
    pub fn derive(
        site: &SiteId,
        instrument: &InstrumentId,
        protocol: Protocol,
        kind: EventKind,
        raw: &[u8],
        index: u32,
    ) -> Self {
        Self::hash(site, instrument, protocol, kind, raw, index, &[])
    }

    /// Derives the id of an `error` event about `raw` (possibly empty), received at
    /// `received_at`: the reason and offset are part of the id, and the receive time too when
    /// `raw` is empty (see the module docs).
    pub fn derive_error(
        site: &SiteId,
        instrument: &InstrumentId,
        protocol: Protocol,
        raw: &[u8],
        error: &InputError,
        received_at: jiff::Timestamp,
    ) -> Self {
        let situation = situation(raw, error, received_at);
        Self::hash(
            site,
            instrument,
            protocol,
            EventKind::Error,
            raw,
            0,
            &situation,
        )
    }

    fn hash(
        site: &SiteId,
        instrument: &InstrumentId,
        protocol: Protocol,
        kind: EventKind,
        raw: &[u8],
        index: u32,
        situation: &[u8],
    ) -> Self {
        let h = prefix(site, instrument, protocol, kind, raw);
        Self::finish(h, index, situation)
    }

    /// The id from a hasher that has taken everything up to `lp(raw)` ([`prefix`]).
    fn finish(mut h: Sha256, index: u32, situation: &[u8]) -> Self {
        h.update(index.to_be_bytes());
        h.update((situation.len() as u64).to_be_bytes());
        h.update(situation);
        let digest = h.finalize();
        Self(hex::encode(digest.get(..16).unwrap_or(&digest[..])))
    }

    /// Wraps an id received from elsewhere (e.g. read back from the bus or the spool).
    pub fn from_string(id: String) -> Self {
        Self(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A hasher that has taken `lp(site) lp(instrument) lp(protocol) lp(kind) lp(raw)`.
fn prefix(
    site: &SiteId,
    instrument: &InstrumentId,
    protocol: Protocol,
    kind: EventKind,
    raw: &[u8],
) -> Sha256 {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(site.as_str().as_bytes());
    part(instrument.as_str().as_bytes());
    part(protocol.as_str().as_bytes());
    part(kind.as_str().as_bytes());
    part(raw);
    h
}

/// The ids of the events of one message ([`EventId::derive`] for each), hashing the message
/// once per kind instead of once per event: a message of 10 000 groups would otherwise be
/// hashed 10 000 times. Made by [`crate::Origin::message_ids`].
pub struct MessageIds<'a> {
    site: &'a SiteId,
    instrument: &'a InstrumentId,
    protocol: Protocol,
    raw: &'a [u8],
    /// One hasher per kind (in [`KINDS`] order), filled on first use.
    prefixes: [std::cell::OnceCell<Sha256>; KINDS.len()],
}

/// Every kind, in a fixed order (the index into [`MessageIds`]' cache).
const KINDS: [EventKind; 7] = [
    EventKind::Result,
    EventKind::Qc,
    EventKind::Order,
    EventKind::Telemetry,
    EventKind::Status,
    EventKind::Error,
    EventKind::Query,
];

impl<'a> MessageIds<'a> {
    /// Ids for the events of message `raw` from this site and instrument.
    pub fn new(
        site: &'a SiteId,
        instrument: &'a InstrumentId,
        protocol: Protocol,
        raw: &'a [u8],
    ) -> Self {
        Self {
            site,
            instrument,
            protocol,
            raw,
            prefixes: Default::default(),
        }
    }

    /// The id of event number `index` of kind `kind`: equal to [`EventId::derive`] with the
    /// same arguments.
    pub fn id(&self, kind: EventKind, index: u32) -> EventId {
        let slot = KINDS
            .iter()
            .position(|k| *k == kind)
            .and_then(|i| self.prefixes.get(i));
        let h = match slot {
            Some(cell) => cell
                .get_or_init(|| prefix(self.site, self.instrument, self.protocol, kind, self.raw))
                .clone(),
            None => prefix(self.site, self.instrument, self.protocol, kind, self.raw),
        };
        EventId::finish(h, index, &[])
    }
}

/// The `situation` bytes of an `error` event's id:
/// `lp(reason) || offset`, where `offset` is `0x01 || u64 big-endian` when known and `0x00`
/// otherwise, followed by `i128 big-endian nanoseconds since the Unix epoch of received_at`
/// only when `raw` is empty.
fn situation(raw: &[u8], error: &InputError, received_at: jiff::Timestamp) -> Vec<u8> {
    let mut s = Vec::with_capacity(error.reason.len() + 33);
    s.extend_from_slice(&(error.reason.len() as u64).to_be_bytes());
    s.extend_from_slice(error.reason.as_bytes());
    match error.offset {
        Some(offset) => {
            s.push(1);
            s.extend_from_slice(&offset.to_be_bytes());
        }
        None => s.push(0),
    }
    if raw.is_empty() {
        s.extend_from_slice(&received_at.as_nanosecond().to_be_bytes());
    }
    s
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (SiteId, InstrumentId) {
        (SiteId::new("s").unwrap(), InstrumentId::new("i").unwrap())
    }

    #[test]
    fn same_input_same_id() {
        let (s, i) = ids();
        let a = EventId::derive(&s, &i, Protocol::Astm, EventKind::Result, b"abc", 0);
        let b = EventId::derive(&s, &i, Protocol::Astm, EventKind::Result, b"abc", 0);
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn any_difference_changes_the_id() {
        let (s, i) = ids();
        let r = EventKind::Result;
        let base = EventId::derive(&s, &i, Protocol::Astm, r, b"abc", 0);
        assert_ne!(base, EventId::derive(&s, &i, Protocol::Astm, r, b"abd", 0));
        assert_ne!(base, EventId::derive(&s, &i, Protocol::Astm, r, b"abc", 1));
        assert_ne!(base, EventId::derive(&s, &i, Protocol::Hl7, r, b"abc", 0));
        let other = InstrumentId::new("j").unwrap();
        assert_ne!(
            base,
            EventId::derive(&s, &other, Protocol::Astm, r, b"abc", 0)
        );
        // The same bytes as an error are another event, not a duplicate of the result.
        let err = EventId::derive(&s, &i, Protocol::Astm, EventKind::Error, b"abc", 0);
        assert_ne!(base, err);
    }

    #[test]
    fn message_ids_equal_derive() {
        let (s, i) = ids();
        let raw = b"MSH|^~\\&|\rOBR|1\rOBR|2\r";
        let ids = MessageIds::new(&s, &i, Protocol::Hl7, raw);
        for kind in KINDS {
            for index in [0, 1, 7, u32::MAX] {
                // Twice: the second call uses the cached hasher.
                for _ in 0..2 {
                    assert_eq!(
                        ids.id(kind, index),
                        EventId::derive(&s, &i, Protocol::Hl7, kind, raw, index)
                    );
                }
            }
        }
    }

    /// The vector in `docs/events.md`, computed with another tool (Python's `hashlib`).
    #[test]
    fn matches_the_documented_vector() {
        let site = SiteId::new("site-a").unwrap();
        let inst = InstrumentId::new("c311").unwrap();
        let raw = b"H|\\^&\rL|1|N\r";
        let id = EventId::derive(&site, &inst, Protocol::Astm, EventKind::Result, raw, 0);
        assert_eq!(id.as_str(), "5d1fb46fec2e74820ddba34f9e5a943a");
    }
}
