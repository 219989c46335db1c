//! The ACK message (HL7 v2.5 §2.9, §2.14.8 MSA): its MSH mirrors the inbound one.

use super::{AckCode, AckError};
use crate::er7::{Delimiters, EncodeError, Message, MessageBuilder, Segment};

/// ACK flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckDialect {
    /// HL7 v2.5: MSH-9 `ACK^<trigger>^ACK`, MSA, then one ERR per error.
    #[default]
    Standard,
    /// Mindray CL/BC series: MSH-9 `ACK^<trigger>`, MSH-16 and MSH-18 echoed,
    /// `MSA|AA|<id>|Message accepted|||0|` with the error code in MSA-6, trailing separators.
    Mindray {
        /// MSA-6 error code (0 = accepted; Mindray uses e.g. 206 for a locked record).
        error_code: u16,
    },
}

/// What the caller decides about an ACK: labwire has no clock and no id generator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckOptions {
    /// MSH-10 of the ACK (a new control id).
    pub control_id: String,
    /// MSH-7 of the ACK, an HL7 timestamp such as `20260101120000+0000`.
    pub timestamp: String,
    /// MSA-3 text message (Mindray default: `Message accepted`).
    pub text: Option<String>,
    /// Problems to report in ERR segments (standard dialect).
    pub errors: Vec<AckError>,
    /// Standard or vendor flavour.
    pub dialect: AckDialect,
}

/// An ACK that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckBuildError {
    /// The message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The inbound message has no MSH.
    #[error("the inbound message has no MSH segment")]
    NoHeader,
}

/// Delimiters for a reply: the inbound ones, completed with defaults for the characters the sender
/// left out (so that values can be escaped), see [`Delimiters::completed`].
pub(crate) fn reply_delimiters(inbound: &Message<'_>) -> Delimiters {
    inbound.delimiters().completed()
}

fn raw<'m>(seg: &Segment<'m>, n: usize) -> &'m [u8] {
    seg.raw_field(n)
}

/// Builds the ACK for `inbound` with acknowledgement code `code`.
///
/// MSH-3/4 ↔ MSH-5/6 are swapped, MSH-11/12 copied, MSH-9 is `ACK^<trigger>^ACK`, MSA-2 is the
/// inbound MSH-10. Values are copied as sent (already encoded with the same delimiters).
pub fn build_ack(
    inbound: &Message<'_>,
    code: AckCode,
    opts: &AckOptions,
) -> Result<Vec<u8>, AckBuildError> {
    let msh = inbound.header().ok_or(AckBuildError::NoHeader)?;
    let d = reply_delimiters(inbound);
    let mut b = MessageBuilder::new(d)?;
    let trigger = msh
        .field(9)
        .and_then(|f| f.component(2))
        .map(|v| v.raw())
        .unwrap_or_default();
    let mut msh9 = b"ACK".to_vec();
    if !trigger.is_empty() {
        msh9.push(d.component);
        msh9.extend_from_slice(trigger);
    }
    let mindray = match opts.dialect {
        AckDialect::Standard => {
            if !trigger.is_empty() {
                msh9.push(d.component);
                msh9.extend_from_slice(b"ACK");
            }
            None
        }
        AckDialect::Mindray { error_code } => Some(error_code),
    };
    let out = b.msh();
    out.set_raw(3, raw(&msh, 5))
        .set_raw(4, raw(&msh, 6))
        .set_raw(5, raw(&msh, 3))
        .set_raw(6, raw(&msh, 4))
        .set(7, &opts.timestamp)
        .set_raw(9, &msh9)
        .set(10, &opts.control_id)
        .set_raw(11, raw(&msh, 11))
        .set_raw(12, raw(&msh, 12));
    if mindray.is_some() {
        out.set_raw(16, raw(&msh, 16))
            .set_raw(18, raw(&msh, 18))
            .pad_to(21);
    }
    let msa = b.segment("MSA")?;
    msa.set(1, code.as_str()).set_raw(2, raw(&msh, 10));
    match mindray {
        Some(error_code) => {
            let default = match code {
                AckCode::AA | AckCode::CA => "Message accepted",
                AckCode::AE | AckCode::CE => "Message error",
                AckCode::AR | AckCode::CR => "Message rejected",
            };
            msa.set(3, opts.text.as_deref().unwrap_or(default))
                .set(6, &error_code.to_string())
                .pad_to(7);
        }
        None => {
            if let Some(t) = &opts.text {
                msa.set(3, t);
            }
            for e in &opts.errors {
                write_err(&mut b, e)?;
            }
        }
    }
    Ok(b.to_bytes())
}

fn num(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn write_err(b: &mut MessageBuilder, e: &AckError) -> Result<(), EncodeError> {
    let err = b.segment("ERR")?;
    if let Some(l) = &e.location {
        let seq = l.sequence.to_string();
        let (f, r, c, s) = (
            num(l.field),
            num(l.repetition),
            num(l.component),
            num(l.subcomponent),
        );
        err.set_components(2, &[&l.segment, &seq, &f, &r, &c, &s]);
    }
    let code = e.code.code().to_string();
    err.set_components(3, &[&code, e.code.text(), "HL70357"])
        .set(4, e.severity.as_str());
    if let Some(m) = &e.message {
        err.set(8, m);
    }
    Ok(())
}
