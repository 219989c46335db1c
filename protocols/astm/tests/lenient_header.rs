//! Issue 9 item 10 (ASTM part): an H record with an empty delimiter definition (H-2) gets the
//! standard delimiters, and the events say so in `notes` (without patient data).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_astm::canonical::{DecodeOptions, message_to_events};
use labwire_event::{EventKind, InstrumentId, Origin, SiteId};

fn origin() -> Origin {
    Origin {
        site: SiteId::new("site-a").unwrap(),
        instrument: InstrumentId::new("c311").unwrap(),
        received_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    }
}

#[test]
fn an_empty_delimiter_definition_gets_the_standard_delimiters_and_a_note() {
    let text = b"H||||c311^1.0|||||||P|LIS2-A2|20240203132011\r\
P|1||PID1||Doe^John\r\
O|1|S1||^^^GLU\r\
R|1|^^^GLU|5.4^^|mmol/L|3.9-6.1|N||F\r\
L|1|N\r";
    let events = message_to_events(text, &origin(), &DecodeOptions::default()).unwrap();
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.kind, EventKind::Result);
    assert_eq!(ev.observations[0].code.as_deref(), Some("GLU"));
    assert_eq!(ev.observations[0].value.as_deref(), Some("5.4"));
    assert_eq!(
        ev.patient.as_ref().unwrap().name.as_deref(),
        Some("Doe John")
    );
    assert_eq!(ev.sender.as_ref().unwrap().name.as_deref(), Some("c311"));
    assert_eq!(ev.message_time.as_deref(), Some("2024-02-03T13:20:11"));
    assert_eq!(ev.notes.len(), 1, "{:?}", ev.notes);
    assert!(ev.notes[0].contains("H-2"), "{:?}", ev.notes);
    for secret in ["PID1", "Doe", "John", "S1"] {
        assert!(!ev.notes[0].contains(secret));
    }
    let json = serde_json::to_value(ev).unwrap();
    assert_eq!(json["notes"][0], ev.notes[0].as_str());
}

#[test]
fn a_standard_header_has_no_notes() {
    let text = b"H|\\^&|||c311\rP|1\rO|1|S1||^^^GLU\rR|1|^^^GLU|5.4\rL|1|N\r";
    let events = message_to_events(text, &origin(), &DecodeOptions::default()).unwrap();
    assert!(events[0].notes.is_empty());
    let json = serde_json::to_value(&events[0]).unwrap();
    assert!(json.get("notes").is_none(), "absent when empty");
}

#[test]
fn a_bad_non_empty_definition_is_still_refused() {
    let text = b"H|\\^|||c311\rL|1|N\r";
    assert!(message_to_events(text, &origin(), &DecodeOptions::default()).is_err());
}
