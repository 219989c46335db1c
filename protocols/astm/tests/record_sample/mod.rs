#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The result message used by `benches/records.rs` and `tests/record_alloc.rs`: H, P, O,
//! ten R records and L, about 1.1 KB (a typical chemistry result), and the zero-copy read
//! path both measure.

use labwire_astm::record::{Limits, Message, RecordType};

/// Builds the sample message (CR-terminated records).
pub fn result_message() -> Vec<u8> {
    let tests = [
        ("GLU", "5.4", "mmol/L", "3.9-6.1", "N"),
        ("NA", "141", "mmol/L", "135-145", "N"),
        ("K", "5.9", "mmol/L", "3.5-5.1", "H"),
        ("CL", "102", "mmol/L", "98-107", "N"),
        ("CREA", "88", "umol/L", "62-106", "N"),
        ("UREA", "9.1", "mmol/L", "2.8-8.1", "H"),
        ("ALT", "22.4", "U/L", "0-41", "N"),
        ("AST", "15.0", "U/L", "0-40", "N"),
        ("CRP", "<0.6", "mg/L", "0-5", "N"),
        ("HBA1C", "5.9", "%", "4.0-6.0", "N"),
    ];
    let mut m = Vec::new();
    m.extend_from_slice(
        b"H|\\^&|||cobas-c311^1.04^SN10023|||||host|RSUPL^REAL|P|LIS2-A2|20240203132011\r",
    );
    m.extend_from_slice(b"P|1||PID-00012345||Doe^Jane^M||19800102|F\r");
    m.extend_from_slice(
        b"O|1|SPEC-0000012345^CL-PL-24-0370^1||^^^GLU\\^^^NA\\^^^K|R|20240203120000|20240203121500||||N||||SERUM||||||||||F\r",
    );
    m.extend_from_slice(b"C|1|L|fasting sample^collected 07:40 ward 3B|G\r");
    for (i, (code, value, units, range, flag)) in tests.iter().enumerate() {
        m.extend_from_slice(
            format!(
                "R|{}|^^^{code}|{value}|{units}|{range}|{flag}||F||operator-0001|20240203131000|20240203132000|c311\r",
                i + 1
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(b"L|1|N\r");
    m
}

/// Parses `text` and reads every observation's code (R-3 4th component, else the first
/// non-empty one) and value (R-4, unescaped); returns the total length read so that nothing
/// is optimised away.
pub fn read_observations(text: &[u8], limits: &Limits) -> usize {
    let message = Message::parse(text, limits).unwrap();
    let mut sum = 0;
    for record in message.records() {
        if record.record_type() != RecordType::Result {
            continue;
        }
        // Fields 3 and 4 in one pass over the record.
        let mut fields = record.fields().skip(2);
        let (test, value) = (fields.next(), fields.next());
        let code = test.and_then(|f| {
            f.component(4)
                .filter(|c| !c.is_empty())
                .or_else(|| f.components().find(|c| !c.is_empty()))
        });
        let value = value.map(|f| f.unescaped());
        sum += code.map_or(0, |c| c.raw().len()) + value.map_or(0, |v| v.len());
    }
    sum
}
