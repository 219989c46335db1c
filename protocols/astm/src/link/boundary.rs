//! Message boundaries in record text (ASTM E1394 §6, §7.1, §13 / CLSI LIS2-A2).
//!
//! A message starts with an H (header) record and ends with an L (terminator)
//! record. The link layer and the capture splitter only need to recognise
//! those two record types; everything else is the record parser's job.

use memchr::memrchr2;

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

/// The last record of `text`, without its terminator. Records may end with
/// CR (the standard), LF or CRLF (ortho VISION and others frame LF-terminated
/// records), so trailing CR/LF bytes are dropped and the record starts after
/// the last CR or LF before them.
#[must_use]
pub fn last_record(text: &[u8]) -> &[u8] {
    let end = text
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(0, |i| i + 1);
    let body = text.get(..end).unwrap_or_default();
    match memrchr2(b'\r', b'\n', body) {
        Some(at) => body.get(at + 1..).unwrap_or_default(),
        None => body,
    }
}

/// True if the last record of `text` is an L record.
#[must_use]
pub fn ends_with_terminator(text: &[u8]) -> bool {
    is_terminator_record(last_record(text))
}

/// A record line: a letter followed by a delimiter, or a letter alone (`L`).
#[must_use]
pub fn looks_like_record(line: &[u8]) -> bool {
    match line {
        [first] => first.is_ascii_alphabetic(),
        [first, second, ..] => first.is_ascii_alphabetic() && !second.is_ascii_alphanumeric(),
        _ => false,
    }
}

/// `line` without a leading frame-number digit when it is `[0-7]` + record.
#[must_use]
pub fn strip_frame_digit(line: &[u8]) -> &[u8] {
    match line.split_first() {
        Some((d, rest)) if (b'0'..=b'7').contains(d) && looks_like_record(rest) => rest,
        _ => line,
    }
}

/// True if the first record of `text` is an H record (CR or LF terminated).
#[must_use]
pub fn starts_with_header(text: &[u8]) -> bool {
    let first = text
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    is_header_record(first)
}

/// L as last record, also when written with a frame-number digit (`4L|1|N`).
#[must_use]
pub fn ends_with_terminator_lenient(text: &[u8]) -> bool {
    let last = last_record(text);
    is_terminator_record(last) || is_terminator_record(strip_frame_digit(last))
}

/// Removes frame-number digits that some senders write before every record
/// after the first inside one frame (`H…<CR>2P…<CR>3O…<CR>4L…`), but only when
/// every such record carries one, in sequence.
#[must_use]
pub fn normalize_digit_prefixes(text: Vec<u8>) -> Vec<u8> {
    let records: Vec<&[u8]> = text
        .split(|&b| b == b'\r')
        .filter(|r| !r.is_empty())
        .collect();
    let Some((_, rest)) = records.split_first() else {
        return text;
    };
    if rest.is_empty() {
        return text;
    }
    let mut previous: Option<u8> = None;
    for record in rest {
        let Some(&digit) = record.first() else {
            return text;
        };
        if strip_frame_digit(record).len() == record.len() {
            return text;
        }
        if previous.is_some_and(|p| (p - b'0' + 1) % 8 != digit - b'0') {
            return text;
        }
        previous = Some(digit);
    }
    let mut out = Vec::with_capacity(text.len());
    for (i, record) in records.iter().enumerate() {
        let record = if i == 0 {
            record
        } else {
            strip_frame_digit(record)
        };
        out.extend_from_slice(record);
        out.push(b'\r');
    }
    out
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
        // LF and CRLF terminated records, and doubled terminators.
        assert!(ends_with_terminator(b"H|\\^&\nP|1\nL|1|N\n"));
        assert!(ends_with_terminator(b"H|\\^&\r\nL\r\n\r\n"));
        assert!(!ends_with_terminator(b"H|\\^&\nL|1|N\nP|1\n"));
        assert!(!ends_with_terminator(b"\r\n"));
        assert!(starts_with_header(b"H|\\^&\nL\n"));
    }

    #[test]
    fn frame_digits_before_records_are_removed_only_in_sequence() {
        let vitros = b"H|\\^&|||3600\r2P|1\r3O|1|SID\r4L|1|N\r".to_vec();
        assert!(ends_with_terminator_lenient(&vitros));
        assert!(!ends_with_terminator(&vitros));
        assert_eq!(
            normalize_digit_prefixes(vitros),
            b"H|\\^&|||3600\rP|1\rO|1|SID\rL|1|N\r"
        );
        // Out of sequence, or not on every record: left alone.
        let odd = b"H|\\^&\r2P|1\r5O|1\r".to_vec();
        assert_eq!(normalize_digit_prefixes(odd.clone()), odd);
        let mixed = b"H|\\^&\r2P|1\rO|1\r".to_vec();
        assert_eq!(normalize_digit_prefixes(mixed.clone()), mixed);
        // Wraps 7 -> 0.
        let wrap = b"H|\\^&\r7P|1\r0L\r".to_vec();
        assert_eq!(normalize_digit_prefixes(wrap), b"H|\\^&\rP|1\rL\r");
    }
}
