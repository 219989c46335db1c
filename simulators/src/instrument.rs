//! What every simulated instrument shares: identity, connection handling, timers, the fault
//! plan and the ledger.

use crate::fault::{FaultKind, FaultPlan};
use crate::ledger::{Ledger, LedgerEntry};
use crate::message::SimMessage;
use crate::profile::Profile;
use crate::wire::{Endpoint, Wire};
use labwire_backoff::BackoffConfig;
use labwire_event::{InstrumentId, SiteId};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Duration;

/// Waits before redialling after a connection failed, per message: 500 ms doubling to 2 s, with
/// jitter (the host may be restarting or not up yet).
pub const REDIAL: BackoffConfig =
    BackoffConfig::new(Duration::from_millis(500), Duration::from_secs(2));

/// Why a simulator stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The connection failed and cannot be reopened.
    #[error("{instrument}: connection: {source}")]
    Io {
        /// The simulated instrument.
        instrument: InstrumentId,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An instrument id derived from the prefix is not a valid id.
    #[error("instrument id: {0}")]
    BadId(String),
}

/// Timers in effect (from the profile's `[timers]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timers {
    pub(crate) ack: Duration,
    pub(crate) busy: Duration,
    pub(crate) contention: Duration,
    pub(crate) query_reply: Duration,
    pub(crate) max_retries: u32,
}

impl Timers {
    pub(crate) fn of(p: &Profile) -> Self {
        Self {
            ack: Duration::from_millis(p.timers.ack_timeout_ms),
            busy: Duration::from_millis(p.timers.busy_retry_ms),
            contention: Duration::from_millis(p.timers.contention_ms),
            query_reply: Duration::from_millis(p.timers.query_reply_ms),
            max_retries: p.timers.max_retries,
        }
    }
}

/// The state shared by both simulators: identity, connection, fault plan, ledger.
pub(crate) struct Base {
    pub(crate) site: SiteId,
    pub(crate) instrument: InstrumentId,
    pub(crate) profile: Profile,
    pub(crate) endpoint: Endpoint,
    pub(crate) wire: Option<Wire>,
    pub(crate) plan: FaultPlan,
    pub(crate) ledger: Ledger,
    pub(crate) rng: StdRng,
    pub(crate) timers: Timers,
    pub(crate) seq: u64,
}

impl Base {
    pub(crate) fn new(
        site: SiteId,
        instrument: InstrumentId,
        profile: Profile,
        endpoint: Endpoint,
        plan: FaultPlan,
        ledger: Ledger,
        seed: u64,
    ) -> Self {
        Self {
            timers: Timers::of(&profile),
            site,
            instrument,
            profile,
            endpoint,
            wire: None,
            plan,
            ledger,
            rng: StdRng::seed_from_u64(seed ^ 0x5EED),
            seq: 0,
        }
    }

    pub(crate) fn io_err(&self, source: std::io::Error) -> SimError {
        SimError::Io {
            instrument: self.instrument.clone(),
            source,
        }
    }

    /// The open connection, opening one when there is none.
    pub(crate) async fn conn(&mut self) -> Result<&mut Wire, SimError> {
        if self.wire.is_none() {
            let opened = self.endpoint.open().await;
            match opened {
                Ok(io) => self.wire = Some(Wire::new(io)),
                Err(e) => return Err(self.io_err(e)),
            }
        }
        let instrument = self.instrument.clone();
        self.wire.as_mut().ok_or(SimError::Io {
            instrument,
            source: std::io::ErrorKind::NotConnected.into(),
        })
    }

    pub(crate) async fn disconnect(&mut self) {
        if let Some(w) = self.wire.take() {
            w.close().await;
        }
    }

    /// Opens and drops `n` connections in a row (connect mode only).
    pub(crate) async fn reconnect_storm(&mut self, n: u32) -> Result<(), SimError> {
        if !matches!(self.endpoint, Endpoint::Connect(_)) {
            return Ok(());
        }
        self.disconnect().await;
        for _ in 0..n {
            let io = self.endpoint.open().await.map_err(|e| self.io_err(e))?;
            Wire::new(io).close().await;
        }
        Ok(())
    }

    /// Holds the connection open and silent, then drops it.
    pub(crate) async fn half_open(&mut self) -> Result<(), SimError> {
        self.conn().await?;
        tokio::time::sleep(Duration::from_millis(self.plan.half_open_ms)).await;
        self.disconnect().await;
        Ok(())
    }

    /// Starts a message: picks its faults, records it in the ledger and applies the faults that
    /// come before any byte of it (reconnect storm, half-open). Returns the ledger index and the
    /// faults still to apply.
    pub(crate) async fn begin(&mut self, msg: &SimMessage) -> Result<(usize, Pending), SimError> {
        let faults = self.plan.faults_for(self.seq);
        let index = self.record(msg, &faults);
        let mut pending = Pending(faults);
        if pending.take(FaultKind::ReconnectStorm) {
            let n = self.plan.storm_connections;
            self.reconnect_storm(n).await?;
        }
        if pending.take(FaultKind::HalfOpen) {
            self.half_open().await?;
        }
        Ok((index, pending))
    }

    pub(crate) fn record(&mut self, msg: &SimMessage, faults: &[FaultKind]) -> usize {
        let seq = self.seq;
        self.seq += 1;
        self.ledger.record(LedgerEntry {
            instrument: self.instrument.clone(),
            seq,
            kind: msg.kind,
            control_id: msg.control_id.clone(),
            specimen_ids: msg.specimen_ids.clone(),
            event_ids: msg.expected_event_ids(&self.site, &self.instrument),
            sent_at: jiff::Timestamp::now(),
            acked_at: None,
            attempts: 0,
            faults: faults.iter().map(|f| f.name()).collect(),
            orders_received: None,
        })
    }
}

/// One-shot faults still to be applied to the current message.
#[derive(Default)]
pub(crate) struct Pending(pub(crate) Vec<FaultKind>);

impl Pending {
    pub(crate) fn take(&mut self, k: FaultKind) -> bool {
        match self.0.iter().position(|x| *x == k) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }
}
