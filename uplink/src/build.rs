//! The allow-list builders: one function per record kind, each reading only the typed fields it
//! names. Everything else a caller might have (a patient, a specimen, a comment, the raw
//! message) has no parameter to go through.

use crate::code::{InstrumentRef, SiteRef, Version};
use crate::id::seal;
use crate::record::{
    Alert, AlertKind, Body, BusState, ConfigHash, EventCounts, Health, Heartbeat, InstrumentHealth,
    InstrumentState, LinkCounts, Protocol, Record, Severity,
};

/// What a heartbeat reports about the edge.
#[derive(Debug, Clone)]
pub struct EdgeSnapshot {
    /// labwire version.
    pub version: Version,
    /// When labwire started.
    pub started: jiff::Timestamp,
    /// SHA-256 of the site configuration file.
    pub config_hash: [u8; 32],
    /// Events in the spool.
    pub spool_depth: u64,
    /// Records in the outbox.
    pub outbox_depth: u64,
    /// Records the outbox dropped since start.
    pub outbox_dropped: u64,
    /// Whether the local bus is connected.
    pub bus_connected: bool,
    /// Enabled instruments.
    pub instruments: u32,
}

/// Builds a `heartbeat`.
pub fn heartbeat(site: &SiteRef, at: jiff::Timestamp, edge: &EdgeSnapshot) -> Record {
    let uptime_s =
        u64::try_from(at.as_second().saturating_sub(edge.started.as_second())).unwrap_or(0);
    seal(
        site,
        at,
        Body::Heartbeat(Heartbeat {
            version: edge.version.clone(),
            uptime_s,
            config_hash: ConfigHash(edge.config_hash),
            spool_depth: edge.spool_depth,
            outbox_depth: edge.outbox_depth,
            outbox_dropped: edge.outbox_dropped,
            bus: if edge.bus_connected {
                BusState::Connected
            } else {
                BusState::Disconnected
            },
            instruments: edge.instruments,
        }),
    )
}

/// What a health record reports about one instrument: counters and states only.
#[derive(Debug, Clone)]
pub struct InstrumentSnapshot {
    /// The configured instrument id.
    pub instrument: InstrumentRef,
    /// Its protocol.
    pub protocol: Protocol,
    /// Whether its link is up.
    pub link_up: bool,
    /// Whether a device alarm is raised.
    pub alarm: bool,
    /// Events by kind since start.
    pub events: EventCounts,
    /// Link counters.
    pub link: LinkCounts,
    /// When its last message arrived (edge clock).
    pub last_message_at: Option<jiff::Timestamp>,
}

/// Builds a `health` record (instruments sorted by id).
pub fn health(site: &SiteRef, at: jiff::Timestamp, instruments: &[InstrumentSnapshot]) -> Record {
    let mut list: Vec<InstrumentHealth> = instruments
        .iter()
        .map(|i| InstrumentHealth {
            instrument: i.instrument.clone(),
            protocol: i.protocol,
            state: match (i.link_up, i.alarm) {
                (false, _) => InstrumentState::Down,
                (true, true) => InstrumentState::Alarm,
                (true, false) => InstrumentState::Up,
            },
            events: i.events,
            link: i.link,
            last_message_age_s: i
                .last_message_at
                .map(|t| u64::try_from(at.as_second() - t.as_second()).unwrap_or(0)),
        })
        .collect();
    list.sort_by(|a, b| a.instrument.cmp(&b.instrument));
    seal(site, at, Body::Health(Health { instruments: list }))
}

/// Builds an `alert`.
pub fn alert(
    site: &SiteRef,
    at: jiff::Timestamp,
    alert: AlertKind,
    severity: Severity,
    instrument: Option<&InstrumentRef>,
    value: Option<i64>,
) -> Record {
    seal(
        site,
        at,
        Body::Alert(Alert {
            alert,
            severity,
            instrument: instrument.cloned(),
            value,
        }),
    )
}

/// Builds a clock-skew alert; the skew is rounded to whole minutes so it cannot carry a
/// message's exact time.
pub fn clock_skew(
    site: &SiteRef,
    at: jiff::Timestamp,
    instrument: &InstrumentRef,
    skew_s: i64,
) -> Record {
    let minutes = (skew_s as f64 / 60.0).round() as i64;
    alert(
        site,
        at,
        AlertKind::ClockSkew,
        Severity::Warning,
        Some(instrument),
        Some(minutes.saturating_mul(60)),
    )
}
