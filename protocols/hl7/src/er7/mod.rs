//! ER7, the pipe-and-hat encoding of HL7 v2 (HL7 v2.5 chapter 2, §2.5–§2.7 and §2.10).
//!
//! [`parse`] indexes a message in one pass without copying it; [`Message`], [`Segment`] and
//! [`Value`] read fields, repetitions, components and subcomponents from that index; [`Path`]
//! reads `PID-5[2].1`-style paths; [`unescape`] decodes escape sequences; [`Hl7Charset`] turns bytes
//! into text; [`split_batch`] cuts batches and captures into messages; [`MessageBuilder`] writes
//! messages with correct escaping.

mod access;
mod batch;
mod charset;
mod delimiters;
mod encode;
mod error;
mod escape;
mod parse;
mod path;

pub use access::{Level, Segment, Value};
pub use batch::{BatchPart, split_batch};
pub use charset::Hl7Charset;
pub use delimiters::Delimiters;
pub use encode::{EncodeError, MessageBuilder, SegmentBuilder};
pub use error::ParseError;
pub use escape::{escape_into, unescape};
pub use parse::{Index, Limits, Message, parse};
pub use path::{Path, PathError};
