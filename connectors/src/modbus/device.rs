//! One unit on a line: what is due when, what changed, which alarms hold, and the events.

use super::line::{LineFault, ReadData};
use crate::health::LinkHealth;
use crate::ingest::Ingest;
use crate::status::StatusReporter;
use crate::transport::{Backoff, BackoffConfig};
use labwire_event::{Event, EventKind, InstrumentId, Observation, Origin, Protocol, SiteId};
use labwire_modbus_map::limits::DEFAULT_MAX_GAP;
use labwire_modbus_map::{
    AlarmChange, AlarmLevel, AlarmTracker, ChangeFilter, DeviceProfile, ReadBlock, Reading,
    decode_bits, decode_registers, plan_reads,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Consecutive failed polls after which a unit is reported `down` (one lost frame on a noisy
/// RS-485 line is not an outage).
pub const DOWN_AFTER_FAILED_POLLS: u32 = 2;

/// Telemetry events that may wait for the bus per device; beyond that a reading is dropped
/// (counted) and the next poll reports the current values again.
pub const TELEMETRY_QUEUE: usize = 64;

/// How long one telemetry publish may take before it is given up.
pub const TELEMETRY_PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// One device (unit) and how to poll it.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// The site.
    pub site: SiteId,
    /// The instrument id (subject token).
    pub instrument: InstrumentId,
    /// Modbus unit (slave) id.
    pub unit: u8,
    /// What to read.
    pub profile: Arc<DeviceProfile>,
    /// How often every point (without a `poll` of its own) is read.
    pub poll: Duration,
    /// Wait for one answer.
    pub timeout: Duration,
    /// An unchanged reading is reported again after this long.
    pub keepalive: Duration,
    /// Longest wait between attempts to reach a unit that stopped answering.
    pub backoff_max: Duration,
}

/// Counters of one device's polls (read them while the line runs; tests and metrics).
#[derive(Debug, Default)]
pub struct PollCounters {
    /// Polls in which every due read was answered (data or exception).
    pub polls_ok: AtomicU64,
    /// Polls that failed (no answer, broken line).
    pub polls_failed: AtomicU64,
    /// Polls started more than one interval after they were due (the line was too busy).
    pub late: AtomicU64,
    /// Telemetry events queued for the bus.
    pub events: AtomicU64,
    /// Telemetry events dropped because the queue to the bus was full.
    pub dropped: AtomicU64,
}

impl PollCounters {
    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Points read at one interval.
#[derive(Debug)]
struct Group {
    interval: Duration,
    blocks: Vec<ReadBlock>,
    next_due: Instant,
}

/// The state of one device on a line.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) spec: DeviceSpec,
    groups: Vec<Group>,
    filters: Vec<ChangeFilter>,
    alarms: Vec<Option<AlarmTracker>>,
    refused: Vec<bool>,
    up: Option<bool>,
    failures: u32,
    backoff: Backoff,
    retry_at: Option<Instant>,
    status: StatusReporter,
    health: LinkHealth,
    pub(crate) counters: Arc<PollCounters>,
    telemetry: mpsc::Sender<Event>,
}

impl Device {
    /// A device whose first poll is due at `start`; spawns its telemetry publisher.
    pub(crate) fn new<I: Ingest>(
        spec: DeviceSpec,
        ingest: I,
        health: LinkHealth,
        counters: Arc<PollCounters>,
        start: Instant,
    ) -> Self {
        let points = &spec.profile.points;
        let mut intervals: Vec<Duration> =
            points.iter().map(|p| p.poll.unwrap_or(spec.poll)).collect();
        intervals.sort();
        intervals.dedup();
        let groups = intervals
            .into_iter()
            .map(|interval| {
                let members: Vec<usize> = (0..points.len())
                    .filter(|&i| {
                        points.get(i).and_then(|p| p.poll).unwrap_or(spec.poll) == interval
                    })
                    .collect();
                Group {
                    interval,
                    blocks: plan_reads(points, &members, DEFAULT_MAX_GAP),
                    next_due: start,
                }
            })
            .collect();
        let filters = points
            .iter()
            .map(|p| ChangeFilter::new(p.deadband, spec.keepalive))
            .collect();
        let alarms = points
            .iter()
            .map(|p| p.alarm.map(AlarmTracker::new))
            .collect();
        let status = StatusReporter::spawn(
            ingest.clone(),
            spec.site.clone(),
            spec.instrument.clone(),
            Protocol::Modbus,
        );
        let telemetry = spawn_publisher(ingest, spec.instrument.clone(), health.clone());
        let backoff = Backoff::new(BackoffConfig {
            initial: spec.poll,
            max: spec.backoff_max.max(spec.poll),
            jitter: 0.1,
        });
        Self {
            refused: vec![false; points.len()],
            groups,
            filters,
            alarms,
            up: None,
            failures: 0,
            backoff,
            retry_at: None,
            status,
            health,
            counters,
            telemetry,
            spec,
        }
    }

    /// When this device next wants the line.
    pub(crate) fn next_due(&self) -> Instant {
        let due = self
            .groups
            .iter()
            .map(|g| g.next_due)
            .min()
            .unwrap_or_else(|| Instant::now() + self.spec.poll);
        match self.retry_at {
            Some(at) => at.max(due),
            None => due,
        }
    }

    /// Polls the due groups over `line`.
    pub(crate) async fn poll(&mut self, line: &mut super::line::Line) {
        let now = Instant::now();
        let mut readings: Vec<(usize, Reading)> = Vec::new();
        let mut fault: Option<LineFault> = None;
        let points = Arc::clone(&self.spec.profile);
        let points = &points.points;
        let mut groups = std::mem::take(&mut self.groups);
        'groups: for g in &mut groups {
            if g.next_due > now {
                continue;
            }
            if now.saturating_duration_since(g.next_due) >= g.interval {
                self.counters.late.fetch_add(1, Ordering::Relaxed);
            }
            let mut i = 0;
            while let Some(block) = g.blocks.get(i).cloned() {
                match line.read(self.spec.unit, &block, self.spec.timeout).await {
                    Ok(Ok(data)) => {
                        for &p in &block.points {
                            let Some(point) = points.get(p) else { continue };
                            let at = block.offset_of(point);
                            let decoded = match &data {
                                ReadData::Words(w) => {
                                    decode_registers(point, w.get(at..).unwrap_or(&[]))
                                }
                                ReadData::Bits(b) => decode_bits(point, b.get(at..).unwrap_or(&[])),
                            };
                            match decoded {
                                Ok(r) => {
                                    if self.refused.get(p) == Some(&true) {
                                        self.status.report(
                                            "point-ok",
                                            Some(format!("point {}", point.name)),
                                        );
                                    }
                                    if let Some(f) = self.refused.get_mut(p) {
                                        *f = false;
                                    }
                                    readings.push((p, r));
                                }
                                Err(e) => self.refuse(p, e.to_string()),
                            }
                        }
                        i += 1;
                    }
                    Ok(Err(tokio_modbus::ExceptionCode::IllegalDataAddress))
                        if block.points.len() > 1 =>
                    {
                        // The coalesced read covered addresses the device does not have:
                        // read these points one by one from now on.
                        tracing::info!(instrument = %self.spec.instrument, start = block.start, count = block.count, "device refused a coalesced read; splitting it per point");
                        let split = block.split(points);
                        g.blocks.splice(i..=i, split);
                    }
                    Ok(Err(exception)) => {
                        for &p in &block.points {
                            let name = points.get(p).map_or("?", |q| q.name.as_str());
                            let reason = format!(
                                "point {name}: device answered exception {:#04x} ({exception:?})",
                                u8::from(exception)
                            );
                            self.refuse(p, reason);
                        }
                        i += 1;
                    }
                    Err(f) => {
                        fault = Some(f);
                        break 'groups;
                    }
                }
            }
            g.next_due = next_after(g.next_due, g.interval, now);
        }
        self.groups = groups;
        match fault {
            None => self.answered(readings, now),
            Some(f) => self.unanswered(&f, now),
        }
    }

    fn refuse(&mut self, point: usize, reason: String) {
        if let Some(flag) = self.refused.get_mut(point)
            && !*flag
        {
            *flag = true;
            self.status.report("point-refused", Some(reason));
        }
    }

    fn answered(&mut self, readings: Vec<(usize, Reading)>, now: Instant) {
        self.counters.polls_ok.fetch_add(1, Ordering::Relaxed);
        self.failures = 0;
        self.retry_at = None;
        self.backoff.reset();
        if self.up != Some(true) {
            self.up = Some(true);
            self.health.set_connected(true);
            self.status
                .report("up", Some(format!("unit {} answers", self.spec.unit)));
        }
        let now_std = now.into_std();
        for (p, r) in &readings {
            if let Some(Some(tracker)) = self.alarms.get_mut(*p) {
                for change in tracker.observe(r.value, now_std) {
                    let point = self.spec.profile.points.get(*p);
                    let name = point.map_or("?", |q| q.name.as_str());
                    let unit = point.and_then(|q| q.unit.as_deref()).unwrap_or("");
                    let (state, level) = match change {
                        AlarmChange::Raised(AlarmLevel::High) => ("alarm-high", "high"),
                        AlarmChange::Raised(_) => ("alarm-low", "low"),
                        AlarmChange::Cleared(l) => ("alarm-cleared", l.as_str()),
                    };
                    self.status.report(
                        state,
                        Some(format!(
                            "point {name}: {level} alarm; reading {} {unit}",
                            r.text
                        )),
                    );
                }
            }
        }
        let due = readings.iter().any(|(p, r)| {
            self.filters
                .get(*p)
                .is_some_and(|f| f.is_due(r.value, now_std))
        });
        if !due {
            return;
        }
        let event = telemetry_event(&self.spec, &readings);
        match self.telemetry.try_send(event) {
            Ok(()) => {
                self.counters.events.fetch_add(1, Ordering::Relaxed);
                for (p, r) in &readings {
                    if let Some(f) = self.filters.get_mut(*p) {
                        f.reported(r.value, now_std);
                    }
                }
            }
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(instrument = %self.spec.instrument, "telemetry queue full; reading dropped, the next poll reports again");
            }
        }
    }

    fn unanswered(&mut self, fault: &LineFault, now: Instant) {
        self.counters.polls_failed.fetch_add(1, Ordering::Relaxed);
        self.health.timeout();
        self.failures += 1;
        let wait = self.backoff.next_delay();
        self.retry_at = Some(now + wait);
        tracing::debug!(instrument = %self.spec.instrument, unit = self.spec.unit, %fault, retry_ms = wait.as_millis() as u64, "unit did not answer");
        if self.failures >= DOWN_AFTER_FAILED_POLLS && self.up != Some(false) {
            self.up = Some(false);
            self.health.set_connected(false);
            self.filters.iter_mut().for_each(ChangeFilter::reset);
            self.status
                .report("down", Some(format!("unit {}: {fault}", self.spec.unit)));
        }
    }
}

