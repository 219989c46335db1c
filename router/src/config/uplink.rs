//! `[uplink]`: de-identified telemetry to the regional hub over MQTT (shared conventions §7,
//! docs/uplink.md). Defaults and limits come from `labwire-uplink`, the code that uses them.

use super::checks::{duration, integer, size};
use super::error::Collector;
use super::units::{ByteSize, HumanDuration};
use labwire_uplink::broker::{BrokerUrl, TlsFiles};
use labwire_uplink::outbox::{DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES};
use labwire_uplink::service::{DEFAULT_DRAIN_RATE, DEFAULT_INTERVAL, DEFAULT_MAX_INFLIGHT};
use labwire_uplink::volume::{DEFAULT_MIN_CELL, MIN_CELL_FLOOR};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

type S<T> = Option<Spanned<T>>;

/// The outbox file name next to the spool when `[uplink] outbox` is not set.
pub const DEFAULT_OUTBOX_FILE: &str = "outbox.db";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUplink {
    pub url: S<String>,
    pub interval: S<HumanDuration>,
    pub ca_file: S<String>,
    pub cert_file: S<String>,
    pub key_file: S<String>,
    pub outbox: S<String>,
    pub outbox_max_bytes: S<ByteSize>,
    pub outbox_max_age: S<HumanDuration>,
    pub drain_rate: S<u32>,
    pub max_inflight: S<u16>,
    pub min_cell: S<u64>,
}

/// The validated `[uplink]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkSettings {
    /// The hub's broker.
    pub url: BrokerUrl,
    /// Mutual-TLS files (present exactly when the url is `mqtts://`).
    pub tls: Option<TlsFiles>,
    /// How often heartbeat and health are made.
    pub interval: Duration,
    /// The outbox file.
    pub outbox: PathBuf,
    /// Outbox byte limit.
    pub outbox_max_bytes: u64,
    /// Outbox age limit.
    pub outbox_max_age: Duration,
    /// Backlog records per second after an outage.
    pub drain_rate: u32,
    /// Un-acked publishes at most.
    pub max_inflight: u16,
    /// Minimum volume cell size.
    pub min_cell: u64,
}

fn path(c: &mut Collector<'_>, v: &S<String>, key: &str) -> Option<PathBuf> {
    let v = v.as_ref()?;
    if v.get_ref().trim().is_empty() {
        c.at(v.span(), format!("uplink.{key} is empty"));
        return None;
    }
    Some(PathBuf::from(v.get_ref()))
}

/// Validates `[uplink]`; `spool` is the spool file, next to which the outbox goes by default.
/// `section` is the span of the `uplink` key, for errors about the section as a whole.
pub(crate) fn uplink(
    c: &mut Collector<'_>,
    u: RawUplink,
    section: std::ops::Range<usize>,
    spool: &Path,
) -> Option<UplinkSettings> {
    let Some(url_value) = &u.url else {
        c.at(section, "[uplink] needs url = \"mqtts://HOST:PORT\"");
        return None;
    };
    let url = match BrokerUrl::parse(url_value.get_ref().trim()) {
        Ok(url) => Some(url),
        Err(e) => {
            c.at(url_value.span(), format!("uplink.url: {e}"));
            None
        }
    };
    let ca = path(c, &u.ca_file, "ca_file");
    let cert = path(c, &u.cert_file, "cert_file");
    let key = path(c, &u.key_file, "key_file");
    let tls = match (ca, cert, key) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca, cert, key }),
        (None, None, None) => None,
        _ => {
            c.at(
                url_value.span(),
                "uplink: ca_file, cert_file and key_file go together (mutual TLS)",
            );
            None
        }
    };
    if let Some(url) = &url {
        if url.tls && tls.is_none() {
            c.at(
                url_value.span(),
                "uplink.url is mqtts://: set ca_file, cert_file and key_file",
            );
        }
        if !url.tls && tls.is_some() {
            c.at(
                url_value.span(),
                "uplink TLS files are set but the url is mqtt://; use mqtts://",
            );
        }
    }
    let outbox = path(c, &u.outbox, "outbox").unwrap_or_else(|| {
        spool
            .parent()
            .unwrap_or(Path::new(""))
            .join(DEFAULT_OUTBOX_FILE)
    });
    let settings = UplinkSettings {
        url: url?,
        tls,
        interval: duration(
            c,
            &u.interval,
            "uplink.interval",
            DEFAULT_INTERVAL,
            (Duration::from_secs(5), Duration::from_secs(3600)),
        ),
        outbox,
        outbox_max_bytes: size(
            c,
            &u.outbox_max_bytes,
            "uplink.outbox_max_bytes",
            DEFAULT_MAX_BYTES,
            (1 << 20, 1 << 40),
        ),
        outbox_max_age: duration(
            c,
            &u.outbox_max_age,
            "uplink.outbox_max_age",
            DEFAULT_MAX_AGE,
            (Duration::from_secs(3600), Duration::from_secs(365 * 86_400)),
        ),
        drain_rate: integer(
            c,
            &u.drain_rate,
            "uplink.drain_rate",
            DEFAULT_DRAIN_RATE,
            (1, 10_000),
        ),
        max_inflight: integer(
            c,
            &u.max_inflight,
            "uplink.max_inflight",
            DEFAULT_MAX_INFLIGHT,
            (1, 1_000),
        ),
        min_cell: integer(
            c,
            &u.min_cell,
            "uplink.min_cell",
            DEFAULT_MIN_CELL,
            (MIN_CELL_FLOOR, 1_000),
        ),
    };
    Some(settings)
}
