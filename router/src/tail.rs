//! `labwire tail`: follow events on the local bus, one readable line (or one JSON line) each.
//!
//! The readable line shows the receive time, instrument, kind and the observations as
//! `code=value units [flags]`, or the state of `status` events and the reason of `error` events
//! (reasons name positions and field ids, never contents). It never shows patient data
//! (shared conventions §3: patient, specimen, raw text, comments) nor any text an instrument or
//! an app could have filled with an identifier: codes, units and flags are shown only when they
//! match the uplink's strict code patterns ([`labwire_uplink::code`]), values only when they are
//! plain numbers, a query or an order download by its counts and test codes. Use `--json` for
//! the full event (local use only). The bus may deliver an event again (a JetStream republish after
//! the duplicate window, a spool replay), so events are shown once per id within a bounded
//! window of recent ids ([`Dedupe`]).

use futures::StreamExt;
use labwire_event::{Command, Event, EventKind};
use labwire_uplink::code::{TestCode, Unit};
use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use tokio_util::sync::CancellationToken;

/// The subject followed when none is given: everything labwire publishes.
pub const DEFAULT_SUBJECT: &str = "lab.>";
/// How many recent event ids are remembered to drop redeliveries.
pub const DEFAULT_DEDUPE_WINDOW: usize = 10_000;
/// At most this many observations are shown on one line; the rest are counted.
pub const MAX_OBSERVATIONS_SHOWN: usize = 8;
/// Values, units and reasons longer than this many characters are cut with `…`.
pub const MAX_VALUE_CHARS: usize = 40;

/// Remembers the last `capacity` ids seen, oldest forgotten first.
#[derive(Debug)]
pub struct Dedupe {
    seen: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Dedupe {
    /// A window of `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            seen: HashSet::with_capacity(capacity.min(DEFAULT_DEDUPE_WINDOW)),
            order: VecDeque::with_capacity(capacity.min(DEFAULT_DEDUPE_WINDOW)),
            capacity,
        }
    }

    /// True the first time `id` is seen within the window; false for a repeat.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

/// What to do with one bus message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// Print this line.
    Line(String),
    /// Already shown (same id within the window).
    Duplicate,
    /// Not JSON; in `--json` mode this is reported on stderr instead of stdout.
    NotJson(String),
}

/// Turns bus messages into lines: readable or JSON, each id once.
#[derive(Debug)]
pub struct Tail {
    dedupe: Dedupe,
    json: bool,
}

impl Tail {
    /// A renderer; `json` prints the payload as one JSON line instead of the readable form.
    pub fn new(json: bool, dedupe_window: usize) -> Self {
        Self {
            dedupe: Dedupe::new(dedupe_window),
            json,
        }
    }

    /// Renders the message received on `subject`.
    pub fn render(&mut self, subject: &str, payload: &[u8]) -> Rendered {
        let value: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(e) => {
                return Rendered::NotJson(format!(
                    "{subject}: not JSON ({} bytes): {e}",
                    payload.len()
                ));
            }
        };
        if let Some(id) = value.get("id").and_then(|v| v.as_str()) {
            let schema = value.get("schema").and_then(|v| v.as_str()).unwrap_or("");
            if !self.dedupe.first_time(&format!("{schema}\u{0}{id}")) {
                return Rendered::Duplicate;
            }
        }
        if self.json {
            // The payload as published; only a multi-line (pretty-printed) payload is
            // re-serialised so that it still takes one line.
            return Rendered::Line(match std::str::from_utf8(payload) {
                Ok(text) if !text.contains(['\n', '\r']) => text.trim().to_owned(),
                _ => value.to_string(),
            });
        }
        if let Ok(event) = serde_json::from_value::<Event>(value.clone()) {
            return Rendered::Line(format_event(&event));
        }
        if let Ok(command) = serde_json::from_value::<Command>(value.clone()) {
            return Rendered::Line(format_command(subject, &command));
        }
        let schema = value
            .get("schema")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown schema");
        Rendered::Line(format!(
            "{subject}  {}  ({} bytes, not a labwire event)",
            clip(schema),
            payload.len()
        ))
    }
}

