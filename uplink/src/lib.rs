//! labwire uplink: de-identified telemetry from a site to the regional hub (shared conventions §7).
//!
//! - [`record`]: the typed `labwire.telemetry/v1` records. None of their fields can hold free
//!   text or an identifier: text is a closed enum or a [`code`] newtype that only accepts a strict
//!   pattern.
//! - [`build`]: one allow-list builder per record kind, from counters and already-typed samples.
//! - [`volume`]: minimum cell size and complementary suppression of result counts.
//! - [`westgard`]: Westgard multirule QC flags.
//! - [`id`]: content ids, stable across resends.
//! - [`outbox`]: the durable, bounded, prioritised SQLite outbox.
//! - [`broker`]: the broker address, mutual TLS and rumqttc options.
//! - [`service`]: the uplink task (inputs, summaries, outbox, MQTT QoS 1 with PUBACK tracking).
//!
//! The crate does not depend on `labwire-event`: its inputs are counters and typed samples, so
//! no patient, specimen, comment or raw field is reachable from here (docs/uplink.md).

pub mod broker;
pub mod build;
pub mod code;
pub mod id;
pub mod outbox;
pub mod record;
pub mod service;
pub mod summaries;
pub mod volume;
pub mod westgard;

pub use code::{CodeError, ControlLevel, InstrumentRef, SiteRef, TestCode, Unit, Version};
pub use record::{Kind, Priority, Record};
