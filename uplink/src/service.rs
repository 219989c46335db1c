//! The uplink task: takes typed observations, keeps the period summaries, writes records to
//! the outbox and publishes them with QoS 1, deleting each only after its PUBACK.
//!
//! - Inputs arrive on a bounded channel through [`UplinkInput::offer`], which never waits: when
//!   the uplink is behind, the observation is dropped and counted, and the instrument path is
//!   not slowed.
//! - One task publishes and one task polls rumqttc's event loop, so the order of
//!   `Outgoing::Publish(pkid)` events is the order of our publishes; that FIFO maps packet ids
//!   to outbox rows, and a PUBACK deletes its row. After any disconnect the in-flight map is
//!   forgotten and un-acked rows are sent again from the outbox (the hub dedupes by `id`).
//! - After a (re)connect a fresh heartbeat is published first, then the backlog drains at
//!   `drain_rate` records per second with at most `max_inflight` un-acked.
//! - Reconnects back off exponentially with jitter (labwire-backoff).

use crate::broker::{BrokerError, BrokerUrl, TlsFiles, mqtt_options};
use crate::build::{EdgeSnapshot, InstrumentSnapshot, alert, health, heartbeat};
use crate::code::{InstrumentRef, SiteRef, TestCode, Version};
use crate::outbox::{Outbox, OutboxError, OutboxLimits};
use crate::record::{AlertKind, Record, Severity};
use crate::summaries::{QcSample, Summaries};
use labwire_backoff::{Backoff, BackoffConfig};
use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Default summary interval (`[uplink] interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default backlog drain rate, records per second (`[uplink] drain_rate`).
pub const DEFAULT_DRAIN_RATE: u32 = 20;
/// Default number of un-acked publishes (`[uplink] max_inflight`).
pub const DEFAULT_MAX_INFLIGHT: u16 = 32;
/// Default outbox fill that raises an `outbox_filling` alert, percent.
pub const DEFAULT_ALERT_FILL_PERCENT: u8 = 80;

/// Observations queued at most before new ones are dropped.
pub const INPUT_CAPACITY: usize = 4096;
/// How often the drain looks for work.
const PACE_TICK: Duration = Duration::from_millis(50);
/// Reconnect backoff: from 1 s up to 60 s, jittered.
pub const RECONNECT: BackoffConfig =
    BackoffConfig::new(Duration::from_secs(1), Duration::from_secs(60));

/// Everything the uplink needs to run.
#[derive(Debug, Clone)]
pub struct UplinkConfig {
    /// The site.
    pub site: SiteRef,
    /// The broker.
    pub url: BrokerUrl,
    /// Mutual-TLS files (required for `mqtts://`).
    pub tls: Option<TlsFiles>,
    /// How often heartbeat and health are made (and QC/volume periods checked).
    pub interval: Duration,
    /// The outbox file.
    pub outbox: PathBuf,
    /// Its bounds.
    pub limits: OutboxLimits,
    /// Backlog records published per second at most.
    pub drain_rate: u32,
    /// Un-acked publishes at most.
    pub max_inflight: u16,
    /// Minimum volume cell size.
    pub min_cell: u64,
    /// Outbox fill (percent) that raises an `outbox_filling` alert.
    pub alert_fill_percent: u8,
    /// labwire version.
    pub version: Version,
    /// SHA-256 of the site file.
    pub config_hash: [u8; 32],
}

/// What the edge reports for heartbeat and health; implemented by `labwire run`.
pub trait Probe: Send + Sync + 'static {
    /// Spool depth and bus state.
    fn edge(&self) -> EdgeState;
    /// Every enabled instrument's counters.
    fn instruments(&self) -> Vec<InstrumentSnapshot>;
}

/// The edge's state for a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EdgeState {
    /// Events in the spool.
    pub spool_depth: u64,
    /// Whether the local bus is connected.
    pub bus_connected: bool,
    /// Enabled instruments.
    pub instruments: u32,
}

