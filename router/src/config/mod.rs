//! Site configuration (shared conventions §5): the TOML file that says which site this is, where
//! the bus and spool are, and which instruments to serve.
//!
//! [`SiteConfig::from_toml_str`] checks the whole file and reports **every** problem it can find
//! with its line and column: all syntax errors, then, section by section and instrument by
//! instrument, unknown keys, wrong types, bad ids, out-of-range limits, transport mistakes,
//! duplicate instrument ids and clashing listen addresses. Every key, its default and an example
//! are in `docs/config.md`; `deploy/site.example.toml` is an annotated starting point.

mod checks;
mod error;
mod instrument;
mod instrument_check;
mod model;
mod raw;
mod redact;
#[cfg(feature = "bus")]
mod router_options;
mod site;
mod units;
mod uplink;
mod warnings;

pub use error::{ConfigError, ConfigErrors, LoadError};
pub use instrument::*;
pub use model::*;
pub use redact::{REDACTED, redact_url};
#[cfg(feature = "bus")]
pub use router_options::SecretFileError;
pub use units::{
    ByteSize, HumanDuration, format_byte_size, format_duration, parse_byte_size, parse_duration,
};
pub use uplink::{DEFAULT_OUTBOX_FILE, UplinkSettings};

use std::io::Read;
use std::path::Path;

/// The largest site configuration file accepted (a real one is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl SiteConfig {
    /// Parses and validates a site configuration. `source_name` (usually the file path) prefixes
    /// every error: `site.toml:12:7: …`.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, ConfigErrors> {
        site::parse(text, source_name)
    }

    /// Reads, parses and validates a site configuration file (at most [`MAX_CONFIG_BYTES`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > MAX_CONFIG_BYTES {
            return Err(LoadError::TooLarge {
                path: path.to_owned(),
                len,
                max: MAX_CONFIG_BYTES,
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
            path: path.to_owned(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Ok(Self::from_toml_str(&text, &path.display().to_string())?)
    }
}
