//! The canonical labwire event, `labwire.event/v1`.
//!
//! Every instrument message, whatever its protocol, becomes one or more [`Event`]s: one per
//! specimen/order group for results, one per query, one per rejected input. Lab applications
//! subscribe to these events on the local NATS bus (subjects in [`subject`]); the JSON form is a
//! public contract (see `docs/events.md` and the shared conventions, §3).
//!
//! Patient data lives in [`Event::patient`], [`Event::specimen`], [`Event::comments`],
//! [`Event::query`] and [`Event::raw`]. It stays on the local bus: the uplink never sees this type.
//! `Debug` output of [`Patient`] is redacted so that a stray `{:?}` in a log cannot leak a name.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bounded;
mod id;
mod ids;
pub mod limits;
mod order;
mod time;

pub use bounded::{BoundedRaw, OutputBudget, OutputExceeded};
pub use id::{EventId, MessageIds};
pub use ids::{IdError, InstrumentId, SiteId};
pub use order::{COMMAND_SCHEMA, Command, Order, QueryReply};
pub use time::normalize_message_time;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The schema tag carried by every event; bumped only with a changelog entry.
pub const SCHEMA: &str = "labwire.event/v1";

/// What an event is about; also the last token of its NATS subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Patient results: one event per specimen/order group.
    Result,
    /// Quality-control results.
    Qc,
    /// Orders the instrument reports or echoes.
    Order,
    /// Readings from Modbus or serial-line devices.
    Telemetry,
    /// Connection up/down, instrument status and alarms.
    Status,
    /// Rejected input: reason, byte offset and the raw bytes.
    Error,
    /// A host query: "which tests for this specimen?".
    Query,
}

impl EventKind {
    /// The subject token for this kind (`result`, `qc`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Result => "result",
            Self::Qc => "qc",
            Self::Order => "order",
            Self::Telemetry => "telemetry",
            Self::Status => "status",
            Self::Error => "error",
            Self::Query => "query",
        }
    }
}

/// The wire protocol an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// ASTM E1381/E1394 (CLSI LIS1-A / LIS2-A2).
    Astm,
    /// HL7 v2 (ER7), usually over MLLP.
    Hl7,
    /// Modbus TCP or RTU.
    Modbus,
    /// A simple line-oriented serial device.
    Serial,
}

impl Protocol {
    /// The lowercase name used in events and ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Astm => "astm",
            Self::Hl7 => "hl7",
            Self::Modbus => "modbus",
            Self::Serial => "serial",
        }
    }
}

/// The canonical event (`labwire.event/v1`).
///
/// Fields the message does not carry are `None` (serialised as `null`) or empty; a mapping never
/// invents values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Stable id: the same input bytes from the same instrument always give the same id.
    pub id: EventId,
    /// The site (lab) this event was produced in.
    pub site: SiteId,
    /// The instrument the message came from.
    pub instrument: InstrumentId,
    /// What the event is about.
    pub kind: EventKind,
    /// The protocol the message arrived in.
    pub protocol: Protocol,
    /// When labwire received the message (UTC).
    pub received_at: jiff::Timestamp,
    /// The timestamp of the message header, as ISO 8601 (offset kept when the message has one).
    pub message_time: Option<String>,
    /// The sending instrument or system, from the message header.
    pub sender: Option<Sender>,
    /// The patient (patient data: local only).
    pub patient: Option<Patient>,
    /// The specimen (patient data: local only).
    pub specimen: Option<Specimen>,
    /// Observations (results), or ordered tests for `order` events (value `None`).
    #[serde(default)]
    pub observations: Vec<Observation>,
    /// Free-text comments (patient data: local only).
    #[serde(default)]
    pub comments: Vec<String>,
    /// Host query details, for `query` events (patient data: local only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<HostQuery>,
    /// Why the input was rejected, for `error` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<InputError>,
    /// Link or instrument status, for `status` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The original message text (patient data: local only).
    ///
    /// Shared, not copied, by the events of one message, and cut at
    /// [`limits::MAX_RAW_JSON_BYTES`] of JSON with a note ([`BoundedRaw`]).
    pub raw: Option<Arc<str>>,
    /// Notes for people about how the message was read: leniencies applied (e.g. standard
    /// delimiters for an empty ASTM H-2) or `raw` cut at its limit. Name positions and field
    /// ids, never message content. Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Event {
    /// An event with the identity fields set and every content field empty.
    ///
    /// Mappings start here and fill in what the message carries.
    pub fn new(
        id: EventId,
        site: SiteId,
        instrument: InstrumentId,
        kind: EventKind,
        protocol: Protocol,
        received_at: jiff::Timestamp,
    ) -> Self {
        Self {
            schema: SCHEMA.to_owned(),
            id,
            site,
            instrument,
            kind,
            protocol,
            received_at,
            message_time: None,
            sender: None,
            patient: None,
            specimen: None,
            observations: Vec::new(),
            comments: Vec::new(),
            query: None,
            error: None,
            status: None,
            raw: None,
            notes: Vec::new(),
        }
    }

    /// The NATS subject this event is published on: `lab.<site>.<instrument>.<kind>`.
    pub fn subject(&self) -> String {
        subject(&self.site, &self.instrument, self.kind)
    }
}

