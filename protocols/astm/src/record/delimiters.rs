//! The four delimiters of an ASTM message, read from the H record (LIS2-A2 §5.4, §6.2).
//!
//! `H` is followed by the field delimiter, then the repeat, component and escape delimiters
//! (default `H|\^&|`). Real instruments also send `H|@^\|` (Cepheid GeneXpert: repeat `@`,
//! escape `\`), ``H|`^&|`` (Erba XL: backtick repeat) and `H|\\^&|` (Horiba Yumizen H550: the
//! repeat delimiter written twice); all three are accepted.

use nom::Parser;
use nom::bytes::complete::take;
use nom::combinator::verify;

/// The delimiters a message uses, from its H record.
///
/// All four are distinct printable ASCII punctuation characters (never a letter, digit, space
/// or control character), so escape sequences such as `&F&` can never be mistaken for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// Separates fields (default `|`).
    pub field: u8,
    /// Separates repeats of a field (default `\`).
    pub repeat: u8,
    /// Separates components of a field (default `^`).
    pub component: u8,
    /// Starts and ends an escape sequence (default `&`).
    pub escape: u8,
}

impl Default for Delimiters {
    fn default() -> Self {
        Self {
            field: b'|',
            repeat: b'\\',
            component: b'^',
            escape: b'&',
        }
    }
}

impl Delimiters {
    /// Checked constructor: the four delimiters must be distinct printable ASCII punctuation.
    pub fn new(field: u8, repeat: u8, component: u8, escape: u8) -> Result<Self, &'static str> {
        let all = [field, repeat, component, escape];
        if !all.iter().all(|b| b.is_ascii_punctuation()) {
            return Err("delimiters must be printable ASCII punctuation");
        }
        for (i, a) in all.iter().enumerate() {
            if all.iter().skip(i + 1).any(|b| b == a) {
                return Err("delimiters must be distinct");
            }
        }
        Ok(Self {
            field,
            repeat,
            component,
            escape,
        })
    }

    /// Reads the delimiters from the start of an H record (`H|\^&|…`, case-insensitive `H`).
    ///
    /// Accepts the delimiter definition (H-2) as 3 characters, or as 4 characters whose first
    /// two are equal (Horiba's doubled `\\`). The field after it must start with the field
    /// delimiter or the record must end there.
    pub fn from_header(record: &[u8]) -> Result<Self, &'static str> {
        let parsed = header_definition(record).map_err(|_| "H record too short")?;
        let (rest, (field, def)) = parsed;
        let (repeat, component, escape) = match *def {
            [r, c, e] => (r, c, e),
            [r1, r2, c, e] if r1 == r2 => (r1, c, e),
            _ => return Err("the delimiter definition must be 3 characters (e.g. `\\^&`)"),
        };
        if rest.first().is_some_and(|&b| b != field) {
            return Err("the delimiter definition must be followed by the field delimiter");
        }
        Self::new(field, repeat, component, escape)
    }

    /// Like [`Delimiters::from_header`], but an **empty** delimiter definition (`H||||…`, sent
    /// by some instruments) gets the standard repeat, component and escape delimiters (`\^&`)
    /// with the field delimiter found after `H`. Returns whether that happened, so the caller
    /// can note it. A non-empty but bad definition is still an error.
    pub fn from_header_lenient(record: &[u8]) -> Result<(Self, bool), &'static str> {
        if let Ok((rest, (field, []))) = header_definition(record)
            && rest.first().is_none_or(|&b| b == field)
        {
            let std = Self::default();
            return Self::new(field, std.repeat, std.component, std.escape).map(|d| (d, true));
        }
        Self::from_header(record).map(|d| (d, false))
    }

    /// True for the three structural delimiters (field, repeat, component).
    #[inline]
    pub fn is_structural(&self, b: u8) -> bool {
        b == self.field || b == self.repeat || b == self.component
    }
}

type HeaderParse<'a> = nom::IResult<&'a [u8], (u8, &'a [u8])>;

fn any_byte(input: &[u8]) -> nom::IResult<&[u8], u8> {
    nom::number::complete::u8(input)
}

/// `H` (any case), the field delimiter, then the definition (at most 4 bytes) up to the next
/// field delimiter, which is left in the input.
fn header_definition(input: &[u8]) -> HeaderParse<'_> {
    let (input, _) = verify(any_byte, |b: &u8| b.eq_ignore_ascii_case(&b'H')).parse(input)?;
    let (input, field) = any_byte(input)?;
    let end = memchr::memchr(field, input).unwrap_or(input.len()).min(4);
    let (input, def) = take(end).parse(input)?;
    Ok((input, (field, def)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_vendor_headers() {
        assert_eq!(
            Delimiters::from_header(b"H|\\^&|||x"),
            Ok(Delimiters::default())
        );
        let gx = Delimiters::from_header(b"H|@^\\|URM").unwrap();
        assert_eq!((gx.repeat, gx.component, gx.escape), (b'@', b'^', b'\\'));
        let erba = Delimiters::from_header(b"h|`^&|").unwrap();
        assert_eq!(erba.repeat, b'`');
        let horiba = Delimiters::from_header(b"H|\\\\^&|||H550").unwrap();
        assert_eq!(horiba, Delimiters::default());
        assert_eq!(
            Delimiters::from_header(b"H|\\^&"),
            Ok(Delimiters::default())
        );
    }

    #[test]
    fn bad_headers() {
        assert!(Delimiters::from_header(b"H").is_err());
        assert!(Delimiters::from_header(b"H|").is_err());
        assert!(Delimiters::from_header(b"H|\\^|").is_err());
        assert!(Delimiters::from_header(b"H|\\^^|").is_err());
        assert!(Delimiters::from_header(b"H|\\^&x").is_err());
        assert!(Delimiters::from_header(b"HA\\^&A").is_err());
        assert!(Delimiters::from_header(b"P|\\^&|").is_err());
    }
}
