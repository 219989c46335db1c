//! A simulated HL7 instrument: sends ER7 messages in MLLP frames (HL7 v2.5 Appendix C.4) and
//! waits for the host's acknowledgement (HL7 v2.5 §2.9): `AA`/`CA` with MSA-2 = our MSH-10 is
//! success, `AE`/`AR`/`CE`/`CR` a refusal, silence past the ack timer a retransmission. A host
//! query (QBP^Q11) waits for the RSP^K11 and counts the orders in it.
//!
//! Faults from the [`FaultPlan`] are applied on the wire (see [`crate::fault`]); the ASTM-only
//! ones (checksum, frame number, instrument NAK, delayed ACK, ENQ contention) do nothing here.

use crate::fault::{FaultKind, FaultPlan};
use crate::instrument::{Base, Pending, REDIAL};
use crate::ledger::Ledger;
use crate::message::SimMessage;
use crate::profile::Profile;
use crate::wire::{Endpoint, Wire, garbage};
use labwire_backoff::Backoff;
use labwire_event::{EventKind, InstrumentId, SiteId};
use labwire_hl7::er7::{Index, Limits, parse};
use labwire_hl7::mllp::{Framer, FramerConfig, FramerEvent, frame};
use std::time::{Duration, Instant};

pub use crate::instrument::SimError;

/// Most transmissions of one message before it is given up (left un-acked in the ledger).
pub const MAX_MESSAGE_ATTEMPTS: u32 = 5;

/// What the host answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// MSA-1 `AA` or `CA` for our message; `orders` counts ORC segments (RSP^K11 answers).
    Accepted {
        /// ORC segments in the reply.
        orders: usize,
    },
    /// MSA-1 `AE`, `AR`, `CE` or `CR`.
    Refused(String),
}

/// Reads the acknowledgement code (MSA-1), the acknowledged id (MSA-2) and the ORC count.
pub fn read_reply(payload: &[u8]) -> Option<(String, String, usize)> {
    let mut index = Index::new();
    let msg = parse(payload, &mut index, &Limits::default()).ok()?;
    let msa = msg.find(b"MSA")?;
    let text = |n: usize| {
        msa.field(n)
            .map(|v| String::from_utf8_lossy(v.raw()).trim().to_owned())
            .unwrap_or_default()
    };
    let orders = msg.segments().filter(|s| s.name() == b"ORC").count();
    Some((text(1), text(2), orders))
}

pub(crate) enum Attempt {
    Replied(Reply, jiff::Timestamp),
    Disconnected,
    Silent,
}

/// A simulated HL7/MLLP instrument.
pub struct Hl7Instrument {
    base: Base,
}

impl Hl7Instrument {
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

