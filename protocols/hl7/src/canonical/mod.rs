//! Lab messages → canonical events (`labwire.event/v1`, shared conventions §3).
//!
//! | message | events |
//! |---|---|
//! | ORU^R01, ORU^R30–R32, OUL^R21–R24 | `result` (or `qc`) per OBR group |
//! | any other ORU/OUL (v2.1–v2.3 ORU^R03/R04, no trigger, vendor triggers) with OBR or OBX | `result` (or `qc`) per OBR group |
//! | OML^O33/O21, ORL^O34/O22, ORM^O01, RSP^K11 | `order` per OBR group |
//! | QBP^Q11 (IHE LAW LAB-27), Mindray QRY^Q02 | one `query` |
//! | Mindray DSR^Q03 | one `order` (download answer) |
//! | anything else (ACK, ADT, QCK, …) | [`MapError::UnsupportedMessageType`] |
//!
//! Field-by-field details are in `docs/hl7.md`. Segment positions follow HL7 v2.5.1 chapter 7
//! (OBR, OBX, SPM), chapter 3 (PID) and chapter 2 (MSH, NTE); Mindray positions follow the
//! Mindray CL-series host interface manual examples.

mod fields;
mod groups;
mod query;

use labwire_event::{BoundedRaw, Event, EventKind, Origin, OutputBudget, OutputExceeded, Protocol};

use crate::er7::{self, Hl7Charset, Index, Limits, ParseError};
use fields::Ctx;

/// How to decode messages.
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    /// Character set forced by the instrument's configuration; `None` = MSH-18 or auto-detect
    /// (see [`Hl7Charset::for_message`]).
    pub charset: Option<Hl7Charset>,
    /// Parser limits (message size, segments, fields).
    pub limits: Limits,
    /// Reject messages with bytes that are invalid in their character set
    /// ([`MapError::InvalidText`]) instead of replacing them with U+FFFD. Default `false`.
    pub reject_invalid_text: bool,
}

/// Why a message produced no events. `Display` is the reason; [`MapError::offset`] is the byte
/// offset inside the message (add the message's offset in the capture for a file offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The message is not well-formed ER7.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The message is valid HL7 but not a lab message labwire maps (ACK, ADT, QCK, …).
    #[error("message type {message_type:?} carries no lab results, orders or queries")]
    UnsupportedMessageType {
        /// Offset of MSH-9.
        offset: usize,
        /// MSH-9 as sent (e.g. `ACK^R22`).
        message_type: String,
    },
    /// The message has bytes that are invalid in its character set (only with
    /// [`DecodeOptions::reject_invalid_text`]).
    #[error("bytes invalid in character set {charset}")]
    InvalidText {
        /// Offset of the first invalid byte (for UTF-8), else 0.
        offset: usize,
        /// The character set used.
        charset: String,
    },
    /// The message's events would take more memory than
    /// [`labwire_event::limits::max_output_bytes`] allows (e.g. thousands of groups each
    /// carrying a large message-level note).
    #[error(transparent)]
    TooMuchOutput(#[from] OutputExceeded),
}

impl MapError {
    /// Byte offset of the problem inside the message.
    pub fn offset(&self) -> usize {
        match self {
            Self::Parse(e) => e.offset(),
            Self::UnsupportedMessageType { offset, .. } | Self::InvalidText { offset, .. } => {
                *offset
            }
            Self::TooMuchOutput(_) => 0,
        }
    }
}

/// What a message type maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    Results,
    Orders,
    Query,
    MindrayQuery,
    MindrayDownload,
    /// Any other ORU/OUL trigger: results when the message has OBR/OBX groups.
    LegacyResults,
}

fn mapping(event: &str, trigger: &str) -> Option<Mapping> {
    Some(match (event, trigger) {
        ("ORU", "R01" | "R30" | "R31" | "R32") | ("OUL", "R21" | "R22" | "R23" | "R24") => {
            Mapping::Results
        }
        ("OML", "O33" | "O21" | "O35")
        | ("ORL", "O34" | "O22" | "O36")
        | ("ORM", "O01")
        | ("RSP", "K11") => Mapping::Orders,
        ("QBP", "Q11") => Mapping::Query,
        ("QRY", "Q02") => Mapping::MindrayQuery,
        ("DSR", "Q03") => Mapping::MindrayDownload,
        // v2.1–v2.3 senders: ORU^R03/R04, MSH-9 without a trigger, vendor triggers.
        ("ORU" | "OUL", _) => Mapping::LegacyResults,
        _ => return None,
    })
}

