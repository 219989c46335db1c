//! Property tests: build → parse round-trips any values (delimiters, escape characters, CR/LF,
//! non-ASCII) under any valid encoding characters, also through MLLP framing in any chunking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use labwire_hl7::er7::{Delimiters, Hl7Charset, Index, Limits, MessageBuilder, parse, unescape};
use labwire_hl7::mllp::{Framer, FramerConfig, FramerEvent, frame};
use proptest::prelude::*;

const PUNCT: &[u8] = b"|^~\\&#!$%*@+=:;,?/`'\"<>{}[]_-.";

fn delimiters() -> impl Strategy<Value = Delimiters> {
    (Just(PUNCT.to_vec()).prop_shuffle(), any::<bool>()).prop_map(|(p, trunc)| Delimiters {
        field: p[0],
        component: p[1],
        repetition: p[2],
        escape: Some(p[3]),
        subcomponent: Some(p[4]),
        truncation: trunc.then_some(p[5]),
    })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}",
        "\\PC{0,12}",
        prop::collection::vec(
            prop::sample::select(b"|^~\\&#\r\nXab\xc3\xa9".to_vec()),
            0..16
        )
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn build(d: Delimiters, values: &[(String, String)]) -> Vec<u8> {
    let mut b = MessageBuilder::new(d).unwrap();
    b.msh()
        .set(3, "APP")
        .set_components(9, &["ORU", "R01"])
        .set(10, "1");
    for (i, (a, c)) in values.iter().enumerate() {
        b.segment("OBX")
            .unwrap()
            .set(1, &(i + 1).to_string())
            .set(5, a)
            .set_repetitions(6, &[&["u", c.as_str()], &[c.as_str()]]);
    }
    b.to_bytes()
}

fn check(bytes: &[u8], values: &[(String, String)]) {
    let mut idx = Index::new();
    let msg = parse(bytes, &mut idx, &Limits::default()).unwrap();
    let text = |v: labwire_hl7::er7::Value<'_>| -> String {
        String::from_utf8(v.unescaped().into_owned()).unwrap()
    };
    for (i, (a, c)) in values.iter().enumerate() {
        let obx = msg.segments_named(b"OBX").nth(i).unwrap();
        assert_eq!(text(obx.field(5).unwrap()), *a);
        let units = obx.field(6).unwrap();
        let second = units
            .repetition(1)
            .unwrap()
            .component(2)
            .map(text)
            .unwrap_or_default();
        assert_eq!(second, *c);
        if !c.is_empty() {
            assert_eq!(text(units.repetition(2).unwrap()), *c);
        }
        assert_eq!(obx.field(5).unwrap().text(Hl7Charset::Utf8), *a);
    }
}

proptest! {
    #[test]
    fn build_then_parse_round_trips(d in delimiters(), values in prop::collection::vec((value(), value()), 1..5)) {
        let bytes = build(d, &values);
        check(&bytes, &values);
    }

    #[test]
    fn framed_in_any_chunking_round_trips(
        d in delimiters(),
        values in prop::collection::vec((value(), value()), 1..4),
        cuts in prop::collection::vec(1usize..40, 0..30),
        copies in 1usize..4,
    ) {
        let msg = build(d, &values);
        let mut stream = Vec::new();
        for _ in 0..copies {
            frame(&msg, &mut stream);
        }
        let mut f = Framer::new(FramerConfig::default());
        let now = Instant::now();
        let mut rest = &stream[..];
        for c in cuts {
            let (a, b) = rest.split_at(c.min(rest.len()));
            f.push(now, a);
            rest = b;
        }
        f.push(now, rest);
        let mut frames = 0;
        while let Some(ev) = f.poll() {
            match ev {
                FramerEvent::Frame { payload, .. } => {
                    prop_assert_eq!(&payload, &msg);
                    check(&payload, &values);
                    frames += 1;
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(frames, copies);
    }

    #[test]
    fn unescape_never_panics_and_borrows_without_escapes(raw in prop::collection::vec(any::<u8>(), 0..64), d in delimiters()) {
        let out = unescape(&raw, &d);
        if !raw.contains(&d.escape.unwrap()) {
            prop_assert!(matches!(out, std::borrow::Cow::Borrowed(_)));
        }
    }
}
