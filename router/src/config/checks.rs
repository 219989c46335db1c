//! Small range checks shared by the site and instrument validation.

use super::error::Collector;
use super::units::{ByteSize, HumanDuration, format_byte_size, format_duration};
use std::time::Duration;
use toml::Spanned;

/// The value of an optional duration key, or `default`; out-of-range values are reported.
pub(crate) fn duration(
    c: &mut Collector<'_>,
    value: &Option<Spanned<HumanDuration>>,
    key: &str,
    default: Duration,
    (min, max): (Duration, Duration),
) -> Duration {
    let Some(v) = value else { return default };
    let d = v.get_ref().0;
    if d < min || d > max {
        c.at(
            v.span(),
            format!(
                "{key} = \"{}\" is out of range; allowed {} to {}",
                format_duration(d),
                format_duration(min),
                format_duration(max)
            ),
        );
    }
    d
}

/// The value of an optional size key, or `default`; out-of-range values are reported.
pub(crate) fn size(
    c: &mut Collector<'_>,
    value: &Option<Spanned<ByteSize>>,
    key: &str,
    default: u64,
    (min, max): (u64, u64),
) -> u64 {
    let Some(v) = value else { return default };
    let n = v.get_ref().0;
    if n < min || n > max {
        c.at(
            v.span(),
            format!(
                "{key} = {n} ({}) is out of range; allowed {} to {}",
                format_byte_size(n),
                format_byte_size(min),
                format_byte_size(max)
            ),
        );
    }
    n
}

/// The value of an optional integer key, or `default`; out-of-range values are reported.
pub(crate) fn integer<T>(
    c: &mut Collector<'_>,
    value: &Option<Spanned<T>>,
    key: &str,
    default: T,
    (min, max): (T, T),
) -> T
where
    T: Copy + PartialOrd + std::fmt::Display,
{
    let Some(v) = value else { return default };
    let n = *v.get_ref();
    if n < min || n > max {
        c.at(
            v.span(),
            format!("{key} = {n} is out of range; allowed {min} to {max}"),
        );
    }
    n
}
