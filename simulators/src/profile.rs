//! Dialect profiles: how one instrument model talks (protocol, delimiters, framing, charset,
//! test menu, message template, timers).
//!
//! Profiles are TOML files (`simulators/profiles/*.toml`). The built-in ones are embedded in the
//! binary and loaded by name ([`Profile::builtin`]); a user profile is loaded from a path
//! ([`Profile::from_path`]). [`Profile::load`] takes either. Every key is documented in
//! `docs/simulators.md`; unknown keys are refused so a typo does not silently fall back to a
//! default.

use serde::Deserialize;
use std::path::Path;

/// The built-in profiles: `(name, TOML text)`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("cobas-c111", include_str!("../profiles/cobas-c111.toml")),
    ("sysmex-xn", include_str!("../profiles/sysmex-xn.toml")),
    ("erba-xl", include_str!("../profiles/erba-xl.toml")),
    ("genexpert", include_str!("../profiles/genexpert.toml")),
    (
        "vision-lf-latin1",
        include_str!("../profiles/vision-lf-latin1.toml"),
    ),
    ("ba400", include_str!("../profiles/ba400.toml")),
    ("mindray-cl", include_str!("../profiles/mindray-cl.toml")),
];

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Neither a built-in name nor a readable file.
    #[error("no built-in profile named {0:?} and no such file (built-ins: {names})", names = builtin_names().join(", "))]
    NotFound(String),
    /// The file could not be read.
    #[error("reading profile {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown/mistyped key (the message carries line and column).
    #[error("profile {name}: {source}")]
    Toml {
        /// Profile name or path.
        name: String,
        /// The parse error.
        source: toml::de::Error,
    },
    /// The profile parsed but a value is unusable.
    #[error("profile {name}: {reason}")]
    Invalid {
        /// Profile name or path.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Names of the built-in profiles.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Which wire protocol a profile speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireProtocol {
    /// ASTM E1381 link + E1394 records.
    Astm,
    /// HL7 v2 over MLLP.
    Hl7,
}

/// A dialect profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name (also the default instrument id prefix).
    pub name: String,
    /// One line for people: which instrument this imitates and which corpus file it follows.
    #[serde(default)]
    pub description: String,
    /// Wire protocol.
    pub protocol: WireProtocol,
    /// How the instrument names itself (ASTM H-5, HL7 MSH-3/4).
    pub sender: SenderInfo,
    /// Character set of the bytes on the wire.
    #[serde(default)]
    pub charset: WireCharset,
    /// ASTM dialect (required when `protocol = "astm"`).
    #[serde(default)]
    pub astm: Option<AstmDialect>,
    /// HL7 dialect (required when `protocol = "hl7"`).
    #[serde(default)]
    pub hl7: Option<Hl7Dialect>,
    /// Link timers.
    #[serde(default)]
    pub timers: Timers,
    /// Traffic mix knobs.
    #[serde(default)]
    pub traffic: TrafficMix,
    /// The test menu: what the instrument measures.
    #[serde(rename = "test")]
    pub tests: Vec<TestDef>,
}

/// Sender identification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderInfo {
    /// Instrument or application name.
    pub name: String,
    /// Software version.
    #[serde(default)]
    pub version: String,
    /// Serial number.
    #[serde(default)]
    pub serial: String,
    /// Facility / manufacturer (HL7 MSH-4).
    #[serde(default)]
    pub facility: String,
}

/// Character set of the wire bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WireCharset {
    /// 7-bit ASCII: synthetic names stay ASCII.
    #[default]
    Ascii,
    /// ISO-8859-1: names with accented letters, one byte each.
    Latin1,
    /// UTF-8: names with accented letters, multi-byte.
    Utf8,
}

/// How an ASTM message is cut into E1381 frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AstmFraming {
    /// Each record starts a new frame; a record longer than `max_frame_text` continues in ETB
    /// frames (Roche cobas c111, Vitros 3600).
    RecordPerFrame,
    /// The message text is cut every `max_frame_text` bytes regardless of record boundaries
    /// (Horiba Yumizen session, python-astm chunking).
    Chunked,
    /// The whole message in one frame, whatever its size (Sysmex XN, GeneXpert, cobas c311).
    SingleFrame,
}