/// Where and when a message was received: the context every protocol mapping needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The site (lab).
    pub site: SiteId,
    /// The instrument the bytes came from.
    pub instrument: InstrumentId,
    /// When labwire received the message.
    pub received_at: jiff::Timestamp,
}

impl Origin {
    /// An empty event of `kind` for event number `index` of the message `raw` from this origin.
    pub fn event(&self, kind: EventKind, protocol: Protocol, raw: &[u8], index: u32) -> Event {
        let id = EventId::derive(&self.site, &self.instrument, protocol, kind, raw, index);
        self.event_with_id(id, kind, protocol)
    }

    /// An empty event of `kind` with an id already derived (e.g. by [`MessageIds`]).
    pub fn event_with_id(&self, id: EventId, kind: EventKind, protocol: Protocol) -> Event {
        Event::new(
            id,
            self.site.clone(),
            self.instrument.clone(),
            kind,
            protocol,
            self.received_at,
        )
    }

    /// Ids for the events of one message `raw`: the message is hashed once per kind, not once
    /// per event (a message of many groups would otherwise be hashed as many times).
    pub fn message_ids<'a>(&'a self, protocol: Protocol, raw: &'a [u8]) -> MessageIds<'a> {
        MessageIds::new(&self.site, &self.instrument, protocol, raw)
    }

    /// An `error` event about the input `raw` (possibly empty) from this origin: its id covers
    /// the reason and offset, and the receive time when `raw` is empty
    /// ([`EventId::derive_error`]), so distinct problems stay distinct while a retransmitted bad
    /// message keeps its id. `raw` is kept in [`Event::raw`] (lossy UTF-8), cut at
    /// [`limits::MAX_RAW_JSON_BYTES`] of JSON with a note (see [`BoundedRaw`]).
    pub fn error_event(&self, protocol: Protocol, raw: &[u8], error: InputError) -> Event {
        let id = EventId::derive_error(
            &self.site,
            &self.instrument,
            protocol,
            raw,
            &error,
            self.received_at,
        );
        let mut ev = Event::new(
            id,
            self.site.clone(),
            self.instrument.clone(),
            EventKind::Error,
            protocol,
            self.received_at,
        );
        BoundedRaw::new(&String::from_utf8_lossy(raw)).apply(&mut ev);
        ev.error = Some(error);
        ev
    }
}

/// The NATS subject for a site, instrument and kind: `lab.<site>.<instrument>.<kind>`.
pub fn subject(site: &SiteId, instrument: &InstrumentId, kind: EventKind) -> String {
    format!("lab.{}.{}.{}", site, instrument, kind.as_str())
}

/// The subject apps send orders to for one instrument: `lab.<site>.<instrument>.cmd`.
pub fn command_subject(site: &SiteId, instrument: &InstrumentId) -> String {
    format!("lab.{site}.{instrument}.cmd")
}

/// The sending instrument or system, from the message header (ASTM H-5, HL7 MSH-3/MSH-4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Instrument or application name.
    pub name: Option<String>,
    /// Software version.
    pub version: Option<String>,
    /// Serial number or facility.
    pub serial: Option<String>,
}

