//! labwire instrument simulators.
//!
//! Simulated lab instruments that talk to labwire the way real ones do, to test it end to end:
//!
//! - [`profile`]: dialect profiles (TOML) modelled on real instruments in `testdata/corpus`.
//! - [`traffic`]: deterministic, seeded patients, specimens, results, QC runs and host queries.
//! - [`message`]: the ASTM E1394 / HL7 v2 text for each work item, with what labwire should
//!   decode from it.
//! - [`astm_session`], [`hl7_session`]: the instruments on the wire (ASTM drives
//!   `labwire_astm::link::Link` in the instrument role; HL7 uses labwire-hl7's MLLP framer).
//! - [`fault`], [`wire`]: fault plans and the fault layer between instrument and socket.
//! - [`replay`]: capture files sent with their original framing.
//! - [`ledger`], [`verify`]: what was sent and acknowledged, checked against the NATS bus.
//! - [`runner`]: several instruments at a rate, for a count or a duration.
//! - [`modbus`]: Modbus devices (TCP, RTU) driven by device profiles, with faults.
//!
//! See `docs/simulators.md` for the profile keys, fault plans and the ledger/verifier contract.

mod astm_message;
pub mod expected_id;
mod hl7_message;
pub mod message;
pub mod modbus;
pub mod profile;
pub mod replay;
pub mod runner;
pub mod text;
pub mod traffic;
pub mod verify;

pub use message::{ExpectedObservation, SimMessage};
pub use profile::{Profile, ProfileError, WireProtocol};
pub use traffic::{Traffic, TrafficConfig, Work};
pub mod astm_session;
pub mod fault;
pub mod hl7_session;
mod instrument;
pub mod ledger;
pub mod wire;
