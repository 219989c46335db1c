//! Escape sequences in field values (HL7 v2.5 §2.7 "Use of escape sequences in text fields").
//!
//! Decoded: `\F\` `\S\` `\T\` `\R\` `\E\` (the message's own delimiters), `\P\` (truncation
//! character, v2.7), `\Xhh…\` (hexadecimal bytes, in the message's character set) and `\.br\`
//! (line break → LF). Dropped: `\H\` and `\N\` (start/end highlighting: display formatting with no
//! meaning in a plain-text value). Passed through unchanged: `\C…\` and `\M…\` (character-set
//! switches), `\Z…\` (locally defined), other `\.xx\` formatting commands, and `\X…\` whose content
//! is not an even number of hex digits (`\XZZ\` stays `\XZZ\`). An escape character that does not
//! open one of these (a lone `\`, or `\` followed by text with no closing `\`) is kept literally.
//! Decoding never fails and never panics.

use std::borrow::Cow;

use super::Delimiters;

/// Longest escape sequence passed through as a unit.
const MAX_SEQUENCE: usize = 64;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What a sequence (the bytes between two escape characters) stands for.
enum Decoded {
    Byte(u8),
    Nothing,
    Hex,
    Literal,
    NotASequence,
}

fn classify(seq: &[u8], d: &Delimiters) -> Decoded {
    match seq {
        b"F" => Decoded::Byte(d.field),
        b"S" => Decoded::Byte(d.component),
        b"R" if d.repetition != 0 => Decoded::Byte(d.repetition),
        b"T" => d.subcomponent.map_or(Decoded::Literal, Decoded::Byte),
        b"E" => d.escape.map_or(Decoded::Literal, Decoded::Byte),
        b"P" => d.truncation.map_or(Decoded::Literal, Decoded::Byte),
        b"H" | b"N" => Decoded::Nothing,
        b".br" => Decoded::Byte(b'\n'),
        [b'X', digits @ ..]
            if !digits.is_empty()
                && digits.len() % 2 == 0
                && digits.iter().all(|b| hex(*b).is_some()) =>
        {
            Decoded::Hex
        }
        [b'X' | b'C' | b'M' | b'Z' | b'.', ..] if seq.len() <= MAX_SEQUENCE => Decoded::Literal,
        _ => Decoded::NotASequence,
    }
}

/// Decodes the escape sequences of one value. Borrows when the value has no escape character.
pub fn unescape<'a>(raw: &'a [u8], d: &Delimiters) -> Cow<'a, [u8]> {
    let Some(esc) = d.escape else {
        return Cow::Borrowed(raw);
    };
    let Some(first) = memchr::memchr(esc, raw) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(raw.get(..first).unwrap_or_default());
    let mut i = first;
    while let Some(rest) = raw.get(i + 1..) {
        // `raw[i]` is an escape character.
        let Some(close) = memchr::memchr(esc, rest) else {
            out.push(esc);
            out.extend_from_slice(rest);
            return Cow::Owned(out);
        };
        let seq = rest.get(..close).unwrap_or_default();
        let next = match classify(seq, d) {
            Decoded::Byte(b) => {
                out.push(b);
                i + close + 2
            }
            Decoded::Nothing => i + close + 2,
            Decoded::Hex => {
                for pair in seq.get(1..).unwrap_or_default().chunks_exact(2) {
                    if let [h, l] = pair {
                        out.push(hex(*h).unwrap_or(0) << 4 | hex(*l).unwrap_or(0));
                    }
                }
                i + close + 2
            }
            Decoded::Literal => {
                out.extend_from_slice(raw.get(i..i + close + 2).unwrap_or_default());
                i + close + 2
            }
            Decoded::NotASequence => {
                out.push(esc);
                out.extend_from_slice(seq);
                i + close + 1
            }
        };
        let tail = raw.get(next..).unwrap_or_default();
        match memchr::memchr(esc, tail) {
            Some(p) => {
                out.extend_from_slice(tail.get(..p).unwrap_or_default());
                i = next + p;
            }
            None => {
                out.extend_from_slice(tail);
                return Cow::Owned(out);
            }
        }
    }
    Cow::Owned(out)
}

/// Appends `value` to `out` with every delimiter, the escape character, CR and LF escaped, so
/// that it reads back as `value` (HL7 v2.5 §2.7). Needs an escape character: with none (`^~&`
/// headers), special bytes are written as they are.
pub fn escape_into(value: &[u8], d: &Delimiters, out: &mut Vec<u8>) {
    let Some(esc) = d.escape else {
        out.extend_from_slice(value);
        return;
    };
    for &b in value {
        let code: &[u8] = if b == d.field {
            b"F"
        } else if b == d.component {
            b"S"
        } else if b == d.repetition && d.repetition != 0 {
            b"R"
        } else if b == esc {
            b"E"
        } else if Some(b) == d.subcomponent {
            b"T"
        } else if Some(b) == d.truncation {
            b"P"
        } else if b == b'\r' {
            b"X0D"
        } else if b == b'\n' {
            b"X0A"
        } else {
            out.push(b);
            continue;
        };
        out.push(esc);
        out.extend_from_slice(code);
        out.push(esc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> String {
        String::from_utf8(unescape(s.as_bytes(), &Delimiters::default()).into_owned()).unwrap()
    }

    #[test]
    fn delimiters() {
        assert_eq!(u(r"1\S\2.14"), "1^2.14");
        assert_eq!(u(r"MARIO \T\ LUIGI"), "MARIO & LUIGI");
        assert_eq!(u(r"a\F\b\R\c\E\d"), r"a|b~c\d");
    }

    #[test]
    fn borrowed_without_escapes() {
        assert!(matches!(
            unescape(b"plain", &Delimiters::default()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn hex_and_bad_hex() {
        assert_eq!(
            unescape(br"\XC3A9\", &Delimiters::default()).as_ref(),
            "é".as_bytes()
        );
        assert_eq!(u(r"\XZZ\"), r"\XZZ\");
        assert_eq!(u(r"\X0\"), r"\X0\");
        assert_eq!(u(r"\X\"), r"\X\");
    }

    #[test]
    fn formatting() {
        assert_eq!(u(r"\H\bold\N\"), "bold");
        assert_eq!(u(r"a\.br\b"), "a\nb");
        assert_eq!(u(r"\.sp2\x"), r"\.sp2\x");
        assert_eq!(u(r"\C2842\x\M2442\"), r"\C2842\x\M2442\");
        assert_eq!(u(r"\Zfoo\"), r"\Zfoo\");
    }

    #[test]
    fn lone_escapes_kept() {
        assert_eq!(u("\\"), "\\");
        assert_eq!(u("a\\"), "a\\");
        assert_eq!(u(r"C:\dir\F\x"), r"C:\dir|x");
        assert_eq!(u(r"\\"), r"\\");
        assert_eq!(u(r"é\F\x"), "é|x");
        assert_eq!(u(r"Müller\S\Hans"), "Müller^Hans");
    }

    #[test]
    fn escape_round_trip() {
        let d = Delimiters::default();
        let v = b"a|b^c~d\\e&f\rg\nh";
        let mut out = Vec::new();
        escape_into(v, &d, &mut out);
        assert!(
            !out.iter()
                .any(|b| matches!(b, b'|' | b'^' | b'~' | b'&' | b'\r' | b'\n'))
        );
        assert_eq!(unescape(&out, &d).as_ref(), v);
    }
}
