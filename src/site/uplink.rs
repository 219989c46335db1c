//! The site's uplink: starts `labwire-uplink` when `[uplink]` is configured, feeds it the
//! allow-listed projection of each stored event, and exports its metrics (docs/uplink.md).
//!
//! [`project`] is the only place an instrument event meets the uplink. It reads the event's
//! kind, its configured instrument id, its arrival time at the edge, its message time (only to
//! compute the clock skew) and, per observation, the test code — plus, for QC events only, the
//! value and unit, and for status events only whether the state is one of a closed set of
//! device states. Patient, specimen, sender, comment, query, error, status detail and raw
//! fields are never read, and the codes must pass the uplink's patterns before they are sent on.
//!
//! `health` records come from [`LinkBook`]: each connector's `LinkHealth` (registered when the
//! connector starts) and the site's event counters.

use labwire_connectors::LinkHealth;
use labwire_event::{Event, EventKind, InstrumentId, Protocol as EventProtocol};
use labwire_router::Router;
use labwire_router::config::{SiteConfig, UplinkSettings};
use labwire_router::metrics::{EventCounters, Metrics, MetricsWriter};
use labwire_uplink::alerts::{DEFAULT_CLOCK_SKEW, DeviceState};
use labwire_uplink::build::InstrumentSnapshot;
use labwire_uplink::outbox::OutboxLimits;
use labwire_uplink::record::{EventCounts, LinkCounts, Protocol};
use labwire_uplink::service::{
    DEFAULT_ALERT_FILL_PERCENT, EdgeState, Observation, Probe, UplinkConfig, UplinkError,
    UplinkInput, UplinkStats, start as start_uplink,
};
use labwire_uplink::summaries::QcSample;
use labwire_uplink::{InstrumentRef, SiteRef, TestCode, Version};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A device state named in a `status` event, from a closed set of literal states (the modbus
/// and serial-line connectors' `up`, `down`, `alarm-high`, `alarm-low`, `alarm-cleared`);
/// any other state (`connected`, `disconnected`, link errors …) is not a device state.
pub fn device_state(state: &str) -> Option<DeviceState> {
    match state {
        "up" => Some(DeviceState::Up),
        "down" => Some(DeviceState::Down),
        "alarm" | "alarm-high" | "alarm-low" => Some(DeviceState::AlarmRaised),
        "alarm-cleared" => Some(DeviceState::AlarmCleared),
        _ => None,
    }
}

/// Message time minus arrival time, in seconds, when the message time is at least to the
/// minute. A time without an offset is read in the edge's time zone (instruments keep local
/// time); one with an offset is exact.
pub fn clock_skew_s(event: &Event) -> Option<i64> {
    let text = event.message_time.as_deref()?;
    // `YYYY-MM-DDTHH:MM` at least (labwire_event::normalize_message_time's output).
    if text.len() < 16 {
        return None;
    }
    let at = match text.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        Err(_) => jiff::tz::TimeZone::system()
            .to_timestamp(text.parse::<jiff::civil::DateTime>().ok()?)
            .ok()?,
    };
    Some(at.as_second() - event.received_at.as_second())
}

