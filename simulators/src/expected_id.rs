//! The simulators' own computation of the event ids labwire should publish.
//!
//! An independent oracle: written from the id specification in `docs/events.md` ("Event ids"),
//! hashing with `sha2` directly, never calling `labwire_event::EventId::derive` (a verifier that
//! shares the implementation it checks cannot catch a change to it). For a message event:
//!
//! ```text
//! SHA-256( lp(site) lp(instrument) lp(protocol) lp(kind) lp(message bytes)
//!          u32be(index) lp("") )[0..16] as lowercase hex,   lp(x) = u64be(len x) || x
//! ```

use labwire_event::{EventId, EventKind, InstrumentId, Protocol, SiteId};
use sha2::{Digest, Sha256};

/// The id labwire gives event number `index` of kind `kind` decoded from `message`.
pub fn expected_event_id(
    site: &SiteId,
    instrument: &InstrumentId,
    protocol: Protocol,
    kind: EventKind,
    message: &[u8],
    index: u32,
) -> EventId {
    let protocol_name: &[u8] = match protocol {
        Protocol::Astm => b"astm",
        Protocol::Hl7 => b"hl7",
        Protocol::Modbus => b"modbus",
        Protocol::Serial => b"serial",
    };
    let kind_name: &[u8] = match kind {
        EventKind::Result => b"result",
        EventKind::Qc => b"qc",
        EventKind::Order => b"order",
        EventKind::Telemetry => b"telemetry",
        EventKind::Status => b"status",
        EventKind::Error => b"error",
        EventKind::Query => b"query",
    };
    let mut input = Vec::with_capacity(message.len() + 128);
    for part in [
        site.as_str().as_bytes(),
        instrument.as_str().as_bytes(),
        protocol_name,
        kind_name,
        message,
    ] {
        input.extend_from_slice(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        input.extend_from_slice(part);
    }
    input.extend_from_slice(&index.to_be_bytes());
    // An empty situation: eight zero bytes of length, nothing after.
    input.extend_from_slice(&[0u8; 8]);
    let digest = Sha256::digest(&input);
    let mut hex = String::with_capacity(32);
    for byte in digest.iter().take(16) {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
    EventId::from_string(hex)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A fixed vector, computed by hand from the specification with a different tool
    /// (Python's `hashlib`; the vector is also in `docs/events.md`): pins the format so that a change on either side shows.
    #[test]
    fn matches_the_documented_vector() {
        let site = SiteId::new("site-a").unwrap();
        let inst = InstrumentId::new("c311").unwrap();
        let id = expected_event_id(
            &site,
            &inst,
            Protocol::Astm,
            EventKind::Result,
            b"H|\\^&\rL|1|N\r",
            0,
        );
        assert_eq!(id.as_str(), VECTOR);
    }

    const VECTOR: &str = "5d1fb46fec2e74820ddba34f9e5a943a";
}
