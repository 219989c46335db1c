//! A simulated ASTM instrument: E1381 (CLSI LIS1-A) in the instrument role over any byte stream.
//!
//! The protocol is `labwire_astm::link::Link` in [`Role::Instrument`] (LIS1-A §8.2–8.6: ENQ,
//! busy and contention handling, frames with retries, EOT; receiving the host's answer to a host
//! query with the final ACK held until the simulator commits). This module drives it over a
//! socket or pty with real time, and puts the fault layer between the link's output and the wire.
//!
//! Faults from the [`FaultPlan`] are applied on the wire (see [`crate::fault`]).

use crate::fault::{FaultKind, FaultPlan};
pub use crate::instrument::SimError;
use crate::instrument::{Base, Pending, REDIAL, Timers};
use crate::ledger::Ledger;
use crate::message::SimMessage;
use crate::profile::{AstmFraming, Profile};
use crate::wire::{Endpoint, Wire, garbage};
use labwire_astm::link::control::{ACK, ENQ, EOT, NAK, STX};
use labwire_astm::link::encode::pieces;
use labwire_astm::link::{
    EncodeOptions, FrameEnd, FrameNumber, Link, LinkConfig, LinkEvent, Role, encode_frame,
};
use labwire_backoff::Backoff;
use labwire_event::{EventKind, InstrumentId, SiteId};
use std::time::{Duration, Instant};

