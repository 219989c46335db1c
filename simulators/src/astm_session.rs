//! A simulated ASTM instrument: E1381 (CLSI LIS1-A) in the instrument role over any byte stream.
//!
//! Sending (LIS1-A §8.2–8.4): ENQ → ACK (NAK: wait the busy timer and retry; ENQ: contention,
//! the instrument has priority, wait 1 s and send ENQ again), frames numbered from 1 each
//! answered by ACK (NAK or anything else: resend the same frame, at most `max_retries` times;
//! EOT: receiver interrupt, taken as ACK), then EOT. After a host query it receives the host's
//! answer the same way in the receiver role (ACK good frames, NAK bad ones).
//!
//! Faults from the [`FaultPlan`] are applied on the wire (see [`crate::fault`]).

use crate::fault::{FaultKind, FaultPlan};
pub use crate::instrument::SimError;
use crate::instrument::{Base, Pending, Timers};
use crate::ledger::Ledger;
use crate::message::SimMessage;
use crate::profile::{AstmFraming, Profile};
use crate::wire::{Endpoint, Wire, garbage};
use labwire_astm::link::control::{ACK, ENQ, EOT, NAK};
use labwire_astm::link::{Decoded, FrameDecoder, FrameEnd, FrameLimits, FrameNumber, encode_frame};
use labwire_event::{EventKind, InstrumentId, SiteId};
use std::time::Duration;

/// How one transmission attempt of a message ended.
enum Attempt {
    /// Every frame acknowledged; EOT sent.
    Acked(jiff::Timestamp),
    /// The connection dropped (on purpose or not): reconnect and try again.
    Disconnected,
    /// The host did not take the message (timer or retries exhausted); try again.
    Failed,
}

/// Most transmissions of one message before it is given up (and left un-acked in the ledger).
pub const MAX_MESSAGE_ATTEMPTS: u32 = 5;

/// A simulated ASTM instrument.
pub struct AstmInstrument {
    base: Base,
}

impl AstmInstrument {
    /// An instrument `instrument` at `site` speaking `profile` over `endpoint`.
    pub fn new(
        site: SiteId,
        instrument: InstrumentId,
        profile: Profile,
        endpoint: Endpoint,
        plan: FaultPlan,
        ledger: Ledger,
        seed: u64,
    ) -> Self {
        Self {
            base: Base::new(site, instrument, profile, endpoint, plan, ledger, seed),
        }
    }

    /// The simulated instrument's id.
    pub fn instrument(&self) -> &InstrumentId {
        &self.base.instrument
    }

    /// The E1381 frames (`STX FN text ETB|ETX C1 C2 CR LF`) of a message in the profile's
    /// framing, numbered from 1.
    pub fn frames(profile: &Profile, text: &[u8]) -> Vec<Vec<u8>> {
        let (framing, max, term) = match &profile.astm {
            Some(a) => (
                a.framing,
                a.max_frame_text.max(1),
                a.record_terminator
                    .as_bytes()
                    .last()
                    .copied()
                    .unwrap_or(b'\r'),
            ),
            None => (AstmFraming::SingleFrame, 240, b'\r'),
        };
        let units: Vec<&[u8]> = match framing {
            AstmFraming::RecordPerFrame => text.split_inclusive(|b| *b == term).collect(),
            AstmFraming::Chunked | AstmFraming::SingleFrame => vec![text],
        };
        let mut out = Vec::new();
        let mut number = FrameNumber::FIRST;
        for unit in units {
            let pieces: Vec<&[u8]> = if framing == AstmFraming::SingleFrame {
                vec![unit]
            } else {
                unit.chunks(max).collect()
            };
            let last = pieces.len().saturating_sub(1);
            for (i, piece) in pieces.into_iter().enumerate() {
                let end = if i == last {
                    FrameEnd::Last
                } else {
                    FrameEnd::Intermediate
                };
                let mut f = Vec::new();
                encode_frame(number, piece, end, &mut f);
                out.push(f);
                number = number.next();
            }
        }
        out
    }

