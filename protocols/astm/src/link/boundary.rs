//! Message boundaries in record text (ASTM E1394 §6, §7.1, §13 / CLSI LIS2-A2).
//!
//! A message starts with an H (header) record and ends with an L (terminator)
//! record. The link layer and the capture splitter only need to recognise
//! those two record types; everything else is the record parser's job.

use memchr::memrchr;

/// True if `record` (without its CR) is an H record: `H` or `h` followed by a
/// delimiter (any byte that is not a letter, digit, CR or LF).
#[must_use]
pub fn is_header_record(record: &[u8]) -> bool {
    match record {
        [first, second, ..] => first.eq_ignore_ascii_case(&b'H') && is_delimiter(*second),
        _ => false,
    }
}

/// True if `record` (without its CR) is an L record: `L` or `l`, alone or
/// followed by a delimiter (ortho VISION sends a bare `L`).
#[must_use]
pub fn is_terminator_record(record: &[u8]) -> bool {
    match record {
        [first] => first.eq_ignore_ascii_case(&b'L'),
        [first, second, ..] => first.eq_ignore_ascii_case(&b'L') && is_delimiter(*second),
        _ => false,
    }
}

/// The last record of `text`, without its terminating CR (if any).
#[must_use]
pub fn last_record(text: &[u8]) -> &[u8] {
    let body = text.strip_suffix(b"\r").unwrap_or(text);
    match memrchr(b'\r', body) {
        Some(cr) => body.get(cr + 1..).unwrap_or_default(),
        None => body,
    }
}

/// True if the last record of `text` is an L record.
#[must_use]
pub fn ends_with_terminator(text: &[u8]) -> bool {
    is_terminator_record(last_record(text))
}

fn is_delimiter(b: u8) -> bool {
    !b.is_ascii_alphanumeric() && b != b'\r' && b != b'\n'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_header_and_terminator() {
        assert!(is_header_record(b"H|\\^&|||"));
        assert!(is_header_record(b"h|@^\\"));
        assert!(!is_header_record(b"HX|"));
        assert!(!is_header_record(b"H"));
        assert!(is_terminator_record(b"L|1|N"));
        assert!(is_terminator_record(b"L"));
        assert!(is_terminator_record(b"L||"));
        assert!(!is_terminator_record(b"4L|1|N"));
        assert!(ends_with_terminator(b"H|\\^&\rL|1|N\r"));
        assert!(ends_with_terminator(b"L|1|N"));
        assert!(!ends_with_terminator(b"H|\\^&\rL|1|N\rP|1\r"));
    }
}
