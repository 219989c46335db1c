//! Replaying a capture file (corpus or site-recorded) against a host with its original framing.
//!
//! - **ASTM E1381 transcript** (STX frames): the instrument's side of the dialogue is sent
//!   byte for byte, frame by frame (original frame numbers, checksums and CR/LF trailers), one
//!   ENQ…EOT session per EOT in the capture (all frames in one session when it has none); after
//!   each frame the simulator waits for the host's ACK (NAK: resend, at most `max_retries`).
//! - **ASTM record text**: messages (split by `labwire_astm::capture`) are framed per the
//!   profile and sent the same way.
//! - **HL7** (MLLP-framed or plain ER7): each message is sent in an MLLP frame and the ACK
//!   waited for.
//!
//! Every replayed message goes into the ledger with the event ids labwire's own decoder derives
//! from it, so `--verify` works for replays too.

use crate::astm_session::{AstmInstrument, establish};
use crate::hl7_session::{Attempt, Reply, wait_reply};
use crate::instrument::Timers;
use crate::ledger::{Ledger, LedgerEntry};
use crate::profile::{Profile, WireProtocol};
use crate::wire::Wire;
use labwire_astm::link::control::{ACK, EOT, STX};
use labwire_astm::link::{Decoded, FrameDecoder, FrameLimits};
use labwire_event::{EventKind, InstrumentId, Origin, SiteId};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Messages in the capture.
    pub messages: usize,
    /// Messages the host acknowledged.
    pub acked: usize,
    /// Frames (ASTM) or MLLP blocks (HL7) written, retransmissions included.
    pub frames_sent: usize,
    /// Negative replies (NAK, or anything but ACK) from the host.
    pub naks: usize,
    /// Pieces of the capture that could not be replayed, with their offsets.
    pub skipped: Vec<String>,
}

/// Which protocol a capture is: HL7 when it has an MLLP start block or starts with `MSH`.
pub fn detect_protocol(bytes: &[u8]) -> WireProtocol {
    let trimmed = bytes.trim_ascii_start();
    if bytes.contains(&0x0B) || trimmed.starts_with(b"MSH") || trimmed.starts_with(b"FHS") {
        WireProtocol::Hl7
    } else {
        WireProtocol::Astm
    }
}

/// Who replays and where the results are recorded.
pub struct Replayer<'a> {
    /// The site labwire runs as (for event ids).
    pub site: &'a SiteId,
    /// The instrument id labwire knows this line as (for event ids).
    pub instrument: &'a InstrumentId,
    /// Timers and, for record-text captures, framing.
    pub profile: &'a Profile,
    /// Where replayed messages are recorded.
    pub ledger: &'a Ledger,
}

impl Replayer<'_> {
    fn record(&self, text: &[u8], protocol: WireProtocol, control_id: String) -> usize {
        let origin = Origin {
            site: self.site.clone(),
            instrument: self.instrument.clone(),
            received_at: jiff::Timestamp::now(),
        };
        let events = match protocol {
            WireProtocol::Astm => labwire_astm::canonical::message_to_events(
                text,
                &origin,
                &labwire_astm::canonical::DecodeOptions::default(),
            )
            .unwrap_or_default(),
            WireProtocol::Hl7 => labwire_hl7::canonical::message_to_events(
                text,
                &origin,
                &labwire_hl7::canonical::DecodeOptions::default(),
            )
            .unwrap_or_default(),
        };
        let seq = u64::try_from(self.ledger.len()).unwrap_or(u64::MAX);
        self.ledger.record(LedgerEntry {
            instrument: self.instrument.clone(),
            seq,
            kind: events.first().map_or(EventKind::Error, |e| e.kind),
            control_id,
            specimen_ids: events
                .iter()
                .filter_map(|e| e.specimen.as_ref().and_then(|s| s.id.clone()))
                .collect(),
            event_ids: events.iter().map(|e| e.id.clone()).collect(),
            sent_at: jiff::Timestamp::now(),
            acked_at: None,
            attempts: 1,
            faults: Vec::new(),
            orders_received: None,
        })
    }

    /// Replays `bytes` over `wire`.
    pub async fn replay(
        &self,
        wire: &mut Wire,
        bytes: &[u8],
        protocol: WireProtocol,
    ) -> std::io::Result<ReplayOutcome> {
        match protocol {
            WireProtocol::Astm => self.replay_astm(wire, bytes).await,
            WireProtocol::Hl7 => self.replay_hl7(wire, bytes).await,
        }
    }

    async fn replay_astm(&self, wire: &mut Wire, bytes: &[u8]) -> std::io::Result<ReplayOutcome> {
        let mut out = ReplayOutcome::default();
        let sessions = astm_sessions(bytes);
        let sessions = if sessions.iter().all(|s| s.frames.is_empty()) {
            // Record text: frame each message per the profile.
            let mut framed = Vec::new();
            for item in labwire_astm::capture::split_capture(bytes, &Default::default()) {
                match item {
                    Ok(m) => framed.push(Session {
                        frames: AstmInstrument::frames(self.profile, &m.text),
                        text: m.text,
                    }),
                    Err(e) => out.skipped.push(format!("offset {}: {e}", e.offset())),
                }
            }
            framed
        } else {
            sessions
        };
        let t = Timers::of(self.profile);
        for session in sessions.iter().filter(|s| !s.frames.is_empty()) {
            let messages: Vec<usize> =
                labwire_astm::capture::split_capture(&session.text, &Default::default())
                    .into_iter()
                    .filter_map(Result::ok)
                    .map(|m| self.record(&m.text, WireProtocol::Astm, String::new()))
                    .collect();
            out.messages += messages.len();
            if !establish(wire, t).await? {
                wire.send(&[EOT]).await?;
                continue;
            }
            let mut ok = true;
            'frames: for frame in &session.frames {
                for attempt in 0..t.max_retries {
                    wire.send(frame).await?;
                    out.frames_sent += 1;
                    match wire.read_byte(t.ack).await? {
                        Some(ACK | EOT) => continue 'frames,
                        Some(_) if attempt + 1 < t.max_retries => out.naks += 1,
                        _ => {
                            out.naks += 1;
                            ok = false;
                            break 'frames;
                        }
                    }
                }
            }
            wire.send(&[EOT]).await?;
            if ok {
                let now = jiff::Timestamp::now();
                for i in &messages {
                    self.ledger.update(*i, |e| e.acked_at = Some(now));
                }
                out.acked += messages.len();
            }
        }
        Ok(out)
    }

    async fn replay_hl7(&self, wire: &mut Wire, bytes: &[u8]) -> std::io::Result<ReplayOutcome> {
        let mut out = ReplayOutcome::default();
        let t = Timers::of(self.profile);
        for item in labwire_hl7::capture::split_capture(bytes, &Default::default()) {
            let m = match item {
                Ok(m) => m,
                Err(e) => {
                    out.skipped
                        .push(format!("offset {}: {}", e.offset(), e.reason()));
                    continue;
                }
            };
            let control_id = msh10(&m.text);
            let index = self.record(&m.text, WireProtocol::Hl7, control_id.clone());
            out.messages += 1;
            let mut framed = Vec::new();
            labwire_hl7::mllp::frame(&m.text, &mut framed);
            for _ in 0..t.max_retries {
                wire.send(&framed).await?;
                out.frames_sent += 1;
                match wait_reply(wire, &control_id, t.ack).await? {
                    Attempt::Replied(Reply::Accepted { .. }, at) => {
                        self.ledger.update(index, |e| e.acked_at = Some(at));
                        out.acked += 1;
                        break;
                    }
                    Attempt::Replied(Reply::Refused(_), _) => {
                        out.naks += 1;
                        break;
                    }
                    Attempt::Silent | Attempt::Disconnected => out.naks += 1,
                }
            }
        }
        Ok(out)
    }
}

