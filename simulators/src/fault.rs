//! Fault plans: which wire faults a simulator injects, scripted per message or drawn at random.
//!
//! Faults live on the wire side, between what the simulated instrument means to send and the
//! socket, so the simulator's ledger stays truthful: a message counts as sent once, however many
//! times the fault layer made it go over the wire.
//!
//! A plan is TOML:
//!
//! ```toml
//! seed = 7                  # for the random part (default: the traffic seed)
//! [random]                  # probability per message, 0..=1
//! bad-checksum = 0.05
//! byte-by-byte = 0.1
//! [[fault]]                 # scripted: message number (0-based) and fault
//! message = 3
//! kind = "disconnect-mid-frame"
//! ```
//!
//! or a list on the command line: `none`, `all`, or `bad-checksum,garbage,...`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One kind of wire fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// ASTM: the first frame goes out with a wrong checksum once; the host must NAK, the
    /// simulator resends it correctly.
    BadChecksum,
    /// ASTM: the first frame goes out with a wrong frame number once (NAK, resend).
    WrongFrameNumber,
    /// ASTM: the instrument NAKs the first frame of the host's reply to a host query once.
    InstrumentNak,
    /// ASTM: the instrument ACKs the first frame of the host's reply only after the host's
    /// sender timer (15 s + 1 s) ran out.
    DelayedAck,
    /// ASTM: the instrument answers the host's ENQ with its own ENQ (contention; the instrument
    /// has priority), then ACKs the host's next ENQ.
    EnqContention,
    /// The connection is closed halfway through the message; the simulator reconnects and
    /// sends the message again.
    DisconnectMidFrame,
    /// Random non-protocol bytes before the message.
    Garbage,
    /// An extra frame (ASTM) or MLLP block (HL7) far over the peer's size limit before the
    /// message; the peer must refuse it without falling over.
    Oversize,
    /// The message goes out one byte per write.
    ByteByByte,
    /// The final ACK is treated as lost: the whole message is sent again, so labwire sees a
    /// retransmission of identical bytes (same event ids; the bus must store it once).
    LostAck,
    /// The instrument goes silent with the connection open (half-open) for
    /// [`FaultPlan::half_open_ms`], then drops it, reconnects and sends the message.
    HalfOpen,
    /// Connect and drop the connection [`FaultPlan::storm_connections`] times in a row before
    /// the message.
    ReconnectStorm,
}

impl FaultKind {
    /// Every fault kind, in a fixed order.
    pub const ALL: [Self; 12] = [
        Self::BadChecksum,
        Self::WrongFrameNumber,
        Self::InstrumentNak,
        Self::DelayedAck,
        Self::EnqContention,
        Self::DisconnectMidFrame,
        Self::Garbage,
        Self::Oversize,
        Self::ByteByByte,
        Self::LostAck,
        Self::HalfOpen,
        Self::ReconnectStorm,
    ];

    /// The kebab-case name used in TOML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadChecksum => "bad-checksum",
            Self::WrongFrameNumber => "wrong-frame-number",
            Self::InstrumentNak => "instrument-nak",
            Self::DelayedAck => "delayed-ack",
            Self::EnqContention => "enq-contention",
            Self::DisconnectMidFrame => "disconnect-mid-frame",
            Self::Garbage => "garbage",
            Self::Oversize => "oversize",
            Self::ByteByByte => "byte-by-byte",
            Self::LostAck => "lost-ack",
            Self::HalfOpen => "half-open",
            Self::ReconnectStorm => "reconnect-storm",
        }
    }

    /// Parses a kebab-case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Why a fault plan was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultPlanError {
    /// An unknown fault name in a list.
    #[error("unknown fault {0:?}; known: none, all, {names}", names = FaultKind::ALL.map(FaultKind::name).join(", "))]
    UnknownFault(String),
    /// Malformed TOML (with line and column).
    #[error("fault plan: {0}")]
    Toml(#[from] toml::de::Error),
    /// A probability outside 0..=1.
    #[error("fault plan: probability of {kind} must lie in 0..=1, got {p}")]
    Probability {
        /// Fault name.
        kind: &'static str,
        /// The value given.
        p: f64,
    },
    /// The plan file could not be read.
    #[error("reading fault plan {path}: {source}")]
    Io {
        /// Path given.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// One scripted fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFault {
    /// The message number (0-based, per instrument) the fault applies to.
    pub message: u64,
    /// The fault.
    pub kind: FaultKind,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    seed: Option<u64>,
    #[serde(default)]
    random: BTreeMap<FaultKind, f64>,
    #[serde(default)]
    fault: Vec<ScriptedFault>,
    half_open_ms: Option<u64>,
    storm_connections: Option<u32>,
    oversize_bytes: Option<usize>,
}

/// Which faults to inject into which message.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    scripted: Vec<ScriptedFault>,
    random: BTreeMap<FaultKind, f64>,
    rng: StdRng,
    /// How long a half-open connection stays silent (default 3 s).
    pub half_open_ms: u64,
    /// Connections opened and dropped by a reconnect storm (default 20).
    pub storm_connections: u32,
    /// Text size of an oversize frame/block (default 70,000 bytes: above a 64 KiB limit).
    pub oversize_bytes: usize,
}

