//! Character sets of instrument text (LIS2-A2 §5.2 names ISO-8859-1; real instruments also send
//! UTF-8, windows-1252 and cp1251).
//!
//! Decoding never fails: invalid bytes become U+FFFD and are counted, with the offset of the
//! first one, so the caller can warn. [`AstmCharset::Auto`] (the default) takes UTF-8 when the bytes
//! are valid UTF-8, else windows-1252 (a superset of the printable ISO-8859-1 range, so plain
//! Latin-1 text decodes the same). ISO-8859-1 is decoded byte-to-code-point (not the WHATWG
//! windows-1252 alias), so it also never reports invalid bytes.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, Encoding, WINDOWS_1251, WINDOWS_1252};

/// The character set an instrument sends (per-instrument configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AstmCharset {
    /// UTF-8 if the text is valid UTF-8, else windows-1252.
    #[default]
    Auto,
    /// UTF-8.
    Utf8,
    /// ISO-8859-1 (Latin-1), the LIS2-A2 default.
    Latin1,
    /// windows-1252 (Western European; Latin-1 plus typographic characters in 0x80–0x9F).
    Windows1252,
    /// windows-1251 / cp1251 (Cyrillic).
    Windows1251,
}

/// Text decoded from instrument bytes, with a report of invalid input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The text; invalid byte sequences are replaced by U+FFFD.
    pub text: Cow<'a, str>,
    /// The charset actually used ([`AstmCharset::Auto`] resolved).
    pub charset: AstmCharset,
    /// Number of invalid byte sequences replaced.
    pub invalid: usize,
    /// Byte offset of the first invalid sequence, if any.
    pub first_invalid: Option<usize>,
}

/// A character that the target charset cannot represent (encoding for an instrument).
///
/// Names the character's position, never the character: the text is usually patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("character at position {position} cannot be encoded in {charset:?}")]
pub struct Unmappable {
    /// Position (in characters, from 0) of the first character that cannot be encoded.
    pub position: usize,
    /// The target charset.
    pub charset: AstmCharset,
}

impl AstmCharset {
    /// Parses a configuration label: `auto`, `utf-8`, `iso-8859-1`/`latin1`,
    /// `windows-1252`/`cp1252`, `windows-1251`/`cp1251` (case-insensitive).
    pub fn from_label(label: &str) -> Option<Self> {
        let l = label.trim().to_ascii_lowercase();
        Some(match l.as_str() {
            "auto" => Self::Auto,
            "utf-8" | "utf8" => Self::Utf8,
            "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" => Self::Latin1,
            "windows-1252" | "cp1252" => Self::Windows1252,
            "windows-1251" | "cp1251" => Self::Windows1251,
            _ => return None,
        })
    }

    /// Resolves [`AstmCharset::Auto`] for these bytes; other charsets are returned unchanged.
    pub fn resolve(self, bytes: &[u8]) -> Self {
        match self {
            Self::Auto if std::str::from_utf8(bytes).is_ok() => Self::Utf8,
            Self::Auto => Self::Windows1252,
            other => other,
        }
    }

    /// Decodes `bytes`, replacing invalid sequences and reporting them. Borrows for ASCII and
    /// valid UTF-8.
    pub fn decode(self, bytes: &[u8]) -> Decoded<'_> {
        let charset = self.resolve(bytes);
        let mut report = Decoded {
            text: Cow::Borrowed(""),
            charset,
            invalid: 0,
            first_invalid: None,
        };
        report.text = match charset {
            Self::Utf8 | Self::Auto => decode_utf8(bytes, &mut report),
            Self::Latin1 => match std::str::from_utf8(bytes) {
                Ok(s) if bytes.is_ascii() => Cow::Borrowed(s),
                _ => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
            },
            Self::Windows1252 => decode_with(WINDOWS_1252, bytes, &mut report),
            Self::Windows1251 => decode_with(WINDOWS_1251, bytes, &mut report),
        };
        report
    }

    /// Decodes `bytes`, replacing invalid sequences silently.
    pub fn decode_lossy(self, bytes: &[u8]) -> Cow<'_, str> {
        self.decode(bytes).text
    }

    /// Encodes `text` for an instrument ([`AstmCharset::Auto`] encodes as UTF-8).
    pub fn encode(self, text: &str) -> Result<Cow<'_, [u8]>, Unmappable> {
        let single = |enc: &'static Encoding| {
            let (bytes, _, had_errors) = enc.encode(text);
            if had_errors {
                let position = text
                    .chars()
                    .position(|c| enc.encode(c.encode_utf8(&mut [0; 4])).2)
                    .unwrap_or(0);
                return Err(Unmappable {
                    position,
                    charset: self,
                });
            }
            Ok(bytes)
        };
        match self {
            Self::Auto | Self::Utf8 => Ok(Cow::Borrowed(text.as_bytes())),
            Self::Latin1 => text
                .chars()
                .enumerate()
                .map(|(position, c)| {
                    u8::try_from(u32::from(c)).map_err(|_| Unmappable {
                        position,
                        charset: self,
                    })
                })
                .collect::<Result<Vec<u8>, _>>()
                .map(Cow::Owned),
            Self::Windows1252 => single(WINDOWS_1252),
            Self::Windows1251 => single(WINDOWS_1251),
        }
    }
}

