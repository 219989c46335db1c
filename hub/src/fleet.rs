//! Fleet state that tells the truth about flaky edges: pure functions of stored facts and
//! `now`, so they are tested on fake time and every hub replica computes the same answer.
//!
//! - **Online / offline, with hysteresis.** A site goes offline when no *fresh* heartbeat has
//!   arrived for `offline_after_missed × heartbeat_interval` (default 3 × 60 s): a laptop that
//!   sleeps for a minute misses one or two heartbeats and stays online. It is online again only
//!   after a fresh heartbeat: one whose `at` is within one interval of the time the hub received
//!   it. Heartbeats from a backlog (a site draining its outbox after an outage) are stored but
//!   are not fresh, so they neither flip the site online nor make it look current.
//! - **Offline overrides healthy.** While a site is offline every instrument's state is shown as
//!   `unknown` (the last report stays visible as `reported_state` with its time); an instrument
//!   whose last health report is older than the offline threshold is `unknown` too.
//! - **Alerts are conditions, not a stream.** Each alert kind raises or clears one condition
//!   per site and instrument; the newest record (by its `at`) decides, so a backlog arriving
//!   after days replays history into the right end state instead of an alarm storm.

use labwire_uplink::record::{Alert, AlertKind, InstrumentState, Severity};
use std::time::Duration;

/// Liveness thresholds (`[fleet]` in the hub config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How often sites send a heartbeat (their `[uplink] interval`).
    pub heartbeat_interval: Duration,
    /// Missed heartbeats after which a site is offline.
    pub offline_after_missed: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            heartbeat_interval: crate::limits::DEFAULT_HEARTBEAT_INTERVAL,
            offline_after_missed: crate::limits::DEFAULT_OFFLINE_AFTER_MISSED,
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Policy {
    /// Silence after which a site is offline, in milliseconds.
    pub fn offline_after_ms(&self) -> i64 {
        ms(self.heartbeat_interval).saturating_mul(i64::from(self.offline_after_missed))
    }

    /// Whether a heartbeat made at `at_ms` and received at `received_ms` is fresh: made within
    /// one interval of its arrival (either side, for a site clock slightly off).
    pub fn is_fresh(&self, at_ms: i64, received_ms: i64) -> bool {
        received_ms.saturating_sub(at_ms).abs() <= ms(self.heartbeat_interval)
    }

    /// Whether a site whose last fresh heartbeat arrived at `last_fresh_ms` is online at `now_ms`.
    pub fn online(&self, last_fresh_ms: Option<i64>, now_ms: i64) -> bool {
        last_fresh_ms.is_some_and(|t| now_ms.saturating_sub(t) <= self.offline_after_ms())
    }

    /// The state to show for an instrument: the reported one only while the site is online
    /// and the report is not older than the offline threshold, else `Unknown`.
    pub fn shown_state(
        &self,
        site_online: bool,
        reported: InstrumentState,
        reported_at_ms: i64,
        now_ms: i64,
    ) -> ShownState {
        let report_current = now_ms.saturating_sub(reported_at_ms) <= self.offline_after_ms();
        match (site_online && report_current, reported) {
            (false, _) => ShownState::Unknown,
            (true, InstrumentState::Up) => ShownState::Up,
            (true, InstrumentState::Down) => ShownState::Down,
            (true, InstrumentState::Alarm) => ShownState::Alarm,
        }
    }
}

/// Seconds since an instrument last sent anything, as of `now`: its reported
/// `last_message_age_s` plus the age of the report.
pub fn data_age_s(
    last_message_age_s: Option<i64>,
    reported_at_ms: i64,
    now_ms: i64,
) -> Option<i64> {
    let report_age_s = now_ms.saturating_sub(reported_at_ms).max(0) / 1000;
    last_message_age_s.map(|a| a.saturating_add(report_age_s))
}

/// An instrument's state as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShownState {
    /// Link up, no alarm, reported while the site is online.
    Up,
    /// No link.
    Down,
    /// Device alarm raised.
    Alarm,
    /// The site is offline or the report is stale: the hub does not know.
    Unknown,
}