/// An observation from the instrument side, already reduced to typed fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A patient result was stored (counted, never described).
    Result {
        /// Arrival time at the edge.
        at: jiff::Timestamp,
        /// The configured instrument.
        instrument: InstrumentRef,
        /// The test code.
        test: TestCode,
    },
    /// A QC result.
    Qc {
        /// Arrival time at the edge.
        at: jiff::Timestamp,
        /// The configured instrument.
        instrument: InstrumentRef,
        /// Its typed fields.
        sample: QcSample,
    },
    /// A sample that failed its patterns before getting here.
    Refused,
    /// An alert condition.
    Alert {
        /// When it was seen.
        at: jiff::Timestamp,
        /// What.
        alert: AlertKind,
        /// How urgent.
        severity: Severity,
        /// The instrument, if any.
        instrument: Option<InstrumentRef>,
        /// Its number.
        value: Option<i64>,
    },
}

/// Counters of the uplink, for metrics and the heartbeat.
#[derive(Debug, Default)]
pub struct UplinkStats {
    /// Records in the outbox (gauge).
    pub outbox_depth: AtomicU64,
    /// Payload bytes in the outbox (gauge).
    pub outbox_bytes: AtomicU64,
    /// Records acknowledged by the broker.
    pub sent: AtomicU64,
    /// Records dropped (outbox full or too old, or too large).
    pub dropped: AtomicU64,
    /// Observations dropped because the uplink was behind.
    pub inputs_dropped: AtomicU64,
    /// Samples refused by the code patterns or bounds.
    pub refused: AtomicU64,
    /// Unix milliseconds of the last PUBACK (0 before the first).
    pub last_puback_ms: AtomicI64,
    /// Whether the MQTT connection is up.
    pub connected: AtomicBool,
    /// Connection attempts that failed.
    pub connect_failures: AtomicU64,
}

/// The sending side of the uplink's input channel.
#[derive(Clone)]
pub struct UplinkInput {
    tx: mpsc::Sender<Observation>,
    stats: Arc<UplinkStats>,
}

impl UplinkInput {
    /// Queues an observation without waiting; drops and counts it when the uplink is behind.
    pub fn offer(&self, observation: Observation) {
        if self.tx.try_send(observation).is_err() {
            self.stats.inputs_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Why the uplink could not start.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// Broker address or TLS files.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The outbox.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// A running uplink.
pub struct Uplink {
    /// Where observations go.
    pub input: UplinkInput,
    /// Its counters.
    pub stats: Arc<UplinkStats>,
    /// The task; ends after `shutdown` is cancelled.
    pub task: tokio::task::JoinHandle<()>,
}

/// What the poller reports.
enum LinkEvent {
    Connected,
    Published(u16),
    Acked(u16),
    Failed(String),
}

/// Opens the outbox and starts the uplink and its MQTT poller.
pub async fn start(
    config: UplinkConfig,
    probe: Arc<dyn Probe>,
    shutdown: CancellationToken,
) -> Result<Uplink, UplinkError> {
    let options = mqtt_options(
        config.site.as_str(),
        &config.url,
        config.tls.as_ref(),
        config.max_inflight,
    )?;
    let outbox = Outbox::open(&config.outbox, config.limits).await?;
    let stats = Arc::new(UplinkStats::default());
    let (tx, inputs) = mpsc::channel(INPUT_CAPACITY);
    let (client, eventloop) =
        AsyncClient::new(options, usize::from(config.max_inflight.max(1)) * 2);
    let (events_tx, events) = mpsc::channel(1024);
    tokio::spawn(poll(eventloop, events_tx, shutdown.clone()));
    let task = Task {
        summaries: Summaries::new(config.site.clone(), config.min_cell),
        started: jiff::Timestamp::now(),
        config,
        probe,
        outbox,
        client,
        stats: Arc::clone(&stats),
        connected: false,
        in_flight: HashSet::new(),
        awaiting_pkid: VecDeque::new(),
        by_pkid: HashMap::new(),
        tokens: 0.0,
        filling_alerted: false,
    };
    task.publish_gauges();
    let task = tokio::spawn(task.run(inputs, events, shutdown));
    Ok(Uplink {
        input: UplinkInput {
            tx,
            stats: Arc::clone(&stats),
        },
        stats,
        task,
    })
}

/// Drives rumqttc's event loop and reports what matters; backs off after failures.
async fn poll(
    mut eventloop: rumqttc::EventLoop,
    events: mpsc::Sender<LinkEvent>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(RECONNECT);
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = eventloop.poll() => next,
        };
        let event = match next {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                LinkEvent::Connected
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => LinkEvent::Acked(ack.pkid),
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => LinkEvent::Published(pkid),
            Ok(_) => continue,
            Err(e) => LinkEvent::Failed(e.to_string()),
        };
        let failed = matches!(event, LinkEvent::Failed(_));
        if events.send(event).await.is_err() {
            return;
        }
        if failed {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = backoff.wait() => {}
            }
        }
    }
}

