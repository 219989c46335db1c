#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Record-layer behaviour on vendor dialects, through the public API only.

use labwire_astm::record::{Delimiters, Limits, Message, RecordErrorKind, RecordType, messages};

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/corpus/astm")
        .join(name);
    std::fs::read(path).unwrap()
}

fn text(field: Option<labwire_astm::record::Field<'_>>) -> String {
    String::from_utf8(field.unwrap().unescaped().into_owned()).unwrap()
}

#[test]
fn horiba_double_backslash_header_and_lf_terminators() {
    let data = corpus("horiba-yumizen-h550-double-backslash-header.astm");
    let m = Message::parse(&data, &Limits::default()).unwrap();
    assert_eq!(m.delimiters(), Delimiters::default());
    let types: Vec<_> = m.records().map(|r| r.record_type()).collect();
    assert_eq!(types.first(), Some(&RecordType::Header));
    assert_eq!(types.last(), Some(&RecordType::Terminator));
    assert_eq!(
        types.iter().filter(|t| **t == RecordType::Result).count(),
        20
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == RecordType::Manufacturer)
            .count(),
        3
    );
    let h = m.header().unwrap();
    assert_eq!(text(h.field(12)), "Q");
    assert_eq!(
        h.field(5).unwrap().component(2).unwrap().raw(),
        b"909YAXH02732"
    );
}

#[test]
fn genexpert_escape_is_backslash() {
    let d = Delimiters::from_header(b"H|@^\\|").unwrap();
    assert_eq!((d.repeat, d.escape), (b'@', b'\\'));
    let data = b"H|@^\\|ID\rR|1|^^^A@^^^B|x\\F\\y\\S\\z|\rL|1|N\r";
    let m = Message::parse(data, &Limits::default()).unwrap();
    let r = m.records().nth(1).unwrap();
    assert_eq!(r.field(3).unwrap().repeats().count(), 2);
    assert_eq!(text(r.field(4)), "x|y^z");
    assert_eq!(r.field(4).unwrap().components().count(), 1);
}

#[test]
fn mindray_escaped_pipe_does_not_split() {
    let data = b"H|\\^&|||Mindray\rC|1|I|a&|b|G\rL|1|N\r";
    let m = Message::parse(data, &Limits::default()).unwrap();
    let c = m.records().nth(1).unwrap();
    assert_eq!(text(c.field(4)), "a|b");
    assert_eq!(text(c.field(5)), "G");
}

#[test]
fn crcr_crlf_blank_lines_and_lowercase_types() {
    let data = b"\n\nh|\\^&\r\r\np|1|ID\r\n\r\n   \r\no|1|S1\rr|1|^^^GLU|5\r\rl|1|N";
    let m = Message::parse(data, &Limits::default()).unwrap();
    let types: Vec<_> = m.records().map(|r| r.record_type()).collect();
    assert_eq!(
        types,
        [
            RecordType::Header,
            RecordType::Patient,
            RecordType::Order,
            RecordType::Result,
            RecordType::Terminator
        ]
    );
    let r = m.records().nth(3).unwrap();
    assert_eq!(r.type_id(), b"r");
    assert_eq!(r.field(14), None);
}

#[test]
fn back_to_back_messages_and_limits() {
    let data = corpus("euroimmun-analyzer1-sarscov2-multi-patient-lf.astm");
    let all: Vec<_> = messages(&data, &Limits::default()).collect();
    assert_eq!(all.len(), 1);
    let tight = Limits {
        max_records: 5,
        ..Limits::default()
    };
    let err = messages(&data, &tight).next().unwrap().unwrap_err();
    assert_eq!(err.kind, RecordErrorKind::TooManyRecords { limit: 5 });
    assert!(err.offset > 0 && err.offset < data.len());
}
