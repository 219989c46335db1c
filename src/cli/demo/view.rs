//! The demo's live view: one line per simulated instrument plus totals, computed from the
//! simulators' ledger (what the instruments sent, faults, acknowledgement latency) and the
//! verifier's core subscription (what reached the bus). No patient or specimen data is shown.

use labwire_event::EventKind;
use labwire_sim::ledger::LedgerEntry;
use labwire_sim::verify::Seen;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Instrument lines in a live terminal frame (the final frame shows all).
pub const LIVE_ROWS: usize = 20;

/// One simulated instrument as the view shows it.
#[derive(Debug, Clone)]
pub struct Instrument {
    /// Its id (`c111-1`).
    pub id: String,
    /// Dialect profile name.
    pub profile: &'static str,
    /// `astm/tcp`, `hl7/mllp`.
    pub protocol: &'static str,
}

/// Counters of one instrument.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// Messages the instrument sent.
    pub sent: u64,
    /// Of those, acknowledged by labwire.
    pub acked: u64,
    /// Result events on the bus.
    pub results: u64,
    /// QC events on the bus.
    pub qc: u64,
    /// Host queries seen on the bus.
    pub queries: u64,
    /// Queries answered with at least one order.
    pub with_orders: u64,
    /// Faults injected.
    pub faults: u64,
    /// Error events (labwire rejected input) plus instrument failures.
    pub errors: u64,
    /// Acknowledgement latency of the latest acknowledged message, ms.
    pub last_ack_ms: Option<f64>,
}

/// Counts every instrument's row from the ledger and the bus events seen so far.
pub fn rows(ledger: &[LedgerEntry], seen: &[Seen]) -> BTreeMap<String, Row> {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for e in ledger {
        let r = rows.entry(e.instrument.to_string()).or_default();
        r.sent += 1;
        r.faults += e.faults.len() as u64;
        if let Some(at) = e.acked_at {
            r.acked += 1;
            r.last_ack_ms = Some(at.duration_since(e.sent_at).as_secs_f64() * 1000.0);
        }
        if e.kind == EventKind::Query && e.orders_received.is_some_and(|n| n > 0) {
            r.with_orders += 1;
        }
    }
    for s in seen {
        let r = rows.entry(s.instrument.clone()).or_default();
        match s.kind.as_str() {
            "result" => r.results += 1,
            "qc" => r.qc += 1,
            "query" => r.queries += 1,
            "error" => r.errors += 1,
            _ => {}
        }
    }
    rows
}

/// The phase the demo is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Instruments are sending.
    Sending,
    /// Sending stopped; waiting for the last messages to reach the bus.
    Draining,
    /// Reading the stream back.
    Verifying,
}

/// Everything one frame of the view needs.
pub struct Frame<'a> {
    /// The instruments, in display order.
    pub instruments: &'a [Instrument],
    /// Their counters.
    pub rows: &'a BTreeMap<String, Row>,
    /// Instrument failures (id → count).
    pub failures: &'a BTreeMap<String, u64>,
    /// Seconds since sending started.
    pub elapsed: f64,
    /// Planned sending time, seconds.
    pub duration: f64,
    /// Current phase.
    pub phase: Phase,
}

