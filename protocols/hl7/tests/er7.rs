//! ER7 parsing and path access on hand-written messages and corpus files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;

use labwire_hl7::er7::*;

const ORU: &[u8] = b"MSH|^~\\&|LAB|HOSP|LIS|HOSP|20260101120000||ORU^R01^ORU_R01|42|P|2.5.1\r\
PID|1||MRN1^^^H^MR~SSN9^^^S^SS||Doe^Jane^Q~Roe&Ms^Janet||19620824|F\r\
OBR|1|ORD1|FIL1|GLU^Glucose^L\r\
OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|3.9-6.1|H~A|||F\r\
OBX|2|ST|NOTE^Note^L||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f|||||F\r\
ZZZ|custom|x^y\r";

fn with<R>(input: &[u8], f: impl FnOnce(Message<'_>) -> R) -> R {
    let mut idx = Index::new();
    let msg = parse(input, &mut idx, &Limits::default()).unwrap();
    f(msg)
}

fn get(msg: &Message<'_>, path: &str) -> String {
    msg.get(path)
        .unwrap()
        .map(|v| String::from_utf8(v.unescaped().into_owned()).unwrap())
        .unwrap_or_else(|| "<none>".into())
}

#[test]
fn msh_numbering_follows_the_standard() {
    with(ORU, |m| {
        assert_eq!(get(&m, "MSH-1"), "|");
        assert_eq!(get(&m, "MSH-2"), "^~\\&");
        assert_eq!(get(&m, "MSH-3"), "LAB");
        assert_eq!(get(&m, "MSH-9"), "ORU^R01^ORU_R01");
        assert_eq!(get(&m, "MSH-9.2"), "R01");
        assert_eq!(get(&m, "MSH-10"), "42");
        // MSH-2 is never split into components.
        assert_eq!(get(&m, "MSH-2.2"), "<none>");
    });
}

#[test]
fn paths_reach_repetitions_components_and_subcomponents() {
    with(ORU, |m| {
        assert_eq!(get(&m, "PID-3"), "MRN1^^^H^MR~SSN9^^^S^SS");
        assert_eq!(get(&m, "PID-3.1"), "MRN1");
        assert_eq!(get(&m, "PID-3[2].1"), "SSN9");
        assert_eq!(get(&m, "PID-3[2].5"), "SS");
        assert_eq!(get(&m, "PID-5[2].1"), "Roe&Ms");
        assert_eq!(get(&m, "PID-5[2].1.2"), "Ms");
        assert_eq!(get(&m, "PID-5[3]"), "<none>");
        assert_eq!(get(&m, "OBX-5"), "5.4");
        assert_eq!(get(&m, "OBX[2]-5"), "a|b^c&d~e\\f");
        assert_eq!(get(&m, "OBX-3.1"), "GLU");
        assert_eq!(get(&m, "OBX-8[2]"), "A");
        assert_eq!(get(&m, "obx.3.2"), "Glucose");
        assert_eq!(get(&m, "ZZZ-2.2"), "y");
        assert_eq!(get(&m, "OBX-99"), "<none>");
        assert_eq!(get(&m, "NTE-1"), "<none>");
        assert!(m.get("PID-x").is_err());
    });
}

#[test]
fn segments_unknown_and_z_are_kept_in_order() {
    with(ORU, |m| {
        let names: Vec<_> = m
            .segments()
            .map(|s| String::from_utf8_lossy(s.name()).into_owned())
            .collect();
        assert_eq!(names, ["MSH", "PID", "OBR", "OBX", "OBX", "ZZZ"]);
        let obx = m.segments_named(b"OBX").nth(1).unwrap();
        assert_eq!(&ORU[obx.offset()..obx.offset() + 5], b"OBX|2");
        assert_eq!(obx.field_count(), 10);
    });
}

#[test]
fn values_without_escapes_are_borrowed() {
    with(ORU, |m| {
        let v = m.get("OBX-5").unwrap().unwrap();
        assert!(matches!(v.unescaped(), Cow::Borrowed(_)));
        let v = m.get("OBX[2]-5").unwrap().unwrap();
        assert!(matches!(v.unescaped(), Cow::Owned(_)));
    });
}

#[test]
fn separators_cr_lf_crlf_and_blank_lines() {
    let a = b"MSH|^~\\&|A\rPID|1\rOBX|1\r";
    let b = b"MSH|^~\\&|A\nPID|1\nOBX|1\n";
    let c = b"\r\n\nMSH|^~\\&|A\r\nPID|1\r\n\r\nOBX|1\r\n\x0b\r\n\n";
    for input in [&a[..], b, c] {
        with(input, |m| {
            assert_eq!(m.segment_count(), 3, "{input:?}");
            assert_eq!(get(&m, "OBX-1"), "1");
        });
    }
}

#[test]
fn custom_delimiters_and_truncation_character() {
    with(b"MSH#$%*!@#A\rPID#1##X$Y%Z!W*F*\r", |m| {
        assert_eq!(get(&m, "MSH-3"), "A");
        assert_eq!(get(&m, "PID-3.2"), "Y");
        assert_eq!(get(&m, "PID-3[2].1.2"), "W#");
    });
    with(b"MSH|^~\\&#|A\rNTE|1||x\\P\\y\r", |m| {
        assert_eq!(m.delimiters().truncation, Some(b'#'));
        assert_eq!(get(&m, "NTE-3"), "x#y");
    });
}

#[test]
fn three_char_msh2_from_the_realm_batch() {
    with(
        b"MSH|^~&|Lab1^1234^CLIA|^1234^CLIA\rPID|1||36363636^^^MPI&2.16&ISO^MR\r",
        |m| {
            assert_eq!(m.delimiters().escape, None);
            assert_eq!(get(&m, "PID-3.4.2"), "2.16");
            assert_eq!(get(&m, "MSH-4.2"), "1234");
        },
    );
}

#[test]
fn bad_headers_are_errors_with_offsets() {
    let mut idx = Index::new();
    let l = Limits::default();
    assert_eq!(
        parse(b"", &mut idx, &l).unwrap_err(),
        ParseError::NoHeader { offset: 0 }
    );
    assert_eq!(
        parse(b"\r\nPID|1", &mut idx, &l).unwrap_err(),
        ParseError::NoHeader { offset: 2 }
    );
    assert_eq!(
        parse(b"MSH", &mut idx, &l).unwrap_err(),
        ParseError::NoHeader { offset: 0 }
    );
    assert!(matches!(
        parse(b"MSH||", &mut idx, &l).unwrap_err(),
        ParseError::BadEncodingCharacters { offset: 4, .. }
    ));
    assert!(matches!(
        parse(b"MSH|^^\\&|", &mut idx, &l).unwrap_err(),
        ParseError::BadEncodingCharacters { .. }
    ));
}

#[test]
fn limits_are_enforced() {
    let mut idx = Index::new();
    let tight = Limits {
        max_message_bytes: 64,
        max_segments: 2,
        max_fields_per_segment: 3,
    };
    assert!(matches!(
        parse(&[b'x'; 65], &mut idx, &tight),
        Err(ParseError::TooLarge { len: 65, limit: 64 })
    ));
    assert_eq!(
        parse(b"MSH|^~\\&\rA|1\rB|2\r", &mut idx, &tight).unwrap_err(),
        ParseError::TooManySegments {
            offset: 13,
            limit: 2
        }
    );
    assert_eq!(
        parse(b"MSH|^~\\&\rPID|1|2|3|4\r", &mut idx, &tight).unwrap_err(),
        ParseError::TooManyFields {
            offset: 9,
            limit: 3
        }
    );
}

#[test]
fn every_corpus_message_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/hl7");
    let mut idx = Index::new();
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        for m in labwire_hl7::capture::split_capture(&bytes, &Default::default())
            .into_iter()
            .flatten()
        {
            let msg = parse(&m.text, &mut idx, &Limits::default()).unwrap();
            assert!(msg.segment_count() >= 2);
            n += 1;
        }
    }
    assert!(n >= 30, "{n}");
}