    /// Sends one message (with the faults the plan picks for it), records it in the ledger and,
    /// for a host query, waits for the host's answer. Returns whether the host acknowledged it.
    pub async fn send(&mut self, msg: &SimMessage) -> Result<bool, SimError> {
        let faults = self.base.plan.faults_for(self.base.seq);
        let index = self.base.record(msg, &faults);
        let mut pending = Pending(faults);
        if pending.take(FaultKind::ReconnectStorm) {
            let n = self.base.plan.storm_connections;
            self.base.reconnect_storm(n).await?;
        }
        if pending.take(FaultKind::HalfOpen) {
            self.base.half_open().await?;
        }
        let frames = Self::frames(&self.base.profile, &msg.bytes);
        let mut acked = None;
        for attempt in 1..=MAX_MESSAGE_ATTEMPTS {
            self.base.ledger.update(index, |e| e.attempts = attempt);
            match self.attempt(&frames, &mut pending).await {
                Ok(Attempt::Acked(at)) => {
                    if pending.take(FaultKind::LostAck) {
                        // The ACK "never arrived": the instrument sends the message again.
                        continue;
                    }
                    acked = Some(at);
                    break;
                }
                Ok(Attempt::Failed) => tokio::time::sleep(self.base.timers.busy).await,
                Ok(Attempt::Disconnected) => self.base.disconnect().await,
                Err(e) if self.base.endpoint.can_reopen() => {
                    tracing::debug!(instrument = %self.base.instrument, "connection lost: {e}");
                    self.base.disconnect().await;
                }
                Err(e) => return Err(e),
            }
        }
        self.base.ledger.update(index, |e| e.acked_at = acked);
        if acked.is_some() && msg.kind == EventKind::Query {
            let orders = self.receive_answer(&mut pending).await?;
            self.base
                .ledger
                .update(index, |e| e.orders_received = orders);
        }
        Ok(acked.is_some())
    }

    async fn attempt(
        &mut self,
        frames: &[Vec<u8>],
        pending: &mut Pending,
    ) -> Result<Attempt, SimError> {
        let t = self.base.timers;
        let oversize = pending
            .take(FaultKind::Oversize)
            .then_some(self.base.plan.oversize_bytes);
        let noise = pending
            .take(FaultKind::Garbage)
            .then(|| garbage(&mut self.base.rng, 64));
        let byte_by_byte = pending.take(FaultKind::ByteByByte);
        let instrument = self.base.instrument.clone();
        let w = self.base.conn().await?;
        w.byte_by_byte = byte_by_byte;
        let io = |e| SimError::Io {
            instrument: instrument.clone(),
            source: e,
        };
        if let Some(noise) = noise {
            w.send(&noise).await.map_err(io)?;
        }
        if let Some(size) = oversize {
            // A session whose only frame is far over the limit: the host must refuse it.
            if establish(w, t).await.map_err(io)? {
                let mut f = Vec::new();
                encode_frame(
                    FrameNumber::FIRST,
                    &vec![b'X'; size],
                    FrameEnd::Last,
                    &mut f,
                );
                w.send(&f).await.map_err(io)?;
                let _ = w.read_byte(t.ack).await.map_err(io)?;
                w.send(&[EOT]).await.map_err(io)?;
            }
        }
        if !establish(w, t).await.map_err(io)? {
            w.send(&[EOT]).await.map_err(io)?;
            return Ok(Attempt::Failed);
        }
        let mut ack_at = jiff::Timestamp::now();
        for (i, frame) in frames.iter().enumerate() {
            let mut retries = 0;
            let mut first = true;
            loop {
                let mut out = frame.clone();
                if first && i == 0 && pending.take(FaultKind::BadChecksum) {
                    corrupt_checksum(&mut out);
                } else if first && i == 0 && pending.take(FaultKind::WrongFrameNumber) {
                    out = renumber(frame);
                }
                if first
                    && (i + 1 == frames.len().div_ceil(2))
                    && pending.take(FaultKind::DisconnectMidFrame)
                {
                    let half = out.get(..out.len() / 2).unwrap_or_default();
                    w.send(half).await.map_err(io)?;
                    return Ok(Attempt::Disconnected);
                }
                first = false;
                w.send(&out).await.map_err(io)?;
                match w.read_byte(t.ack).await.map_err(io)? {
                    Some(ACK | EOT) => {
                        ack_at = jiff::Timestamp::now();
                        break;
                    }
                    Some(_) if retries + 1 < t.max_retries => retries += 1,
                    Some(_) | None => {
                        w.send(&[EOT]).await.map_err(io)?;
                        return Ok(Attempt::Failed);
                    }
                }
            }
        }
        w.send(&[EOT]).await.map_err(io)?;
        w.byte_by_byte = false;
        Ok(Attempt::Acked(ack_at))
    }

