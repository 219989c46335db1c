//! labwire device profiles: what a Modbus device's registers mean, as data.
//!
//! A device profile (TOML, one file per device model; shared conventions §6) names each point,
//! where it lives (table and 0-based PDU address), how its registers decode (type, word and byte
//! order) and how the raw number becomes a reading (`scale`, `offset`, UCUM `unit`). This crate is
//! pure: it parses and validates profiles, plans coalesced reads, decodes register images into
//! plain decimal strings, and tracks deadbands and alarms. The connectors own sockets, serial
//! ports and timers (`labwire-connectors`, module `modbus`).
//!
//! - [`profile`]: the profile model, parsing with line/column errors, built-in profiles.
//! - [`decode`]: register image → typed value → scaled reading → decimal text without exponent.
//! - [`plan`]: neighbouring points coalesced into one read within the spec's limits.
//! - [`alarm`]: low/high alarms with hysteresis and a minimum duration, on caller-given time.
//! - [`change`]: change-only reporting beyond a deadband, with a periodic keep-alive.
//! - [`limits`]: every Modbus limit, with its source in the specification.
#![forbid(unsafe_code)]

pub mod alarm;
pub mod change;
pub mod decode;
pub mod limits;
pub mod plan;
pub mod profile;

pub use alarm::{AlarmChange, AlarmLevel, AlarmTracker};
pub use change::ChangeFilter;
pub use decode::{DecodeError, Reading, decode_bits, decode_registers, encode_registers};
pub use plan::{ReadBlock, plan_reads};
pub use profile::{
    AlarmLimits, ByteOrder, DeviceProfile, Point, ProfileError, ProfileErrors, Table, ValueType,
    builtin_names, builtin_profile, load_profile, parse_profile,
};