/// The readable line for an event (no patient fields, no raw text).
pub fn format_event(ev: &Event) -> String {
    let mut line = format!(
        "{}  {}  {}",
        ev.received_at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        ev.instrument,
        ev.kind.as_str()
    );
    match ev.kind {
        EventKind::Status => {
            if let Some(s) = &ev.status {
                let _ = write!(line, "  {}", clip(&s.state));
                if let Some(d) = &s.detail {
                    let _ = write!(line, ": {}", clip(d));
                }
            }
        }
        EventKind::Error => {
            if let Some(e) = &ev.error {
                if let Some(o) = e.offset {
                    let _ = write!(line, "  at byte {o}");
                }
                let _ = write!(line, ": {}", clip(&e.reason));
            }
        }
        EventKind::Query => {
            if let Some(q) = &ev.query {
                let tests: Vec<String> = q.tests.iter().map(|t| shown_code(t)).collect();
                let _ = write!(
                    line,
                    "  asks for {} specimen(s), tests {}",
                    q.specimen_ids.len(),
                    list_or_dash(&tests)
                );
            }
        }
        EventKind::Result | EventKind::Qc | EventKind::Order | EventKind::Telemetry => {}
    }
    if !ev.observations.is_empty() {
        let shown: Vec<String> = ev
            .observations
            .iter()
            .take(MAX_OBSERVATIONS_SHOWN)
            .map(|o| {
                let code = o
                    .code
                    .as_deref()
                    .or(o.test_id.as_deref())
                    .map_or_else(|| HIDDEN.to_owned(), shown_code);
                let mut s = match o.value.as_deref().map(str::trim) {
                    Some(v) if !v.is_empty() => format!("{code}={}", shown_value(v)),
                    _ => code,
                };
                if let Some(unit) = o
                    .units
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .and_then(|u| Unit::new(u).ok())
                {
                    let _ = write!(s, " {unit}");
                }
                let flags: Vec<&str> = o
                    .flags
                    .iter()
                    .map(|f| f.trim())
                    .filter(|f| !f.is_empty() && TestCode::new(f).is_ok())
                    .collect();
                if !flags.is_empty() {
                    let _ = write!(s, " [{}]", flags.join(","));
                }
                s
            })
            .collect();
        let _ = write!(line, "  {}", shown.join(", "));
        let more = ev.observations.len().saturating_sub(MAX_OBSERVATIONS_SHOWN);
        if more > 0 {
            let _ = write!(line, " (+{more} more)");
        }
    }
    line
}

/// The readable line for an order download seen on a `cmd` subject.
pub fn format_command(subject: &str, cmd: &Command) -> String {
    let orders: Vec<String> = cmd
        .orders
        .iter()
        .take(MAX_OBSERVATIONS_SHOWN)
        .map(|o| {
            let tests: Vec<String> = o.tests.iter().map(|t| shown_code(t)).collect();
            format!(
                "{}[{}]",
                if o.cancel { "cancel " } else { "" },
                tests.join(",")
            )
        })
        .collect();
    let mut line = format!(
        "{subject}  cmd {}  {} order(s): {}",
        shown_code(&cmd.id),
        cmd.orders.len(),
        orders.join(", ")
    );
    let more = cmd.orders.len().saturating_sub(MAX_OBSERVATIONS_SHOWN);
    if more > 0 {
        let _ = write!(line, " (+{more} more)");
    }
    line
}

fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// What the readable line shows instead of text it may not show.
const HIDDEN: &str = "?";

/// Longest value shown: a plain number longer than this is hidden too.
const MAX_NUMBER_CHARS: usize = 16;

/// A code (test code, flag, command id) as shown: itself when it matches the uplink's test-code
/// pattern (no spaces, bounded length, no long digit runs), otherwise [`HIDDEN`].
fn shown_code(code: &str) -> String {
    TestCode::new(code.trim()).map_or_else(|_| HIDDEN.to_owned(), |c| c.as_str().to_owned())
}

