#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Property tests: arbitrary values (delimiter characters, CR/LF, non-ASCII included) and
//! arbitrary delimiter sets survive encode → parse, and encode → E1381 frames of any size →
//! capture split → parse.

use labwire_astm::capture::{CaptureLimits, split_capture};
use labwire_astm::charset::AstmCharset;
use labwire_astm::link::{EncodeOptions, FrameNumber, encode_message};
use labwire_astm::record::write::{FieldValue, MessageWriter, RecordBuilder};
use labwire_astm::record::{Delimiters, Limits, Message, RecordType};
use proptest::prelude::*;

/// A field as repeats of components.
type Fields = Vec<Vec<Vec<String>>>;

const PUNCTUATION: &[u8] = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

fn delimiters() -> impl Strategy<Value = Delimiters> {
    proptest::sample::subsequence(PUNCTUATION.to_vec(), 4)
        .prop_shuffle()
        .prop_map(|d| Delimiters::new(d[0], d[1], d[2], d[3]).unwrap())
}

fn component() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 |\\\\^&@`~!#$%*()_=+{};:'\",.<>/?\\-\r\nÄéЖж漢😀]{0,8}"
}

fn fields() -> impl Strategy<Value = Fields> {
    prop::collection::vec(
        prop::collection::vec(prop::collection::vec(component(), 1..4), 1..3),
        0..8,
    )
}

fn record_type() -> impl Strategy<Value = RecordType> {
    prop::sample::select(vec![
        RecordType::Patient,
        RecordType::Order,
        RecordType::Result,
        RecordType::Comment,
        RecordType::Query,
        RecordType::Manufacturer,
        RecordType::Scientific,
    ])
}

fn build(kind: RecordType, fields: &Fields, first: usize) -> RecordBuilder {
    fields
        .iter()
        .enumerate()
        .fold(RecordBuilder::new(kind), |b, (i, f)| {
            b.set(first + i, FieldValue::repeats(f.clone()))
        })
}

fn encode(d: Delimiters, header: &Fields, records: &[(RecordType, Fields)]) -> Vec<u8> {
    let mut w = MessageWriter::new(d, AstmCharset::Utf8);
    w.record(&build(RecordType::Header, header, 3)).unwrap();
    for (kind, fields) in records {
        w.record(&build(*kind, fields, 2)).unwrap();
    }
    w.record(&RecordBuilder::terminator("N")).unwrap();
    w.finish()
}

fn is_empty(f: &[Vec<String>]) -> bool {
    f.len() <= 1 && f.iter().all(|r| r.iter().all(String::is_empty))
}

/// Parses `text` and checks every record against what was encoded.
fn check(text: &[u8], header: &Fields, records: &[(RecordType, Fields)]) {
    let m = Message::parse(text, &Limits::default()).unwrap();
    let parsed: Vec<_> = m.records().collect();
    assert_eq!(parsed.len(), records.len() + 2);
    let expected = std::iter::once((RecordType::Header, header, 3))
        .chain(records.iter().map(|(k, f)| (*k, f, 2)));
    for (record, (kind, fields, first)) in parsed.iter().zip(expected) {
        assert_eq!(record.record_type(), kind);
        for (i, want) in fields.iter().enumerate() {
            let got: Vec<Vec<String>> = match record.field(first + i) {
                None => {
                    assert!(is_empty(want), "field {} missing", first + i);
                    continue;
                }
                Some(f) => f
                    .repeats()
                    .map(|r| {
                        r.components()
                            .map(|c| String::from_utf8(c.unescaped().into_owned()).unwrap())
                            .collect()
                    })
                    .collect(),
            };
            if is_empty(want) {
                assert!(is_empty(&got), "field {}: {got:?}", first + i);
            } else {
                assert_eq!(&got, want, "field {}", first + i);
            }
        }
    }
    assert_eq!(parsed.last().unwrap().record_type(), RecordType::Terminator);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_parse(
        d in delimiters(),
        header in fields(),
        records in prop::collection::vec((record_type(), fields()), 0..6),
    ) {
        let text = encode(d, &header, &records);
        check(&text, &header, &records);
    }

    #[test]
    fn encode_frame_deframe_parse(
        d in delimiters(),
        header in fields(),
        records in prop::collection::vec((record_type(), fields()), 0..6),
        max_text in 1usize..300,
    ) {
        let text = encode(d, &header, &records);
        let mut wire = vec![0x05];
        let options = EncodeOptions { max_text, record_per_frame: false };
        encode_message(&text, FrameNumber::FIRST, &options, &mut wire);
        wire.push(0x04);
        let limits = CaptureLimits { max_frame_text: 300, ..CaptureLimits::default() };
        let messages = split_capture(&wire, &limits);
        prop_assert_eq!(messages.len(), 1);
        let message = messages.into_iter().next().unwrap().unwrap();
        prop_assert_eq!(&message.text, &text);
        check(&message.text, &header, &records);
    }

    #[test]
    fn cp1251_values_round_trip(value in "[а-яА-ЯёЁ |^&\\\\a-z0-9]{0,20}") {
        let d = Delimiters::default();
        let mut w = MessageWriter::new(d, AstmCharset::Windows1251);
        w.record(&RecordBuilder::new(RecordType::Header)).unwrap();
        w.record(&RecordBuilder::comment(1, "I", &value, "G")).unwrap();
        let text = w.finish();
        let m = Message::parse(&text, &Limits::default()).unwrap();
        let c = m.records().nth(1).unwrap();
        let got = c.field(4).map(|f| f.unescaped().into_owned()).unwrap_or_default();
        prop_assert_eq!(AstmCharset::Windows1251.decode_lossy(&got), value);
    }
}