    /// Receives the host's answer to a host query (receiver role); returns the number of O
    /// records (orders), `None` when no answer came within the query timer.
    async fn receive_answer(&mut self, pending: &mut Pending) -> Result<Option<usize>, SimError> {
        let t = self.base.timers;
        let contention = pending.take(FaultKind::EnqContention);
        let mut nak_once = pending.take(FaultKind::InstrumentNak);
        let mut delay_once = pending.take(FaultKind::DelayedAck);
        let field = self.base.profile.astm_delimiters().map_or(b'|', |d| d[0]);
        let instrument = self.base.instrument.clone();
        let w = self.base.conn().await?;
        let io = |e| SimError::Io {
            instrument: instrument.clone(),
            source: e,
        };
        let deadline = tokio::time::Instant::now() + t.query_reply;
        let mut contended = !contention;
        // Establishment: wait for the host's ENQ.
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match w.read_byte(left).await.map_err(io)? {
                None => return Ok(None),
                Some(ENQ) if !contended => {
                    // Contention: answer ENQ with ENQ; the instrument has priority, so after the
                    // contention timer it bids again, gets ACK, and (having nothing else) ends.
                    contended = true;
                    w.send(&[ENQ]).await.map_err(io)?;
                    tokio::time::sleep(t.contention).await;
                    w.send(&[ENQ]).await.map_err(io)?;
                    if w.read_byte(t.ack).await.map_err(io)? == Some(ACK) {
                        w.send(&[EOT]).await.map_err(io)?;
                    }
                }
                Some(ENQ) => {
                    w.send(&[ACK]).await.map_err(io)?;
                    break;
                }
                Some(_) => {}
            }
        }
        let mut decoder = FrameDecoder::new(FrameLimits::default());
        let mut expected = FrameNumber::FIRST;
        let mut text = Vec::new();
        let mut orders = 0;
        loop {
            let chunk = w.read_some(t.query_reply, 4096).await.map_err(io)?;
            if chunk.is_empty() {
                return Ok(Some(orders));
            }
            let mut input = chunk.as_slice();
            while let Some(item) = decoder.decode(&mut input) {
                let reply = match item {
                    Decoded::Frame(f) if f.number == expected => {
                        if nak_once {
                            nak_once = false;
                            NAK
                        } else {
                            if delay_once {
                                delay_once = false;
                                tokio::time::sleep(t.ack + Duration::from_secs(1)).await;
                            }
                            text.extend_from_slice(f.text);
                            if f.end == FrameEnd::Last {
                                orders += count_orders(&text, field);
                                text.clear();
                            }
                            expected = expected.next();
                            ACK
                        }
                    }
                    // A retransmission of the frame already taken: acknowledge, keep nothing.
                    Decoded::Frame(f) if f.number.next() == expected => ACK,
                    Decoded::Frame(_) | Decoded::Error(_) => NAK,
                    Decoded::Control { control, .. } if control.byte() == EOT => {
                        return Ok(Some(orders));
                    }
                    Decoded::Control { .. } | Decoded::Noise { .. } => continue,
                };
                w.send(&[reply]).await.map_err(io)?;
            }
        }
    }
}

/// ENQ until ACK: NAK waits the busy timer, ENQ (contention) the contention timer; `false` when
/// the host never said ACK.
pub(crate) async fn establish(w: &mut Wire, t: Timers) -> std::io::Result<bool> {
    for _ in 0..t.max_retries {
        w.send(&[ENQ]).await?;
        match w.read_byte(t.ack).await? {
            Some(ACK) => return Ok(true),
            Some(NAK) => tokio::time::sleep(t.busy).await,
            Some(ENQ) => tokio::time::sleep(t.contention).await,
            Some(_) | None => {}
        }
    }
    Ok(false)
}

