//! Modbus TCP and RTU devices polled by labwire as the master (shared conventions §6; Modbus
//! Application Protocol Specification V1.1b3, Modbus over Serial Line V1.02, Modbus Messaging on
//! TCP/IP Implementation Guide V1.0b).
//!
//! One physical line (a TCP gateway or device address, or an RS-485 serial port) has exactly one
//! owner: a [`scheduler`] task that sends one request at a time for every unit on the line,
//! keeps the RTU inter-frame silence, gives each request its own deadline, backs off per unit so
//! a dead unit never stalls the others, and reconnects the line with backoff. Each device's
//! profile (`labwire-modbus-map`) says what to read; readings become `telemetry` events through
//! the same durability gate ([`crate::Ingest`]) as the analysers' results, change-only beyond
//! each point's deadband plus a periodic keep-alive; `status` events say `up`, `down` and alarms.
//!
//! - [`line`]: the connection (tokio-modbus client context) with timeouts and reconnects.
//! - [`device`]: one unit's schedule, change filters, alarms and events.
//! - [`scheduler`]: the line owner loop.
//! - [`site`]: grouping a site's Modbus instruments by physical line.

pub mod device;
pub mod line;
pub mod scheduler;
pub mod site;

pub use device::{DeviceSpec, PollCounters};
pub use line::{LineEndpoint, LineFault};
pub use scheduler::{LineDevice, run_line};
