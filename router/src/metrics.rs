//! Prometheus metrics: a pull-based registry rendered in the text exposition format (0.0.4).
//!
//! The router ([`RouterStats`]) and the connectors keep lock-free counters and hand out
//! snapshots; nothing is recorded through a global recorder. At each scrape of `/metrics`,
//! every registered [`MetricsSource`] writes its current values into a [`MetricsWriter`], which
//! groups samples by metric family and renders the text. This avoids a second copy of every
//! counter, and lets `/metrics`, `/healthz` and `/readyz` share one small listener
//! ([`crate::health`]).
//!
//! Metric names (all prefixed `labwire_`; no patient data in any label or value):
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `labwire_events_published_total` | counter | | events stored in JetStream straight from the gate |
//! | `labwire_events_deduplicated_total` | counter | | publishes JetStream already had (same event id) |
//! | `labwire_events_spooled_total` | counter | | events committed to the spool (bus down or slow) |
//! | `labwire_events_drained_total` | counter | | spooled events republished and acked |
//! | `labwire_events_drained_beyond_window_total` | counter | | of those, events older than the stream's duplicate window (a consumer may see them twice) |
//! | `labwire_events_refused_total` | counter | | events refused because the spool was full |
//! | `labwire_status_dropped_total` | counter | | status events neither published nor spooled |
//! | `labwire_spool_depth` | gauge | | events waiting in the spool |
//! | `labwire_spool_bytes` | gauge | | payload bytes waiting in the spool |
//! | `labwire_gate_latency_seconds` | histogram | | time from submit to receipt (durable) |
//! | `labwire_events_total` | counter | `instrument`, `kind` | events produced, per instrument and kind |
//! | `labwire_link_messages_total` | counter | `instrument`, `protocol` | messages received on the link |
//! | `labwire_link_naks_sent_total` | counter | `instrument`, `protocol` | NAKs / negative acks labwire sent |
//! | `labwire_link_naks_received_total` | counter | `instrument`, `protocol` | NAKs the instrument sent |
//! | `labwire_link_retransmits_total` | counter | `instrument`, `protocol` | frames labwire sent again |
//! | `labwire_link_parse_errors_total` | counter | `instrument`, `protocol` | messages rejected as malformed |
//! | `labwire_link_checksum_errors_total` | counter | `instrument`, `protocol` | frames with a bad checksum or frame number |
//! | `labwire_link_timeouts_total` | counter | `instrument`, `protocol` | protocol timer expiries |
//! | `labwire_link_reconnects_total` | counter | `instrument`, `protocol` | connections (re)established |
//! | `labwire_link_noise_suppressed_total` | counter | `instrument`, `protocol` | connection churn, refused peers and rejected input not published (noise budget) |
//! | `labwire_link_connected` | gauge | `instrument`, `protocol` | 1 while the instrument is connected |
//! | `labwire_bus_connected` | gauge | | 1 while the NATS connection is up |

use crate::stats::{LATENCY_BOUNDS_US, RouterStats};
use labwire_event::{EventKind, InstrumentId};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Bucketed observations.
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

struct Family {
    help: &'static str,
    kind: MetricType,
    samples: String,
}

/// Collects samples during one scrape and renders them, one `# HELP`/`# TYPE` per family.
#[derive(Default)]
pub struct MetricsWriter {
    families: BTreeMap<&'static str, Family>,
}

impl MetricsWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    fn family(&mut self, name: &'static str, help: &'static str, kind: MetricType) -> &mut String {
        &mut self
            .families
            .entry(name)
            .or_insert_with(|| Family {
                help,
                kind,
                samples: String::new(),
            })
            .samples
    }

    /// Writes one counter sample.
    pub fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: u64,
    ) {
        let line = format!("{name}{} {value}\n", render_labels(labels));
        self.family(name, help, MetricType::Counter).push_str(&line);
    }

    /// Writes one gauge sample.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let line = format!("{name}{} {value}\n", render_labels(labels));
        self.family(name, help, MetricType::Gauge).push_str(&line);
    }

    /// Writes one histogram: `bounds` are the upper bounds (in the metric's unit) and `counts`
    /// the per-bucket (not cumulative) counts, one more than `bounds` for the `+Inf` bucket.
    pub fn histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) {
        let mut out = String::new();
        let mut cumulative = 0u64;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("le", &le));
            let _ = writeln!(out, "{name}_bucket{} {cumulative}", render_labels(&l));
        }
        let lbl = render_labels(labels);
        let _ = writeln!(out, "{name}_sum{lbl} {sum}");
        let _ = writeln!(out, "{name}_count{lbl} {cumulative}");
        self.family(name, help, MetricType::Histogram)
            .push_str(&out);
    }

    /// The text exposition of everything written.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, f) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {}", f.kind.as_str());
            out.push_str(&f.samples);
        }
        out
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Something that writes its current values at scrape time.
pub trait MetricsSource: Send + Sync {
    /// Writes the current values.
    fn write(&self, w: &mut MetricsWriter);
}

