//! Character sets: MSH-18 (HL7 table 0211) or the instrument's configuration, decoded at the edge.
//!
//! The parser works on bytes; text is decoded only when a value is read. Invalid bytes become
//! U+FFFD and the decoder says so; it never fails.

use std::borrow::Cow;

/// The character set a message's text is decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hl7Charset {
    /// UTF-8 (`UNICODE UTF-8`, also `UNICODE` and `ISO IR192` in practice).
    Utf8,
    /// ISO 8859-1 (`8859/1`, `ISO IR100`): every byte is the code point of the same value.
    Latin1,
    /// Windows-1252, the usual reality behind "Latin-1" on PCs.
    Windows1252,
    /// Any other encoding known to `encoding_rs` (8859-2 … 8859-15, GB 18030, Big5, EUC-KR, …).
    Other(&'static encoding_rs::Encoding),
}

impl Hl7Charset {
    /// The character set named by an MSH-18 value (first repetition, component 1), or `None` when
    /// empty or unknown. `ASCII` maps to UTF-8 (a superset that also shows stray non-ASCII bytes).
    pub fn from_msh18(value: &[u8]) -> Option<Self> {
        let v = std::str::from_utf8(value).ok()?.trim();
        let upper = v.to_ascii_uppercase();
        let c = match upper.as_str() {
            "" => return None,
            "ASCII" | "ISO IR6" | "UNICODE" | "UNICODE UTF-8" | "UTF-8" | "UTF8" | "ISO IR192" => {
                Self::Utf8
            }
            "8859/1" | "ISO IR100" | "ISO-8859-1" => Self::Latin1,
            "GB 18030-2000" => Self::Other(encoding_rs::GB18030),
            "KS X 1001" => Self::Other(encoding_rs::EUC_KR),
            "BIG-5" => Self::Other(encoding_rs::BIG5),
            "ISO IR87" | "ISO IR159" | "ISO IR14" => Self::Other(encoding_rs::SHIFT_JIS),
            _ => {
                if let Some(part) = upper.strip_prefix("8859/") {
                    let label = format!("iso-8859-{part}");
                    Self::Other(encoding_rs::Encoding::for_label(label.as_bytes())?)
                } else {
                    match encoding_rs::Encoding::for_label(v.as_bytes())? {
                        e if e == encoding_rs::UTF_8 => Self::Utf8,
                        e if e == encoding_rs::WINDOWS_1252 => Self::Windows1252,
                        e => Self::Other(e),
                    }
                }
            }
        };
        Some(c)
    }

    /// Decodes `bytes`; the flag is true when invalid bytes were replaced by U+FFFD.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> (Cow<'a, str>, bool) {
        if (*self == Self::Utf8 || bytes.is_ascii())
            && let Ok(s) = std::str::from_utf8(bytes)
        {
            return (Cow::Borrowed(s), false);
        }
        match self {
            Self::Utf8 => (String::from_utf8_lossy(bytes), true),
            Self::Latin1 => (
                Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
                false,
            ),
            Self::Windows1252 => {
                let (s, _, bad) = encoding_rs::WINDOWS_1252.decode(bytes);
                (s, bad)
            }
            Self::Other(e) => {
                let (s, bad) = e.decode_without_bom_handling(bytes);
                (s, bad)
            }
        }
    }

    /// The charset to decode a whole message with.
    ///
    /// `forced` (the instrument's configuration) wins. Otherwise MSH-18 decides, except that a
    /// message declared in a single-byte set whose bytes are valid UTF-8 with multi-byte sequences
    /// is read as UTF-8 (a mislabel seen in real traffic; genuine Latin-1 text is almost never
    /// valid UTF-8). Without MSH-18: UTF-8 when the bytes are valid UTF-8, else Windows-1252.
    pub fn for_message(msh18: &[u8], bytes: &[u8], forced: Option<Self>) -> Self {
        if let Some(c) = forced {
            return c;
        }
        let valid_utf8 = std::str::from_utf8(bytes).is_ok();
        match Self::from_msh18(msh18) {
            Some(Self::Utf8) => Self::Utf8,
            Some(_) if valid_utf8 && !bytes.is_ascii() => Self::Utf8,
            Some(c) => c,
            None if valid_utf8 => Self::Utf8,
            None => Self::Windows1252,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            Hl7Charset::from_msh18(b"UNICODE UTF-8"),
            Some(Hl7Charset::Utf8)
        );
        assert_eq!(Hl7Charset::from_msh18(b"8859/1"), Some(Hl7Charset::Latin1));
        assert_eq!(
            Hl7Charset::from_msh18(b"8859/2"),
            Some(Hl7Charset::Other(encoding_rs::ISO_8859_2))
        );
        assert_eq!(Hl7Charset::from_msh18(b""), None);
        assert_eq!(Hl7Charset::from_msh18(b"NONSENSE"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(Hl7Charset::Latin1.decode(b"M\xfcller").0, "Müller");
        let (s, bad) = Hl7Charset::Utf8.decode(b"M\xfcller");
        assert_eq!((s.as_ref(), bad), ("M\u{fffd}ller", true));
        assert_eq!(Hl7Charset::Windows1252.decode(b"\x8a").0, "Š");
    }

    #[test]
    fn message_charset() {
        assert_eq!(
            Hl7Charset::for_message(b"8859/1", "·".as_bytes(), None),
            Hl7Charset::Utf8
        );
        assert_eq!(
            Hl7Charset::for_message(b"8859/1", b"\xb7", None),
            Hl7Charset::Latin1
        );
        assert_eq!(
            Hl7Charset::for_message(b"", b"\xb7", None),
            Hl7Charset::Windows1252
        );
        assert_eq!(
            Hl7Charset::for_message(b"", b"abc", Some(Hl7Charset::Latin1)),
            Hl7Charset::Latin1
        );
    }
}
