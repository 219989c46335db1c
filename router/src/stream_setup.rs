//! Setting up the stream `LAB` on a server that may already have one (docs/router.md, "The
//! stream").
//!
//! A stream on a production server may have been set up with a longer retention than the config
//! asks for; cutting it would delete stored results. So the router never shortens what is there:
//! - [`StreamPolicy::Own`] (`labwire run`, which owns the stream of its site): creates the stream
//!   when missing; otherwise sets the configured subjects and limits, except that `max_age`,
//!   `max_bytes` and `duplicate_window` are never lowered — a longer value on the server is kept
//!   and reported, and the operator shortens it with the NATS tools if that is really meant.
//! - [`StreamPolicy::UseExisting`] (`labwire demo --nats-url`): creates the stream when missing;
//!   otherwise changes nothing, and refuses (with the reason) a stream that does not store the
//!   subjects labwire publishes on.

use async_nats::jetstream::stream::Config;
use std::time::Duration;

/// What the router may do to an existing stream of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StreamPolicy {
    /// Create when missing; update subjects and limits, never lowering retention limits.
    #[default]
    Own,
    /// Create when missing; otherwise use it unchanged, refusing one without our subjects.
    UseExisting,
}

/// What to do with the stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// No stream of that name: create it as configured.
    Create(Config),
    /// Update it to this configuration; `kept` names each limit kept longer than configured.
    Update {
        /// The configuration to set.
        config: Config,
        /// `max_age 30d > configured 7d`, … (empty when nothing was kept).
        kept: Vec<String>,
    },
    /// It is usable as it is.
    UseAsIs,
    /// It cannot be used and must not be changed.
    Refuse(String),
}

/// Decides what to do, given the existing stream's configuration (if any) and the wanted one.
pub(crate) fn plan(existing: Option<&Config>, wanted: Config, policy: StreamPolicy) -> Plan {
    let Some(existing) = existing else {
        return Plan::Create(wanted);
    };
    match policy {
        StreamPolicy::UseExisting => {
            let missing: Vec<&str> = wanted
                .subjects
                .iter()
                .filter(|s| !existing.subjects.contains(s))
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                Plan::UseAsIs
            } else {
                Plan::Refuse(format!(
                    "stream {} already exists without the subjects {}; it is left unchanged \
                     (use a server without that stream, or add the subjects with the NATS tools)",
                    existing.name,
                    missing.join(", ")
                ))
            }
        }
        StreamPolicy::Own => {
            let mut config = wanted;
            let mut kept = Vec::new();
            if longer_age(existing.max_age, config.max_age) {
                kept.push(format!(
                    "max_age {} > configured {}",
                    age(existing.max_age),
                    age(config.max_age)
                ));
                config.max_age = existing.max_age;
            }
            if more_bytes(existing.max_bytes, config.max_bytes) {
                kept.push(format!(
                    "max_bytes {} > configured {}",
                    bytes(existing.max_bytes),
                    bytes(config.max_bytes)
                ));
                config.max_bytes = existing.max_bytes;
            }
            if existing.duplicate_window > config.duplicate_window {
                kept.push(format!(
                    "duplicate_window {} > configured {}",
                    age(existing.duplicate_window),
                    age(config.duplicate_window)
                ));
                config.duplicate_window = existing.duplicate_window;
            }
            let same = existing.subjects == config.subjects
                && existing.max_age == config.max_age
                && existing.max_bytes == config.max_bytes
                && existing.duplicate_window == config.duplicate_window;
            if same {
                Plan::UseAsIs
            } else {
                Plan::Update { config, kept }
            }
        }
    }
}

/// `max_age` zero means "no limit".
fn longer_age(existing: Duration, wanted: Duration) -> bool {
    !wanted.is_zero() && (existing.is_zero() || existing > wanted)
}

/// `max_bytes` -1 (or any negative) means "no limit".
fn more_bytes(existing: i64, wanted: i64) -> bool {
    wanted >= 0 && (existing < 0 || existing > wanted)
}

fn age(d: Duration) -> String {
    if d.is_zero() {
        "unlimited".to_owned()
    } else {
        crate::config::format_duration(d)
    }
}

fn bytes(b: i64) -> String {
    u64::try_from(b).map_or_else(|_| "unlimited".to_owned(), crate::config::format_byte_size)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn config(max_age: Duration, window: Duration, subjects: &[&str]) -> Config {
        Config {
            name: "LAB".into(),
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            max_age,
            max_bytes: 1 << 30,
            duplicate_window: window,
            ..Default::default()
        }
    }

    #[test]
    fn owning_never_shortens_retention_and_says_what_it_kept() {
        let existing = config(30 * DAY, DAY, &["lab.*.*.result"]);
        let wanted = config(7 * DAY, DAY / 12, &["lab.*.*.result", "lab.*.*.qc"]);
        let Plan::Update { config: c, kept } = plan(Some(&existing), wanted, StreamPolicy::Own)
        else {
            panic!("expected an update");
        };
        assert_eq!(c.max_age, 30 * DAY);
        assert_eq!(c.duplicate_window, DAY);
        assert_eq!(c.subjects.len(), 2);
        assert_eq!(
            kept,
            [
                "max_age 30d > configured 7d",
                "duplicate_window 1d > configured 2h"
            ]
        );
        // Unlimited on the server stays unlimited.
        let unlimited = config(Duration::ZERO, DAY, &["lab.*.*.result"]);
        let Plan::Update { config: c, .. } = plan(
            Some(&unlimited),
            config(7 * DAY, DAY, &["lab.*.*.result", "lab.*.*.qc"]),
            StreamPolicy::Own,
        ) else {
            panic!("expected an update");
        };
        assert!(c.max_age.is_zero());
    }

    #[test]
    fn owning_lengthens_when_configured_and_leaves_an_equal_stream_alone() {
        let existing = config(7 * DAY, DAY, &["lab.*.*.result"]);
        let Plan::Update { config: c, kept } = plan(
            Some(&existing),
            config(30 * DAY, DAY, &["lab.*.*.result"]),
            StreamPolicy::Own,
        ) else {
            panic!("expected an update");
        };
        assert_eq!(c.max_age, 30 * DAY);
        assert!(kept.is_empty());
        assert_eq!(
            plan(Some(&existing), existing.clone(), StreamPolicy::Own),
            Plan::UseAsIs
        );
        assert_eq!(
            plan(None, existing.clone(), StreamPolicy::Own),
            Plan::Create(existing)
        );
    }

    #[test]
    fn using_an_existing_stream_changes_nothing_and_refuses_one_without_our_subjects() {
        let existing = config(30 * DAY, DAY, &["lab.*.*.result", "lab.*.*.qc"]);
        let wanted = config(7 * DAY, DAY / 12, &["lab.*.*.result", "lab.*.*.qc"]);
        assert_eq!(
            plan(Some(&existing), wanted, StreamPolicy::UseExisting),
            Plan::UseAsIs
        );
        let Plan::Refuse(why) = plan(
            Some(&existing),
            config(7 * DAY, DAY, &["lab.*.*.result", "lab.*.*.status"]),
            StreamPolicy::UseExisting,
        ) else {
            panic!("expected a refusal");
        };
        assert!(why.contains("without the subjects lab.*.*.status"), "{why}");
    }
}
