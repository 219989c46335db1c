//! Text helpers: escaping delimiters inside field values (ASTM E1394 §5.6 / LIS2-A2, HL7 v2
//! chapter 2.7) and encoding text to the profile's character set.

use crate::profile::WireCharset;

/// Escapes ASTM delimiters in a field value (`&F&`, `&S&`, `&R&`, `&E&`, CR/LF as `&X0D&`/`&X0A&`,
/// LIS2-A2 §5.7) with the dialect's own escape character, using labwire's record encoder.
/// `delims` = field, repeat, component, escape.
pub fn escape_astm(value: &str, delims: [u8; 4]) -> String {
    let [field, repeat, component, escape] = delims;
    match labwire_astm::record::Delimiters::new(field, repeat, component, escape) {
        Ok(d) => {
            let mut out = Vec::with_capacity(value.len());
            labwire_astm::record::escape_into(value.as_bytes(), &d, &mut out);
            // Only ASCII delimiters are replaced by ASCII sequences: the text stays UTF-8.
            String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
        // Profiles are validated with the same check, so this is not reached in practice.
        Err(_) => value.to_owned(),
    }
}

/// Escapes HL7 separators in a field value (`\F\`, `\S\`, `\R\`, `\E\`, `\T\`, HL7 v2.5
/// §2.7) for the default encoding characters `|^~\&`, using labwire's ER7 encoder.
pub fn escape_hl7(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    labwire_hl7::er7::escape_into(
        value.as_bytes(),
        &labwire_hl7::er7::Delimiters::default(),
        &mut out,
    );
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Encodes text to wire bytes: ASCII and Latin-1 replace what they cannot carry with `?`.
pub fn encode(text: &str, charset: WireCharset) -> Vec<u8> {
    match charset {
        WireCharset::Utf8 => text.as_bytes().to_vec(),
        WireCharset::Latin1 => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect(),
        WireCharset::Ascii => text
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
        assert_eq!(encode("Müller", WireCharset::Latin1), b"M\xfcller");
        assert_eq!(encode("Müller", WireCharset::Utf8), "Müller".as_bytes());
        assert_eq!(encode("Müller", WireCharset::Ascii), b"M?ller");
        assert_eq!(encode("Ž", WireCharset::Latin1), b"?");
    }
}