/// A value as shown: a plain number (an optional comparator `<`/`>`, sign, digits, one decimal
/// point or comma, an exponent) of at most [`MAX_NUMBER_CHARS`] characters; any other text
/// (a comment, a name typed into a result field) as `(text)`.
fn shown_value(value: &str) -> String {
    let number = value.trim_start_matches(['<', '>', '=']);
    let number = number.strip_prefix(['+', '-']).unwrap_or(number);
    let (mantissa, exponent) = match number.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (number, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once(['.', ',']) {
        Some((int, frac)) => (int.is_empty() || digits(int)) && digits(frac),
        None => digits(mantissa),
    };
    if value.len() <= MAX_NUMBER_CHARS && mantissa_ok && exponent.is_none_or(digits) {
        value.to_owned()
    } else {
        "(text)".to_owned()
    }
}

/// Escapes control characters (a CR in a value must not break the line) and cuts long text.
fn clip(s: &str) -> String {
    let mut out = String::new();
    for (i, ch) in s.trim().chars().enumerate() {
        if i >= MAX_VALUE_CHARS {
            out.push('…');
            break;
        }
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Counts of one `tail` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TailSummary {
    /// Lines printed.
    pub printed: u64,
    /// Messages dropped as repeats.
    pub duplicates: u64,
    /// Messages that were not JSON.
    pub not_json: u64,
}

/// Why following the bus stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The NATS server could not be reached or refused the credentials.
    #[error("connecting to NATS at {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The client's error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The credentials file could not be read.
    #[error("reading NATS credentials file {}: {source}", path.display())]
    Credentials {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The subscription was refused.
    #[error("subscribing to {subject}: {source}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The client's error.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The server did not confirm the subscription.
    #[error("subscribing: {0}")]
    Flush(String),
    /// Writing the output failed (e.g. the reader of a pipe went away).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Connects a plain client for following the bus: same URL, credentials and TLS as the
/// router, but it fails at once when the server is not reachable (no background retry), and it
/// never creates or changes streams.
pub async fn connect(opts: &crate::bus::BusOptions) -> Result<async_nats::Client, TailError> {
    let co = async_nats::ConnectOptions::new()
        .name("labwire-tail")
        .connection_timeout(opts.connect_timeout)
        .ping_interval(opts.ping_interval);
    let co = crate::bus::apply_security(co, opts)
        .await
        .map_err(|(path, source)| TailError::Credentials { path, source })?;
    co.connect(opts.url.as_str())
        .await
        .map_err(|source| TailError::Connect {
            url: crate::config::redact_url(&opts.url),
            source,
        })
}

/// How long [`subscribe`] waits for the server to confirm the subscription.
const SUBSCRIBE_CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Subscribes to `subject` (core subscription) and waits until the server has it, so that
/// nothing published afterwards, from any connection, is missed.
///
/// `flush` only writes the SUB to the socket; the server processes one connection's commands
/// in order, so a message published on a private inbox after the SUB and received back proves
/// that the SUB is in place.
pub async fn subscribe(
    client: &async_nats::Client,
    subject: &str,
) -> Result<async_nats::Subscriber, TailError> {
    let sub = client
        .subscribe(subject.to_owned())
        .await
        .map_err(|source| TailError::Subscribe {
            subject: subject.to_owned(),
            source,
        })?;
    let probe_subject = client.new_inbox();
    let mut probe = client
        .subscribe(probe_subject.clone())
        .await
        .map_err(|source| TailError::Subscribe {
            subject: probe_subject.clone(),
            source,
        })?;
    client
        .publish(probe_subject, bytes::Bytes::new())
        .await
        .map_err(|e| TailError::Flush(e.to_string()))?;
    client
        .flush()
        .await
        .map_err(|e| TailError::Flush(e.to_string()))?;
    match tokio::time::timeout(SUBSCRIBE_CONFIRM_TIMEOUT, probe.next()).await {
        Ok(Some(_)) => {}
        Ok(None) | Err(_) => {
            return Err(TailError::Flush(format!(
                "the server did not confirm the subscription within {}s",
                SUBSCRIBE_CONFIRM_TIMEOUT.as_secs()
            )));
        }
    }
    let _ = probe.unsubscribe().await;
    Ok(sub)
}

/// Writes one line per message of `sub` to `out` (notes about non-JSON payloads in `--json`
/// mode go to `notes`) until `shutdown` is cancelled, the subscription ends, or `limit` lines
/// have been printed.
pub async fn follow<W: std::io::Write, N: std::io::Write>(
    mut sub: async_nats::Subscriber,
    tail: &mut Tail,
    out: &mut W,
    notes: &mut N,
    limit: Option<u64>,
    shutdown: CancellationToken,
) -> Result<TailSummary, TailError> {
    let mut summary = TailSummary::default();
    loop {
        let msg = tokio::select! {
            () = shutdown.cancelled() => break,
            msg = sub.next() => match msg {
                Some(m) => m,
                None => break,
            },
        };
        match tail.render(msg.subject.as_str(), &msg.payload) {
            Rendered::Line(line) => {
                writeln!(out, "{line}")?;
                out.flush()?;
                summary.printed += 1;
            }
            Rendered::Duplicate => summary.duplicates += 1,
            Rendered::NotJson(note) => {
                summary.not_json += 1;
                if tail.json {
                    writeln!(notes, "{note}")?;
                } else {
                    writeln!(out, "{note}")?;
                    summary.printed += 1;
                }
            }
        }
        if limit.is_some_and(|n| summary.printed >= n) {
            break;
        }
    }
    let _ = sub.unsubscribe().await;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_event::{
        InputError, InstrumentId, Observation, Origin, Patient, Protocol, SiteId, Specimen, Status,
    };

    fn event(kind: EventKind, raw: &[u8]) -> Event {
        let origin = Origin {
            site: SiteId::new("site-a").unwrap(),
            instrument: InstrumentId::new("cobas-1").unwrap(),
            received_at: "2026-11-26T10:15:00.123Z".parse().unwrap(),
        };
        origin.event(kind, Protocol::Astm, raw, 0)
    }

    fn obs(code: &str, value: &str, units: &str, flags: &[&str]) -> Observation {
        Observation {
            code: Some(code.into()),
            value: Some(value.into()),
            units: Some(units.into()),
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            ..Observation::default()
        }
    }

    #[test]
    fn a_result_shows_time_instrument_and_observations_but_no_patient_or_specimen() {
        let mut ev = event(EventKind::Result, b"r1");
        ev.specimen = Some(Specimen {
            id: Some("S123".into()),
            specimen_type: None,
        });
        ev.patient = Some(Patient {
            id: Some("MRN-99".into()),
            name: Some("Doe^Jane".into()),
            ..Patient::default()
        });
        ev.raw = Some("P|1||MRN-99||Doe^Jane".into());
        ev.observations = vec![
            obs("GLU", "5.4", "mmol/L", &["H"]),
            obs("NA", "140", "mmol/L", &[]),
        ];
        let line = format_event(&ev);
        assert_eq!(
            line,
            "2026-11-26T10:15:00.123Z  cobas-1  result  GLU=5.4 mmol/L [H], NA=140 mmol/L"
        );
        assert!(!line.contains("Doe") && !line.contains("MRN") && !line.contains("S123"));
    }

    #[test]
    fn long_lists_are_cut_and_only_plain_numbers_codes_and_units_are_shown() {
        let mut ev = event(EventKind::Telemetry, b"t1");
        ev.observations = (0..11)
            .map(|i| obs(&format!("T{i}"), "1", "", &[]))
            .collect();
        ev.observations[0].value = Some("x".repeat(100));
        ev.observations[1].value = Some("Doe^Jane called".into());
        ev.observations[2].value = Some("<0.5".into());
        ev.observations[3].value = Some("-1.25e-3".into());
        ev.observations[4].value = Some("12345678901234567".into());
        ev.observations[5].code = Some("SMITH JOHN".into());
        ev.observations[6].units = Some("mg per dL of Jane".into());
        ev.observations[7].flags = vec!["H".into(), "Jane Doe".into()];
        let line = format_event(&ev);
        assert!(line.contains("T0=(text)"), "{line}");
        assert!(line.contains("T1=(text)"), "{line}");
        assert!(line.contains("T2=<0.5"), "{line}");
        assert!(line.contains("T3=-1.25e-3"), "{line}");
        assert!(line.contains("T4=(text)"), "{line}");
        assert!(line.contains(", ?=1,"), "{line}");
        assert!(line.contains("T7=1 [H]"), "{line}");
        for leaked in ["xxxx", "Doe", "Jane", "SMITH", "12345678901234567"] {
            assert!(!line.contains(leaked), "{leaked} in {line}");
        }
        assert!(!line.contains("T8="), "{line}");
        assert!(line.ends_with("(+3 more)"), "{line}");
    }

    #[test]
    fn a_query_shows_counts_and_test_codes_not_specimen_ids() {
        let mut q = event(EventKind::Query, b"q1");
        q.query = Some(labwire_event::HostQuery {
            specimen_ids: vec!["ACC-778812".into(), "ACC-778813".into()],
            tests: vec!["GLU".into(), "Jane Doe".into()],
            ..Default::default()
        });
        let line = format_event(&q);
        assert!(
            line.ends_with("query  asks for 2 specimen(s), tests GLU,?"),
            "{line}"
        );
    }

    #[test]
    fn status_and_error_events_show_state_and_reason() {
        let mut st = event(EventKind::Status, b"s1");
        st.status = Some(Status {
            state: "disconnected".into(),
            detail: Some("peer closed".into()),
        });
        assert!(format_event(&st).ends_with("status  disconnected: peer closed"));
        let mut er = event(EventKind::Error, b"e1");
        er.error = Some(InputError {
            reason: "bad checksum".into(),
            offset: Some(212),
        });
        assert!(format_event(&er).ends_with("error  at byte 212: bad checksum"));
    }

    #[test]
    fn repeated_ids_are_shown_once_and_the_window_is_bounded() {
        let mut tail = Tail::new(false, 2);
        let a = serde_json::to_vec(&event(EventKind::Result, b"a")).unwrap();
        let b = serde_json::to_vec(&event(EventKind::Result, b"b")).unwrap();
        let c = serde_json::to_vec(&event(EventKind::Result, b"c")).unwrap();
        assert!(matches!(tail.render("lab.x", &a), Rendered::Line(_)));
        assert_eq!(tail.render("lab.x", &a), Rendered::Duplicate);
        assert!(matches!(tail.render("lab.x", &b), Rendered::Line(_)));
        assert!(matches!(tail.render("lab.x", &c), Rendered::Line(_)));
        // `a` fell out of the two-id window.
        assert!(matches!(tail.render("lab.x", &a), Rendered::Line(_)));
        assert_eq!(tail.render("lab.x", &c), Rendered::Duplicate);
    }

    #[test]
    fn json_mode_prints_one_compact_line_per_event() {
        let mut tail = Tail::new(true, 10);
        let ev = event(EventKind::Result, b"a");
        let pretty = serde_json::to_vec_pretty(&ev).unwrap();
        let Rendered::Line(line) = tail.render("lab.x", &pretty) else {
            panic!("expected a line")
        };
        assert!(!line.contains('\n'));
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn json_mode_keeps_a_single_line_payload_byte_for_byte() {
        let mut tail = Tail::new(true, 10);
        let payload = serde_json::to_string(&event(EventKind::Qc, b"q")).unwrap();
        assert_eq!(
            tail.render("lab.x", payload.as_bytes()),
            Rendered::Line(payload.clone())
        );
    }

    #[test]
    fn other_payloads_are_described_not_dropped() {
        let mut tail = Tail::new(false, 10);
        assert!(matches!(
            tail.render("lab.a.b.result", b"\xff\x00"),
            Rendered::NotJson(_)
        ));
        let cmd = br#"{"schema":"labwire.command/v1","id":"c-1","orders":[{"specimen_id":"S9","tests":["GLU","NA"]}]}"#;
        assert_eq!(
            tail.render("lab.site-a.c311.cmd", cmd),
            Rendered::Line("lab.site-a.c311.cmd  cmd c-1  1 order(s): [GLU,NA]".into())
        );
        let Rendered::Line(other) = tail.render("lab.x", br#"{"hello":1}"#) else {
            panic!()
        };
        assert!(other.contains("not a labwire event"), "{other}");
    }
}
