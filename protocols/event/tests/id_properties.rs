//! Property tests of event ids (issue 9 item 3): distinct situations get distinct ids, while the
//! same message retransmitted keeps its id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use labwire_event::{EventKind, InputError, InstrumentId, Origin, Protocol, SiteId};
use proptest::prelude::*;

fn origin(at_ns: i64) -> Origin {
    Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("c311").unwrap(),
        received_at: jiff::Timestamp::from_nanosecond(i128::from(at_ns)).unwrap(),
    }
}

fn error(reason: &str, offset: Option<u64>) -> InputError {
    InputError {
        reason: reason.to_owned(),
        offset,
    }
}

fn kinds() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Result),
        Just(EventKind::Qc),
        Just(EventKind::Order),
        Just(EventKind::Query),
        Just(EventKind::Error),
        Just(EventKind::Status),
        Just(EventKind::Telemetry),
    ]
}

const NS: std::ops::Range<i64> = 0..4_000_000_000_000_000_000;

proptest! {
    /// A retransmitted message (same bytes, later) keeps the ids of all its events, whatever
    /// the kind, and a retransmitted bad message keeps its error id.
    #[test]
    fn retransmit_keeps_its_id(
        raw in proptest::collection::vec(any::<u8>(), 1..200),
        kind in kinds(),
        index in 0u32..50,
        reason in "[a-z ]{1,40}",
        offset in proptest::option::of(any::<u64>()),
        first in NS,
        later in NS,
    ) {
        let a = origin(first);
        let b = origin(later);
        prop_assert_eq!(
            a.event(kind, Protocol::Astm, &raw, index).id,
            b.event(kind, Protocol::Astm, &raw, index).id
        );
        prop_assert_eq!(
            a.error_event(Protocol::Astm, &raw, error(&reason, offset)).id,
            b.error_event(Protocol::Astm, &raw, error(&reason, offset)).id
        );
    }

    /// Two error events about nothing (empty raw) at different times are two events, even with
    /// the same reason and offset: JetStream must not deduplicate the second away.
    #[test]
    fn contentless_errors_at_different_times_differ(
        reason in "[a-z ]{1,40}",
        offset in proptest::option::of(any::<u64>()),
        first in NS,
        delta in 1i64..1_000_000_000_000,
    ) {
        let a = origin(first).error_event(Protocol::Astm, &[], error(&reason, offset));
        let b = origin(first + delta).error_event(Protocol::Astm, &[], error(&reason, offset));
        prop_assert_ne!(a.id, b.id);
    }

    /// Error events that differ in reason or offset differ in id, with or without raw bytes.
    #[test]
    fn different_reason_or_offset_differs(
        raw in proptest::collection::vec(any::<u8>(), 0..64),
        reason in "[a-z ]{1,40}",
        other in "[a-z ]{1,40}",
        offset in proptest::option::of(any::<u64>()),
        other_offset in proptest::option::of(any::<u64>()),
        at in NS,
    ) {
        let o = origin(at);
        let a = o.error_event(Protocol::Hl7, &raw, error(&reason, offset));
        if reason != other {
            let b = o.error_event(Protocol::Hl7, &raw, error(&other, offset));
            prop_assert_ne!(&a.id, &b.id);
        }
        if offset != other_offset {
            let b = o.error_event(Protocol::Hl7, &raw, error(&reason, other_offset));
            prop_assert_ne!(&a.id, &b.id);
        }
    }

    /// The kind is part of the id: the same bytes as a result and as an error (or a query) are
    /// different events, so one never deduplicates the other away.
    #[test]
    fn kind_is_part_of_the_id(
        raw in proptest::collection::vec(any::<u8>(), 0..64),
        a in kinds(),
        b in kinds(),
        index in 0u32..50,
    ) {
        prop_assume!(a != b);
        let o = origin(0);
        prop_assert_ne!(
            o.event(a, Protocol::Astm, &raw, index).id,
            o.event(b, Protocol::Astm, &raw, index).id
        );
        if a != EventKind::Error {
            let err = o.error_event(Protocol::Astm, &raw, error("x", None)).id;
            prop_assert_ne!(o.event(a, Protocol::Astm, &raw, index).id, err);
        }
    }
}