/// The ASTM dialect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AstmDialect {
    /// The four delimiters after `H`: field, repeat, component, escape (default `|\^&`).
    #[serde(default = "default_astm_delimiters")]
    pub delimiters: String,
    /// Record terminator: `"\r"` (standard) or `"\n"` (Ortho VISION, EUROIMMUN exports).
    #[serde(default = "default_cr")]
    pub record_terminator: String,
    /// Frame layout.
    pub framing: AstmFraming,
    /// Maximum text bytes per frame for `record-per-frame` and `chunked` (standard: 240).
    #[serde(default = "default_frame_text")]
    pub max_frame_text: usize,
    /// H-13 version text (`LIS2-A2`, `E1394-97`, `1394-97`).
    #[serde(default = "default_astm_version")]
    pub version: String,
    /// Universal test id template for O-5/R-3; `{code}` and `{name}` are replaced
    /// (`^^^{code}`, `^^^^{code}^1`, `^{panel}^^{code}`).
    #[serde(default = "default_test_id")]
    pub test_id: String,
    /// Send a C (comment) record after each R record.
    #[serde(default)]
    pub result_comments: bool,
    /// Specimen type in O-16 (`SERUM`, `^^^^SER`), empty to leave it out.
    #[serde(default)]
    pub specimen_type: String,
}

/// Which HL7 message structure a profile sends for results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hl7Template {
    /// IHE LAW LAB-29 OUL^R22 (BioSystems BA400): SPM, then OBR/ORC/OBX per test.
    OulR22,
    /// ORU^R01 2.3.1 (Mindray CL series): PID, OBR, OBX per test.
    OruR01,
}

/// The HL7 dialect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hl7Dialect {
    /// Result message structure.
    pub template: Hl7Template,
    /// MSH-12 version id.
    pub version: String,
    /// MSH-15 accept-ack type (`ER`, `AL`, …), empty for original mode.
    #[serde(default)]
    pub accept_ack: String,
    /// MSH-16 application-ack type; Mindray misuses it as message class (`0` result, `2` QC).
    #[serde(default)]
    pub application_ack: String,
    /// MSH-18 character set text (`UNICODE UTF-8`, `ASCII`).
    #[serde(default)]
    pub charset_field: String,
    /// MSH-5/6 receiving application and facility.
    #[serde(default)]
    pub receiver: String,
    /// Segment terminator: `"\r"` (standard) or `"\n"`.
    #[serde(default = "default_cr")]
    pub segment_terminator: String,
    /// Specimen type code (SPM-4 / OBR-15).
    #[serde(default)]
    pub specimen_type: String,
}

/// Link timers and retry limits (E1381 §1.5 of the shared protocol notes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timers {
    /// How long the sender waits for a reply to ENQ, a frame or an HL7 message (ms).
    pub ack_timeout_ms: u64,
    /// Wait after a NAK to ENQ before the next ENQ (ms).
    pub busy_retry_ms: u64,
    /// Wait after losing ENQ contention (ms).
    pub contention_ms: u64,
    /// Maximum resends of one frame (or HL7 message) before giving up.
    pub max_retries: u32,
    /// How long to wait for the host's answer to a host query (ms).
    pub query_reply_ms: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            ack_timeout_ms: 15_000,
            busy_retry_ms: 10_000,
            contention_ms: 1_000,
            max_retries: 6,
            query_reply_ms: 20_000,
        }
    }
}

/// The mix of work an instrument produces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficMix {
    /// Probability that a work item is a QC run.
    pub qc_probability: f64,
    /// Probability that a work item is a host query.
    pub query_probability: f64,
    /// Tests per patient specimen: at least 1, at most this many (whole menu when 0).
    pub max_tests_per_specimen: usize,
}

impl Default for TrafficMix {
    fn default() -> Self {
        Self {
            qc_probability: 0.05,
            query_probability: 0.1,
            max_tests_per_specimen: 0,
        }
    }
}

/// One test on the menu.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDef {
    /// The instrument's test code.
    pub code: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
    /// Units.
    #[serde(default)]
    pub units: String,
    /// Reference range low end (numeric tests).
    #[serde(default)]
    pub low: Option<f64>,
    /// Reference range high end (numeric tests).
    #[serde(default)]
    pub high: Option<f64>,
    /// Decimals shown.
    #[serde(default)]
    pub decimals: u8,
    /// Qualitative results to pick from instead of a number (`NEGATIVE`, `POSITIVE`); the first
    /// is the normal one.
    #[serde(default)]
    pub qualitative: Vec<String>,
}

fn default_astm_delimiters() -> String {
    "|\\^&".to_owned()
}
fn default_cr() -> String {
    "\r".to_owned()
}
fn default_frame_text() -> usize {
    240
}
fn default_astm_version() -> String {
    "LIS2-A2".to_owned()
}
fn default_test_id() -> String {
    "^^^{code}".to_owned()
}

