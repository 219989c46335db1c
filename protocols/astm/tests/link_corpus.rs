//! Real captures replayed into a host `Link` (as if the instrument were on
//! the line, byte by byte, because a real instrument waits for each reply
//! before it sends more): the link must deliver exactly the messages
//! `split_capture` finds, and never NAK a frame of these files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use labwire_astm::capture::{CaptureLimits, split_capture};
use labwire_astm::link::control::{ACK, ENQ, NAK};
use labwire_astm::link::{Link, LinkConfig, LinkEvent, Role};

/// Framed corpus files whose frames are all valid and in sequence.
const FILES: &[&str] = &[
    "abbott-afinion2-hba1c-single-frame.astm",
    "erba-xl1000-result-backtick-repeat-delimiter.astm",
    "erba-xl1000-result-flag-list.astm",
    "horiba-yumizen-h500-session-enq-etb-eot-125-frames.astm",
    "ortho-vitros-3600-host-query.astm",
    "ortho-vitros-3600-result-session.astm",
    "roche-cobas-c311-result-single-619byte-frame.astm",
    "siemens-dca-vantage-albumin-creatinine-single-frame.astm",
    "sysmex-xn550-cbc-single-2609byte-frame.astm",
    "synthetic-python-astm-cp1251-nonascii-frame.astm",
    "synthetic-python-astm-etb-chunked-14byte-frames.astm",
    "synthetic-python-astm-frame-number-wrap.astm",
];

#[test]
fn link_delivers_what_split_capture_finds() {
    for name in FILES {
        let path = format!(
            "{}/../../testdata/corpus/astm/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = std::fs::read(&path).unwrap();
        let expected: Vec<Vec<u8>> = split_capture(&file, &CaptureLimits::default())
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{name}: {e}")).text)
            .collect();
        // Only the instrument's side of the line: the link needs the ENQ.
        let mut wire = if file.first() == Some(&ENQ) {
            Vec::new()
        } else {
            vec![ENQ]
        };
        wire.extend(file.iter().filter(|&&b| b != ACK && b != NAK));

        let now = Instant::now();
        let mut link = Link::new(LinkConfig::new(Role::Host));
        let mut delivered = Vec::new();
        let mut sent = Vec::new();
        for chunk in wire.chunks(1) {
            link.handle_input(now, chunk);
            while let Some(event) = link.poll_event() {
                match event {
                    LinkEvent::Message { token, text } => {
                        delivered.push(text);
                        assert!(link.commit(token, now), "{name}");
                    }
                    LinkEvent::Rejected { reason, offset, .. } => {
                        panic!("{name}: rejected at {offset}: {reason}")
                    }
                    LinkEvent::Discarded { reason, .. } => panic!("{name}: discarded: {reason}"),
                    _ => {}
                }
            }
            sent.extend(link.poll_transmit().unwrap_or_default());
        }
        assert_eq!(delivered, expected, "{name}");
        assert!(!sent.contains(&NAK), "{name}: NAK sent");
        let frames = file.iter().filter(|&&b| b == 0x02).count();
        assert_eq!(
            sent.iter().filter(|&&b| b == ACK).count(),
            frames + 1,
            "{name}: one ACK per frame + ENQ"
        );
        assert_eq!(link.stats().frames_received, frames as u64, "{name}");
    }
}
