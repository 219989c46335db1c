//! Issue 9 item 1 on fake time: a message whose final frame was never acknowledged is never
//! delivered as a (truncated) message; the partial text is reported as a `Discarded` event.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use labwire_astm::link::control::{ACK, ENQ, EOT, NAK};
use labwire_astm::link::{FrameEnd, FrameNumber, Link, LinkConfig, LinkEvent, Role, encode_frame};

const FIRST: &[u8] = b"H|\\^&|||c311\rP|1\rO|1|S1||^^^GLU\rR|1|^^^GLU|12";
const LAST: &[u8] = b"3.4|mmol/L||N||F\rL|1|N\r";

fn frame(n: u8, text: &[u8], end: FrameEnd) -> Vec<u8> {
    let mut f = Vec::new();
    encode_frame(FrameNumber::new_wrapping(n), text, end, &mut f);
    f
}

fn drain(link: &mut Link) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

#[test]
fn a_final_frame_refused_until_the_sender_gives_up_is_never_a_message() {
    let t0 = Instant::now();
    let step = Duration::from_millis(100);
    let mut host = Link::new(LinkConfig::new(Role::Host));
    host.handle_input(t0, &[ENQ]);
    host.handle_input(t0, &frame(1, FIRST, FrameEnd::Intermediate));
    assert_eq!(host.poll_transmit().unwrap(), vec![ACK, ACK]);
    let mut now = t0;
    // First transmission plus six retries of the final frame, each refused (bus down).
    for attempt in 0..7 {
        now += step;
        host.handle_input(now, &frame(2, LAST, FrameEnd::Last));
        let events = drain(&mut host);
        let token = events
            .into_iter()
            .find_map(|e| match e {
                LinkEvent::Message { token, text } => {
                    assert_eq!(text, [FIRST, LAST].concat(), "attempt {attempt}");
                    Some(token)
                }
                _ => None,
            })
            .expect("the complete message is offered");
        assert!(host.reject(token, now));
        assert_eq!(host.poll_transmit().unwrap(), vec![NAK]);
    }
    // The instrument gives up (the bus has recovered meanwhile).
    now += step;
    host.handle_input(now, &[EOT]);
    let events = drain(&mut host);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LinkEvent::Message { .. })),
        "a message whose final frame was never ACKed must not be delivered: {events:?}"
    );
    let discarded: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LinkEvent::Discarded { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        discarded,
        vec![FIRST.to_vec()],
        "the partial text is reported"
    );
    assert!(host.is_idle());
}

#[test]
fn an_etx_message_without_l_record_is_still_delivered_at_eot() {
    // Some instruments end every record's frame with ETX and never send an L record: each frame
    // was ACKed, the sender counts the text as delivered, so it is handed over at EOT.
    let t0 = Instant::now();
    let mut host = Link::new(LinkConfig::new(Role::Host));
    host.handle_input(t0, &[ENQ]);
    host.handle_input(t0, &frame(1, b"H|\\^&\r", FrameEnd::Last));
    host.handle_input(t0, &frame(2, b"P|1\r", FrameEnd::Last));
    host.handle_input(t0, &[EOT]);
    assert_eq!(host.poll_transmit().unwrap(), vec![ACK, ACK, ACK]);
    let events = drain(&mut host);
    let Some(LinkEvent::Message { token, text }) = events
        .into_iter()
        .find(|e| matches!(e, LinkEvent::Message { .. }))
    else {
        panic!("delivered at EOT")
    };
    assert_eq!(text, b"H|\\^&\rP|1\r");
    assert!(
        !host.holds(&token),
        "its frames were all ACKed: nothing held"
    );
    assert!(!host.commit(token, t0));
}