impl<F: Fn(&mut MetricsWriter) + Send + Sync> MetricsSource for F {
    fn write(&self, w: &mut MetricsWriter) {
        self(w);
    }
}

/// The registry `/metrics` renders. Cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics {
    sources: Arc<RwLock<Vec<Arc<dyn MetricsSource>>>>,
    events: EventCounters,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty registry (with the per-instrument event counters).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source rendered at every scrape.
    pub fn register(&self, source: impl MetricsSource + 'static) {
        if let Ok(mut s) = self.sources.write() {
            s.push(Arc::new(source));
        }
    }

    /// Adds the router's gate, spool and drain counters.
    pub fn register_router(&self, stats: Arc<RouterStats>) {
        self.register(move |w: &mut MetricsWriter| write_router_stats(w, &stats));
    }

    /// The per-instrument, per-kind event counters (`labwire_events_total`).
    pub fn events(&self) -> &EventCounters {
        &self.events
    }

    /// Renders every source in the text exposition format.
    pub fn render(&self) -> String {
        let mut w = MetricsWriter::new();
        self.events.write(&mut w);
        let sources: Vec<Arc<dyn MetricsSource>> =
            self.sources.read().map(|s| s.clone()).unwrap_or_default();
        for s in sources {
            s.write(&mut w);
        }
        w.render()
    }
}

/// Events produced per instrument and kind.
#[derive(Clone, Default)]
pub struct EventCounters {
    counts: Arc<Mutex<HashMap<(InstrumentId, EventKind), u64>>>,
}

impl EventCounters {
    /// Counts one event.
    pub fn record(&self, instrument: &InstrumentId, kind: EventKind) {
        if let Ok(mut m) = self.counts.lock() {
            *m.entry((instrument.clone(), kind)).or_default() += 1;
        }
    }

    /// The counts of one instrument, by kind (kinds with no event are absent).
    pub fn of(&self, instrument: &InstrumentId) -> Vec<(EventKind, u64)> {
        self.counts
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|((i, _), _)| i == instrument)
                    .map(|((_, k), n)| (*k, *n))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn write(&self, w: &mut MetricsWriter) {
        let mut rows: Vec<((InstrumentId, EventKind), u64)> = self
            .counts
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        rows.sort_by(|a, b| {
            (a.0.0.as_str(), a.0.1.as_str()).cmp(&(b.0.0.as_str(), b.0.1.as_str()))
        });
        for ((instrument, kind), n) in rows {
            w.counter(
                "labwire_events_total",
                "Events produced, per instrument and kind.",
                &[("instrument", instrument.as_str()), ("kind", kind.as_str())],
                n,
            );
        }
    }
}

/// Link figures of one instrument for `/metrics`, as a connector reports them (the totals of
/// the connectors' per-connection `LinkCounters` plus messages and parse errors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkMetrics {
    /// Messages received on the link.
    pub messages: u64,
    /// NAKs / negative acks labwire sent.
    pub naks_sent: u64,
    /// NAKs the instrument sent.
    pub naks_received: u64,
    /// Frames labwire sent again.
    pub retransmits: u64,
    /// Messages rejected as malformed.
    pub parse_errors: u64,
    /// Frames with a bad checksum or frame number.
    pub checksum_errors: u64,
    /// Protocol timer expiries.
    pub timeouts: u64,
    /// Connections (re)established.
    pub reconnects: u64,
    /// Whether the instrument is connected now.
    pub connected: bool,
    /// Noise events (connection churn, refused peers, rejected input) the noise budget held
    /// back.
    pub noise_suppressed: u64,
}

/// Writes the `labwire_link_*` families for one instrument.
pub fn write_link_counters(
    w: &mut MetricsWriter,
    instrument: &str,
    protocol: &str,
    c: &LinkMetrics,
) {
    let l = [("instrument", instrument), ("protocol", protocol)];
    w.counter(
        "labwire_link_messages_total",
        "Messages received on the instrument link.",
        &l,
        c.messages,
    );
    w.counter(
        "labwire_link_naks_sent_total",
        "NAKs or negative acks labwire sent.",
        &l,
        c.naks_sent,
    );
    w.counter(
        "labwire_link_naks_received_total",
        "NAKs the instrument sent.",
        &l,
        c.naks_received,
    );
    w.counter(
        "labwire_link_retransmits_total",
        "Frames labwire sent again.",
        &l,
        c.retransmits,
    );
    w.counter(
        "labwire_link_parse_errors_total",
        "Messages rejected as malformed.",
        &l,
        c.parse_errors,
    );
    w.counter(
        "labwire_link_checksum_errors_total",
        "Frames with a bad checksum or frame number.",
        &l,
        c.checksum_errors,
    );
    w.counter(
        "labwire_link_timeouts_total",
        "Protocol timer expiries.",
        &l,
        c.timeouts,
    );
    w.counter(
        "labwire_link_noise_suppressed_total",
        "Connection churn, refused peers and rejected input not published (noise budget).",
        &l,
        c.noise_suppressed,
    );
    w.counter(
        "labwire_link_reconnects_total",
        "Connections (re)established.",
        &l,
        c.reconnects,
    );
    w.gauge(
        "labwire_link_connected",
        "1 while the instrument is connected.",
        &l,
        if c.connected { 1.0 } else { 0.0 },
    );
}