/// The condition an alert raises or clears: its name and whether it is open after the alert.
pub fn alert_condition(alert: &Alert) -> (&'static str, bool) {
    match alert.alert {
        AlertKind::InstrumentDown => ("instrument_down", true),
        AlertKind::InstrumentUp => ("instrument_down", false),
        AlertKind::DeviceAlarmRaised => ("device_alarm", true),
        AlertKind::DeviceAlarmCleared => ("device_alarm", false),
        AlertKind::SpoolFilling => ("spool_filling", alert.severity != Severity::Info),
        AlertKind::OutboxFilling => ("outbox_filling", alert.severity != Severity::Info),
        AlertKind::ClockSkew => ("clock_skew", alert.severity != Severity::Info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;
    const T0: i64 = 1_800_000_000_000;

    /// A fake clock: heartbeats every `interval` while awake, none while asleep; returns the
    /// online flag after each step of one second.
    fn simulate(awake: impl Fn(i64) -> bool, seconds: i64) -> Vec<bool> {
        let policy = Policy::default();
        let mut last_fresh = None;
        let mut out = Vec::new();
        for s in 0..seconds {
            let now = T0 + s * S;
            if s % 60 == 0 && awake(s) && policy.is_fresh(now, now) {
                last_fresh = Some(now);
            }
            out.push(policy.online(last_fresh, now));
        }
        out
    }

    #[test]
    fn a_site_that_sleeps_for_a_minute_never_flaps() {
        // Asleep from 90 s to 200 s: misses the heartbeats at 120 s and 180 s.
        let online = simulate(|s| !(90..200).contains(&s), 600);
        assert!(
            online.iter().all(|o| *o),
            "went offline during a short sleep"
        );
    }

    #[test]
    fn a_site_goes_offline_after_three_missed_heartbeats_and_back_on_the_next_fresh_one() {
        // Last heartbeat at 60 s, asleep until 400 s; heartbeat at 420 s.
        let online = simulate(|s| !(61..400).contains(&s), 500);
        let first_offline = online.iter().position(|o| !*o);
        assert_eq!(
            first_offline,
            Some(60 + 180 + 1),
            "offline exactly 3 intervals after the last heartbeat"
        );
        let back = online.iter().skip(241).position(|o| *o).map(|p| p + 241);
        assert_eq!(back, Some(420), "online again at the first fresh heartbeat");
        assert!(online.iter().skip(420).all(|o| *o));
    }

    #[test]
    fn a_backlog_heartbeat_is_not_fresh() {
        let p = Policy::default();
        assert!(p.is_fresh(T0, T0 + 59 * S));
        assert!(
            p.is_fresh(T0 + 30 * S, T0),
            "a site clock slightly ahead is tolerated"
        );
        assert!(
            !p.is_fresh(T0, T0 + 3600 * S),
            "made an hour before it arrived"
        );
        assert!(!p.online(None, T0), "never heard from: offline");
    }

    #[test]
    fn offline_overrides_an_older_healthy_report() {
        let p = Policy::default();
        let reported_at = T0;
        assert_eq!(
            p.shown_state(true, InstrumentState::Up, reported_at, T0 + 10 * S),
            ShownState::Up
        );
        assert_eq!(
            p.shown_state(false, InstrumentState::Up, reported_at, T0 + 10 * S),
            ShownState::Unknown
        );
        assert_eq!(
            p.shown_state(true, InstrumentState::Up, reported_at, T0 + 181 * S),
            ShownState::Unknown,
            "a report older than the offline threshold is not current even if the site is"
        );
        assert_eq!(
            p.shown_state(true, InstrumentState::Down, reported_at, T0),
            ShownState::Down
        );
    }

    #[test]
    fn data_age_grows_with_the_age_of_the_report() {
        assert_eq!(data_age_s(Some(5), T0, T0 + 60 * S), Some(65));
        assert_eq!(data_age_s(None, T0, T0 + 60 * S), None);
    }

    #[test]
    fn alerts_raise_and_clear_one_condition() {
        let a = |alert, severity| Alert {
            alert,
            severity,
            instrument: None,
            value: None,
        };
        assert_eq!(
            alert_condition(&a(AlertKind::InstrumentDown, Severity::Critical)),
            ("instrument_down", true)
        );
        assert_eq!(
            alert_condition(&a(AlertKind::InstrumentUp, Severity::Info)),
            ("instrument_down", false)
        );
        assert_eq!(
            alert_condition(&a(AlertKind::OutboxFilling, Severity::Warning)),
            ("outbox_filling", true)
        );
        assert_eq!(
            alert_condition(&a(AlertKind::OutboxFilling, Severity::Info)),
            ("outbox_filling", false)
        );
    }
}