/// The patient a message is about. Patient data: never leaves the site.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    /// Patient identifier (ASTM P-3/P-4/P-5, HL7 PID-3).
    pub id: Option<String>,
    /// Patient name, components joined by spaces in the message's order.
    pub name: Option<String>,
    /// Birth date as ISO 8601.
    pub birth_date: Option<String>,
    /// Administrative sex as sent (`M`, `F`, `U`, …).
    pub sex: Option<String>,
}

impl std::fmt::Debug for Patient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Patient(<redacted>)")
    }
}

/// The specimen (sample) a message is about. Patient data: never leaves the site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Specimen {
    /// Specimen id / accession number / barcode (ASTM O-3, HL7 SPM-2 or OBR-3).
    pub id: Option<String>,
    /// Specimen type (serum, urine, …) when the message says so.
    #[serde(rename = "type")]
    pub specimen_type: Option<String>,
}

/// One observation (result) or, in an `order` event, one ordered test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The test code (ASTM R-3 4th component, else first non-empty; HL7 OBX-3.1).
    pub code: Option<String>,
    /// The whole test id field as sent, unescaped.
    pub test_id: Option<String>,
    /// The test name when the message carries one.
    pub name: Option<String>,
    /// The value as text (ASTM R-4, HL7 OBX-5), unescaped and trimmed.
    pub value: Option<String>,
    /// Units.
    pub units: Option<String>,
    /// Reference range.
    pub reference_range: Option<String>,
    /// Abnormal flags (`H`, `L`, `A`, …).
    #[serde(default)]
    pub flags: Vec<String>,
    /// Result status (`F` final, `P` preliminary, `C` correction, …).
    pub status: Option<String>,
    /// When the test completed, ISO 8601.
    pub completed_at: Option<String>,
}

/// What an instrument asks in a host query. Patient data: never leaves the site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostQuery {
    /// The specimen ids asked about.
    #[serde(default)]
    pub specimen_ids: Vec<String>,
    /// The tests asked about (`ALL` when the instrument asks for everything).
    #[serde(default)]
    pub tests: Vec<String>,
    /// The request status code (ASTM Q-13, e.g. `O` orders only), when sent.
    pub status_code: Option<String>,
    /// The protocol's own query identifier (HL7 QPD-2 query tag, MSH-10), when sent.
    pub query_tag: Option<String>,
}

/// Why an input was rejected (for `error` events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputError {
    /// A human-readable reason.
    pub reason: String,
    /// Byte offset of the problem inside the received bytes, when known.
    pub offset: Option<u64>,
}

/// Link or instrument status (for `status` events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// What happened: `connected`, `disconnected`, `link-error`, `spool-full`, …
    pub state: String,
    /// Extra detail for people (no patient data).
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_serialises_with_the_documented_field_names() {
        let site = SiteId::new("site-a").unwrap();
        let inst = InstrumentId::new("cobas-1").unwrap();
        let id = EventId::derive(
            &site,
            &inst,
            Protocol::Astm,
            EventKind::Result,
            b"H|\\^&\r",
            0,
        );
        let mut ev = Event::new(
            id,
            site,
            inst,
            EventKind::Result,
            Protocol::Astm,
            "2026-11-26T10:15:00.123Z".parse().unwrap(),
        );
        ev.specimen = Some(Specimen {
            id: Some("S1".into()),
            specimen_type: Some("serum".into()),
        });
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["schema"], "labwire.event/v1");
        assert_eq!(json["kind"], "result");
        assert_eq!(json["protocol"], "astm");
        assert_eq!(json["received_at"], "2026-11-26T10:15:00.123Z");
        assert_eq!(json["specimen"]["type"], "serum");
        assert!(json["patient"].is_null());
        assert!(json.get("query").is_none());
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
        assert_eq!(ev.subject(), "lab.site-a.cobas-1.result");
    }

    #[test]
    fn patient_debug_is_redacted() {
        let p = Patient {
            id: Some("MRN123".into()),
            name: Some("Doe John".into()),
            birth_date: None,
            sex: None,
        };
        let s = format!("{p:?}");
        assert!(!s.contains("Doe"));
        assert!(!s.contains("MRN123"));
    }
}
