//! Modbus limits, each with its source (Modbus Application Protocol Specification V1.1b3,
//! "MB AP"; Modbus over Serial Line Specification V1.02, "MB SL").

/// MB AP §6.3/§6.4 (0x03, 0x04): "Quantity of Registers 1 to 125 (0x7D)" per read request.
pub const MAX_READ_REGISTERS: u16 = 125;

/// MB AP §6.1/§6.2 (0x01, 0x02): "Quantity of coils/inputs 1 to 2000 (0x7D0)" per read request.
pub const MAX_READ_BITS: u16 = 2000;

/// MB AP §6.12 (0x10): "Quantity of Registers 1 to 123 (0x7B)" per write request.
pub const MAX_WRITE_REGISTERS: u16 = 123;

/// MB AP §4.3: the data model addresses 65 536 items per table (PDU addresses 0 to 65 535).
pub const ADDRESS_SPACE: u32 = 65_536;

/// MB SL §2.2 and §2.5.1.1: unit (slave) addresses 1–247 are devices, 0 is broadcast (writes
/// only, no answer); 248–255 are reserved.
pub const MAX_UNIT_ID: u8 = 247;

/// Largest unused gap (registers or bits) bridged when coalescing neighbouring points into one
/// read. Bridging reads addresses no point names; a device that refuses them answers "illegal
/// data address" and the read is split (see [`crate::plan`]).
pub const DEFAULT_MAX_GAP: u16 = 8;

/// Most points one profile may define (a bound on memory and on one telemetry event's size).
pub const MAX_POINTS: usize = 1024;

/// Largest profile file read (bytes).
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Most decimal places a reading is written with (more is noise from the float arithmetic).
pub const MAX_DECIMALS: u32 = 9;
