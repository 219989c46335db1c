//! Orders that lab applications send down to instruments, and host-query answers.
//!
//! Apps publish a [`Command`] on `lab.<site>.<instrument>.cmd` (JetStream) to download orders,
//! and answer a `query` event's NATS request with a [`QueryReply`]. Both are JSON. Connectors
//! turn them into the instrument's protocol (ASTM O records, HL7 OML^O33 / RSP^K11).

use crate::Patient;
use serde::{Deserialize, Serialize};

/// Schema tag of [`Command`].
pub const COMMAND_SCHEMA: &str = "labwire.command/v1";

/// One order: which tests to run on which specimen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The specimen id / barcode the instrument will see.
    pub specimen_id: String,
    /// Test codes in the instrument's own coding (e.g. `GLU`, `685`).
    pub tests: Vec<String>,
    /// Priority (`S` stat, `R` routine, …), when the app sets one.
    #[serde(default)]
    pub priority: Option<String>,
    /// Specimen type (serum, urine, …), when the app sets one.
    #[serde(default)]
    pub specimen_type: Option<String>,
    /// The patient, when the instrument needs demographics (patient data: local only).
    #[serde(default)]
    pub patient: Option<Patient>,
    /// Cancel instead of add (`true` → ASTM action code `C`, HL7 ORC-1 `CA`).
    #[serde(default)]
    pub cancel: bool,
}

/// An app's answer to a host query: the orders for the queried specimens; empty means
/// "no orders" and is sent to the instrument as such.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryReply {
    /// Orders to send back.
    #[serde(default)]
    pub orders: Vec<Order>,
}

/// An order download, published by an app on `lab.<site>.<instrument>.cmd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Always [`COMMAND_SCHEMA`].
    pub schema: String,
    /// The app's id for this command; also its `Nats-Msg-Id`, so a resent command is stored once.
    pub id: String,
    /// The orders to download.
    pub orders: Vec<Order>,
}
