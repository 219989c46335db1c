//! Frame checksum (ASTM E1381 §6.3.1.3 / CLSI LIS1-A §8.3.1.3).
//!
//! The checksum is the sum of the byte values from the frame number (FN)
//! through ETX or ETB inclusive, modulo 256, sent as two uppercase ASCII hex
//! digits, high nibble first. STX, the checksum itself and the trailing CR LF
//! are not summed. Receivers accept lowercase hex digits as well.

/// Sum of `bytes` modulo 256: the raw ASTM checksum value.
///
/// Call it over `FN text ETX|ETB` of one frame; sums can be chained with
/// [`u8::wrapping_add`] when the frame arrives in pieces.
#[must_use]
pub fn checksum(bytes: &[u8]) -> u8 {
    // Summing into wide lanes lets the compiler vectorise this loop.
    let mut total: u32 = 0;
    for chunk in bytes.chunks(1 << 16) {
        let part: u32 = chunk.iter().map(|&b| u32::from(b)).sum();
        total = total.wrapping_add(part);
    }
    // Truncation is the point: the checksum is the sum modulo 256.
    (total & 0xFF) as u8
}

/// The two uppercase hex digits (C1 = high nibble, C2 = low nibble) sent for `sum`.
#[must_use]
pub fn checksum_digits(sum: u8) -> [u8; 2] {
    [hex_digit(sum >> 4), hex_digit(sum & 0x0F)]
}

/// Value of one checksum digit: `0-9`, `A-F` or `a-f`; `None` for anything else.
#[must_use]
pub fn digit_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Parses the two checksum digits `C1 C2` (either case); `None` if one is not hex.
#[must_use]
pub fn parse_checksum_digits(high: u8, low: u8) -> Option<u8> {
    Some((digit_value(high)? << 4) | digit_value(low)?)
}

fn hex_digit(nibble: u8) -> u8 {
    match nibble {
        0..=9 => b'0' + nibble,
        _ => b'A' + (nibble & 0x0F) - 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_astm_vector() {
        // <STX>1A|B|C|D<CR><ETX> -> BF (python-astm test_codecs).
        assert_eq!(checksum_digits(checksum(b"1A|B|C|D\r\x03")), *b"BF");
    }

    #[test]
    fn twgenaux_terminator_vector() {
        assert_eq!(checksum_digits(checksum(b"4L|1|N\r\x03")), *b"07");
    }

    #[test]
    fn digits_round_trip_all_values_and_lowercase() {
        for v in 0..=255u8 {
            let [h, l] = checksum_digits(v);
            assert_eq!(parse_checksum_digits(h, l), Some(v));
            let (h, l) = (h.to_ascii_lowercase(), l.to_ascii_lowercase());
            assert_eq!(parse_checksum_digits(h, l), Some(v));
        }
        assert_eq!(parse_checksum_digits(b'G', b'0'), None);
        assert_eq!(parse_checksum_digits(b'\r', b'\n'), None);
    }

    #[test]
    fn wraps_modulo_256() {
        assert_eq!(checksum(&[0xFF, 0x02]), 0x01);
        assert_eq!(checksum(&vec![1u8; 70_000]), (70_000u32 % 256) as u8);
    }
}
