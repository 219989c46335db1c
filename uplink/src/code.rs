//! Validated newtypes: the only text an uplink record can carry.
//!
//! Each type accepts a strict pattern (a short character set, bounded length, no spaces, no
//! HL7/ASTM delimiters), so a vendor that puts a name, a free-text comment or a long number in
//! a code field cannot smuggle it out: the value is refused and the field left out. Test codes
//! additionally refuse runs of more than [`MAX_DIGIT_RUN`] digits, the shape of record,
//! accession and phone numbers (LOINC codes have at most five digits before the check digit).
//!
//! Errors name the position and the rule, never the refused text.

use serde::{Deserialize, Serialize};

/// The longest run of consecutive digits a [`TestCode`] may contain.
pub const MAX_DIGIT_RUN: usize = 6;

/// Why a value was refused as a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Empty.
    #[error("{what} is empty")]
    Empty {
        /// Which kind of code.
        what: &'static str,
    },
    /// Longer than allowed.
    #[error("{what} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Which kind of code.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside the allowed set (the character itself is not reported).
    #[error("{what} has a character outside {allowed} at byte {position}")]
    BadChar {
        /// Which kind of code.
        what: &'static str,
        /// Byte position of the first bad character.
        position: usize,
        /// The allowed set, in words.
        allowed: &'static str,
    },
    /// Too many digits in a row (the shape of an identifier).
    #[error("{what} has more than {MAX_DIGIT_RUN} digits in a row at byte {position}")]
    DigitRun {
        /// Which kind of code.
        what: &'static str,
        /// Byte position where the run exceeds the limit.
        position: usize,
    },
}

fn check(
    what: &'static str,
    s: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(u8) -> bool,
) -> Result<(), CodeError> {
    if s.is_empty() {
        return Err(CodeError::Empty { what });
    }
    if let Some(position) = s.bytes().position(|b| !ok(b)) {
        return Err(CodeError::BadChar {
            what,
            position,
            allowed,
        });
    }
    if s.len() > max {
        return Err(CodeError::TooLong {
            what,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

fn digit_run(what: &'static str, s: &str) -> Result<(), CodeError> {
    let mut run = 0usize;
    for (position, b) in s.bytes().enumerate() {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        if run > MAX_DIGIT_RUN {
            return Err(CodeError::DigitRun { what, position });
        }
    }
    Ok(())
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, |$s:ident| $validate:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a value.
            pub fn new(value: &str) -> Result<Self, CodeError> {
                let $s = value;
                $validate?;
                Ok(Self(value.to_owned()))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = CodeError;
            fn try_from(value: String) -> Result<Self, CodeError> {
                Self::new(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn id_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

code_type!(
    /// A site id as configured (`[a-z0-9-]`, 1–64): an MQTT topic level and the client id suffix.
    SiteRef,
    "site id",
    |s| check("site id", s, 64, "a-z 0-9 -", id_char)
);

code_type!(
    /// An instrument id as configured in the site file (`[a-z0-9-]`, 1–64), never a serial
    /// number or anything the instrument sends.
    InstrumentRef,
    "instrument id",
    |s| check("instrument id", s, 64, "a-z 0-9 -", id_char)
);

code_type!(
    /// A test (analyte) code: `[A-Za-z0-9._-]`, 1–16 bytes, at most [`MAX_DIGIT_RUN`] digits
    /// in a row.
    TestCode,
    "test code",
    |s| check("test code", s, 16, "A-Z a-z 0-9 . _ -", |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
    })
    .and_then(|()| digit_run("test code", s))
);

code_type!(
    /// A unit of measure: `[A-Za-z0-9%/*.-]`, 1–12 bytes (`mg/dL`, `10*3/uL`, `%`).
    Unit,
    "unit",
    |s| check("unit", s, 12, "A-Z a-z 0-9 % / * . -", |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'%' | b'/' | b'*' | b'.' | b'-')
    })
);

code_type!(
    /// A QC control level (`1`, `2`, `L`, `HIGH`): `[A-Za-z0-9_-]`, 1–8 bytes.
    ControlLevel,
    "control level",
    |s| check("control level", s, 8, "A-Z a-z 0-9 _ -", |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
    })
);

code_type!(
    /// A software version: `[0-9A-Za-z.+-]`, 1–32 bytes.
    Version,
    "version",
    |s| check("version", s, 32, "A-Z a-z 0-9 . + -", |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')
    })
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_codes_accept_lab_codes_and_refuse_names_and_numbers() {
        for ok in ["GLU", "Na", "2345-7", "WBC", "HbA1c", "K.SERUM", "ALT_37"] {
            assert!(TestCode::new(ok).is_ok(), "{ok}");
        }
        assert!(matches!(
            TestCode::new("SMITH^JOHN"),
            Err(CodeError::BadChar { position: 5, .. })
        ));
        assert!(matches!(
            TestCode::new("John Smith"),
            Err(CodeError::BadChar { .. })
        ));
        assert!(matches!(
            TestCode::new("A12345678"),
            Err(CodeError::DigitRun { position: 7, .. })
        ));
        assert!(matches!(TestCode::new(""), Err(CodeError::Empty { .. })));
        assert!(matches!(
            TestCode::new("ABCDEFGHIJKLMNOPQ"),
            Err(CodeError::TooLong { len: 17, .. })
        ));
        assert!(TestCode::new("GLU\\F\\X").is_err());
    }

    #[test]
    fn errors_never_quote_the_refused_value() {
        let e = TestCode::new("QZXSECRET NAME").unwrap_err().to_string();
        assert!(!e.contains("QZX"), "{e}");
        let e = Unit::new("QZXSECRET^NAME").unwrap_err().to_string();
        assert!(!e.contains("QZX"), "{e}");
    }

    #[test]
    fn units_and_levels() {
        for ok in ["mg/dL", "10*3/uL", "%", "mmol/L", "g.L-1"] {
            assert!(Unit::new(ok).is_ok(), "{ok}");
        }
        assert!(Unit::new("µmol/L").is_err());
        assert!(Unit::new("mg dL").is_err());
        assert!(ControlLevel::new("2").is_ok());
        assert!(ControlLevel::new("LEVEL-HIGH").is_err());
        assert!(SiteRef::new("lab-1").is_ok());
        assert!(SiteRef::new("Lab 1").is_err());
    }
}