fn note_invalid(report: &mut Decoded<'_>, offset: usize) {
    report.invalid += 1;
    report.first_invalid.get_or_insert(offset);
}

fn decode_utf8<'a>(bytes: &'a [u8], report: &mut Decoded<'_>) -> Cow<'a, str> {
    let mut rest = bytes;
    let mut out = String::new();
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) if out.is_empty() && rest.len() == bytes.len() => return Cow::Borrowed(s),
            Ok(s) => {
                out.push_str(s);
                return Cow::Owned(out);
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                note_invalid(report, bytes.len() - rest.len() + good.len());
                let skip = e.error_len().unwrap_or(bad.len());
                rest = bad.get(skip..).unwrap_or_default();
            }
        }
    }
}

fn decode_with<'a>(
    enc: &'static Encoding,
    bytes: &'a [u8],
    report: &mut Decoded<'_>,
) -> Cow<'a, str> {
    if bytes.is_ascii() {
        return Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default());
    }
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 2);
    let mut read_total = 0;
    loop {
        let src = bytes.get(read_total..).unwrap_or_default();
        let needed = decoder
            .max_utf8_buffer_length_without_replacement(src.len())
            .unwrap_or(src.len() * 3 + 16);
        out.reserve(needed);
        let (result, read) = decoder.decode_to_string_without_replacement(src, &mut out, true);
        read_total += read;
        match result {
            DecoderResult::InputEmpty => return Cow::Owned(out),
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(bad, after) => {
                out.push(char::REPLACEMENT_CHARACTER);
                let start = read_total.saturating_sub(usize::from(bad) + usize::from(after));
                note_invalid(report, start);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_invalid_is_reported() {
        let d = AstmCharset::Utf8.decode(b"ab\xffcd\xc3");
        assert_eq!(d.text, "ab\u{FFFD}cd\u{FFFD}");
        assert_eq!((d.invalid, d.first_invalid), (2, Some(2)));
        assert!(matches!(
            AstmCharset::Utf8.decode(b"plain").text,
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn single_byte_charsets() {
        assert_eq!(AstmCharset::Latin1.decode(b"M\xfcller").text, "Müller");
        assert_eq!(AstmCharset::Windows1252.decode(b"\x8a\x8e").text, "ŠŽ");
        assert_eq!(AstmCharset::Windows1251.decode(b"\xc9\xd6").text, "ЙЦ");
        assert_eq!(
            AstmCharset::Auto.decode("ŠĆ".as_bytes()).charset,
            AstmCharset::Utf8
        );
        assert_eq!(AstmCharset::Auto.decode(b"\x8a").text, "Š");
        let bad = AstmCharset::Windows1251.decode(b"a\x98b");
        assert_eq!(bad.invalid, usize::from(bad.text.contains('\u{FFFD}')));
    }

    #[test]
    fn encode_round_trips_and_refuses_unmappable() {
        for cs in [AstmCharset::Latin1, AstmCharset::Windows1252] {
            let bytes = cs.encode("Müller").unwrap();
            assert_eq!(cs.decode(&bytes).text, "Müller");
        }
        assert_eq!(AstmCharset::Windows1251.encode("Жук").unwrap().len(), 3);
        assert_eq!(AstmCharset::Latin1.encode("aЖ").unwrap_err().position, 1);
        assert_eq!(
            AstmCharset::Windows1252.encode("Ж").unwrap_err().position,
            0
        );
        assert_eq!(
            AstmCharset::from_label("CP1251"),
            Some(AstmCharset::Windows1251)
        );
    }
}
