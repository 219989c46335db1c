//! An instrument's link health on labwire's `/metrics` (`labwire_link_*`).

use crate::health::LinkHealth;

/// Publishes one instrument's link health on the router's `/metrics` (`labwire_link_*`
/// families, labels `instrument` and `protocol`; no patient data).
pub fn register_link_metrics(
    metrics: &labwire_router::metrics::Metrics,
    instrument: labwire_event::InstrumentId,
    protocol: labwire_event::Protocol,
    health: LinkHealth,
) {
    use labwire_router::metrics::{LinkMetrics, MetricsWriter, write_link_counters};
    metrics.register(move |w: &mut MetricsWriter| {
        let h = health.snapshot();
        let c = LinkMetrics {
            messages: h.messages,
            naks_sent: h.naks_sent,
            naks_received: h.naks_received,
            retransmits: h.retransmits,
            parse_errors: h.rejected,
            checksum_errors: h.checksum_errors,
            timeouts: h.timeouts,
            reconnects: h.connections,
            connected: h.connected,
            noise_suppressed: h.noise_suppressed,
        };
        write_link_counters(w, instrument.as_str(), protocol.as_str(), &c);
    });
}
