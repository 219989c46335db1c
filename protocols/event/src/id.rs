//! Stable event ids.
//!
//! An id is a SHA-256 over the site, instrument, protocol, the message bytes and the index of the
//! event within the message, truncated to 128 bits and written as 32 lowercase hex digits. The same
//! message retransmitted by an instrument gives the same id, which JetStream uses (`Nats-Msg-Id`)
//! to store it once.

use crate::{InstrumentId, Protocol, SiteId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A stable event id (32 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// Derives the id of event number `index` produced from message bytes `raw`.
    pub fn derive(
        site: &SiteId,
        instrument: &InstrumentId,
        protocol: Protocol,
        raw: &[u8],
        index: u32,
    ) -> Self {
        let mut h = Sha256::new();
        for part in [
            site.as_str().as_bytes(),
            instrument.as_str().as_bytes(),
            protocol.as_str().as_bytes(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update((raw.len() as u64).to_be_bytes());
        h.update(raw);
        h.update(index.to_be_bytes());
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
        let a = EventId::derive(&s, &i, Protocol::Astm, b"abc", 0);
        let b = EventId::derive(&s, &i, Protocol::Astm, b"abc", 0);
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn any_difference_changes_the_id() {
        let (s, i) = ids();
        let base = EventId::derive(&s, &i, Protocol::Astm, b"abc", 0);
        assert_ne!(base, EventId::derive(&s, &i, Protocol::Astm, b"abd", 0));
        assert_ne!(base, EventId::derive(&s, &i, Protocol::Astm, b"abc", 1));
        assert_ne!(base, EventId::derive(&s, &i, Protocol::Hl7, b"abc", 0));
        let other = InstrumentId::new("j").unwrap();
        assert_ne!(base, EventId::derive(&s, &other, Protocol::Astm, b"abc", 0));
    }
}