/// Default probability of each fault when a list or `all` is given on the command line.
pub const DEFAULT_PROBABILITY: f64 = 0.05;

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        Self {
            scripted: Vec::new(),
            random: BTreeMap::new(),
            rng: StdRng::seed_from_u64(0),
            half_open_ms: 3_000,
            storm_connections: 20,
            oversize_bytes: 70_000,
        }
    }

    /// Every fault kind at probability `p` per message.
    pub fn all(p: f64, seed: u64) -> Self {
        Self::random(FaultKind::ALL.iter().map(|k| (*k, p)), seed)
    }

    /// Random faults with the given probabilities.
    pub fn random(probabilities: impl IntoIterator<Item = (FaultKind, f64)>, seed: u64) -> Self {
        Self {
            random: probabilities.into_iter().collect(),
            rng: StdRng::seed_from_u64(seed),
            ..Self::none()
        }
    }

    /// Scripted faults only.
    pub fn scripted(faults: Vec<ScriptedFault>) -> Self {
        Self {
            scripted: faults,
            ..Self::none()
        }
    }

    /// `none`, `all` or a comma list of fault names, each at probability `p`.
    pub fn from_list(list: &str, p: f64, seed: u64) -> Result<Self, FaultPlanError> {
        match list.trim() {
            "" | "none" => Ok(Self::none()),
            "all" => Ok(Self::all(p, seed)),
            other => {
                let kinds = other
                    .split(',')
                    .map(|n| {
                        FaultKind::from_name(n.trim())
                            .ok_or_else(|| FaultPlanError::UnknownFault(n.trim().to_owned()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Self::random(kinds.into_iter().map(|k| (k, p)), seed))
            }
        }
    }

    /// Parses a TOML plan; `default_seed` is used when the plan has no `seed`.
    pub fn from_toml(text: &str, default_seed: u64) -> Result<Self, FaultPlanError> {
        let file: PlanFile = toml::from_str(text)?;
        for (k, p) in &file.random {
            if !(0.0..=1.0).contains(p) {
                return Err(FaultPlanError::Probability {
                    kind: k.name(),
                    p: *p,
                });
            }
        }
        let base = Self::none();
        Ok(Self {
            scripted: file.fault,
            random: file.random,
            rng: StdRng::seed_from_u64(file.seed.unwrap_or(default_seed)),
            half_open_ms: file.half_open_ms.unwrap_or(base.half_open_ms),
            storm_connections: file.storm_connections.unwrap_or(base.storm_connections),
            oversize_bytes: file.oversize_bytes.unwrap_or(base.oversize_bytes),
        })
    }

    /// A list, `all`/`none`, or a path to a TOML plan.
    pub fn load(spec: &str, p: f64, seed: u64) -> Result<Self, FaultPlanError> {
        if spec.ends_with(".toml") {
            let text = std::fs::read_to_string(spec).map_err(|source| FaultPlanError::Io {
                path: spec.to_owned(),
                source,
            })?;
            Self::from_toml(&text, seed)
        } else {
            Self::from_list(spec, p, seed)
        }
    }

    /// The faults for message number `message`: the scripted ones plus a random draw.
    pub fn faults_for(&mut self, message: u64) -> Vec<FaultKind> {
        let mut out: Vec<FaultKind> = self
            .scripted
            .iter()
            .filter(|f| f.message == message)
            .map(|f| f.kind)
            .collect();
        for (kind, p) in &self.random {
            if *p > 0.0 && self.rng.random_bool(p.min(1.0)) && !out.contains(kind) {
                out.push(*kind);
            }
        }
        out
    }

    /// Restarts the random part from `seed` (each instrument of a run gets its own).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// Whether the plan injects nothing.
    pub fn is_empty(&self) -> bool {
        self.scripted.is_empty() && self.random.values().all(|p| *p <= 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_turns_every_kind_on() {
        let mut plan = FaultPlan::all(1.0, 1);
        let mut got = plan.faults_for(0);
        got.sort();
        assert_eq!(got, FaultKind::ALL.to_vec());
    }

    #[test]
    fn list_parses_and_refuses_unknown_names() {
        let mut plan = FaultPlan::from_list("garbage, byte-by-byte", 1.0, 1).unwrap();
        assert_eq!(
            plan.faults_for(0),
            vec![FaultKind::Garbage, FaultKind::ByteByByte]
        );
        let err = FaultPlan::from_list("garbage,nonsense", 1.0, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nonsense") && err.contains("lost-ack"),
            "{err}"
        );
        assert!(FaultPlan::from_list("none", 1.0, 1).unwrap().is_empty());
    }

    #[test]
    fn scripted_plan_hits_only_its_message() {
        let text = "[[fault]]\nmessage = 2\nkind = \"lost-ack\"\n";
        let mut plan = FaultPlan::from_toml(text, 0).unwrap();
        assert!(plan.faults_for(0).is_empty());
        assert_eq!(plan.faults_for(2), vec![FaultKind::LostAck]);
    }

    #[test]
    fn random_plan_is_deterministic_per_seed() {
        let draw = |seed| {
            let mut p = FaultPlan::all(0.2, seed);
            (0..50).map(|i| p.faults_for(i)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn bad_probability_is_refused() {
        let err = FaultPlan::from_toml("[random]\ngarbage = 1.5\n", 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("garbage"), "{err}");
    }
}
