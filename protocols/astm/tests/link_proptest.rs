//! Property: any record text (no control characters except CR) cut into
//! frames of any size and fed to the decoder in any chunking comes back
//! byte for byte, with frame numbers 1, 2, … 7, 0, … and valid checksums.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_astm::capture::{CaptureLimits, split_capture};
use labwire_astm::link::{
    Decoded, EncodeOptions, FrameDecoder, FrameEnd, FrameLimits, FrameNumber, encode_message,
};
use proptest::prelude::*;

fn text_byte() -> impl Strategy<Value = u8> {
    prop_oneof![8 => 0x20u8..=0xFF, 1 => Just(b'\r')]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_in_any_chunking(
        text in proptest::collection::vec(text_byte(), 1..2000),
        max_text in 1usize..300,
        record_per_frame in any::<bool>(),
        chunks in proptest::collection::vec(1usize..97, 1..50),
    ) {
        let options = EncodeOptions { max_text, record_per_frame };
        let mut wire = Vec::new();
        encode_message(&text, FrameNumber::FIRST, &options, &mut wire);

        let mut decoder = FrameDecoder::new(FrameLimits { max_text });
        let mut joined = Vec::new();
        let mut expected = FrameNumber::FIRST;
        let mut last_end = None;
        let mut rest = &wire[..];
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            let (mut chunk, tail) = rest.split_at(n);
            rest = tail;
            while let Some(item) = decoder.decode(&mut chunk) {
                match item {
                    Decoded::Frame(frame) => {
                        prop_assert_eq!(frame.number, expected);
                        prop_assert!(frame.text.len() <= max_text);
                        expected = expected.next();
                        last_end = Some(frame.end);
                        joined.extend_from_slice(frame.text);
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
        prop_assert!(decoder.finish().is_none());
        prop_assert_eq!(last_end, Some(FrameEnd::Last));
        prop_assert_eq!(joined, text);
    }

    #[test]
    fn framed_messages_survive_split_capture(
        body in proptest::collection::vec(0x20u8..=0x7E, 0..600),
        max_text in 1usize..300,
    ) {
        let mut text = b"H|\\^&\r".to_vec();
        text.extend(body.iter().map(|&b| if b == b'|' { b'!' } else { b }));
        text.extend_from_slice(b"\rL|1|N\r");
        let mut wire = vec![0x05];
        encode_message(&text, FrameNumber::FIRST, &EncodeOptions { max_text, record_per_frame: false }, &mut wire);
        wire.push(0x04);
        let got = split_capture(&wire, &CaptureLimits::default());
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0].as_ref().unwrap().text, &text);
    }

    #[test]
    fn fuzz_bodies_never_panic_on_random_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        labwire_astm::link::fuzz::frame_decoder(&data);
        labwire_astm::link::fuzz::link_script(&data);
    }

    #[test]
    fn fuzz_bodies_never_panic_on_frame_soup(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(vec![0x02u8]), Just(vec![0x03]), Just(vec![0x17]), Just(vec![0x04]),
                Just(vec![0x05]), Just(vec![0x06]), Just(vec![0x15]), Just(b"\r\n".to_vec()),
                Just(b"1H|\\^&\r".to_vec()), Just(b"L|1|N\r".to_vec()), Just(b"A5".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..8),
            ],
            0..200,
        ),
    ) {
        let data = parts.concat();
        labwire_astm::link::fuzz::frame_decoder(&data);
        labwire_astm::link::fuzz::link_script(&data);
        let _ = split_capture(&data, &CaptureLimits::default());
    }
}