impl Profile {
    /// Loads a built-in profile by name, or else a TOML file at that path.
    pub fn load(name_or_path: &str) -> Result<Self, ProfileError> {
        match Self::builtin(name_or_path) {
            Some(p) => p,
            None if Path::new(name_or_path).exists() => Self::from_path(Path::new(name_or_path)),
            None => Err(ProfileError::NotFound(name_or_path.to_owned())),
        }
    }

    /// A built-in profile, `None` when there is none of that name.
    pub fn builtin(name: &str) -> Option<Result<Self, ProfileError>> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Self::from_toml(n, text))
    }

    /// Reads and validates a profile file.
    pub fn from_path(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&path.display().to_string(), &text)
    }

    /// Parses and validates profile TOML; `name` is used in error messages.
    pub fn from_toml(name: &str, text: &str) -> Result<Self, ProfileError> {
        let p: Self = toml::from_str(text).map_err(|source| ProfileError::Toml {
            name: name.to_owned(),
            source,
        })?;
        p.validate().map_err(|reason| ProfileError::Invalid {
            name: name.to_owned(),
            reason,
        })?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), String> {
        if self.tests.is_empty() {
            return Err("the test menu is empty: add at least one [[test]]".into());
        }
        match self.protocol {
            WireProtocol::Astm => {
                let a = self
                    .astm
                    .as_ref()
                    .ok_or("protocol = \"astm\" needs an [astm] table")?;
                let d: Vec<char> = a.delimiters.chars().collect();
                let bytes = a.delimiters.as_bytes();
                let usable = match (d.len(), bytes) {
                    (4, [f, r, c, e]) => {
                        labwire_astm::record::Delimiters::new(*f, *r, *c, *e).map_err(str::to_owned)
                    }
                    _ => Err("four characters are needed".to_owned()),
                };
                if let Err(why) = usable {
                    return Err(format!(
                        "[astm] delimiters must be four distinct punctuation characters (field, repeat, component, escape), got {:?}: {why}",
                        a.delimiters
                    ));
                }
                if !matches!(a.record_terminator.as_str(), "\r" | "\n" | "\r\n") {
                    return Err(
                        "[astm] record_terminator must be \"\\r\", \"\\n\" or \"\\r\\n\"".into(),
                    );
                }
                if a.framing != AstmFraming::SingleFrame && a.max_frame_text == 0 {
                    return Err("[astm] max_frame_text must be at least 1".into());
                }
            }
            WireProtocol::Hl7 => {
                let h = self
                    .hl7
                    .as_ref()
                    .ok_or("protocol = \"hl7\" needs an [hl7] table")?;
                if !matches!(h.segment_terminator.as_str(), "\r" | "\n" | "\r\n") {
                    return Err(
                        "[hl7] segment_terminator must be \"\\r\", \"\\n\" or \"\\r\\n\"".into(),
                    );
                }
            }
        }
        for p in [self.traffic.qc_probability, self.traffic.query_probability] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "[traffic] probabilities must lie in 0..=1, got {p}"
                ));
            }
        }
        if self.timers.max_retries == 0 {
            return Err("[timers] max_retries must be at least 1".into());
        }
        Ok(())
    }

    /// The ASTM delimiters as bytes `(field, repeat, component, escape)`.
    pub fn astm_delimiters(&self) -> Option<[u8; 4]> {
        let d = self.astm.as_ref()?.delimiters.as_bytes();
        Some([*d.first()?, *d.get(1)?, *d.get(2)?, *d.get(3)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_loads() {
        for name in builtin_names() {
            let p = Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, name);
        }
    }

    #[test]
    fn unknown_key_is_refused_with_its_line() {
        let text = "name = \"x\"\nprotocol = \"astm\"\ncolour = 1\n";
        let err = Profile::from_toml("x", text).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn bad_delimiters_are_refused() {
        let text = "name = \"x\"\nprotocol = \"astm\"\n[sender]\nname = \"x\"\n[astm]\ndelimiters = \"|^\"\nframing = \"single-frame\"\n[[test]]\ncode = \"A\"\n";
        let err = Profile::from_toml("x", text).unwrap_err().to_string();
        assert!(err.contains("delimiters"), "{err}");
    }

    #[test]
    fn unknown_name_lists_the_builtins() {
        let err = Profile::load("no-such-profile").unwrap_err().to_string();
        assert!(err.contains("cobas-c111"), "{err}");
    }
}