/// Replaces the two checksum digits (before CR LF) by a wrong but well-formed value.
fn corrupt_checksum(frame: &mut [u8]) {
    let n = frame.len();
    if n >= 4
        && let (Some(hi), Some(lo)) = (frame.get(n - 4).copied(), frame.get(n - 3).copied())
    {
        let sum = hex(hi) * 16 + hex(lo);
        let wrong = sum.wrapping_add(0x55);
        let digits = format!("{wrong:02X}");
        if let (Some(a), Some(b)) = (frame.get_mut(n - 4), digits.as_bytes().first()) {
            *a = *b;
        }
        if let (Some(a), Some(b)) = (frame.get_mut(n - 3), digits.as_bytes().get(1)) {
            *a = *b;
        }
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'A'..=b'F' => b - b'A' + 10,
        b'a'..=b'f' => b - b'a' + 10,
        _ => 0,
    }
}

/// The same frame with a frame number two ahead (neither expected nor a retransmission), and a
/// checksum that is correct for it.
fn renumber(frame: &[u8]) -> Vec<u8> {
    let fn_byte = frame.get(1).copied().unwrap_or(b'1');
    let number = FrameNumber::from_ascii(fn_byte)
        .unwrap_or(FrameNumber::FIRST)
        .next()
        .next();
    let (end, body_end) = match frame
        .len()
        .checked_sub(5)
        .and_then(|i| frame.get(i).map(|b| (*b, i)))
    {
        Some((0x17, i)) => (FrameEnd::Intermediate, i),
        Some((_, i)) => (FrameEnd::Last, i),
        None => (FrameEnd::Last, frame.len()),
    };
    let text = frame.get(2..body_end).unwrap_or_default();
    let mut out = Vec::new();
    encode_frame(number, text, end, &mut out);
    out
}

/// Counts O records in reassembled record text (records split at CR or LF).
fn count_orders(text: &[u8], field: u8) -> usize {
    text.split(|b| *b == b'\r' || *b == b'\n')
        .filter(|r| matches!(r, [b'O' | b'o', f, ..] if *f == field))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_astm::link::Decoded;

    fn decode_all(bytes: &[u8]) -> Vec<String> {
        let mut d = FrameDecoder::new(FrameLimits::default());
        let mut input = bytes;
        let mut out = Vec::new();
        while let Some(item) = d.decode(&mut input) {
            out.push(match item {
                Decoded::Frame(f) => format!("{}{}", f.number, String::from_utf8_lossy(f.text)),
                other => format!("{other:?}"),
            });
        }
        out
    }

    #[test]
    fn record_per_frame_splits_long_records_with_etb() {
        let p = Profile::load("cobas-c111").unwrap();
        let long = "R|1|".to_owned() + &"x".repeat(300) + "\r";
        let text = format!("H|\\^&\r{long}L|1|N\r");
        let frames = AstmInstrument::frames(&p, text.as_bytes());
        assert_eq!(frames.len(), 4, "H, R in two pieces, L");
        assert_eq!(
            frames[1][1 + 1 + 240],
            0x17,
            "first piece of R ends with ETB"
        );
        let decoded = decode_all(&frames.concat());
        assert_eq!(decoded[0], "1H|\\^&\r");
        assert!(decoded[3].starts_with("4L|1|N"), "{decoded:?}");
    }

    #[test]
    fn single_frame_profile_sends_one_oversized_frame() {
        let p = Profile::load("sysmex-xn").unwrap();
        let text = "x".repeat(3000);
        let frames = AstmInstrument::frames(&p, text.as_bytes());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].len(), 3007);
    }

    #[test]
    fn corrupted_frames_are_rejected_by_a_decoder() {
        let mut f = Vec::new();
        encode_frame(FrameNumber::FIRST, b"A|B|C|D\r", FrameEnd::Last, &mut f);
        let mut bad = f.clone();
        corrupt_checksum(&mut bad);
        assert_ne!(bad, f);
        assert!(
            decode_all(&bad)[0].contains("Error"),
            "{:?}",
            decode_all(&bad)
        );
        let renumbered = renumber(&f);
        assert_eq!(decode_all(&renumbered), vec!["3A|B|C|D\r".to_owned()]);
    }

    #[test]
    fn orders_are_counted_per_o_record() {
        assert_eq!(
            count_orders(b"H|\\^&\rP|1\rO|1|S1\rO|2|S2\rL|1|N\r", b'|'),
            2
        );
        assert_eq!(count_orders(b"H|\\^&\rL|1|I\r", b'|'), 0);
    }
}
