//! Counters of the hub, served as Prometheus text at `GET /metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The hub's counters (since start).
#[derive(Debug, Default)]
pub struct Metrics {
    /// MQTT publishes received.
    pub received: AtomicU64,
    /// Records stored (new ids).
    pub stored: AtomicU64,
    /// Records whose id was already stored.
    pub duplicates: AtomicU64,
    /// Payloads refused: not a valid `labwire.telemetry/v1` record.
    pub invalid: AtomicU64,
    /// Valid records on a topic that is not `labwire/<their site>/<their kind>`.
    pub wrong_topic: AtomicU64,
    /// Database write attempts that failed (and were retried).
    pub store_errors: AtomicU64,
    /// Records deleted by retention.
    pub pruned: AtomicU64,
    /// Subscribed to the sites' topics right now.
    pub subscribed: AtomicBool,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let c = |name: &str, help: &str, v: &AtomicU64| {
            format!(
                "# HELP labwire_hub_{name} {help}\n# TYPE labwire_hub_{name} counter\nlabwire_hub_{name} {}\n",
                v.load(Ordering::Relaxed)
            )
        };
        let mut out = String::new();
        out += &c("received_total", "MQTT publishes received.", &self.received);
        out += &c("stored_total", "Records stored.", &self.stored);
        out += &c(
            "duplicates_total",
            "Records already stored (same id).",
            &self.duplicates,
        );
        out += &c(
            "invalid_total",
            "Payloads that are not valid labwire.telemetry/v1 records.",
            &self.invalid,
        );
        out += &c(
            "wrong_topic_total",
            "Records on a topic that does not match their site and kind.",
            &self.wrong_topic,
        );
        out += &c(
            "store_errors_total",
            "Database writes that failed and were retried.",
            &self.store_errors,
        );
        out += &c(
            "pruned_total",
            "Records deleted by retention.",
            &self.pruned,
        );
        out += &format!(
            "# HELP labwire_hub_mqtt_subscribed 1 while subscribed to the sites' topics.\n# TYPE labwire_hub_mqtt_subscribed gauge\nlabwire_hub_mqtt_subscribed {}\n",
            u8::from(self.subscribed.load(Ordering::Relaxed))
        );
        out
    }
}
