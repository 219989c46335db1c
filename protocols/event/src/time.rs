//! Message timestamps to ISO 8601.
//!
//! ASTM (LIS2-A2 §5.6.2) and HL7 (DTM, v2.5 §2.A.22) both write times as
//! `YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-HHMM]`. Neither carries a zone by default, so the result keeps
//! the offset only when the message has one and never invents one.

/// Converts a message timestamp such as `20240203132011` or `20230511164515.123+0530` to ISO 8601
/// (`2024-02-03T13:20:11`, `2023-05-11T16:45:15.123+05:30`).
///
/// Returns `None` for an empty value, or for anything that is not a well-formed timestamp (the raw
/// text is still in the event's `raw`).
pub fn normalize_message_time(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let (body, offset) = match raw.find(['+', '-']) {
        Some(pos) => (raw.get(..pos)?, Some(raw.get(pos..)?)),
        None => (raw, None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (body, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(digits.len(), 4 | 6 | 8 | 10 | 12 | 14)
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> { digits.get(from..to)?.parse().ok() };
    let mut out = String::with_capacity(32);
    out.push_str(digits.get(0..4)?);
    let ranges: [(usize, char, u32, u32); 5] = [
        (4, '-', 1, 12),
        (6, '-', 1, 31),
        (8, 'T', 0, 23),
        (10, ':', 0, 59),
        (12, ':', 0, 60),
    ];
    for (start, sep, lo, hi) in ranges {
        if digits.len() <= start {
            break;
        }
        let v = num(start, start + 2)?;
        if v < lo || v > hi {
            return None;
        }
        out.push(sep);
        out.push_str(digits.get(start..start + 2)?);
    }
    if let Some(f) = fraction {
        if digits.len() != 14 || f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push('.');
        out.push_str(f);
    }
    if let Some(off) = offset {
        let (sign, rest) = off.split_at(1);
        if rest.len() != 4 || !rest.bytes().all(|b| b.is_ascii_digit()) || digits.len() < 10 {
            return None;
        }
        out.push_str(sign);
        out.push_str(rest.get(0..2)?);
        out.push(':');
        out.push_str(rest.get(2..4)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::normalize_message_time as n;

    #[test]
    fn full_and_partial_precision() {
        assert_eq!(n("20240203132011").as_deref(), Some("2024-02-03T13:20:11"));
        assert_eq!(n("202402031320").as_deref(), Some("2024-02-03T13:20"));
        assert_eq!(n("20240203").as_deref(), Some("2024-02-03"));
        assert_eq!(n("2024").as_deref(), Some("2024"));
    }

    #[test]
    fn fraction_and_offset() {
        assert_eq!(
            n("20230511164515.123+0530").as_deref(),
            Some("2023-05-11T16:45:15.123+05:30")
        );
        assert_eq!(
            n("20230511164515-0400").as_deref(),
            Some("2023-05-11T16:45:15-04:00")
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "",
            "  ",
            "2024020",
            "2024-02-03",
            "20241303",
            "abc",
            "20240203+05",
            "20240203.5",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }
}
