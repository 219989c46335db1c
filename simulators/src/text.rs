//! Text helpers: escaping delimiters inside field values (ASTM E1394 §5.6 / LIS2-A2, HL7 v2
//! chapter 2.7) and encoding text to the profile's character set.

use crate::profile::Charset;

/// Escapes ASTM delimiters in a field value: `&F&`, `&S&`, `&R&`, `&E&` (LIS2-A2 §5.6),
/// written with the profile's own escape character. `delims` = field, repeat, component, escape.
pub fn escape_astm(value: &str, delims: [u8; 4]) -> String {
    let [field, repeat, component, escape] = delims.map(char::from);
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let code = if c == field {
            Some('F')
        } else if c == repeat {
            Some('R')
        } else if c == component {
            Some('S')
        } else if c == escape {
            Some('E')
        } else {
            None
        };
        match code {
            Some(code) => {
                out.push(escape);
                out.push(code);
                out.push(escape);
            }
            None if c == '\r' || c == '\n' => out.push(' '),
            None => out.push(c),
        }
    }
    out
}

/// Escapes HL7 separators in a field value with the default encoding characters `^~\&`.
pub fn escape_hl7(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '~' => out.push_str("\\R\\"),
            '\\' => out.push_str("\\E\\"),
            '&' => out.push_str("\\T\\"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Encodes text to wire bytes: ASCII and Latin-1 replace what they cannot carry with `?`.
pub fn encode(text: &str, charset: Charset) -> Vec<u8> {
    match charset {
        Charset::Utf8 => text.as_bytes().to_vec(),
        Charset::Latin1 => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect(),
        Charset::Ascii => text
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn astm_escape_uses_the_dialect_escape_char() {
        assert_eq!(escape_astm("a|b^c&d\\e", *b"|\\^&"), "a&F&b&S&c&E&d&R&e");
        assert_eq!(escape_astm("x@y\\z", *b"|@^\\"), "x\\R\\y\\E\\z");
    }

    #[test]
    fn hl7_escape_covers_every_separator() {
        assert_eq!(
            escape_hl7("a|b^c~d\\e&f"),
            "a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f"
        );
    }

    #[test]
    fn latin1_is_one_byte_per_letter() {
        assert_eq!(encode("Müller", Charset::Latin1), b"M\xfcller");
        assert_eq!(encode("Müller", Charset::Utf8), "Müller".as_bytes());
        assert_eq!(encode("Müller", Charset::Ascii), b"M?ller");
        assert_eq!(encode("Ž", Charset::Latin1), b"?");
    }
}
