//! Register images to readings: typed value (byte/word order applied), then
//! `raw × scale + offset`, then a plain decimal string with no exponent (`4.5`, `-18.2`, `1`;
//! shared conventions §6). And back again for writes ([`encode_registers`]).
//!
//! Modbus sends every register most significant byte first (MB AP §4.2); the order of the
//! registers of a 32- or 64-bit value is the device's choice, named by [`ByteOrder`].

use crate::limits::MAX_DECIMALS;
use crate::profile::{ByteOrder, Point, ValueType};

/// Why registers could not become a reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer registers (or bits) than the type needs.
    #[error("point {point:?}: {got} of {need} registers")]
    Short {
        /// The point.
        point: String,
        /// Registers needed.
        need: u16,
        /// Registers given.
        got: usize,
    },
    /// A float register pair holds NaN or infinity (a sensor fault on many devices).
    #[error("point {point:?}: not a finite number (sensor fault?)")]
    NotFinite {
        /// The point.
        point: String,
    },
    /// A write asked for a value the type cannot hold, or outside the point's min/max.
    #[error("point {point:?}: {reason}")]
    OutOfRange {
        /// The point.
        point: String,
        /// What is wrong.
        reason: String,
    },
}

/// A decoded, scaled reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The scaled number (for deadbands and alarms).
    pub value: f64,
    /// The scaled number as a plain decimal string with no exponent.
    pub text: String,
}

/// Puts the registers of a value in most-significant-first order with bytes as big-endian.
fn normalise(words: &[u16], order: ByteOrder) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(words.len() * 2);
    let mut push = |w: u16| {
        let w = if order.bytes_swapped() {
            w.swap_bytes()
        } else {
            w
        };
        bytes.extend_from_slice(&w.to_be_bytes());
    };
    if order.words_swapped() {
        words.iter().rev().copied().for_each(&mut push);
    } else {
        words.iter().copied().for_each(&mut push);
    }
    bytes
}

/// The inverse of [`normalise`]: big-endian value bytes to registers in the device's order.
fn denormalise(bytes: &[u8], order: ByteOrder) -> Vec<u16> {
    let mut words: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| {
            let w = u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ]);
            if order.bytes_swapped() {
                w.swap_bytes()
            } else {
                w
            }
        })
        .collect();
    if order.words_swapped() {
        words.reverse();
    }
    words
}

enum Raw {
    Int(i128),
    Float(f64),
}

fn raw_value(point: &Point, words: &[u16]) -> Result<Raw, DecodeError> {
    let need = point.value_type.width();
    let words = words.get(..usize::from(need)).ok_or(DecodeError::Short {
        point: point.name.clone(),
        need,
        got: words.len(),
    })?;
    let b = normalise(words, point.order);
    let arr2 = |b: &[u8]| -> [u8; 2] {
        [
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]
    };
    let arr4 = |b: &[u8]| -> [u8; 4] {
        let mut a = [0u8; 4];
        a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
        a
    };
    let arr8 = |b: &[u8]| -> [u8; 8] {
        let mut a = [0u8; 8];
        a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
        a
    };
    Ok(match point.value_type {
        ValueType::Bool => Raw::Int(i128::from(words.first().copied().unwrap_or(0) != 0)),
        ValueType::U16 => Raw::Int(i128::from(u16::from_be_bytes(arr2(&b)))),
        ValueType::I16 => Raw::Int(i128::from(i16::from_be_bytes(arr2(&b)))),
        ValueType::U32 => Raw::Int(i128::from(u32::from_be_bytes(arr4(&b)))),
        ValueType::I32 => Raw::Int(i128::from(i32::from_be_bytes(arr4(&b)))),
        ValueType::U64 => Raw::Int(i128::from(u64::from_be_bytes(arr8(&b)))),
        ValueType::I64 => Raw::Int(i128::from(i64::from_be_bytes(arr8(&b)))),
        ValueType::F32 => {
            let f = f32::from_be_bytes(arr4(&b));
            if !f.is_finite() {
                return Err(DecodeError::NotFinite {
                    point: point.name.clone(),
                });
            }
            // Through the shortest decimal text, so 21.3f32 is 21.3 and not 21.299999237.
            Raw::Float(f.to_string().parse::<f64>().unwrap_or(f64::from(f)))
        }
        ValueType::F64 => {
            let f = f64::from_be_bytes(arr8(&b));
            if !f.is_finite() {
                return Err(DecodeError::NotFinite {
                    point: point.name.clone(),
                });
            }
            Raw::Float(f)
        }
    })
}

/// Decimal places of the shortest text of `x` (`0.1` → 1, `25` → 0).
fn places(x: f64) -> u32 {
    let s = x.abs().to_string();
    s.split_once('.').map_or(0, |(_, frac)| {
        u32::try_from(frac.len()).unwrap_or(MAX_DECIMALS)
    })
}

