//! Escape sequences inside field values (LIS2-A2 §5.7).
//!
//! Decoded: `&F&` field, `&S&` component, `&R&` repeat and `&E&` escape delimiter; `&Xhh…&`
//! hexadecimal data (an even number of hex digits, e.g. `&X0D0A&` = CR LF); and Mindray's
//! escape-plus-delimiter (`&|` = a literal `|`). Kept verbatim: the formatting sequences `&H&`
//! (highlight) and `&N&` (normal text), local `&Z…&` sequences, malformed sequences and lone
//! escape characters — they carry no text a plain-text receiver could render differently.
//! Decoding works on bytes: hex data is decoded before the charset is applied.

use std::borrow::Cow;

use super::Delimiters;
use super::scan::{Escape, sequence_end};

/// Decodes the escape sequences of one value. Borrows when `raw` holds no escape character.
pub fn unescape<'a>(raw: &'a [u8], d: &Delimiters) -> Cow<'a, [u8]> {
    let Some(first) = memchr::memchr(d.escape, raw) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(raw.get(..first).unwrap_or_default());
    let mut i = first;
    while let Some(&b) = raw.get(i) {
        if b != d.escape {
            out.push(b);
            i += 1;
            continue;
        }
        match sequence_end(raw, i, d) {
            Escape::Literal => {
                out.extend(raw.get(i + 1).copied());
                i += 2;
            }
            Escape::Lone => {
                out.push(b);
                i += 1;
            }
            Escape::Sequence(close) => {
                let body = raw.get(i + 1..close).unwrap_or_default();
                decode_sequence(body, d, raw.get(i..=close).unwrap_or_default(), &mut out);
                i = close + 1;
            }
        }
    }
    Cow::Owned(out)
}

fn decode_sequence(body: &[u8], d: &Delimiters, whole: &[u8], out: &mut Vec<u8>) {
    match body {
        b"F" => out.push(d.field),
        b"S" => out.push(d.component),
        b"R" => out.push(d.repeat),
        b"E" => out.push(d.escape),
        [b'X', hex @ ..] if !hex.is_empty() && hex.len() % 2 == 0 => {
            let start = out.len();
            for pair in hex.chunks_exact(2) {
                match (
                    pair.first().and_then(|&h| hex_val(h)),
                    pair.get(1).and_then(|&l| hex_val(l)),
                ) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => {
                        out.truncate(start);
                        out.extend_from_slice(whole);
                        return;
                    }
                }
            }
        }
        _ => out.extend_from_slice(whole),
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `value` to `out`, escaping the message's delimiters and CR/LF (which cannot appear
/// raw inside a record) so that [`unescape`] gives `value` back.
pub fn escape_into(value: &[u8], d: &Delimiters, out: &mut Vec<u8>) {
    let e = d.escape;
    for &b in value {
        let code: &[u8] = if b == d.field {
            b"F"
        } else if b == d.component {
            b"S"
        } else if b == d.repeat {
            b"R"
        } else if b == e {
            b"E"
        } else if b == b'\r' {
            b"X0D"
        } else if b == b'\n' {
            b"X0A"
        } else {
            out.push(b);
            continue;
        };
        out.push(e);
        out.extend_from_slice(code);
        out.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &[u8]) -> Vec<u8> {
        unescape(s, &Delimiters::default()).into_owned()
    }

    #[test]
    fn standard_sequences() {
        assert_eq!(u(b"a&F&b&S&c&R&d&E&e"), b"a|b^c\\d&e");
        assert_eq!(u(b"line&X0D0A&next"), b"line\r\nnext");
        assert_eq!(u(b"&H&bold&N&"), b"&H&bold&N&");
        assert_eq!(u(b"&Zlocal&"), b"&Zlocal&");
        assert_eq!(u(b"&X0&"), b"&X0&");
        assert_eq!(u(b"&XZZ&"), b"&XZZ&");
        assert_eq!(u(b"Tom&Jerry"), b"Tom&Jerry");
        assert_eq!(u(b"trailing&"), b"trailing&");
        assert_eq!(u(b"mindray&|pipe"), b"mindray|pipe");
    }

    #[test]
    fn borrowed_without_escape() {
        assert!(matches!(
            unescape(b"plain", &Delimiters::default()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escape_then_unescape() {
        let d = Delimiters::default();
        let v = b"a|b^c\\d&e\r\nF&F&";
        let mut out = Vec::new();
        escape_into(v, &d, &mut out);
        assert!(!out.contains(&b'|') && !out.contains(&b'\r'));
        assert_eq!(unescape(&out, &d).as_ref(), v);
    }
}