    /// Sends one message with the faults the plan picks for it and records it in the ledger.
    /// Returns whether the host accepted it.
    pub async fn send(&mut self, msg: &SimMessage) -> Result<bool, SimError> {
        let (index, mut pending) = self.base.begin(msg).await?;
        let mut framed = Vec::with_capacity(msg.bytes.len() + 3);
        frame(&msg.bytes, &mut framed);
        let mut outcome = None;
        let mut redial = Backoff::new(REDIAL);
        for attempt in 1..=MAX_MESSAGE_ATTEMPTS {
            self.base.ledger.update(index, |e| e.attempts = attempt);
            match self.attempt(&framed, &msg.control_id, &mut pending).await {
                Ok(Attempt::Replied(Reply::Accepted { orders }, at)) => {
                    if pending.take(FaultKind::LostAck) {
                        continue;
                    }
                    outcome = Some((at, orders));
                    break;
                }
                Ok(Attempt::Replied(Reply::Refused(code), _)) => {
                    tracing::warn!(instrument = %self.base.instrument, "host refused {}: {code}", msg.control_id);
                    break;
                }
                // No answer within the ack timer: the stream may be out of step, so the message
                // goes again on a fresh connection (when the endpoint can reopen).
                Ok(Attempt::Silent) if self.base.endpoint.can_reopen() => {
                    self.base.disconnect().await
                }
                Ok(Attempt::Silent) => {}
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
        let is_query = msg.kind == EventKind::Query;
        self.base.ledger.update(index, |e| {
            e.acked_at = outcome.map(|(at, _)| at);
            if is_query {
                e.orders_received = outcome.map(|(_, n)| n);
            }
        });
        Ok(outcome.is_some())
    }

    async fn attempt(
        &mut self,
        framed: &[u8],
        control_id: &str,
        pending: &mut Pending,
    ) -> Result<Attempt, SimError> {
        let ack_timer = self.base.timers.ack;
        let oversize = pending
            .take(FaultKind::Oversize)
            .then_some(self.base.plan.oversize_bytes);
        let noise = pending
            .take(FaultKind::Garbage)
            .then(|| garbage(&mut self.base.rng, 64));
        let byte_by_byte = pending.take(FaultKind::ByteByByte);
        let cut = pending.take(FaultKind::DisconnectMidFrame);
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
            let mut big = Vec::with_capacity(size + 3);
            frame(&vec![b'X'; size], &mut big);
            w.send(&big).await.map_err(io)?;
            // The host may answer with a NAK, an error ACK, nothing, or close the connection.
            if w.read_some(Duration::from_millis(300), 64 * 1024)
                .await
                .is_err()
            {
                return Ok(Attempt::Disconnected);
            }
        }
        w.byte_by_byte = byte_by_byte;
        if cut {
            let half = framed.get(..framed.len() / 2).unwrap_or_default();
            w.send(half).await.map_err(io)?;
            return Ok(Attempt::Disconnected);
        }
        w.send(framed).await.map_err(io)?;
        w.byte_by_byte = false;
        wait_reply(w, control_id, ack_timer).await.map_err(io)
    }
}

impl Hl7Instrument {
    /// Listens between messages until `until`: every message the host sends (order downloads
    /// such as OML^O33 or ORM^O01) is answered with `ACK` / `MSA|AA|<its MSH-10>`. Returns the
    /// number of ORC segments (orders) received. Without an open connection it just waits.
    pub async fn idle(&mut self, until: tokio::time::Instant) -> Result<usize, SimError> {
        let (sender, version) = (
            self.base.profile.sender.name.clone(),
            self.base
                .profile
                .hl7
                .as_ref()
                .map(|h| h.version.clone())
                .unwrap_or_default(),
        );
        let Some(w) = self.base.wire.as_mut() else {
            tokio::time::sleep_until(until).await;
            return Ok(0);
        };
        let mut framer = Framer::new(FramerConfig::default());
        let mut orders = 0;
        let mut acks = 0u64;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(orders);
            }
            let chunk = match w.read_some(left, 64 * 1024).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(instrument = %self.base.instrument, "connection lost while idle: {e}");
                    self.base.disconnect().await;
                    tokio::time::sleep_until(until).await;
                    return Ok(orders);
                }
            };
            framer.push(Instant::now(), &chunk);
            while let Some(ev) = framer.poll() {
                let FramerEvent::Frame { payload, .. } = ev else {
                    continue;
                };
                let Some((id, trigger, n)) = read_download(&payload) else {
                    continue;
                };
                orders += n;
                acks += 1;
                let stamp = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S");
                let ack = format!(
                    "MSH|^~\\&|{}||||{stamp}||ACK^{}^ACK|{}-ACK{acks}|P|{}\rMSA|AA|{}\r",
                    crate::text::escape_hl7(&sender),
                    crate::text::escape_hl7(&trigger),
                    crate::text::escape_hl7(&sender),
                    crate::text::escape_hl7(&version),
                    crate::text::escape_hl7(&id),
                );
                let mut out = Vec::new();
                frame(ack.as_bytes(), &mut out);
                if let Err(e) = w.send(&out).await {
                    tracing::debug!("acknowledging a download: {e}");
                }
            }
        }
    }
}

/// MSH-10, the trigger event (MSH-9.2) and the ORC count of a message the host sent.
fn read_download(payload: &[u8]) -> Option<(String, String, usize)> {
    let mut index = Index::new();
    let msg = parse(payload, &mut index, &Limits::default()).ok()?;
    let text = |p: &str| {
        msg.get(p)
            .ok()
            .flatten()
            .map(|v| String::from_utf8_lossy(v.raw()).into_owned())
            .unwrap_or_default()
    };
    let orders = msg.segments().filter(|s| s.name() == b"ORC").count();
    Some((text("MSH-10"), text("MSH-9.2"), orders))
}

/// Reads MLLP frames until the acknowledgement of `control_id` or the timer runs out.
pub(crate) async fn wait_reply(
    w: &mut Wire,
    control_id: &str,
    timer: Duration,
) -> std::io::Result<Attempt> {
    let mut framer = Framer::new(FramerConfig::default());
    let deadline = tokio::time::Instant::now() + timer;
    let mut committed = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            // Enhanced mode with only a commit ACK (CA) and no application ACK: accepted.
            return Ok(committed.map_or(Attempt::Silent, |at| {
                Attempt::Replied(Reply::Accepted { orders: 0 }, at)
            }));
        }
        let chunk = w.read_some(left, 64 * 1024).await?;
        framer.push(Instant::now(), &chunk);
        while let Some(ev) = framer.poll() {
            let FramerEvent::Frame { payload, .. } = ev else {
                continue;
            };
            let Some((code, acked_id, orders)) = read_reply(&payload) else {
                continue;
            };
            if acked_id != control_id {
                continue;
            }
            let now = jiff::Timestamp::now();
            match code.as_str() {
                "AA" => return Ok(Attempt::Replied(Reply::Accepted { orders }, now)),
                "CA" => committed = Some(now),
                _ => return Ok(Attempt::Replied(Reply::Refused(code), now)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_msa_code_and_id() {
        let ack = b"MSH|^~\\&|Host||BA400||20230511164516||ACK^R22^ACK|1|P|2.5.1\rMSA|AA|BA400-7\r";
        assert_eq!(read_reply(ack), Some(("AA".into(), "BA400-7".into(), 0)));
        let rsp = b"MSH|^~\\&|H||BA400||2023||RSP^K11^RSP_K11|2|P|2.5.1\rMSA|AA|Q-1\rQAK|t|OK\rSPM|1|S1\rORC|NW\rORC|NW\r";
        assert_eq!(read_reply(rsp).map(|r| r.2), Some(2));
        assert_eq!(read_reply(b"garbage"), None);
    }
}
