//! End-to-end tests of the `labwire` binary's command line (conventions §4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod demo;
mod durations;
mod hub;
mod modbus_interop;
mod modbus_run;
mod parse;
mod render;
mod run;
