//! Building `status` events (shared conventions §3): the one builder the router's
//! [`crate::status::StatusPublisher`] (feature `bus`) and the connectors' status reporter both use.

use labwire_event::{Event, EventKind, InstrumentId, Origin, Protocol, SiteId, Status};

/// Builds a `status` event for an instrument. Its id is derived from the state, the detail and
/// the time, so two reports of the same state at different times are two events.
pub fn status_event(
    site: &SiteId,
    instrument: &InstrumentId,
    protocol: Protocol,
    state: &str,
    detail: Option<String>,
) -> Event {
    let now = jiff::Timestamp::now();
    let origin = Origin {
        site: site.clone(),
        instrument: instrument.clone(),
        received_at: now,
    };
    let key = format!(
        "{state}\n{}\n{}",
        detail.as_deref().unwrap_or(""),
        now.as_nanosecond()
    );
    let mut event = origin.event(EventKind::Status, protocol, key.as_bytes(), 0);
    event.status = Some(Status {
        state: state.to_owned(),
        detail,
    });
    event
}
