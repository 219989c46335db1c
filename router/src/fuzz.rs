//! The body of the `site_config` fuzz target (`fuzz/fuzz_targets/site_config.rs`), public so
//! that `tests/fuzz_replay.rs` replays the saved corpus (`fuzz/corpus/site_config/`) on stable.
//!
//! The site TOML loader and its validation must never panic, whatever the file holds, and every
//! error it reports must point inside the file (the operator is sent to that line and column).

use crate::config::{MAX_CONFIG_BYTES, SiteConfig};
use std::collections::HashSet;

/// `site_config`: parses and validates the input as a site configuration file, then checks the
/// result: errors are never empty and point inside the text; an accepted file has unique
/// instrument ids.
pub fn site_config(data: &[u8]) {
    let too_large = u64::try_from(data.len()).map_or(true, |n| n > MAX_CONFIG_BYTES);
    if too_large {
        return;
    }
    // `SiteConfig::load` refuses non-UTF-8 files before parsing; the parser sees only text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match SiteConfig::from_toml_str(text, "fuzz.toml") {
        Ok(site) => {
            let mut ids = HashSet::new();
            for instrument in &site.instruments {
                assert!(
                    ids.insert(instrument.id.as_str().to_owned()),
                    "duplicate instrument id accepted"
                );
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "rejected without an error");
            // A position one past the last line is allowed (an error at the end of the file).
            let last_line = text.split('\n').count() + 1;
            for e in &errors {
                assert!(
                    e.span.start <= e.span.end && e.span.end <= text.len(),
                    "error span {:?} outside a {}-byte file",
                    e.span,
                    text.len()
                );
                assert!(
                    (1..=last_line).contains(&e.line),
                    "error line {} outside the file ({last_line} lines)",
                    e.line
                );
                assert!(e.column >= 1, "error column 0");
                assert!(!e.message.is_empty(), "error without a message");
            }
            let _ = errors.to_string();
        }
    }
}
