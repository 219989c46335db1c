//! Bounds on what the events of one message hold (issue 9 item 6): `raw` shared and cut, and a
//! memory budget per message, so one message's events take memory proportional to the message
//! whatever its shape (10 000 groups, a 4 MB field copied into each, …).

use std::sync::Arc;

use crate::{Event, Observation, limits};

/// A message's `raw` text, decoded once, cut at [`limits::MAX_RAW_JSON_BYTES`] of JSON, and
/// shared by all its events (cloning it copies a pointer).
///
/// When the text is cut, every event that carries it also gets the note
/// `raw cut at K of N bytes (limit L bytes of JSON)`: K and N are UTF-8 bytes of the decoded
/// text, L is [`limits::MAX_RAW_JSON_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedRaw {
    text: Arc<str>,
    note: Option<String>,
}

impl BoundedRaw {
    /// Bounds `text` (see the type docs).
    pub fn new(text: &str) -> Self {
        Self::with_limit(text, limits::MAX_RAW_JSON_BYTES)
    }

    fn with_limit(text: &str, limit: usize) -> Self {
        let mut json = 0usize;
        let mut cut = None;
        for (at, c) in text.char_indices() {
            json += json_len(c);
            if json > limit {
                cut = Some(at);
                break;
            }
        }
        match cut.and_then(|at| text.get(..at).map(|kept| (at, kept))) {
            Some((at, kept)) => Self {
                text: Arc::from(kept),
                note: Some(format!(
                    "raw cut at {at} of {} bytes (limit {limit} bytes of JSON)",
                    text.len()
                )),
            },
            None => Self {
                text: Arc::from(text),
                note: None,
            },
        }
    }

    /// The (possibly cut) text.
    pub fn text(&self) -> &Arc<str> {
        &self.text
    }

    /// True when the text was cut.
    pub fn is_cut(&self) -> bool {
        self.note.is_some()
    }

    /// Sets `ev.raw` to the shared text and adds the cut note when there is one.
    pub fn apply(&self, ev: &mut Event) {
        ev.raw = Some(Arc::clone(&self.text));
        if let Some(note) = &self.note {
            ev.notes.push(note.clone());
        }
    }
}

/// Bytes `c` takes inside a JSON string as serde_json writes it.
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// The events of a message would take more memory than [`limits::max_output_bytes`] allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the events of a {message_bytes}-byte message take more than {limit} bytes \
     (limit reached at event {events})"
)]
pub struct OutputExceeded {
    /// Events built when the limit was reached (including the one that crossed it).
    pub events: usize,
    /// Size of the message.
    pub message_bytes: usize,
    /// The limit ([`limits::max_output_bytes`] of the message size).
    pub limit: usize,
}

/// Counts the memory of the events a mapping builds for one message and stops it at
/// [`limits::max_output_bytes`] (an estimate: struct sizes plus string lengths; the shared
/// `raw` counts once).
#[derive(Debug, Clone)]
pub struct OutputBudget {
    limit: usize,
    used: usize,
    events: usize,
    message_bytes: usize,
}

impl OutputBudget {
    /// The budget for a message of `message_bytes`.
    pub fn for_message(message_bytes: usize) -> Self {
        Self::with_limit(message_bytes, limits::max_output_bytes(message_bytes))
    }