impl Frame<'_> {
    fn totals(&self) -> Row {
        let mut t = Row::default();
        for r in self.rows.values() {
            t.sent += r.sent;
            t.acked += r.acked;
            t.results += r.results;
            t.qc += r.qc;
            t.queries += r.queries;
            t.with_orders += r.with_orders;
            t.faults += r.faults;
            t.errors += r.errors;
        }
        t.errors += self.failures.values().sum::<u64>();
        t
    }

    fn phase(&self) -> &'static str {
        match self.phase {
            Phase::Sending => "sending",
            Phase::Draining => "draining",
            Phase::Verifying => "verifying",
        }
    }

    /// The table: header, one line per instrument (at most `max_rows`, then a count of the
    /// rest), totals and progress.
    pub fn table(&self, max_rows: Option<usize>) -> Vec<String> {
        let mut out = vec![format!(
            "{:<10} {:<11} {:<9} {:>6} {:>6} {:>7} {:>5} {:>8} {:>7} {:>6} {:>6} {:>7}",
            "INSTRUMENT",
            "PROFILE",
            "PROTOCOL",
            "SENT",
            "ACKED",
            "RESULTS",
            "QC",
            "QUERIES",
            "ORDERED",
            "FAULTS",
            "ERRORS",
            "ACK_MS"
        )];
        let empty = Row::default();
        let shown = max_rows.unwrap_or(usize::MAX).min(self.instruments.len());
        for i in self.instruments.iter().take(shown) {
            let r = self.rows.get(&i.id).unwrap_or(&empty);
            let errors = r.errors + self.failures.get(&i.id).copied().unwrap_or(0);
            out.push(format!(
                "{:<10} {:<11} {:<9} {:>6} {:>6} {:>7} {:>5} {:>8} {:>7} {:>6} {:>6} {:>7}",
                i.id,
                i.profile,
                i.protocol,
                r.sent,
                r.acked,
                r.results,
                r.qc,
                r.queries,
                r.with_orders,
                r.faults,
                errors,
                r.last_ack_ms
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"))
            ));
        }
        if shown < self.instruments.len() {
            out.push(format!(
                "… {} more instruments (all of them at the end)",
                self.instruments.len() - shown
            ));
        }
        let t = self.totals();
        out.push(format!(
            "{:<10} {:<11} {:<9} {:>6} {:>6} {:>7} {:>5} {:>8} {:>7} {:>6} {:>6}",
            "TOTAL",
            format!("{} instr.", self.instruments.len()),
            "",
            t.sent,
            t.acked,
            t.results,
            t.qc,
            t.queries,
            t.with_orders,
            t.faults,
            t.errors
        ));
        out.push(self.progress());
        out
    }

    /// One compact line: phase, elapsed/duration, counts and rate.
    pub fn progress(&self) -> String {
        let t = self.totals();
        let rate = if self.elapsed > 0.0 {
            t.acked as f64 / self.elapsed.min(self.duration.max(0.001))
        } else {
            0.0
        };
        let mut s = String::new();
        let _ = write!(
            s,
            "[{:>5.1}s/{:.0}s {}] sent={} acked={} on_bus={} faults={} errors={} rate={:.0} msg/s",
            self.elapsed,
            self.duration,
            self.phase(),
            t.sent,
            t.acked,
            t.results + t.qc + t.queries,
            t.faults,
            t.errors,
            rate
        );
        s
    }
}

/// Redraws a block of lines in place on a terminal (ANSI cursor-up and erase-line).
#[derive(Debug, Default)]
pub struct Screen {
    drawn: usize,
}

impl Screen {
    /// Draws `lines`, replacing what the previous call drew.
    pub fn draw(&mut self, lines: &[String]) -> String {
        let mut out = String::new();
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for l in lines {
            let _ = writeln!(out, "\x1b[2K{l}");
        }
        // A shorter frame leaves old lines below: erase them.
        for _ in lines.len()..self.drawn {
            out.push_str("\x1b[2K\n");
        }
        if self.drawn > lines.len() {
            let _ = write!(out, "\x1b[{}A", self.drawn - lines.len());
        }
        self.drawn = lines.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redraw_moves_the_cursor_up_over_the_previous_frame() {
        let mut s = Screen::default();
        let first = s.draw(&["a".into(), "b".into()]);
        assert!(!first.contains("\x1b[2A"));
        let second = s.draw(&["c".into(), "d".into()]);
        assert!(second.starts_with("\x1b[2A"), "{second:?}");
        assert!(second.contains("\x1b[2Kc\n"));
    }

    #[test]
    fn a_live_frame_shows_at_most_max_rows_instruments() {
        let instruments: Vec<Instrument> = (1..=5)
            .map(|n| Instrument {
                id: format!("c111-{n}"),
                profile: "cobas-c111",
                protocol: "astm/tcp",
            })
            .collect();
        let (rows, failures) = (BTreeMap::new(), BTreeMap::new());
        let frame = Frame {
            instruments: &instruments,
            rows: &rows,
            failures: &failures,
            elapsed: 1.0,
            duration: 2.0,
            phase: Phase::Sending,
        };
        let live = frame.table(Some(2));
        assert_eq!(live.iter().filter(|l| l.starts_with("c111-")).count(), 2);
        assert!(live.iter().any(|l| l.starts_with("… 3 more")));
        let all = frame.table(None);
        assert_eq!(all.iter().filter(|l| l.starts_with("c111-")).count(), 5);
        assert!(all.last().unwrap().contains("[  1.0s/2s sending]"));
    }

    #[test]
    fn rows_count_bus_events_per_instrument_and_kind() {
        let at = jiff::Timestamp::UNIX_EPOCH;
        let seen = |instrument: &str, kind: &str| Seen {
            id: format!("{instrument}-{kind}"),
            instrument: instrument.into(),
            kind: kind.into(),
            specimen: None,
            at,
        };
        let rows = rows(
            &[],
            &[
                seen("c111-1", "result"),
                seen("c111-1", "result"),
                seen("c111-1", "qc"),
                seen("ba400-1", "query"),
                seen("ba400-1", "error"),
                seen("ba400-1", "status"),
            ],
        );
        let c111 = rows.get("c111-1").unwrap();
        assert_eq!((c111.results, c111.qc, c111.queries), (2, 1, 0));
        let ba = rows.get("ba400-1").unwrap();
        assert_eq!((ba.queries, ba.errors, ba.results), (1, 1, 0));
    }
}