/// How one transmission attempt of a message ended.
enum Attempt {
    /// Every frame acknowledged; EOT sent.
    Acked(jiff::Timestamp),
    /// The final ACK was dropped by the fault layer; the link timed out and sent EOT.
    AckLost,
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
        let (index, mut pending) = self.base.begin(msg).await?;
        let mut acked = None;
        let mut redial = Backoff::new(REDIAL);
        for attempt in 1..=MAX_MESSAGE_ATTEMPTS {
            self.base.ledger.update(index, |e| e.attempts = attempt);
            match self.attempt(&msg.bytes, &mut pending).await {
                Ok(Attempt::Acked(at)) => {
                    acked = Some(at);
                    break;
                }
                // The final ACK "never arrived": the instrument sends the message again.
                Ok(Attempt::AckLost) => {}
                Ok(Attempt::Failed) => tokio::time::sleep(self.base.timers.busy).await,
                Ok(Attempt::Disconnected) => self.base.disconnect().await,
                Err(e) if self.base.endpoint.can_reopen() => {
                    tracing::debug!(instrument = %self.base.instrument, "connection lost: {e}");
                    self.base.disconnect().await;
                    // The host may be restarting (or not up yet): back off before redialling.
                    redial.wait().await;
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

    /// The link configuration for this profile (instrument role).
    pub fn link_config(profile: &Profile) -> LinkConfig {
        let t = Timers::of(profile);
        let mut cfg = LinkConfig::new(Role::Instrument);
        cfg.encode = match &profile.astm {
            Some(a) => match a.framing {
                AstmFraming::RecordPerFrame => EncodeOptions {
                    max_text: a.max_frame_text.max(1),
                    record_per_frame: true,
                },
                AstmFraming::Chunked => EncodeOptions {
                    max_text: a.max_frame_text.max(1),
                    record_per_frame: false,
                },
                AstmFraming::SingleFrame => EncodeOptions {
                    max_text: usize::MAX,
                    record_per_frame: false,
                },
            },
            None => EncodeOptions::default(),
        };
        cfg.sender_timeout = t.ack;
        cfg.receiver_timeout = t.query_reply;
        cfg.busy_retry = t.busy;
        cfg.instrument_contention_wait = t.contention;
        cfg.max_frame_retries = t.max_retries;
        cfg.max_establish_attempts = t.max_retries;
        cfg.max_message = DEFAULT_MAX_ANSWER;
        cfg
    }

    /// One transfer of `text`: a fresh [`Link`] in the instrument role drives ENQ, frames,
    /// retries and EOT; the fault layer sits between its output and the socket.
    async fn attempt(&mut self, text: &[u8], pending: &mut Pending) -> Result<Attempt, SimError> {
        let t = self.base.timers;
        let cfg = Self::link_config(&self.base.profile);
        let total_frames = pieces(text, &cfg.encode).count();
        let oversize = pending
            .take(FaultKind::Oversize)
            .then_some(self.base.plan.oversize_bytes);
        let noise = pending
            .take(FaultKind::Garbage)
            .then(|| garbage(&mut self.base.rng, 64));
        let byte_by_byte = pending.take(FaultKind::ByteByByte);
        let mut corrupt = pending.take(FaultKind::BadChecksum);
        let mut renumbered = !corrupt && pending.take(FaultKind::WrongFrameNumber);
        let cut_at = pending
            .take(FaultKind::DisconnectMidFrame)
            .then(|| total_frames.div_ceil(2));
        let lose_ack = pending.take(FaultKind::LostAck);
        let instrument = self.base.instrument.clone();
        let io = |e| SimError::Io {
            instrument: instrument.clone(),
            source: e,
        };
        let w = self.base.conn().await?;
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
        w.byte_by_byte = byte_by_byte;
        let mut clock = Clock::default();
        let mut link = Link::new(cfg);
        if link.send_message(text.to_vec(), clock.now()).is_err() {
            return Ok(Attempt::Failed);
        }
        let mut frames_sent = 0usize;
        let mut last_frame: Vec<u8> = Vec::new();
        let mut acked_at = jiff::Timestamp::now();
        loop {
            while let Some(mut out) = link.poll_transmit() {
                if out.first() == Some(&STX) && out != last_frame {
                    last_frame.clone_from(&out);
                    frames_sent += 1;
                    if frames_sent == 1 && std::mem::take(&mut corrupt) {
                        corrupt_checksum(&mut out);
                    } else if frames_sent == 1 && std::mem::take(&mut renumbered) {
                        out = renumber(&out);
                    }
                    if cut_at == Some(frames_sent) {
                        let half = out.get(..out.len() / 2).unwrap_or_default();
                        w.send(half).await.map_err(io)?;
                        return Ok(Attempt::Disconnected);
                    }
                }
                w.send(&out).await.map_err(io)?;
            }
            let mut done = None;
            while let Some(ev) = link.poll_event() {
                match ev {
                    LinkEvent::Sent(_) => done = Some(Attempt::Acked(acked_at)),
                    LinkEvent::SendFailed { .. } => done = Some(Attempt::Failed),
                    _ => {}
                }
            }
            if let Some(done) = done {
                while let Some(out) = link.poll_transmit() {
                    w.send(&out).await.map_err(io)?;
                }
                w.byte_by_byte = false;
                return Ok(done);
            }
            let wait = link
                .poll_timeout()
                .map_or(t.ack, |d| d.saturating_duration_since(clock.now()));
            let mut input = w.read_some(wait, 4096).await.map_err(io)?;
            if input.is_empty() {
                link.handle_timeout(clock.now());
                continue;
            }
            if lose_ack
                && frames_sent == total_frames
                && let Some(pos) = input.iter().position(|b| *b == ACK)
            {
                // The final ACK "never arrives": the link's sender timer runs out (time is
                // skipped ahead), it sends EOT, and the message goes again.
                input.remove(pos);
                link.handle_input(clock.now(), &input);
                if let Some(deadline) = link.poll_timeout() {
                    clock.skip_to(deadline);
                }
                link.handle_timeout(clock.now());
                while let Some(out) = link.poll_transmit() {
                    w.send(&out).await.map_err(io)?;
                }
                w.byte_by_byte = false;
                return Ok(Attempt::AckLost);
            }
            acked_at = jiff::Timestamp::now();
            link.handle_input(clock.now(), &input);
        }
    }

    /// Receives the host's answer to a host query with a [`Link`] in the instrument role
    /// (receiver side); returns the number of O records (orders), `None` when no answer came
    /// within the query timer.
    async fn receive_answer(&mut self, pending: &mut Pending) -> Result<Option<usize>, SimError> {
        let t = self.base.timers;
        let mut contend = pending.take(FaultKind::EnqContention);
        let mut nak_once = pending.take(FaultKind::InstrumentNak);
        let mut delay_once = pending.take(FaultKind::DelayedAck);
        let field = self.base.profile.astm_delimiters().map_or(b'|', |d| d[0]);
        let cfg = Self::link_config(&self.base.profile);
        let instrument = self.base.instrument.clone();
        let io = |e| SimError::Io {
            instrument: instrument.clone(),
            source: e,
        };
        let w = self.base.conn().await?;
        let clock = Clock::default();
        let mut link = Link::new(cfg);
        let deadline = tokio::time::Instant::now() + t.query_reply;
        let mut orders: Option<usize> = None;
        loop {
            while let Some(out) = link.poll_transmit() {
                w.send(&out).await.map_err(io)?;
            }
            let mut finished = false;
            while let Some(ev) = link.poll_event() {
                match ev {
                    LinkEvent::Message { token, text } => {
                        if std::mem::take(&mut nak_once) {
                            link.reject(token, clock.now());
                            continue;
                        }
                        if std::mem::take(&mut delay_once) {
                            tokio::time::sleep(t.ack + Duration::from_secs(1)).await;
                        }
                        *orders.get_or_insert(0) += count_orders(&text, field);
                        link.commit(token, clock.now());
                    }
                    LinkEvent::Terminated if orders.is_some() => finished = true,
                    _ => {}
                }
            }
            // Commit / reject queued an ACK or NAK: it goes out before we wait for more.
            while let Some(out) = link.poll_transmit() {
                w.send(&out).await.map_err(io)?;
            }
            if finished {
                return Ok(orders);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(orders);
            }
            let wait = link
                .poll_timeout()
                .map_or(left, |d| d.saturating_duration_since(clock.now()).min(left));
            let mut input = w.read_some(wait, 4096).await.map_err(io)?;
            if input.is_empty() {
                link.handle_timeout(clock.now());
                continue;
            }
            if contend
                && link.is_idle()
                && let Some(pos) = input.iter().position(|b| *b == ENQ)
            {
                // Contention on the wire, beside the link: the instrument answers the host's
                // ENQ with its own, bids again after the contention timer, gets ACK and
                // (having nothing to send) ends with EOT. The host must yield and retry.
                contend = false;
                input.truncate(pos);
                w.send(&[ENQ]).await.map_err(io)?;
                tokio::time::sleep(t.contention).await;
                w.send(&[ENQ]).await.map_err(io)?;
                if w.read_byte(t.ack).await.map_err(io)? == Some(ACK) {
                    w.send(&[EOT]).await.map_err(io)?;
                }
            }
            link.handle_input(clock.now(), &input);
        }
    }
}

impl AstmInstrument {
    /// Listens between messages until `until`: order downloads the host starts (ENQ, H/P/O/L,
    /// EOT) are received with a [`Link`] in the instrument role and committed (ACKed). A transfer
    /// still running at `until` is finished first (bounded by the receiver timer). Returns the
    /// number of O records (orders) received. Without an open connection it just waits.
    pub async fn idle(&mut self, until: tokio::time::Instant) -> Result<usize, SimError> {
        if self.base.wire.is_none() {
            tokio::time::sleep_until(until).await;
            return Ok(0);
        }
        let field = self.base.profile.astm_delimiters().map_or(b'|', |d| d[0]);
        let cfg = Self::link_config(&self.base.profile);
        let receiver_timeout = cfg.receiver_timeout;
        let instrument = self.base.instrument.clone();
        let io = |e| SimError::Io {
            instrument: instrument.clone(),
            source: e,
        };
        let Some(w) = self.base.wire.as_mut() else {
            return Ok(0);
        };
        let clock = Clock::default();
        let mut link = Link::new(cfg);
        let mut orders = 0;
        loop {
            while let Some(ev) = link.poll_event() {
                if let LinkEvent::Message { token, text } = ev {
                    orders += count_orders(&text, field);
                    link.commit(token, clock.now());
                }
            }
            while let Some(out) = link.poll_transmit() {
                w.send(&out).await.map_err(io)?;
            }
            let now = tokio::time::Instant::now();
            let end = if link.is_idle() {
                until
            } else {
                until.max(now) + receiver_timeout
            };
            if now >= end || (link.is_idle() && now >= until) {
                return Ok(orders);
            }
            let wait = link.poll_timeout().map_or(end - now, |d| {
                d.saturating_duration_since(clock.now()).min(end - now)
            });
            match w.read_some(wait, 4096).await {
                Ok(input) if input.is_empty() => link.handle_timeout(clock.now()),
                Ok(input) => link.handle_input(clock.now(), &input),
                Err(e) => {
                    tracing::debug!(instrument = %self.base.instrument, "connection lost while idle: {e}");
                    self.base.disconnect().await;
                    tokio::time::sleep_until(until).await;
                    return Ok(orders);
                }
            }
        }
    }
}

/// Most text accepted in one answer from the host (1 MiB).
pub const DEFAULT_MAX_ANSWER: usize = 1024 * 1024;

/// The link's clock: real time plus what the fault layer skipped (a lost ACK fast-forwards to
/// the sender timer instead of waiting 15 s).
#[derive(Default)]
struct Clock {
    skew: Duration,
}

impl Clock {
    fn now(&self) -> Instant {
        Instant::now() + self.skew
    }
    fn skip_to(&mut self, t: Instant) {
        self.skew += t.saturating_duration_since(self.now());
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
    use labwire_astm::link::{Decoded, FrameDecoder, FrameLimits};

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