struct Task {
    config: UplinkConfig,
    probe: Arc<dyn Probe>,
    outbox: Outbox,
    client: AsyncClient,
    stats: Arc<UplinkStats>,
    summaries: Summaries,
    started: jiff::Timestamp,
    connected: bool,
    /// Rows published and not yet acked.
    in_flight: HashSet<i64>,
    /// Rows published whose packet id is not known yet, in publish order.
    awaiting_pkid: VecDeque<i64>,
    by_pkid: HashMap<u16, i64>,
    tokens: f64,
    filling_alerted: bool,
}

impl Task {
    async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Observation>,
        mut events: mpsc::Receiver<LinkEvent>,
        shutdown: CancellationToken,
    ) {
        let mut summary = tokio::time::interval(self.config.interval);
        summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pace = tokio::time::interval(PACE_TICK);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                () = shutdown.cancelled() => break,
                Some(event) = events.recv() => self.on_link(event).await,
                Some(obs) = inputs.recv() => self.on_observation(obs).await,
                _ = summary.tick() => self.on_interval().await,
                _ = pace.tick() => self.drain().await,
            };
            if let Err(e) = step {
                // The outbox failed (disk full, I/O error): the uplink degrades, the
                // instrument path is not affected.
                tracing::warn!(error = %e, "uplink outbox error");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            self.publish_gauges();
        }
        let _ = self.client.try_disconnect();
        tracing::info!(
            outbox_depth = self.outbox.depth(),
            "uplink stopped; unsent records stay in the outbox"
        );
    }

    fn publish_gauges(&self) {
        self.stats
            .outbox_depth
            .store(self.outbox.depth(), Ordering::Relaxed);
        self.stats
            .outbox_bytes
            .store(self.outbox.bytes(), Ordering::Relaxed);
    }

    async fn store(&mut self, record: &Record) -> Result<Option<i64>, OutboxError> {
        let pushed = self.outbox.push(record).await?;
        if pushed.dropped > 0 {
            self.stats
                .dropped
                .fetch_add(pushed.dropped, Ordering::Relaxed);
        }
        Ok(pushed.seq)
    }

    async fn on_link(&mut self, event: LinkEvent) -> Result<(), OutboxError> {
        match event {
            LinkEvent::Connected => {
                self.connected = true;
                self.stats.connected.store(true, Ordering::Relaxed);
                self.forget_in_flight();
                tracing::info!(
                    broker = %self.config.url.host,
                    backlog = self.outbox.depth(),
                    "uplink connected"
                );
                // The live heartbeat goes before the backlog.
                let beat = self.heartbeat();
                if let Some(seq) = self.store(&beat).await? {
                    self.publish(seq, beat.topic(), beat.to_json());
                }
            }
            LinkEvent::Published(pkid) => {
                if let Some(seq) = self.awaiting_pkid.pop_front() {
                    self.by_pkid.insert(pkid, seq);
                }
            }
            LinkEvent::Acked(pkid) => {
                if let Some(seq) = self.by_pkid.remove(&pkid) {
                    self.in_flight.remove(&seq);
                    self.outbox.ack(seq).await?;
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .last_puback_ms
                        .store(jiff::Timestamp::now().as_millisecond(), Ordering::Relaxed);
                }
            }
            LinkEvent::Failed(reason) => {
                if self.connected {
                    tracing::warn!(%reason, "uplink connection lost; records wait in the outbox");
                } else {
                    tracing::warn!(%reason, "uplink cannot connect to the broker");
                }
                self.connected = false;
                self.stats.connected.store(false, Ordering::Relaxed);
                self.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                self.forget_in_flight();
            }
        }
        Ok(())
    }

    fn forget_in_flight(&mut self) {
        self.in_flight.clear();
        self.awaiting_pkid.clear();
        self.by_pkid.clear();
    }

    fn publish(&mut self, seq: i64, topic: String, payload: Vec<u8>) -> bool {
        match self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
        {
            Ok(()) => {
                self.in_flight.insert(seq);
                self.awaiting_pkid.push_back(seq);
                true
            }
            Err(_) => false,
        }
    }

    async fn drain(&mut self) -> Result<(), OutboxError> {
        if !self.connected {
            return Ok(());
        }
        let rate = f64::from(self.config.drain_rate.max(1));
        let burst = (rate * PACE_TICK.as_secs_f64()).max(1.0);
        self.tokens = (self.tokens + rate * PACE_TICK.as_secs_f64()).min(burst);
        let room = usize::from(self.config.max_inflight).saturating_sub(self.in_flight.len());
        let n = room.min(self.tokens as usize);
        if n == 0 {
            return Ok(());
        }
        for row in self.outbox.next(n, &self.in_flight).await? {
            if !self.publish(row.seq, row.topic, row.payload) {
                break;
            }
            self.tokens -= 1.0;
        }
        Ok(())
    }

    fn heartbeat(&self) -> Record {
        let edge = self.probe.edge();
        heartbeat(
            &self.config.site,
            jiff::Timestamp::now(),
            &EdgeSnapshot {
                version: self.config.version.clone(),
                started: self.started,
                config_hash: self.config.config_hash,
                spool_depth: edge.spool_depth,
                outbox_depth: self.outbox.depth(),
                outbox_dropped: self.stats.dropped.load(Ordering::Relaxed),
                bus_connected: edge.bus_connected,
                instruments: edge.instruments,
            },
        )
    }

    async fn on_interval(&mut self) -> Result<(), OutboxError> {
        let now = jiff::Timestamp::now();
        let expired = self.outbox.expire().await?;
        self.stats.dropped.fetch_add(expired, Ordering::Relaxed);
        let beat = self.heartbeat();
        self.store(&beat).await?;
        let instruments = self.probe.instruments();
        if !instruments.is_empty() {
            let h = health(&self.config.site, now, &instruments);
            self.store(&h).await?;
        }
        for r in self.summaries.tick(now) {
            self.store(&r).await?;
        }
        self.check_fill(now).await
    }

    async fn check_fill(&mut self, now: jiff::Timestamp) -> Result<(), OutboxError> {
        let max = self.outbox.limits().max_bytes.max(1);
        let percent = i64::try_from(self.outbox.bytes().saturating_mul(100) / max).unwrap_or(100);
        let filling = percent >= i64::from(self.config.alert_fill_percent);
        if filling != self.filling_alerted {
            self.filling_alerted = filling;
            let severity = if filling {
                Severity::Warning
            } else {
                Severity::Info
            };
            let a = alert(
                &self.config.site,
                now,
                AlertKind::OutboxFilling,
                severity,
                None,
                Some(percent),
            );
            self.store(&a).await?;
        }
        Ok(())
    }

    async fn on_observation(&mut self, obs: Observation) -> Result<(), OutboxError> {
        let (closed, outcome) = match obs {
            Observation::Result {
                at,
                instrument,
                test,
            } => self.summaries.result(at, &instrument, test),
            Observation::Qc {
                at,
                instrument,
                sample,
            } => self.summaries.qc(at, &instrument, sample),
            Observation::Refused => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Observation::Alert {
                at,
                alert: kind,
                severity,
                instrument,
                value,
            } => {
                let a = alert(
                    &self.config.site,
                    at,
                    kind,
                    severity,
                    instrument.as_ref(),
                    value,
                );
                self.store(&a).await?;
                return Ok(());
            }
        };
        if outcome.is_err() {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
        }
        for r in closed {
            self.store(&r).await?;
        }
        Ok(())
    }
}
