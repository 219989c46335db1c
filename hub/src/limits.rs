//! The hub's defaults and limits, in one place (docs/hub.md lists them).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// `[database] retention` when not set: records older than this (by their `at`) are deleted.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
/// `[http] listen` when the section is absent.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
/// `[fleet] heartbeat_interval` when not set: the sites' default `[uplink] interval`.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = labwire_uplink::service::DEFAULT_INTERVAL;
/// `[fleet] offline_after_missed` when not set.
pub const DEFAULT_OFFLINE_AFTER_MISSED: u32 = 3;
/// The largest MQTT packet the hub accepts (the edge's own limit).
pub const MAX_PACKET_BYTES: usize = labwire_uplink::broker::MAX_PACKET_BYTES;
/// How often expired records are deleted.
pub const RETENTION_SWEEP: Duration = Duration::from_secs(3600);
/// QC summaries drawn per site page (newest first).
pub const QC_POINTS_PER_PAGE: i64 = 2000;
/// How long the hub waits for the database on start-up and per statement.
pub const DB_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the database pool.
pub const DB_POOL_SIZE: u32 = 4;
/// The longest wait between two attempts to store a record the database refused.
pub const STORE_RETRY_MAX: Duration = Duration::from_secs(30);
/// `[mqtt] client_id` when not set. The session is persistent (`clean_session = false`), so
/// the broker keeps the hub's queue while it is down; replicas on one broker need distinct ids.
pub const DEFAULT_MQTT_CLIENT_ID: &str = "labwire-hub";
/// Longest wait between two connection attempts to the broker.
pub const MQTT_RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Un-acked QoS 1 publishes the hub holds at most.
pub const MQTT_INFLIGHT: u16 = 100;
