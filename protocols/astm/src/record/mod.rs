//! ASTM E1394 / CLSI LIS2-A2 records: a zero-copy, bounded parser and an encoder.
//!
//! [`messages`] splits text (already deframed from E1381) into [`Message`]s; a message hands out
//! [`Record`]s, a record its [`Field`]s (1-based: field 1 is the record type ID), a field its
//! repeats and [`Component`]s. Nothing is copied or allocated until a value with an escape
//! sequence is unescaped (§5.7, see [`unescape`]). Limits on message size, record and field
//! counts ([`Limits`]) are checked while splitting. [`mod@write`] builds messages with correct
//! escaping. Section numbers refer to CLSI LIS2-A2 (ASTM E1394-97).

mod delimiters;
mod error;
mod escape;
mod field;
mod message;
#[allow(clippy::module_inception)]
mod record;
mod scan;
pub mod write;

pub use delimiters::Delimiters;
pub use error::{RecordError, RecordErrorKind};
pub use escape::{escape_into, unescape};
pub use field::{Component, Field};
pub use message::{Limits, Message, Messages, Records, messages};
pub use record::{Fields, Record, RecordType};

/// Fuzz body for the record parser: splits `data` into messages and reads every field,
/// repeat and component, unescaping each. Must never panic; used by `fuzz/fuzz_targets/
/// astm_records.rs` and replayed on stable by `tests/fuzz_replay_records.rs`.
pub fn fuzz_entry(data: &[u8]) {
    let limits = Limits::default();
    for message in messages(data, &limits).flatten() {
        for record in message.records() {
            let _ = record.record_type();
            for field in record.fields() {
                let _ = field.unescaped();
                for repeat in field.repeats() {
                    for component in repeat.components() {
                        let _ = component.unescaped();
                    }
                }
            }
        }
    }
}