/// The next due time after a poll at `now`: one interval on, skipping whole intervals missed.
fn next_after(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next > now { next } else { now + interval }
}

/// A `telemetry` event with one observation per point read (shared conventions §6).
pub(crate) fn telemetry_event(spec: &DeviceSpec, readings: &[(usize, Reading)]) -> Event {
    let received_at = jiff::Timestamp::now();
    let origin = Origin {
        site: spec.site.clone(),
        instrument: spec.instrument.clone(),
        received_at,
    };
    let mut key = format!("unit={}\nat={}\n", spec.unit, received_at.as_nanosecond());
    let mut observations = Vec::with_capacity(readings.len());
    for (p, r) in readings {
        let Some(point) = spec.profile.points.get(*p) else {
            continue;
        };
        key.push_str(&point.name);
        key.push('=');
        key.push_str(&r.text);
        key.push('\n');
        observations.push(Observation {
            code: Some(point.name.clone()),
            value: Some(r.text.clone()),
            units: point.unit.clone(),
            ..Observation::default()
        });
    }
    let mut event = origin.event(EventKind::Telemetry, Protocol::Modbus, key.as_bytes(), 0);
    event.observations = observations;
    event
}

/// Publishes a device's telemetry through the durability gate, in order, off the line's task.
fn spawn_publisher<I: Ingest>(
    ingest: I,
    instrument: InstrumentId,
    health: LinkHealth,
) -> mpsc::Sender<Event> {
    let (tx, mut rx) = mpsc::channel::<Event>(TELEMETRY_QUEUE);
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match tokio::time::timeout(TELEMETRY_PUBLISH_TIMEOUT, ingest.submit(vec![event])).await
            {
                Ok(Ok(())) => health.message(),
                Ok(Err(e)) => {
                    health.ingest_failure();
                    tracing::warn!(%instrument, error = %e, "telemetry event not stored");
                }
                Err(_) => {
                    health.ingest_failure();
                    tracing::warn!(%instrument, "telemetry event timed out at the ingest");
                }
            }
        }
    });
    tx
}
