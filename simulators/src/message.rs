//! One generated instrument message: the exact bytes labwire will decode, plus what labwire should
//! make of them (kind, specimen ids, observations, event ids).

use crate::profile::{Profile, WireProtocol};
use crate::traffic::Work;
use labwire_event::{EventId, EventKind, InstrumentId, Protocol, SiteId};

/// An observation the simulator expects labwire to decode from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedObservation {
    /// Test code.
    pub code: String,
    /// Value text.
    pub value: String,
    /// Units.
    pub units: String,
    /// Abnormal flag (`N`, `L`, `H`, `A`).
    pub flag: String,
}

/// A message ready to be framed and sent.
#[derive(Debug, Clone)]
pub struct SimMessage {
    /// Wire protocol.
    pub protocol: WireProtocol,
    /// The event kind labwire should derive (`result`, `qc`, `query`).
    pub kind: EventKind,
    /// The message bytes labwire decodes: ASTM record text (H..L with record terminators, before
    /// E1381 framing), HL7 ER7 text (between MLLP VT and FS).
    pub bytes: Vec<u8>,
    /// The message control id (ASTM H-3, HL7 MSH-10).
    pub control_id: String,
    /// Specimen / control ids in the message.
    pub specimen_ids: Vec<String>,
    /// Observations labwire should decode (empty for queries).
    pub expected: Vec<ExpectedObservation>,
    /// How many events labwire derives from the message (one per specimen/order group).
    pub event_count: u32,
}

impl SimMessage {
    /// Builds the message for `work` in the profile's dialect; `seq` numbers messages of one
    /// instrument and becomes the control id.
    pub fn build(profile: &Profile, work: &Work, seq: u64) -> Self {
        match profile.protocol {
            WireProtocol::Astm => crate::astm_message::build(profile, work, seq),
            WireProtocol::Hl7 => crate::hl7_message::build(profile, work, seq),
        }
    }

    /// The labwire protocol of this message.
    pub fn event_protocol(&self) -> Protocol {
        match self.protocol {
            WireProtocol::Astm => Protocol::Astm,
            WireProtocol::Hl7 => Protocol::Hl7,
        }
    }

    /// The ids of the events labwire will publish for this message: computed independently
    /// of labwire's implementation ([`crate::expected_id`]) from the documented specification,
    /// over exactly [`SimMessage::bytes`], kind [`SimMessage::kind`], events numbered from 0.
    pub fn expected_event_ids(&self, site: &SiteId, instrument: &InstrumentId) -> Vec<EventId> {
        (0..self.event_count)
            .map(|i| {
                crate::expected_id::expected_event_id(
                    site,
                    instrument,
                    self.event_protocol(),
                    self.kind,
                    &self.bytes,
                    i,
                )
            })
            .collect()
    }
}

/// `YYYYMMDDHHMMSS`, the ASTM and HL7 timestamp form.
pub(crate) fn stamp(t: jiff::civil::DateTime) -> String {
    t.strftime("%Y%m%d%H%M%S").to_string()
}

pub(crate) fn expected_of(results: &[crate::traffic::ResultValue]) -> Vec<ExpectedObservation> {
    results
        .iter()
        .map(|r| ExpectedObservation {
            code: r.code.clone(),
            value: r.value.clone(),
            units: r.units.clone(),
            flag: r.flag.clone(),
        })
        .collect()
}