/// `value` with at most `decimals` places, trailing zeros dropped, never an exponent, never `-0`.
pub fn plain_decimal(value: f64, decimals: u32) -> String {
    let decimals = decimals.min(MAX_DECIMALS);
    let mut s = format!("{:.*}", decimals as usize, value);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

fn scaled(point: &Point, raw: Raw) -> Result<Reading, DecodeError> {
    let identity = point.scale == 1.0 && point.offset == 0.0;
    match raw {
        Raw::Int(i) if identity && point.decimals.is_none() => Ok(Reading {
            // Exact, also for 64-bit values beyond f64's 53-bit mantissa.
            value: i as f64,
            text: i.to_string(),
        }),
        Raw::Int(i) => {
            let value = (i as f64) * point.scale + point.offset;
            let decimals = point
                .decimals
                .unwrap_or_else(|| places(point.scale).max(places(point.offset)));
            finite(point, value, decimals)
        }
        Raw::Float(f) => {
            let value = f * point.scale + point.offset;
            let decimals = point
                .decimals
                .unwrap_or_else(|| (places(f) + places(point.scale)).max(places(point.offset)));
            finite(point, value, decimals)
        }
    }
}

fn finite(point: &Point, value: f64, decimals: u32) -> Result<Reading, DecodeError> {
    if !value.is_finite() {
        return Err(DecodeError::NotFinite {
            point: point.name.clone(),
        });
    }
    Ok(Reading {
        value,
        text: plain_decimal(value, decimals),
    })
}

/// Decodes a register point from its registers (the first `width` of `words` are used).
pub fn decode_registers(point: &Point, words: &[u16]) -> Result<Reading, DecodeError> {
    let raw = raw_value(point, words)?;
    scaled(point, raw)
}

/// Decodes a coil or discrete-input point from its bit.
pub fn decode_bits(point: &Point, bits: &[bool]) -> Result<Reading, DecodeError> {
    let bit = bits.first().copied().ok_or(DecodeError::Short {
        point: point.name.clone(),
        need: 1,
        got: 0,
    })?;
    scaled(point, Raw::Int(i128::from(bit)))
}

/// The registers (in the device's order) that make a point read `value`, after checking the
/// point's `min`/`max` and the type's range. `raw = (value − offset) / scale`, rounded for
/// integer types.
pub fn encode_registers(point: &Point, value: f64) -> Result<Vec<u16>, DecodeError> {
    let bad = |reason: String| DecodeError::OutOfRange {
        point: point.name.clone(),
        reason,
    };
    if !value.is_finite() {
        return Err(bad("not a finite number".to_owned()));
    }
    if let Some(min) = point.min
        && value < min
    {
        return Err(bad(format!("{value} is below the minimum {min}")));
    }
    if let Some(max) = point.max
        && value > max
    {
        return Err(bad(format!("{value} is above the maximum {max}")));
    }
    let raw = (value - point.offset) / point.scale;
    let int = |lo: f64, hi: f64| -> Result<i128, DecodeError> {
        let r = raw.round();
        if r < lo || r > hi {
            Err(bad(format!(
                "{value} needs raw {r}, outside the {} range",
                point.value_type.as_str()
            )))
        } else {
            Ok(r as i128)
        }
    };
    let bytes: Vec<u8> = match point.value_type {
        ValueType::Bool => return Ok(vec![u16::from(raw.round() != 0.0)]),
        ValueType::U16 => (int(0.0, f64::from(u16::MAX))? as u16)
            .to_be_bytes()
            .to_vec(),
        ValueType::I16 => (int(f64::from(i16::MIN), f64::from(i16::MAX))? as i16)
            .to_be_bytes()
            .to_vec(),
        ValueType::U32 => (int(0.0, f64::from(u32::MAX))? as u32)
            .to_be_bytes()
            .to_vec(),
        ValueType::I32 => (int(f64::from(i32::MIN), f64::from(i32::MAX))? as i32)
            .to_be_bytes()
            .to_vec(),
        ValueType::U64 => (int(0.0, u64::MAX as f64)? as u64).to_be_bytes().to_vec(),
        ValueType::I64 => (int(i64::MIN as f64, i64::MAX as f64)? as i64)
            .to_be_bytes()
            .to_vec(),
        ValueType::F32 => (raw as f32).to_be_bytes().to_vec(),
        ValueType::F64 => raw.to_be_bytes().to_vec(),
    };
    Ok(denormalise(&bytes, point.order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimal_never_has_an_exponent() {
        assert_eq!(plain_decimal(1e20, 0), "100000000000000000000");
        assert_eq!(plain_decimal(1.5e-7, 9), "0.00000015");
        assert_eq!(plain_decimal(-0.0001, 2), "0");
        assert_eq!(plain_decimal(4.50, 2), "4.5");
    }
}
