//! Device profiles (shared conventions §6): the model, parsing with line/column errors, and the
//! built-in profiles shipped with labwire.
//!
//! Unknown keys are refused, every value is range-checked, and every error names the line and
//! column of the offending key or value: `fridge.toml:7:1: point "temp": address 65535 + 2
//! registers runs past the end of the table`.

use crate::limits::{ADDRESS_SPACE, MAX_DECIMALS, MAX_POINTS, MAX_PROFILE_BYTES};
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A Modbus data table (MB AP §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// Coils: read/write bits (0x01 read, 0x05/0x0F write).
    Coil,
    /// Discrete inputs: read-only bits (0x02).
    Discrete,
    /// Input registers: read-only 16-bit words (0x04).
    Input,
    /// Holding registers: read/write 16-bit words (0x03 read, 0x06/0x10 write).
    Holding,
}

impl Table {
    /// Whether the table holds bits (coils, discrete inputs) rather than 16-bit registers.
    pub fn is_bits(self) -> bool {
        matches!(self, Self::Coil | Self::Discrete)
    }

    /// Whether the master may write to the table.
    pub fn is_writable(self) -> bool {
        matches!(self, Self::Coil | Self::Holding)
    }

    /// The name as written in a profile.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coil => "coil",
            Self::Discrete => "discrete",
            Self::Input => "input",
            Self::Holding => "holding",
        }
    }
}

/// How a point's registers decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// One bit (coils and discrete inputs).
    Bool,
    /// Unsigned 16-bit, one register.
    U16,
    /// Signed (two's complement) 16-bit, one register.
    I16,
    /// Unsigned 32-bit, two registers.
    U32,
    /// Signed 32-bit, two registers.
    I32,
    /// IEEE 754 single precision, two registers.
    F32,
    /// Unsigned 64-bit, four registers.
    U64,
    /// Signed 64-bit, four registers.
    I64,
    /// IEEE 754 double precision, four registers.
    F64,
}

impl ValueType {
    /// Registers (or bits, for `bool`) the value occupies.
    pub fn width(self) -> u16 {
        match self {
            Self::Bool | Self::U16 | Self::I16 => 1,
            Self::U32 | Self::I32 | Self::F32 => 2,
            Self::U64 | Self::I64 | Self::F64 => 4,
        }
    }

    /// Whether the value is a float.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    /// The name as written in a profile.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U32 => "u32",
            Self::I32 => "i32",
            Self::F32 => "f32",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F64 => "f64",
        }
    }
}

/// Byte order of a multi-byte value, in the letters integrators use: `A` is the most significant
/// byte. Modbus itself sends each register big-endian (MB AP §4.2) and leaves the order of the
/// registers of a wider value to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum ByteOrder {
    /// Big-endian: most significant register first, bytes as sent (the Modbus default).
    #[default]
    #[serde(rename = "ABCD")]
    Abcd,
    /// Word swap: least significant register first (common on PLCs and meters).
    #[serde(rename = "CDAB")]
    Cdab,
    /// Byte swap inside each register, most significant register first.
    #[serde(rename = "BADC")]
    Badc,
    /// Little-endian: least significant register first, bytes swapped.
    #[serde(rename = "DCBA")]
    Dcba,
}

impl ByteOrder {
    /// Whether the least significant register comes first.
    pub fn words_swapped(self) -> bool {
        matches!(self, Self::Cdab | Self::Dcba)
    }

    /// Whether the two bytes inside each register are swapped.
    pub fn bytes_swapped(self) -> bool {
        matches!(self, Self::Badc | Self::Dcba)
    }
}

/// Low/high alarm thresholds of a point (see [`crate::alarm`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmLimits {
    /// Raised when the reading stays below this.
    pub low: Option<f64>,
    /// Raised when the reading stays above this.
    pub high: Option<f64>,
    /// A raised alarm clears only once the reading is back inside the limit by this much.
    pub hysteresis: f64,
    /// How long the reading must stay beyond a limit before the alarm is raised.
    pub delay: Duration,
}

