//! Every size limit of the input path, in one place.
//!
//! The MLLP framer, the ER7 decoder, the ACK builder's re-parse (HL7 v2.5 Appendix C, §2.9),
//! the ASTM E1381 frame and message assembly (§8.3), the router's configuration defaults
//! (`max_frame_bytes`, `max_message_bytes` of `[[instrument]]`) and `check-config`'s bus warning
//! all read these constants, so a default changes here or nowhere.
//!
//! The bus bounds one more thing labwire does not choose: a NATS server refuses any publish
//! larger than its `max_payload` (1 MiB unless the server is configured otherwise; the server
//! announces its value when a client connects). An event carries its message's `raw` bytes as a
//! JSON string, so a message near [`NATS_DEFAULT_MAX_PAYLOAD`] may not fit on a default server:
//! see [`fits_on_bus`].

/// Largest assembled message an instrument may send by default (`max_message_bytes`): 4 MiB.
///
/// Used by the HL7 MLLP framer and ER7 decoder (one MLLP block is one message or batch), and by
/// the ASTM message assembly. The largest real message seen is about 32 KB; embedded PDFs in
/// OBX-5 reach a few MiB.
pub const DEFAULT_MESSAGE_BYTES: usize = 4 << 20;

/// Smallest `max_message_bytes` the configuration accepts: 1 KiB.
pub const MIN_MESSAGE_BYTES: usize = 1 << 10;

/// Largest `max_message_bytes` the configuration accepts: 64 MiB.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Largest ASTM E1381 frame text by default (`max_frame_bytes`): 64 KiB.
///
/// LIS1-A frames hold at most 240 characters, but real analysers send single frames of 26 KB.
pub const DEFAULT_FRAME_BYTES: usize = 64 << 10;

/// Smallest `max_frame_bytes` the configuration accepts: 256 bytes.
pub const MIN_FRAME_BYTES: usize = 256;

/// Largest `max_frame_bytes` the configuration accepts: 16 MiB.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// The NATS server's default `max_payload`: 1 MiB. The real value is known only once connected
/// (the server announces it); configuration checks warn against this one.
pub const NATS_DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// Room an event needs on the bus besides its message's `raw` bytes (ids, origin, parsed
/// fields, headers): 64 KiB. Generous on purpose; a lab event's JSON without `raw` is a few KB.
pub const EVENT_OVERHEAD_BYTES: usize = 64 << 10;

/// Most bytes of JSON an event's `raw` text may take: 256 KiB. Longer text is cut at a
/// character boundary and the event carries a note (see [`crate::BoundedRaw`]), so `raw` alone
/// never pushes an event past a default bus's `max_payload`; the parsed fields carry the
/// content. All events of one message share one copy of `raw`.
pub const MAX_RAW_JSON_BYTES: usize = 256 << 10;

/// Memory the events of one message may take, per byte of message: 4. With
/// [`OUTPUT_BASE_BYTES`] this bounds a message's events whatever its shape (many groups, a large
/// field copied into every group): mapping stops with a clear error past
/// [`max_output_bytes`]. A dense real message needs about 3.5 bytes of event per byte.
pub const OUTPUT_BYTES_PER_MESSAGE_BYTE: usize = 4;

/// Memory the events of any message may take on top of [`OUTPUT_BYTES_PER_MESSAGE_BYTE`]:
/// 16 MiB (a lab message's events take a few hundred KB at most).
pub const OUTPUT_BASE_BYTES: usize = 16 << 20;

/// Most bytes of memory the events of a message of `message_bytes` may take (estimated by
/// [`crate::OutputBudget`]).
pub fn max_output_bytes(message_bytes: usize) -> usize {
    message_bytes
        .saturating_mul(OUTPUT_BYTES_PER_MESSAGE_BYTE)
        .saturating_add(OUTPUT_BASE_BYTES)
}

/// Most bytes of the offending input an `error` event carries in `raw` when the input itself
/// cannot be stored (a message larger than the bus accepts): 4 KiB, the start of the message,
/// enough to see its header and first segments or records.
pub const ERROR_EXCERPT_BYTES: usize = 4 << 10;

/// Largest message whose events surely fit in one publish on a bus with this `max_payload`.
///
/// `raw` is carried as a JSON string: bytes that JSON escapes (`\r` between segments, other
/// control characters) grow, so this is a lower bound for typical messages (one escaped
/// separator per segment), not a promise for every message.
pub fn largest_message_for(max_payload: usize) -> usize {
    // Segment separators (`\r`) take two bytes in JSON; assume one in eight bytes is escaped.
    max_payload.saturating_sub(EVENT_OVERHEAD_BYTES) / 9 * 8
}

/// True when a message of `message_bytes` surely fits on a bus with this `max_payload`
/// (see [`largest_message_for`]).
pub fn fits_on_bus(message_bytes: usize, max_payload: usize) -> bool {
    message_bytes <= largest_message_for(max_payload)
}

// The defaults lie inside the configurable ranges, and a frame fits in a message: checked when
// this crate compiles.
const _: () =
    assert!(MIN_FRAME_BYTES <= DEFAULT_FRAME_BYTES && DEFAULT_FRAME_BYTES <= MAX_FRAME_BYTES);
const _: () = assert!(
    MIN_MESSAGE_BYTES <= DEFAULT_MESSAGE_BYTES && DEFAULT_MESSAGE_BYTES <= MAX_MESSAGE_BYTES
);
const _: () = assert!(DEFAULT_FRAME_BYTES <= DEFAULT_MESSAGE_BYTES);
// `raw` leaves room for the parsed fields under a default bus's `max_payload`.
const _: () = assert!(MAX_RAW_JSON_BYTES + EVENT_OVERHEAD_BYTES < NATS_DEFAULT_MAX_PAYLOAD / 2);
// An error event with its excerpt fits on a default bus even if JSON escapes every byte (`\u00XX`).
const _: () = assert!(ERROR_EXCERPT_BYTES * 6 + EVENT_OVERHEAD_BYTES <= NATS_DEFAULT_MAX_PAYLOAD);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_message_does_not_surely_fit_a_default_bus() {
        assert!(!fits_on_bus(
            DEFAULT_MESSAGE_BYTES,
            NATS_DEFAULT_MAX_PAYLOAD
        ));
        assert!(fits_on_bus(32_000, NATS_DEFAULT_MAX_PAYLOAD));
        assert!(!fits_on_bus(2 << 20, NATS_DEFAULT_MAX_PAYLOAD));
        assert_eq!(largest_message_for(10), 0);
    }
}