/// Maps one HL7 message (the bytes of one message, without MLLP framing) to canonical events.
///
/// Result and order messages give one event per OBR group; queries give one event. Ids come from
/// `origin.event(kind, Protocol::Hl7, msg, index)`, so the same bytes always give the same ids.
///
/// Memory is bounded whatever the message's shape (docs/hl7.md, "Bounds"): the decoded `raw`
/// text is one copy shared by all events and cut at
/// [`labwire_event::limits::MAX_RAW_JSON_BYTES`] of JSON (with a note); header fields are
/// decoded once; and the events together may take at most
/// [`labwire_event::limits::max_output_bytes`] of the message size, else
/// [`MapError::TooMuchOutput`].
pub fn message_to_events(
    msg: &[u8],
    origin: &Origin,
    opts: &DecodeOptions,
) -> Result<Vec<Event>, MapError> {
    let mut index = Index::new();
    let parsed = er7::parse(msg, &mut index, &opts.limits)?;
    let header = parsed.header();
    let msh9 = header.and_then(|h| h.field(9));
    let msh18 = header
        .and_then(|h| h.field(18))
        .and_then(|f| f.component(1))
        .map(|v| v.raw())
        .unwrap_or_default();
    let charset = Hl7Charset::for_message(msh18, msg, opts.charset);
    if opts.reject_invalid_text && charset.decode(msg).1 {
        let offset = match charset {
            Hl7Charset::Utf8 => std::str::from_utf8(msg)
                .err()
                .map_or(0, |e| e.valid_up_to()),
            _ => 0,
        };
        return Err(MapError::InvalidText {
            offset,
            charset: format!("{charset:?}"),
        });
    }
    let ctx = Ctx {
        msg: parsed,
        charset,
    };
    let event_code = msh9
        .and_then(|f| ctx.text(f.component(1)))
        .unwrap_or_default();
    let trigger = msh9
        .and_then(|f| ctx.text(f.component(2)))
        .unwrap_or_default();
    let has_groups = || ctx.msg.find(b"OBR").is_some() || ctx.msg.find(b"OBX").is_some();
    let Some(kind) = mapping(
        &event_code.to_ascii_uppercase(),
        &trigger.to_ascii_uppercase(),
    )
    .filter(|k| *k != Mapping::LegacyResults || has_groups()) else {
        return Err(MapError::UnsupportedMessageType {
            offset: msh9.map_or(0, |f| f.offset()),
            message_type: msh9
                .map(|f| String::from_utf8_lossy(f.raw()).chars().take(40).collect())
                .unwrap_or_default(),
        });
    };
    let mut budget = OutputBudget::for_message(msg.len());
    let raw = BoundedRaw::new(&charset.decode(ctx.msg.as_bytes()).0);
    budget.charge_shared(raw.text().len())?;
    let (message_time, sender) = ctx.header_facts();
    let ids = origin.message_ids(Protocol::Hl7, msg);
    let new_event = |kind: EventKind, index: u32| -> Event {
        let mut ev = origin.event_with_id(ids.id(kind, index), kind, Protocol::Hl7);
        ev.message_time.clone_from(&message_time);
        ev.sender.clone_from(&sender);
        raw.apply(&mut ev);
        ev
    };
    let single = match kind {
        Mapping::Results | Mapping::LegacyResults => {
            return Ok(groups::results(&ctx, new_event, &mut budget)?);
        }
        Mapping::Orders => return Ok(groups::orders(&ctx, new_event, &mut budget)?),
        Mapping::Query => query::qbp(&ctx, new_event(EventKind::Query, 0)),
        Mapping::MindrayQuery => query::mindray_qry(&ctx, new_event(EventKind::Query, 0)),
        Mapping::MindrayDownload => query::mindray_dsr(&ctx, new_event(EventKind::Order, 0)),
    };
    budget.charge(&single)?;
    Ok(vec![single])
}
