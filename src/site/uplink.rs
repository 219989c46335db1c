//! The site's uplink: starts `labwire-uplink` when `[uplink]` is configured, feeds it the
//! allow-listed projection of each stored event, and exports its metrics (docs/uplink.md).
//!
//! [`project`] is the only place an instrument event meets the uplink. It reads the event's
//! kind, its configured instrument id, its arrival time at the edge and, per observation, the
//! test code — plus, for QC events only, the value and unit. Patient, specimen, sender,
//! comment, query, error and raw fields are never read, and the codes must pass the uplink's
//! patterns before they are sent on.

use labwire_event::{Event, EventKind};
use labwire_router::Router;
use labwire_router::config::{SiteConfig, UplinkSettings};
use labwire_router::metrics::{Metrics, MetricsWriter};
use labwire_uplink::outbox::OutboxLimits;
use labwire_uplink::service::{
    DEFAULT_ALERT_FILL_PERCENT, EdgeState, Observation, Probe, UplinkConfig, UplinkError,
    UplinkInput, UplinkStats, start as start_uplink,
};
use labwire_uplink::summaries::QcSample;
use labwire_uplink::{InstrumentRef, SiteRef, TestCode, Version};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

/// The allow-listed projection of one stored event: a count per result, a typed sample per QC
/// result, nothing for any other kind.
pub fn project(event: &Event) -> Vec<Observation> {
    let Ok(instrument) = InstrumentRef::new(event.instrument.as_str()) else {
        return Vec::new();
    };
    let at = event.received_at;
    match event.kind {
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
        _ => Vec::new(),
    }
}

/// Spool depth and bus state from the router.
struct RouterProbe {
    router_bus: labwire_router::Bus,
    spool: Arc<labwire_router::Spool>,
    instruments: u32,
}

impl Probe for RouterProbe {
    fn edge(&self) -> EdgeState {
        EdgeState {
            spool_depth: self.spool.depth(),
            bus_connected: self.router_bus.is_connected(),
            instruments: self.instruments,
        }
    }

    fn instruments(&self) -> Vec<labwire_uplink::build::InstrumentSnapshot> {
        // Per-instrument health is not fed from the connectors yet (docs/uplink.md).
        Vec::new()
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
) -> Result<UplinkInput, StartError> {
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
        version: Version::new(env!("CARGO_PKG_VERSION"))?,
        config_hash,
    };
    let probe = RouterProbe {
        router_bus: router.bus().clone(),
        spool: Arc::clone(router.spool()),
        instruments: u32::try_from(config.instruments.iter().filter(|i| i.enabled).count())
            .unwrap_or(u32::MAX),
    };
    let uplink = start_uplink(uplink_config, Arc::new(probe), shutdown).await?;
    let stats = Arc::clone(&uplink.stats);
    metrics.register(move |w: &mut MetricsWriter| write_metrics(w, &stats));
    tracing::info!(
        broker = %settings.url.host,
        outbox = %settings.outbox.display(),
        "uplink started"
    );
    Ok(uplink.input)
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
}