    /// A budget with an explicit limit (tests, tighter configurations).
    pub fn with_limit(message_bytes: usize, limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            events: 0,
            message_bytes,
        }
    }

    /// Counts `bytes` shared by all events (the message's `raw`).
    pub fn charge_shared(&mut self, bytes: usize) -> Result<(), OutputExceeded> {
        self.used = self.used.saturating_add(bytes);
        self.check()
    }

    /// Counts one more event.
    pub fn charge(&mut self, ev: &Event) -> Result<(), OutputExceeded> {
        self.events += 1;
        self.used = self.used.saturating_add(estimate(ev));
        self.check()
    }

    fn check(&self) -> Result<(), OutputExceeded> {
        if self.used > self.limit {
            return Err(OutputExceeded {
                events: self.events,
                message_bytes: self.message_bytes,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

fn opt(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

fn strings(v: &[String]) -> usize {
    v.iter()
        .map(|s| s.len() + std::mem::size_of::<String>())
        .sum()
}

fn observation(o: &Observation) -> usize {
    std::mem::size_of::<Observation>()
        + opt(&o.code)
        + opt(&o.test_id)
        + opt(&o.name)
        + opt(&o.value)
        + opt(&o.units)
        + opt(&o.reference_range)
        + strings(&o.flags)
        + opt(&o.status)
        + opt(&o.completed_at)
}

/// Estimated heap and inline bytes of one event, without its shared `raw`.
fn estimate(ev: &Event) -> usize {
    let mut n = std::mem::size_of::<Event>()
        + ev.schema.len()
        + ev.id.as_str().len()
        + ev.site.as_str().len()
        + ev.instrument.as_str().len()
        + opt(&ev.message_time)
        + strings(&ev.comments)
        + strings(&ev.notes);
    if let Some(s) = &ev.sender {
        n += opt(&s.name) + opt(&s.version) + opt(&s.serial);
    }
    if let Some(p) = &ev.patient {
        n += opt(&p.id) + opt(&p.name) + opt(&p.birth_date) + opt(&p.sex);
    }
    if let Some(s) = &ev.specimen {
        n += opt(&s.id) + opt(&s.specimen_type);
    }
    n += ev.observations.iter().map(observation).sum::<usize>();
    if let Some(q) = &ev.query {
        n += strings(&q.specimen_ids) + strings(&q.tests) + opt(&q.status_code);
        n += opt(&q.query_tag);
    }
    if let Some(e) = &ev.error {
        n += e.reason.len();
    }
    if let Some(s) = &ev.status {
        n += s.state.len() + opt(&s.detail);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_event() -> Event {
        Event::new(
            crate::EventId::from_string("x".into()),
            crate::SiteId::new("s").unwrap(),
            crate::InstrumentId::new("i").unwrap(),
            crate::EventKind::Result,
            crate::Protocol::Hl7,
            jiff::Timestamp::UNIX_EPOCH,
        )
    }

    #[test]
    fn short_text_is_kept_whole_without_a_note() {
        let raw = BoundedRaw::new("H|\\^&\rL|1|N\r");
        assert_eq!(&**raw.text(), "H|\\^&\rL|1|N\r");
        assert!(!raw.is_cut());
    }

    #[test]
    fn long_text_is_cut_to_its_json_limit_at_a_char_boundary() {
        // 10 bytes of JSON: `a\r` is 3, `é` is 2 (two UTF-8 bytes), `\u{1}` is 6.
        let raw = BoundedRaw::with_limit("a\r\u{e9}\u{1}zz", 10);
        assert_eq!(&**raw.text(), "a\r\u{e9}");
        assert!(raw.is_cut());
        let json = serde_json::to_string(&**raw.text()).unwrap();
        assert!(json.len() - 2 <= 10, "{json}");
        let mut ev = empty_event();
        raw.apply(&mut ev);
        assert_eq!(
            ev.notes,
            ["raw cut at 4 of 7 bytes (limit 10 bytes of JSON)"]
        );
        // Exactly at the limit is not cut.
        assert!(!BoundedRaw::with_limit("0123456789", 10).is_cut());
        assert!(BoundedRaw::with_limit("0123456789a", 10).is_cut());
    }

    #[test]
    fn the_budget_stops_at_its_limit() {
        let ev = empty_event();
        let one = std::mem::size_of::<Event>() + "labwire.event/v1".len() + 3;
        let mut b = OutputBudget::with_limit(10, one * 2);
        assert!(b.charge(&ev).is_ok());
        assert!(b.charge(&ev).is_ok());
        let err = b.charge(&ev).unwrap_err();
        assert_eq!(err.events, 3);
        assert_eq!(err.limit, one * 2);
        assert_eq!(limits::max_output_bytes(1 << 20), (4 << 20) + (16 << 20));
    }
}
