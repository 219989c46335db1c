//! What the console and `GET /api/sites` show: stored facts turned into separate, truthful
//! fields at a given `now` (shared conventions §8: `site`, `online`, `last_seen`, `version`,
//! `instruments[{id, protocol, state}]`, plus more).

use crate::fleet::{Policy, ShownState, data_age_s};
use crate::store::SiteRow;
use labwire_uplink::record::InstrumentState;
use serde::Serialize;

/// One site as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteView {
    /// Site id.
    pub site: String,
    /// Online by heartbeat age with hysteresis (see [`crate::fleet`]).
    pub online: bool,
    /// When the hub last received anything from the site (RFC 3339 UTC).
    pub last_seen: String,
    /// When the hub last received a fresh heartbeat, if ever.
    pub last_heartbeat: Option<String>,
    /// labwire version from the newest heartbeat.
    pub version: Option<String>,
    /// SHA-256 of the site configuration, from the newest heartbeat.
    pub config_hash: Option<String>,
    /// Seconds since labwire started, as of the newest heartbeat.
    pub uptime_s: Option<i64>,
    /// The site's local bus (`connected` / `disconnected`) as of the newest heartbeat.
    pub bus: Option<String>,
    /// Events waiting in the site's spool, as of the newest heartbeat.
    pub spool_depth: Option<i64>,
    /// Records waiting in the site's outbox, as of the newest heartbeat.
    pub outbox_depth: Option<i64>,
    /// Records the site's outbox dropped, as of the newest heartbeat.
    pub outbox_dropped: Option<i64>,
    /// Instruments of the newest health report.
    pub instruments: Vec<InstrumentView>,
    /// Instruments shown `up`.
    pub instruments_up: usize,
    /// Open alerts, oldest first.
    pub alerts: Vec<AlertView>,
}

/// One instrument as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstrumentView {
    /// Instrument id.
    pub id: String,
    /// Protocol.
    pub protocol: String,
    /// `up`, `down`, `alarm`, or `unknown` while the site is offline or the report is stale.
    pub state: ShownState,
    /// What the site last reported, whatever its age.
    pub reported_state: String,
    /// When that report was made (RFC 3339 UTC).
    pub reported_at: String,
    /// Seconds since the instrument last sent anything, as of now; absent before its first.
    pub data_age_s: Option<i64>,
    /// Link counters since the site's labwire started.
    pub link: LinkView,
}

/// Link counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkView {
    /// NAKs.
    pub naks: i64,
    /// Retransmits.
    pub retransmits: i64,
    /// Checksum errors.
    pub checksum_errors: i64,
    /// Reconnects.
    pub reconnects: i64,
    /// Timeouts.
    pub timeouts: i64,
}

/// One open alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    /// The alert kind that raised it (`instrument_down`, …).
    pub alert: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The instrument, if any.
    pub instrument: Option<String>,
    /// The alert's number (meaning per kind).
    pub value: Option<i64>,
    /// When the site raised it (RFC 3339 UTC).
    pub raised_at: String,
}

/// RFC 3339 UTC of milliseconds since the epoch.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

fn reported(state: &str) -> InstrumentState {
    match state {
        "up" => InstrumentState::Up,
        "alarm" => InstrumentState::Alarm,
        _ => InstrumentState::Down,
    }
}

impl SiteView {
    /// The view of stored facts at `now_ms`.
    pub fn new(row: SiteRow, policy: &Policy, now_ms: i64) -> Self {
        let online = policy.online(row.last_fresh_hb_ms, now_ms);
        let instruments: Vec<InstrumentView> = row
            .instruments
            .into_iter()
            .map(|i| InstrumentView {
                state: policy.shown_state(online, reported(&i.state), i.health_at_ms, now_ms),
                data_age_s: data_age_s(i.last_message_age_s, i.health_at_ms, now_ms),
                reported_at: rfc3339(i.health_at_ms),
                id: i.instrument,
                protocol: i.protocol,
                reported_state: i.state,
                link: LinkView {
                    naks: i.naks,
                    retransmits: i.retransmits,
                    checksum_errors: i.checksum_errors,
                    reconnects: i.reconnects,
                    timeouts: i.timeouts,
                },
            })
            .collect();
        Self {
            online,
            last_seen: rfc3339(row.last_seen_ms),
            last_heartbeat: row.last_fresh_hb_ms.map(rfc3339),
            version: row.version,
            config_hash: row.config_hash,
            uptime_s: row.uptime_s,
            bus: row.bus,
            spool_depth: row.spool_depth,
            outbox_depth: row.outbox_depth,
            outbox_dropped: row.outbox_dropped,
            instruments_up: instruments
                .iter()
                .filter(|i| i.state == ShownState::Up)
                .count(),
            instruments,
            alerts: row
                .alerts
                .into_iter()
                .map(|a| AlertView {
                    alert: a.alert,
                    severity: a.severity,
                    instrument: (!a.instrument.is_empty()).then_some(a.instrument),
                    value: a.value,
                    raised_at: rfc3339(a.at_ms),
                })
                .collect(),
            site: row.site,
        }
    }
}