/// One named value of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The name; becomes `observations[].code`.
    pub name: String,
    /// Which table it lives in.
    pub table: Table,
    /// 0-based PDU address of its first register or bit.
    pub address: u16,
    /// How its registers decode.
    pub value_type: ValueType,
    /// Byte and word order of multi-byte values.
    pub order: ByteOrder,
    /// reading = raw × scale + offset.
    pub scale: f64,
    /// reading = raw × scale + offset.
    pub offset: f64,
    /// Decimal places of the reading text; `None`: as many as scale and offset carry.
    pub decimals: Option<u32>,
    /// UCUM unit (`Cel`, `%`, `uS/cm`); becomes `observations[].units`.
    pub unit: Option<String>,
    /// A change smaller than or equal to this is not reported (0: every change is).
    pub deadband: f64,
    /// Poll interval of this point; `None`: the instrument's `poll`.
    pub poll: Option<Duration>,
    /// Whether apps may write it through the instrument's `cmd` subject.
    pub writable: bool,
    /// Smallest reading a write may set.
    pub min: Option<f64>,
    /// Largest reading a write may set.
    pub max: Option<f64>,
    /// Alarm thresholds.
    pub alarm: Option<AlarmLimits>,
}

impl Point {
    /// One past the last register or bit of the point.
    pub fn end(&self) -> u32 {
        u32::from(self.address) + u32::from(self.value_type.width())
    }
}

/// A device model's register map.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceProfile {
    /// The profile's name.
    pub name: String,
    /// What the device is and where the map comes from (manual, or "illustrative").
    pub description: Option<String>,
    /// The points, in file order.
    pub points: Vec<Point>,
}

impl DeviceProfile {
    /// The point named `name`.
    pub fn point(&self, name: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.name == name)
    }
}

/// One problem in a profile, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The name the text was loaded under (file path or `builtin:NAME`).
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source_name, self.line, self.column, self.message
        )
    }
}

/// Every problem found in a profile (never empty), or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileErrors {
    /// The text was read but is not a valid profile.
    #[error("{}", join(.0))]
    Invalid(Vec<ProfileError>),
    /// The profile could not be found or read.
    #[error("{0}")]
    Unreadable(String),
}

