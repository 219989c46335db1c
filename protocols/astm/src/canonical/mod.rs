//! ASTM messages to canonical labwire events (`labwire.event/v1`, shared conventions §3).
//!
//! [`message_to_events`] is what the CLI (`labwire parse`) and the ASTM connector call with
//! deframed message text (see `crate::capture` for captures). Record positions follow CLSI
//! LIS2-A2; the mapping table is in `docs/astm-records.md`.

mod mapping;
mod text;

use labwire_event::{Event, Origin, OutputBudget};
use thiserror::Error;

use crate::charset::AstmCharset;
use crate::record::{Limits, RecordError, RecordErrorKind, messages};
use text::Text;

/// How to decode one instrument's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The instrument's charset (default [`AstmCharset::Auto`]: UTF-8 when valid, else
    /// windows-1252).
    pub charset: AstmCharset,
    /// Bounds on message size and record/field counts (see [`Limits`] for the defaults).
    pub limits: Limits,
    /// Most bytes of memory the events of one message may take (estimated; `raw` is one copy
    /// shared by all of them). `None` (the default) =
    /// [`labwire_event::limits::max_output_bytes`] of the message size: bounds memory whatever
    /// the message's shape (many O/Q records, a large comment copied into each group).
    pub max_output_bytes: Option<usize>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            charset: AstmCharset::Auto,
            limits: Limits::default(),
            max_output_bytes: None,
        }
    }
}

/// Why a message could not be mapped: a byte offset into the text given and the reason.
///
/// Displays as the reason only; the CLI prints `FILE:OFFSET: reason`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct MapError {
    /// Byte offset of the problem in the text handed to [`message_to_events`].
    pub offset: usize,
    /// What is wrong.
    pub reason: MapErrorKind,
}

/// What is wrong with a message that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MapErrorKind {
    /// The record layer rejected the text.
    #[error(transparent)]
    Record(#[from] RecordErrorKind),
    /// The events would take more memory than [`DecodeOptions::max_output_bytes`].
    #[error(
        "the events of a {bytes}-byte message take more than {limit} bytes (limit reached at event {events})"
    )]
    TooMuchOutput {
        /// Events built when the limit was reached.
        events: usize,
        /// Size of the message text.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl From<RecordError> for MapError {
    fn from(e: RecordError) -> Self {
        Self {
            offset: e.offset,
            reason: MapErrorKind::Record(e.kind),
        }
    }
}

/// Charset problems met while decoding, so the caller can warn (the events carry U+FFFD).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CharsetReport {
    /// Number of invalid byte sequences replaced by U+FFFD.
    pub invalid: usize,
    /// Offset of the first one in the text handed to [`map_messages`].
    pub first_invalid: Option<usize>,
}

/// Everything [`map_messages`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The events, in message order.
    pub events: Vec<Event>,
    /// Invalid bytes for the configured charset.
    pub charset: CharsetReport,
    /// M, S and unknown records skipped (manufacturer-specific data such as histograms).
    pub skipped_records: usize,
}

/// Maps ASTM message text (one message or several back to back) to canonical events.
///
/// Event ids come from `origin.event(kind, Protocol::Astm, message_text, index)` with `index`
/// the event's number within its message, so the same bytes always give the same ids.
pub fn message_to_events(
    text: &[u8],
    origin: &Origin,
    opts: &DecodeOptions,
) -> Result<Vec<Event>, MapError> {
    map_messages(text, origin, opts).map(|m| m.events)
}

/// Like [`message_to_events`], also reporting charset problems and skipped records.
pub fn map_messages(
    text: &[u8],
    origin: &Origin,
    opts: &DecodeOptions,
) -> Result<Mapped, MapError> {
    let mut out = Mapped {
        events: Vec::new(),
        charset: CharsetReport::default(),
        skipped_records: 0,
    };
    for message in messages(text, &opts.limits) {
        let message = message?;
        let decoded = opts.charset.decode(message.text());
        if decoded.invalid > 0 {
            out.charset.invalid += decoded.invalid;
            if out.charset.first_invalid.is_none() {
                out.charset.first_invalid = decoded.first_invalid.map(|o| o + message.offset());
            }
        }
        let ctx = Text {
            charset: decoded.charset,
            delims: message.delimiters(),
        };
        let bytes = message.text().len();
        let mut budget = match opts.max_output_bytes {
            Some(limit) => OutputBudget::with_limit(bytes, limit),
            None => OutputBudget::for_message(bytes),
        };
        let mapped = mapping::map(&message, ctx, &decoded.text, origin, &mut budget);
        let mapped = mapped.map_err(|e| MapError {
            offset: message.offset(),
            reason: MapErrorKind::TooMuchOutput {
                events: e.events,
                bytes: e.message_bytes,
                limit: e.limit,
            },
        })?;
        out.events.extend(mapped.events);
        out.skipped_records += mapped.skipped_records;
    }
    Ok(out)
}

/// Fuzz body for the full decode path: splits `data` as a capture (E1381 frames or raw
/// records) and maps every message. Must never panic; used by `fuzz/fuzz_targets/astm_parse.rs`
/// and replayed on stable by `tests/fuzz_replay_records.rs`.
pub fn fuzz_entry(data: &[u8]) {
    let (Ok(site), Ok(instrument)) = (
        labwire_event::SiteId::new("fuzz"),
        labwire_event::InstrumentId::new("fuzz"),
    ) else {
        return;
    };
    let origin = Origin {
        site,
        instrument,
        received_at: jiff::Timestamp::UNIX_EPOCH,
    };
    let opts = DecodeOptions::default();
    let messages = crate::capture::split_capture(data, &crate::capture::CaptureLimits::default());
    for message in messages.into_iter().flatten() {
        for charset in [
            AstmCharset::Auto,
            AstmCharset::Latin1,
            AstmCharset::Windows1251,
        ] {
            let opts = DecodeOptions { charset, ..opts };
            let _ = message_to_events(&message.text, &origin, &opts);
        }
    }
    // Raw record text straight into the mapper as well (a connector may skip the splitter).
    let _ = message_to_events(data, &origin, &opts);
}

#[cfg(test)]
mod tests;