/// Writes the router's counters, gauges and gate-latency histogram.
pub fn write_router_stats(w: &mut MetricsWriter, stats: &RouterStats) {
    let s = stats.snapshot();
    w.counter(
        "labwire_events_published_total",
        "Events stored in JetStream straight from the gate.",
        &[],
        s.published,
    );
    w.counter(
        "labwire_events_deduplicated_total",
        "Publishes JetStream already had under the same event id.",
        &[],
        s.deduplicated,
    );
    w.counter(
        "labwire_events_spooled_total",
        "Events committed to the spool.",
        &[],
        s.spooled,
    );
    w.counter(
        "labwire_events_drained_total",
        "Spooled events republished and acked.",
        &[],
        s.drained,
    );
    w.counter(
        "labwire_events_drained_beyond_window_total",
        "Spooled events republished after waiting longer than the stream's duplicate window.",
        &[],
        s.drained_beyond_window,
    );
    w.counter(
        "labwire_events_refused_total",
        "Events refused because the spool was full.",
        &[],
        s.refused,
    );
    w.counter(
        "labwire_status_dropped_total",
        "Status events that could neither be published nor spooled.",
        &[],
        s.status_dropped,
    );
    w.gauge(
        "labwire_spool_depth",
        "Events waiting in the spool.",
        &[],
        s.spool_depth as f64,
    );
    w.gauge(
        "labwire_spool_bytes",
        "Payload bytes waiting in the spool.",
        &[],
        s.spool_bytes as f64,
    );
    let bounds: Vec<f64> = LATENCY_BOUNDS_US
        .iter()
        .map(|us| *us as f64 / 1e6)
        .collect();
    w.histogram(
        "labwire_gate_latency_seconds",
        "Time from submit to a durable receipt (bus ack or spool commit).",
        &[],
        &bounds,
        &stats.gate_latency.bucket_counts(),
        stats.gate_latency.sum().as_secs_f64(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn router_stats_render_as_prometheus_text() {
        let stats = Arc::new(RouterStats::default());
        RouterStats::add(&stats.published, 3);
        stats.gate_latency.record(Duration::from_micros(300));
        stats.gate_latency.record(Duration::from_secs(60));
        let m = Metrics::new();
        m.register_router(Arc::clone(&stats));
        let text = m.render();
        assert!(
            text.contains(
                "# TYPE labwire_events_published_total counter\nlabwire_events_published_total 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("labwire_gate_latency_seconds_bucket{le=\"0.00025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("labwire_gate_latency_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("labwire_gate_latency_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("labwire_gate_latency_seconds_count 2\n"),
            "{text}"
        );
        assert!(
            text.contains("labwire_gate_latency_seconds_sum 60.0003\n"),
            "{text}"
        );
    }

    #[test]
    fn families_are_declared_once_with_all_their_labelled_samples() {
        let m = Metrics::new();
        let a = InstrumentId::new("c311").unwrap();
        let b = InstrumentId::new("ba400").unwrap();
        m.events().record(&a, EventKind::Result);
        m.events().record(&a, EventKind::Result);
        m.events().record(&b, EventKind::Qc);
        m.register(|w: &mut MetricsWriter| {
            write_link_counters(
                w,
                "c311",
                "astm",
                &LinkMetrics {
                    naks_sent: 2,
                    connected: true,
                    ..Default::default()
                },
            );
            write_link_counters(w, "ba400", "hl7", &LinkMetrics::default());
        });
        let text = m.render();
        assert_eq!(
            text.matches("# TYPE labwire_events_total counter").count(),
            1
        );
        assert!(text.contains("labwire_events_total{instrument=\"ba400\",kind=\"qc\"} 1\nlabwire_events_total{instrument=\"c311\",kind=\"result\"} 2\n"), "{text}");
        assert_eq!(
            text.matches("# TYPE labwire_link_naks_sent_total counter")
                .count(),
            1
        );
        assert!(
            text.contains(
                "labwire_link_naks_sent_total{instrument=\"c311\",protocol=\"astm\"} 2\n"
            )
        );
        assert!(text.contains("labwire_link_connected{instrument=\"c311\",protocol=\"astm\"} 1\n"));
        assert!(text.contains("labwire_link_connected{instrument=\"ba400\",protocol=\"hl7\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut w = MetricsWriter::new();
        w.counter("x_total", "x", &[("l", "a\"b\\c\nd")], 1);
        assert!(w.render().contains("x_total{l=\"a\\\"b\\\\c\\nd\"} 1\n"));
    }
}