fn msh10(text: &[u8]) -> String {
    let mut index = labwire_hl7::er7::Index::new();
    labwire_hl7::er7::parse(text, &mut index, &labwire_hl7::er7::Limits::default())
        .ok()
        .and_then(|m| {
            m.get("MSH-10")
                .ok()
                .flatten()
                .map(|v| String::from_utf8_lossy(v.raw()).into_owned())
        })
        .unwrap_or_default()
}

/// One ENQ…EOT session of a transcript: its frames as on the wire and their joined text.
struct Session {
    frames: Vec<Vec<u8>>,
    text: Vec<u8>,
}

/// The instrument's frames of an E1381 transcript, byte for byte, grouped by EOT.
fn astm_sessions(bytes: &[u8]) -> Vec<Session> {
    let mut decoder = FrameDecoder::new(FrameLimits::default());
    let mut input = bytes;
    // (offset, Some(text) for a frame / None for EOT, other marker)
    let mut items: Vec<(usize, Option<Vec<u8>>, bool)> = Vec::new();
    while let Some(item) = decoder.decode(&mut input) {
        match item {
            Decoded::Frame(f) => items.push((f.offset, Some(f.text.to_vec()), false)),
            Decoded::Control { control, offset } => {
                items.push((offset, None, control.byte() == EOT))
            }
            Decoded::Noise { offset, .. } => items.push((offset, None, false)),
            // A damaged frame (bad checksum, wrong number) is replayed as it is: the host must
            // NAK it.
            Decoded::Error(e) if bytes.get(e.offset) == Some(&STX) => {
                items.push((e.offset, Some(Vec::new()), false));
            }
            Decoded::Error(e) => items.push((e.offset, None, false)),
        }
    }
    let mut sessions = vec![Session {
        frames: Vec::new(),
        text: Vec::new(),
    }];
    for (i, (offset, text, eot)) in items.iter().enumerate() {
        let end = items.get(i + 1).map_or(bytes.len(), |n| n.0);
        if let (Some(text), Some(current)) = (text, sessions.last_mut()) {
            current
                .frames
                .push(bytes.get(*offset..end).unwrap_or_default().to_vec());
            current.text.extend_from_slice(text);
        }
        if *eot {
            sessions.push(Session {
                frames: Vec::new(),
                text: Vec::new(),
            });
        }
    }
    sessions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_frames_are_kept_byte_for_byte() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/corpus/astm/ortho-vitros-3600-result-session.astm"
        ))
        .unwrap();
        let sessions: Vec<Session> = astm_sessions(&bytes)
            .into_iter()
            .filter(|s| !s.frames.is_empty())
            .collect();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].frames.len(), 9);
        assert!(sessions[0].frames[0].starts_with(b"\x021H|"));
        assert!(sessions[0].frames[0].ends_with(b"\r\n"));
        assert!(sessions[0].text.starts_with(b"H|\\^&|||3600796"));
    }

    #[test]
    fn protocol_is_detected() {
        assert_eq!(detect_protocol(b"\x0bMSH|^~\\&|"), WireProtocol::Hl7);
        assert_eq!(detect_protocol(b"MSH|^~\\&|"), WireProtocol::Hl7);
        assert_eq!(detect_protocol(b"\x05\x021H|\\^&"), WireProtocol::Astm);
    }
}
