//! Warnings about a valid configuration: things that work but will surprise an operator.

use super::SiteConfig;
use super::units::format_byte_size;
use labwire_event::limits;

impl SiteConfig {
    /// Instruments allowed to send messages larger than a bus with this `max_payload` surely
    /// stores (see [`labwire_event::limits::largest_message_for`]), one warning each.
    ///
    /// The bus's real `max_payload` is known only once connected: `check-config` passes the NATS
    /// default ([`limits::NATS_DEFAULT_MAX_PAYLOAD`]) and says so; `run` passes the value the
    /// server announces.
    pub fn bus_warnings(&self, max_payload: usize) -> Vec<String> {
        let fits = limits::largest_message_for(max_payload);
        self.enabled_instruments()
            .filter(|i| usize::try_from(i.limits.max_message_bytes).unwrap_or(usize::MAX) > fits)
            .map(|i| {
                format!(
                    "instrument {}: max_message_bytes {} is more than a bus with max_payload {} \
                     stores (about {} KiB per message); larger messages cannot be stored on it. Lower max_message_bytes or raise max_payload on the NATS server.",
                    i.id.as_str(),
                    format_byte_size(i.limits.max_message_bytes),
                    format_byte_size(u64::try_from(max_payload).unwrap_or(u64::MAX)),
                    fits >> 10,
                )
            })
            .collect()
    }
}