/// The allow-listed projection of one stored event: a count per result, a typed sample per QC
/// result, nothing for any other kind.
pub fn project(event: &Event) -> Vec<Observation> {
    let Ok(instrument) = InstrumentRef::new(event.instrument.as_str()) else {
        return Vec::new();
    };
    let at = event.received_at;
    let clock = match event.kind {
        EventKind::Result | EventKind::Qc | EventKind::Order => clock_skew_s(event),
        _ => None,
    }
    .map(|skew_s| Observation::Clock {
        instrument: instrument.clone(),
        skew_s,
    });
    let mut out: Vec<Observation> = match event.kind {
        EventKind::Result => event
            .observations
            .iter()
            .map(|o| match o.code.as_deref().map(TestCode::new) {
                Some(Ok(test)) => Observation::Result {
                    at,
                    instrument: instrument.clone(),
                    test,
                },
                _ => Observation::Refused,
            })
            .collect(),
        EventKind::Qc => event
            .observations
            .iter()
            .map(|o| {
                let sample = QcSample::parse(
                    o.code.as_deref().unwrap_or(""),
                    None,
                    o.units.as_deref(),
                    o.value.as_deref().unwrap_or(""),
                );
                match sample {
                    Ok(sample) => Observation::Qc {
                        at,
                        instrument: instrument.clone(),
                        sample,
                    },
                    Err(_) => Observation::Refused,
                }
            })
            .collect(),
        EventKind::Status => event
            .status
            .as_ref()
            .and_then(|s| device_state(&s.state))
            .map(|state| Observation::Device {
                instrument: instrument.clone(),
                state,
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    out.extend(clock);
    out
}

/// Every started connector's link health, for `health` records and `instrument_down` alerts.
/// Bounded by the configured instruments.
#[derive(Debug, Clone, Default)]
pub struct LinkBook {
    links: Arc<Mutex<Vec<(InstrumentId, Protocol, LinkHealth)>>>,
}

impl LinkBook {
    /// Registers a started connector's health (called once per instrument).
    pub fn register(&self, instrument: InstrumentId, protocol: EventProtocol, health: LinkHealth) {
        let protocol = match protocol {
            EventProtocol::Astm => Protocol::Astm,
            EventProtocol::Hl7 => Protocol::Hl7,
            EventProtocol::Modbus => Protocol::Modbus,
            EventProtocol::Serial => Protocol::Serial,
        };
        if let Ok(mut links) = self.links.lock() {
            links.retain(|(i, _, _)| *i != instrument);
            links.push((instrument, protocol, health));
        }
    }

    /// One snapshot per registered instrument: link state and counters, event counts.
    pub fn snapshots(&self, counters: &EventCounters) -> Vec<InstrumentSnapshot> {
        let links = self.links.lock().map(|l| l.clone()).unwrap_or_default();
        links
            .into_iter()
            .filter_map(|(id, protocol, health)| {
                let instrument = InstrumentRef::new(id.as_str()).ok()?;
                let h = health.snapshot();
                let mut events = EventCounts::default();
                for (kind, n) in counters.of(&id) {
                    let slot = match kind {
                        EventKind::Result => &mut events.result,
                        EventKind::Qc => &mut events.qc,
                        EventKind::Order => &mut events.order,
                        EventKind::Telemetry => &mut events.telemetry,
                        EventKind::Status => &mut events.status,
                        EventKind::Error => &mut events.error,
                        EventKind::Query => &mut events.query,
                    };
                    *slot += n;
                }
                let last_message_at = (h.last_message_unix_ms != 0)
                    .then(|| i64::try_from(h.last_message_unix_ms).ok())
                    .flatten()
                    .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
                Some(InstrumentSnapshot {
                    instrument,
                    protocol,
                    link_up: h.connected,
                    alarm: false,
                    events,
                    link: LinkCounts {
                        naks: h.naks_sent + h.naks_received,
                        retransmits: h.retransmits,
                        checksum_errors: h.checksum_errors,
                        reconnects: h.reconnects,
                        timeouts: h.timeouts,
                    },
                    last_message_at,
                })
            })
            .collect()
    }
}

/// The started uplink as the site's connectors see it.
#[derive(Clone)]
pub struct SiteUplink {
    /// Where the allow-listed projection of each durable event goes.
    pub input: UplinkInput,
    /// Where each connector registers its link health.
    pub links: LinkBook,
}

/// Spool depth and bus state from the router; instruments from the link book.
struct RouterProbe {
    router_bus: labwire_router::Bus,
    spool: Arc<labwire_router::Spool>,
    instruments: u32,
    links: LinkBook,
    counters: EventCounters,
}

impl Probe for RouterProbe {
    fn edge(&self) -> EdgeState {
        EdgeState {
            spool_depth: self.spool.depth(),
            spool_capacity: self.spool.options().max_rows,
            bus_connected: self.router_bus.is_connected(),
            instruments: self.instruments,
        }
    }

    fn instruments(&self) -> Vec<InstrumentSnapshot> {
        self.links.snapshots(&self.counters)
    }
}

/// Why the uplink did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The site id or version failed the uplink's patterns.
    #[error("uplink: {0}")]
    Code(#[from] labwire_uplink::CodeError),
    /// The uplink itself.
    #[error("uplink: {0}")]
    Uplink(#[from] UplinkError),
}

/// Starts the uplink described by `settings` and registers its metrics.
pub async fn start(
    config: &SiteConfig,
    settings: &UplinkSettings,
    config_hash: [u8; 32],
    router: &Router,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> Result<SiteUplink, StartError> {
    let uplink_config = UplinkConfig {
        site: SiteRef::new(config.site.as_str())?,
        url: settings.url.clone(),
        tls: settings.tls.clone(),
        interval: settings.interval,
        outbox: settings.outbox.clone(),
        limits: OutboxLimits {
            max_bytes: settings.outbox_max_bytes,
            max_age: settings.outbox_max_age,
        },
        drain_rate: settings.drain_rate,
        max_inflight: settings.max_inflight,
        min_cell: settings.min_cell,
        alert_fill_percent: DEFAULT_ALERT_FILL_PERCENT,
        clock_skew: DEFAULT_CLOCK_SKEW,
        version: Version::new(env!("CARGO_PKG_VERSION"))?,
        config_hash,
    };
    let probe = RouterProbe {
        router_bus: router.bus().clone(),
        spool: Arc::clone(router.spool()),
        instruments: u32::try_from(config.instruments.iter().filter(|i| i.enabled).count())
            .unwrap_or(u32::MAX),
        links: LinkBook::default(),
        counters: metrics.events().clone(),
    };
    let links = probe.links.clone();
    let uplink = start_uplink(uplink_config, Arc::new(probe), shutdown).await?;
    let stats = Arc::clone(&uplink.stats);
    metrics.register(move |w: &mut MetricsWriter| write_metrics(w, &stats));
    tracing::info!(
        broker = %settings.url.host,
        outbox = %settings.outbox.display(),
        "uplink started"
    );
    Ok(SiteUplink {
        input: uplink.input,
        links,
    })
}

fn write_metrics(w: &mut MetricsWriter, s: &UplinkStats) {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    w.gauge(
        "labwire_uplink_outbox_depth",
        "Telemetry records waiting in the outbox.",
        &[],
        load(&s.outbox_depth) as f64,
    );
    w.gauge(
        "labwire_uplink_outbox_bytes",
        "Payload bytes in the outbox.",
        &[],
        load(&s.outbox_bytes) as f64,
    );
    w.counter(
        "labwire_uplink_sent_total",
        "Telemetry records acknowledged by the hub's broker (PUBACK).",
        &[],
        load(&s.sent),
    );
    w.counter(
        "labwire_uplink_dropped_total",
        "Telemetry records dropped: outbox full or too old, or record too large.",
        &[],
        load(&s.dropped),
    );
    w.counter(
        "labwire_uplink_inputs_dropped_total",
        "Observations dropped because the uplink was behind (the instrument path never waits).",
        &[],
        load(&s.inputs_dropped),
    );
    w.counter(
        "labwire_uplink_refused_total",
        "Samples whose test code, unit or value failed the uplink's patterns.",
        &[],
        load(&s.refused),
    );
    w.counter(
        "labwire_uplink_connect_failures_total",
        "Failed or lost connections to the hub's broker.",
        &[],
        load(&s.connect_failures),
    );
    w.gauge(
        "labwire_uplink_connected",
        "1 while connected to the hub's broker.",
        &[],
        if s.connected.load(Ordering::Relaxed) {
            1.0
        } else {
            0.0
        },
    );
    let last = s.last_puback_ms.load(Ordering::Relaxed);
    if last > 0 {
        let age = (jiff::Timestamp::now().as_millisecond() - last).max(0) as f64 / 1000.0;
        w.gauge(
            "labwire_uplink_last_puback_age_seconds",
            "Seconds since the hub's broker last acknowledged a record.",
            &[],
            age,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use labwire_event::{Observation as Obs, Patient, Protocol, Specimen};

    const CANARY: &str = "QZXCANARY42";

    fn event(kind: EventKind, code: &str, value: &str) -> Event {
        let site: labwire_event::SiteId = "lab-north".parse().unwrap();
        let instrument: labwire_event::InstrumentId = "c311".parse().unwrap();
        let id = labwire_event::EventId::derive(&site, &instrument, Protocol::Astm, kind, b"m", 0);
        let mut e = Event::new(
            id,
            site,
            instrument,
            kind,
            Protocol::Astm,
            "2026-12-03T09:10:00Z".parse().unwrap(),
        );
        e.patient = Some(Patient {
            id: Some(CANARY.into()),
            name: Some(format!("{CANARY}^JANE")),
            ..Default::default()
        });
        e.specimen = Some(Specimen {
            id: Some(CANARY.into()),
            specimen_type: None,
        });
        e.comments = vec![CANARY.into()];
        e.raw = Some(CANARY.into());
        e.observations = vec![Obs {
            code: Some(code.into()),
            name: Some(CANARY.into()),
            value: Some(value.into()),
            units: Some("mg/dL".into()),
            reference_range: Some(CANARY.into()),
            ..Default::default()
        }];
        e
    }

    #[test]
    fn the_projection_reads_only_allow_listed_fields() {
        let out = project(&event(EventKind::Result, "GLU", "5.2"));
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Observation::Result { test, .. } if test.as_str() == "GLU"));
        let out = project(&event(EventKind::Qc, "GLU", "5.2"));
        assert!(matches!(&out[0], Observation::Qc { sample, .. } if sample.value == 5.2));
        // A canary in the code or a QC value is refused, not passed on.
        assert_eq!(
            project(&event(EventKind::Result, &format!("{CANARY}^X"), "1")),
            [Observation::Refused]
        );
        assert_eq!(
            project(&event(EventKind::Qc, "GLU", CANARY)),
            [Observation::Refused]
        );
        for kind in [
            EventKind::Result,
            EventKind::Qc,
            EventKind::Order,
            EventKind::Status,
        ] {
            let text = format!("{:?}", project(&event(kind, "GLU", "5.2")));
            assert!(!text.contains("QZX"), "{text}");
        }
    }

    #[test]
    fn status_events_give_only_closed_device_states() {
        let status = |state: &str| {
            let mut e = event(EventKind::Status, "GLU", "5.2");
            e.observations.clear();
            e.status = Some(labwire_event::Status {
                state: state.into(),
                detail: Some(format!("{CANARY} reading 9.1 Cel")),
            });
            project(&e)
        };
        let c311 = InstrumentRef::new("c311").unwrap();
        for (state, expected) in [
            ("alarm-high", DeviceState::AlarmRaised),
            ("alarm-low", DeviceState::AlarmRaised),
            ("alarm-cleared", DeviceState::AlarmCleared),
            ("down", DeviceState::Down),
            ("up", DeviceState::Up),
        ] {
            assert_eq!(
                status(state),
                [Observation::Device {
                    instrument: c311.clone(),
                    state: expected
                }],
                "{state}"
            );
        }
        for state in [
            "connected",
            "disconnected",
            CANARY,
            "ALARM-HIGH",
            "alarm-high ",
        ] {
            assert_eq!(status(state), [], "{state}");
        }
    }

    #[test]
    fn message_time_gives_the_clock_skew() {
        let mut e = event(EventKind::Result, "GLU", "5.2");
        // received_at is 2026-12-03T09:10:00Z.
        e.message_time = Some("2026-12-03T10:20:30+01:00".into());
        let out = project(&e);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1],
            Observation::Clock {
                instrument: InstrumentRef::new("c311").unwrap(),
                skew_s: 630
            }
        );
        // Day precision tells nothing about the clock.
        e.message_time = Some("2026-12-03".into());
        assert_eq!(project(&e).len(), 1);
        e.message_time = Some("garbage-but-long-enough".into());
        assert_eq!(project(&e).len(), 1);
        // Without an offset: the edge's zone.
        let local = jiff::Timestamp::from_second(1_796_288_400) // 2026-12-03T09:00:00Z
            .unwrap()
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .datetime();
        e.message_time = Some(local.to_string());
        assert!(
            matches!(project(&e)[1], Observation::Clock { skew_s: -600, .. }),
            "{:?}",
            project(&e)
        );
    }

    #[test]
    fn the_link_book_reports_registered_instruments_with_their_event_counts() {
        let book = LinkBook::default();
        let counters = EventCounters::default();
        let id: InstrumentId = "c311".parse().unwrap();
        book.register(id.clone(), EventProtocol::Hl7, LinkHealth::new());
        counters.record(&id, EventKind::Result);
        counters.record(&id, EventKind::Result);
        counters.record(&id, EventKind::Qc);
        counters.record(&"other".parse().unwrap(), EventKind::Result);
        let snaps = book.snapshots(&counters);
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].instrument.as_str(), "c311");
        assert_eq!(snaps[0].protocol, labwire_uplink::record::Protocol::Hl7);
        assert!(!snaps[0].link_up);
        assert_eq!(snaps[0].events.result, 2);
        assert_eq!(snaps[0].events.qc, 1);
        assert_eq!(snaps[0].last_message_at, None);
    }
}