fn join(errors: &[ProfileError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The built-in profiles: (name, TOML text). Addresses are illustrative (stated in each file).
const BUILTIN: &[(&str, &str)] = &[
    (
        "fridge-generic",
        include_str!("../profiles/fridge-generic.toml"),
    ),
    (
        "incubator-co2",
        include_str!("../profiles/incubator-co2.toml"),
    ),
    (
        "water-system",
        include_str!("../profiles/water-system.toml"),
    ),
];

/// Names of the built-in profiles.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// The TOML text of a built-in profile.
pub fn builtin_profile(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Loads a profile by reference: a built-in name (`fridge-generic`), or a path to a TOML file
/// (anything with a `/` or ending in `.toml`), relative paths taken from `base_dir`.
/// `parse_duration` is the site config's duration grammar (for per-point `poll` and alarm
/// `delay`), so profiles and site configs read durations the same way.
pub fn load_profile(
    reference: &str,
    base_dir: &Path,
    parse_duration: fn(&str) -> Result<Duration, String>,
) -> Result<DeviceProfile, ProfileErrors> {
    let is_path = reference.contains('/') || reference.ends_with(".toml");
    if !is_path {
        return match builtin_profile(reference) {
            Some(text) => parse_profile(text, &format!("builtin:{reference}"), parse_duration),
            None => Err(ProfileErrors::Unreadable(format!(
                "no built-in profile {reference:?} (built-in: {}); give a path to a TOML file for your own",
                builtin_names().collect::<Vec<_>>().join(", ")
            ))),
        };
    }
    let path: PathBuf = base_dir.join(reference);
    let shown = path.display().to_string();
    let len = std::fs::metadata(&path)
        .map_err(|e| ProfileErrors::Unreadable(format!("{shown}: cannot read: {e}")))?
        .len();
    if len > MAX_PROFILE_BYTES {
        return Err(ProfileErrors::Unreadable(format!(
            "{shown}: is {len} bytes long; a profile may be at most {MAX_PROFILE_BYTES} bytes"
        )));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| ProfileErrors::Unreadable(format!("{shown}: cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        ProfileErrors::Unreadable(format!(
            "{shown}: byte {}: not UTF-8 text",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse_profile(&text, &shown, parse_duration)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: Spanned<String>,
    description: Option<String>,
    #[serde(default)]
    point: Vec<Spanned<RawPoint>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    name: Spanned<String>,
    table: Table,
    address: Spanned<i64>,
    #[serde(rename = "type")]
    value_type: Option<Spanned<ValueType>>,
    order: Option<ByteOrder>,
    scale: Option<Spanned<f64>>,
    offset: Option<Spanned<f64>>,
    decimals: Option<Spanned<i64>>,
    unit: Option<Spanned<String>>,
    deadband: Option<Spanned<f64>>,
    poll: Option<Spanned<String>>,
    writable: Option<Spanned<bool>>,
    min: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
    alarm: Option<Spanned<RawAlarm>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlarm {
    low: Option<Spanned<f64>>,
    high: Option<Spanned<f64>>,
    hysteresis: Option<Spanned<f64>>,
    delay: Option<Spanned<String>>,
}

struct Errors<'a> {
    text: &'a str,
    source_name: &'a str,
    list: Vec<ProfileError>,
}

impl Errors<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.text, span.start);
        self.list.push(ProfileError {
            source_name: self.source_name.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Parses and validates a profile; `source_name` is used in error positions.
pub fn parse_profile(
    text: &str,
    source_name: &str,
    parse_duration: fn(&str) -> Result<Duration, String>,
) -> Result<DeviceProfile, ProfileErrors> {
    let mut errors = Errors {
        text,
        source_name,
        list: Vec::new(),
    };
    let raw: RawProfile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            errors.at(span, e.message().trim().to_owned());
            return Err(ProfileErrors::Invalid(errors.list));
        }
    };
    let name = raw.name.get_ref().trim();
    if name.is_empty() {
        errors.at(raw.name.span(), "`name` is empty");
    }
    if raw.point.is_empty() {
        errors.at(0..0, "the profile has no [[point]]");
    }
    if raw.point.len() > MAX_POINTS {
        errors.at(
            0..0,
            format!(
                "{} points; a profile may have at most {MAX_POINTS}",
                raw.point.len()
            ),
        );
    }
    let mut points: Vec<Point> = Vec::with_capacity(raw.point.len().min(MAX_POINTS));
    for p in raw.point.iter().take(MAX_POINTS) {
        if let Some(point) = point(&mut errors, p.get_ref(), parse_duration) {
            if points.iter().any(|q| q.name == point.name) {
                errors.at(
                    p.get_ref().name.span(),
                    format!("point {:?} is defined twice", point.name),
                );
            }
            points.push(point);
        }
    }
    overlaps(&mut errors, &raw.point, &points);
    if errors.list.is_empty() {
        Ok(DeviceProfile {
            name: name.to_owned(),
            description: raw.description,
            points,
        })
    } else {
        errors.list.sort_by_key(|e| (e.line, e.column));
        Err(ProfileErrors::Invalid(errors.list))
    }
}

/// Two points claiming the same register are almost always a typo in the address.
fn overlaps(errors: &mut Errors<'_>, raw: &[Spanned<RawPoint>], points: &[Point]) {
    for (i, a) in points.iter().enumerate() {
        for b in points.iter().skip(i + 1) {
            if a.table == b.table
                && u32::from(a.address) < b.end()
                && u32::from(b.address) < a.end()
            {
                let span = raw
                    .iter()
                    .find(|r| r.get_ref().name.get_ref().trim() == b.name)
                    .map_or(0..0, |r| r.get_ref().address.span());
                errors.at(
                    span,
                    format!(
                        "point {:?} overlaps point {:?} ({} {}..{})",
                        b.name,
                        a.name,
                        a.table.as_str(),
                        a.address,
                        a.end()
                    ),
                );
            }
        }
    }
}

fn point(
    errors: &mut Errors<'_>,
    raw: &RawPoint,
    parse_duration: fn(&str) -> Result<Duration, String>,
) -> Option<Point> {
    let before = errors.list.len();
    let name = raw.name.get_ref().trim().to_owned();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        errors.at(
            raw.name.span(),
            format!("point name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"),
        );
    }
    let default_type = if raw.table.is_bits() {
        ValueType::Bool
    } else {
        ValueType::U16
    };
    let value_type = raw
        .value_type
        .as_ref()
        .map_or(default_type, |t| *t.get_ref());
    if let Some(t) = &raw.value_type
        && raw.table.is_bits() != (value_type == ValueType::Bool)
    {
        errors.at(
            t.span(),
            format!(
                "point {name:?}: type {} does not fit table {} ({})",
                value_type.as_str(),
                raw.table.as_str(),
                if raw.table.is_bits() {
                    "coils and discrete inputs are bool"
                } else {
                    "registers are u16, i16, u32, i32, f32, u64, i64 or f64"
                }
            ),
        );
    }
    let address = *raw.address.get_ref();
    let width = i64::from(value_type.width());
    let address = if address < 0 || address + width > i64::from(ADDRESS_SPACE) {
        errors.at(
            raw.address.span(),
            format!(
                "point {name:?}: address {address} (+{width}) is outside the table (0 to {})",
                ADDRESS_SPACE - 1
            ),
        );
        0
    } else {
        u16::try_from(address).unwrap_or(0)
    };
    let scale = raw.scale.as_ref().map_or(1.0, |s| *s.get_ref());
    if let Some(s) = &raw.scale
        && (!scale.is_finite() || scale == 0.0)
    {
        errors.at(
            s.span(),
            format!("point {name:?}: scale must be a non-zero number"),
        );
    }
    let offset = raw.offset.as_ref().map_or(0.0, |s| *s.get_ref());
    if let Some(s) = &raw.offset
        && !offset.is_finite()
    {
        errors.at(s.span(), format!("point {name:?}: offset must be a number"));
    }
    let decimals = match &raw.decimals {
        None => None,
        Some(d) => match u32::try_from(*d.get_ref()) {
            Ok(v) if v <= MAX_DECIMALS => Some(v),
            _ => {
                errors.at(
                    d.span(),
                    format!("point {name:?}: decimals must be 0 to {MAX_DECIMALS}"),
                );
                None
            }
        },
    };
    let unit = raw.unit.as_ref().map(|u| u.get_ref().trim().to_owned());
    if let (Some(u), Some(s)) = (&unit, &raw.unit)
        && (u.is_empty() || u.len() > 32 || u.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        errors.at(
            s.span(),
            format!(
                "point {name:?}: unit {u:?} is not a UCUM code (e.g. \"Cel\", \"%\", \"uS/cm\")"
            ),
        );
    }
    let deadband = raw.deadband.as_ref().map_or(0.0, |d| *d.get_ref());
    if let Some(d) = &raw.deadband
        && !(deadband.is_finite() && deadband >= 0.0)
    {
        errors.at(
            d.span(),
            format!("point {name:?}: deadband must be 0 or more"),
        );
    }
    let poll = raw
        .poll
        .as_ref()
        .and_then(|p| match parse_duration(p.get_ref()) {
            Ok(d) if d >= Duration::from_millis(10) => Some(d),
            Ok(_) => {
                errors.at(
                    p.span(),
                    format!("point {name:?}: poll must be at least 10ms"),
                );
                None
            }
            Err(e) => {
                errors.at(p.span(), format!("point {name:?}: poll: {e}"));
                None
            }
        });
    let writable = raw.writable.as_ref().is_some_and(|w| *w.get_ref());
    if let Some(w) = &raw.writable
        && writable
        && !raw.table.is_writable()
    {
        errors.at(
            w.span(),
            format!(
                "point {name:?}: table {} is read-only; only holding registers and coils can be written",
                raw.table.as_str()
            ),
        );
    }
    let min = raw.min.as_ref().map(|v| *v.get_ref());
    let max = raw.max.as_ref().map(|v| *v.get_ref());
    if let (Some(lo), Some(hi), Some(s)) = (min, max, &raw.max)
        && lo > hi
    {
        errors.at(
            s.span(),
            format!("point {name:?}: max {hi} is below min {lo}"),
        );
    }
    if !writable && let Some(s) = raw.min.as_ref().or(raw.max.as_ref()) {
        errors.at(
            s.span(),
            format!("point {name:?}: min/max limit writes; set `writable = true` or remove them"),
        );
    }
    let alarm = raw
        .alarm
        .as_ref()
        .and_then(|a| alarm(errors, &name, a, parse_duration));
    (errors.list.len() == before).then_some(Point {
        name,
        table: raw.table,
        address,
        value_type,
        order: raw.order.unwrap_or_default(),
        scale,
        offset,
        decimals,
        unit,
        deadband,
        poll,
        writable,
        min,
        max,
        alarm,
    })
}

fn alarm(
    errors: &mut Errors<'_>,
    name: &str,
    raw: &Spanned<RawAlarm>,
    parse_duration: fn(&str) -> Result<Duration, String>,
) -> Option<AlarmLimits> {
    let a = raw.get_ref();
    let low = a.low.as_ref().map(|v| *v.get_ref());
    let high = a.high.as_ref().map(|v| *v.get_ref());
    if low.is_none() && high.is_none() {
        errors.at(
            raw.span(),
            format!("point {name:?}: [point.alarm] needs `low`, `high` or both"),
        );
        return None;
    }
    if let (Some(lo), Some(hi), Some(s)) = (low, high, &a.high)
        && lo >= hi
    {
        errors.at(
            s.span(),
            format!("point {name:?}: alarm high {hi} must be above low {lo}"),
        );
    }
    let hysteresis = a.hysteresis.as_ref().map_or(0.0, |h| *h.get_ref());
    if let Some(h) = &a.hysteresis
        && !(hysteresis.is_finite() && hysteresis >= 0.0)
    {
        errors.at(
            h.span(),
            format!("point {name:?}: alarm hysteresis must be 0 or more"),
        );
    }
    let delay = match &a.delay {
        None => Duration::ZERO,
        Some(d) => match parse_duration(d.get_ref()) {
            Ok(v) => v,
            Err(e) => {
                errors.at(d.span(), format!("point {name:?}: alarm delay: {e}"));
                Duration::ZERO
            }
        },
    };
    Some(AlarmLimits {
        low,
        high,
        hysteresis,
        delay,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    /// Seconds and minutes only: enough for the profiles in these tests.
    fn secs(s: &str) -> Result<Duration, String> {
        let (n, mult) = match (s.strip_suffix('s'), s.strip_suffix('m')) {
            (Some(n), _) => (n, 1),
            (_, Some(n)) => (n, 60),
            _ => return Err(format!("bad duration {s:?}")),
        };
        n.parse::<u64>()
            .map(|n| Duration::from_secs(n * mult))
            .map_err(|_| format!("bad duration {s:?}"))
    }

    #[test]
    fn every_builtin_profile_parses() {
        for name in builtin_names() {
            let p = load_profile(name, Path::new("."), secs).unwrap();
            assert_eq!(p.name, name);
            assert!(!p.points.is_empty());
        }
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nx", 3), (2, 1));
    }
}
