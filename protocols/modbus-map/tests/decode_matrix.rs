//! Type × scale × byte/word order against register images worked out by hand from the
//! IEEE 754 and two's-complement encodings (not computed with the code under test).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use labwire_modbus_map::{
    ByteOrder, Point, Table, ValueType, decode_bits, decode_registers, encode_registers,
};
use proptest::prelude::*;

fn point(value_type: ValueType, order: ByteOrder, scale: f64, offset: f64) -> Point {
    Point {
        name: "p".to_owned(),
        table: if value_type == ValueType::Bool {
            Table::Coil
        } else {
            Table::Holding
        },
        address: 0,
        value_type,
        order,
        scale,
        offset,
        decimals: None,
        unit: None,
        deadband: 0.0,
        poll: None,
        writable: true,
        min: None,
        max: None,
        alarm: None,
    }
}

use ByteOrder::{Abcd, Badc, Cdab, Dcba};
use ValueType::*;

#[test]
fn known_register_images_decode_to_known_texts() {
    type Case = (ValueType, ByteOrder, f64, f64, &'static [u16], &'static str);
    let cases: &[Case] = &[
        (U16, Abcd, 1.0, 0.0, &[0x0D05], "3333"),
        (U16, Abcd, 0.01, 0.0, &[0x0D05], "33.33"),
        (U16, Badc, 0.01, 0.0, &[0x050D], "33.33"),
        (U16, Abcd, 0.1, -40.0, &[500], "10"),
        (I16, Abcd, 0.1, 0.0, &[0xFF4A], "-18.2"),
        (I16, Dcba, 0.1, 0.0, &[0x4AFF], "-18.2"),
        (I16, Abcd, 1.0, 0.0, &[0x8000], "-32768"),
        (U32, Abcd, 1.0, 0.0, &[0x0001, 0x86A0], "100000"),
        (U32, Cdab, 1.0, 0.0, &[0x86A0, 0x0001], "100000"),
        (U32, Badc, 1.0, 0.0, &[0x0100, 0xA086], "100000"),
        (U32, Dcba, 1.0, 0.0, &[0xA086, 0x0100], "100000"),
        (U32, Cdab, 0.1, 0.0, &[0x86A0, 0x0001], "10000"),
        (I32, Abcd, 1.0, 0.0, &[0xFFFF, 0xFFFE], "-2"),
        (I32, Cdab, 0.5, 0.0, &[0xFFFE, 0xFFFF], "-1"),
        (F32, Abcd, 1.0, 0.0, &[0x41AC, 0x0000], "21.5"),
        (F32, Cdab, 1.0, 0.0, &[0x0000, 0x41AC], "21.5"),
        (F32, Badc, 1.0, 0.0, &[0xAC41, 0x0000], "21.5"),
        (F32, Dcba, 1.0, 0.0, &[0x0000, 0xAC41], "21.5"),
        (F32, Abcd, 1.0, 0.0, &[0xC191, 0x999A], "-18.2"),
        (F32, Abcd, 10.0, 0.0, &[0xC191, 0x999A], "-182"),
        (U64, Abcd, 1.0, 0.0, &[0, 0, 1, 0], "65536"),
        (U64, Cdab, 1.0, 0.0, &[0, 1, 0, 0], "65536"),
        (U64, Abcd, 1.0, 0.0, &[0xFFFF; 4], "18446744073709551615"),
        (I64, Abcd, 1.0, 0.0, &[0xFFFF; 4], "-1"),
        (F64, Abcd, 1.0, 0.0, &[0x3FF8, 0, 0, 0], "1.5"),
        (F64, Dcba, 1.0, 0.0, &[0, 0, 0, 0xF83F], "1.5"),
        // 1e20 as f64 (0x4415AF1D78B58C40) is written out, never as an exponent.
        (
            F64,
            Abcd,
            1.0,
            0.0,
            &[0x4415, 0xAF1D, 0x78B5, 0x8C40],
            "100000000000000000000",
        ),
    ];
    for (t, o, scale, offset, words, want) in cases {
        let p = point(*t, *o, *scale, *offset);
        let got = decode_registers(&p, words).unwrap();
        assert_eq!(
            got.text, *want,
            "{t:?} {o:?} scale={scale} offset={offset} {words:04X?}"
        );
    }
}

#[test]
fn bits_decode_to_zero_and_one() {
    let p = point(Bool, Abcd, 1.0, 0.0);
    assert_eq!(decode_bits(&p, &[true]).unwrap().text, "1");
    assert_eq!(decode_bits(&p, &[false]).unwrap().text, "0");
}

#[test]
fn nan_and_short_images_are_errors_not_readings() {
    let p = point(F32, Abcd, 1.0, 0.0);
    assert!(decode_registers(&p, &[0x7FC0, 0x0000]).is_err());
    assert!(decode_registers(&p, &[0x41AC]).is_err());
}

#[test]
fn writes_outside_min_max_or_the_type_are_refused() {
    let mut p = point(I16, Abcd, 0.1, 0.0);
    p.min = Some(-40.0);
    p.max = Some(10.0);
    assert_eq!(encode_registers(&p, -18.2).unwrap(), vec![0xFF4A]);
    assert!(encode_registers(&p, 10.5).is_err());
    assert!(encode_registers(&p, -40.1).is_err());
    let wide = point(I16, Abcd, 0.1, 0.0);
    assert!(encode_registers(&wide, 4000.0).is_err());
    let f = point(F32, Cdab, 1.0, 0.0);
    assert_eq!(encode_registers(&f, 21.5).unwrap(), vec![0x0000, 0x41AC]);
}

fn any_order() -> impl Strategy<Value = ByteOrder> {
    prop_oneof![Just(Abcd), Just(Cdab), Just(Badc), Just(Dcba)]
}

proptest! {
    #[test]
    fn integers_round_trip_through_registers_in_every_order(v in any::<i32>(), o in any_order()) {
        let p = point(I32, o, 1.0, 0.0);
        let words = encode_registers(&p, f64::from(v)).unwrap();
        prop_assert_eq!(decode_registers(&p, &words).unwrap().text, v.to_string());
    }

    #[test]
    fn scaled_i16_readings_round_trip(raw in any::<i16>(), o in any_order()) {
        let p = point(I16, o, 0.1, 0.0);
        let value = f64::from(raw) / 10.0;
        let words = encode_registers(&p, value).unwrap();
        let back = decode_registers(&p, &words).unwrap();
        prop_assert!((back.value - value).abs() < 1e-9);
        prop_assert!(!back.text.contains('e') && !back.text.contains('E'));
        prop_assert_eq!(back.text.parse::<f64>().unwrap(), value);
    }

    #[test]
    fn decoded_text_is_a_plain_decimal(words in proptest::collection::vec(any::<u16>(), 4),
                                       o in any_order(), t in prop_oneof![Just(F32), Just(F64), Just(U64), Just(I64)]) {
        let p = point(t, o, 1.0, 0.0);
        if let Ok(r) = decode_registers(&p, &words) {
            prop_assert!(r.text.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '.'), "{}", r.text);
        }
    }
}
