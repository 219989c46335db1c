//! Batches over MLLP (HL7 v2.5 §2.10.3): taking an inbound `FHS`/`BHS` block apart and building
//! the response batch, with the er7 builders.

use crate::er7::{BatchPart, Delimiters, EncodeError, MessageBuilder, SegmentBuilder, split_batch};

/// True when the block starts with a file or batch header (`FHS`/`BHS`).
pub fn is_batch(payload: &[u8]) -> bool {
    let start = payload
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .unwrap_or(payload.len());
    let head = payload.get(start..).unwrap_or_default();
    (head.starts_with(b"FHS") || head.starts_with(b"BHS"))
        && head.get(3).is_none_or(|b| !b.is_ascii_alphanumeric())
}

/// A batch block taken apart.
#[derive(Debug, Default)]
pub struct BatchSplit<'a> {
    /// The `FHS` segment, if any.
    pub file_header: Option<&'a [u8]>,
    /// The `BHS` segment, if any.
    pub batch_header: Option<&'a [u8]>,
    /// Each message with its offset in the block.
    pub messages: Vec<(usize, &'a [u8])>,
    /// Why the batch cannot be split (no message, text outside any message, a BTS-1 count that
    /// disagrees), and where.
    pub problem: Option<(String, usize)>,
}

/// Field `n` of a header or envelope segment, counted as the split by its own field separator
/// gives it (`n` = 1 is the encoding characters of `FHS`/`BHS`, the first field otherwise).
pub(crate) fn segment_field(segment: &[u8], n: usize) -> &[u8] {
    let Some(&sep) = segment.get(3) else {
        return &[];
    };
    segment.split(move |b| *b == sep).nth(n).unwrap_or_default()
}

impl<'a> BatchSplit<'a> {
    /// Splits `block` (which [`is_batch`]).
    pub fn of(block: &'a [u8]) -> Self {
        let mut split = BatchSplit::default();
        let mut declared: Option<(usize, usize)> = None;
        for part in split_batch(block) {
            match part {
                BatchPart::Message { offset, bytes } => split.messages.push((offset, bytes)),
                BatchPart::Envelope { offset, segment } => match segment.get(..3) {
                    Some(b"FHS") => {
                        split.file_header.get_or_insert(segment);
                    }
                    Some(b"BHS") => {
                        split.batch_header.get_or_insert(segment);
                    }
                    Some(b"BTS") => {
                        let count = std::str::from_utf8(segment_field(segment, 1))
                            .ok()
                            .and_then(|c| c.trim().parse::<usize>().ok());
                        if let Some(n) = count {
                            declared.get_or_insert((n, offset));
                        }
                    }
                    _ => {}
                },
                BatchPart::Stray { offset, .. } => {
                    split.problem.get_or_insert((
                        format!(
                            "HL7 batch cannot be split: text outside any message at byte {offset}"
                        ),
                        offset,
                    ));
                }
            }
        }
        if split.messages.is_empty() {
            split.problem.get_or_insert((
                "HL7 batch cannot be split: it holds no message (no MSH segment)".into(),
                0,
            ));
        }
        if let Some((n, offset)) = declared
            && n != split.messages.len()
        {
            split.problem.get_or_insert((
                format!(
                    "HL7 batch cannot be split: BTS-1 counts {n} messages but the batch holds {}",
                    split.messages.len()
                ),
                offset,
            ));
        }
        split
    }
}

/// The delimiters of a header segment (`FHS`/`BHS`): its field separator and field 2, completed
/// with the defaults; the defaults when they are unusable.
fn header_delimiters(segment: &[u8]) -> Delimiters {
    let sep = segment.get(3).copied().unwrap_or(b'|');
    let encoding = match segment_field(segment, 1) {
        [] => b"^~\\&".as_slice(),
        e => e,
    };
    Delimiters::from_header(sep, encoding, 0)
        .unwrap_or_default()
        .completed()
}

/// An `MSH` standing for a batch that cannot be split, so that its refusal is built like any
/// ACK: the applications and control id (BHS-11 → MSH-10) of its `BHS`/`FHS`, processing id `P`.
pub(crate) fn stand_in_header(header: &[u8], version: &str) -> Result<Vec<u8>, EncodeError> {
    let mut b = MessageBuilder::new(header_delimiters(header))?;
    let version: String = version
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let msh = b.msh();
    for n in 3..=6 {
        msh.set_raw(n, segment_field(header, n - 1));
    }
    msh.set_raw(10, segment_field(header, 10)).set(11, "P").set(
        12,
        if version.is_empty() {
            "2.5.1"
        } else {
            &version
        },
    );
    Ok(b.to_bytes())
}

/// What labwire writes into the header of a response batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyHeader<'a> {
    /// Field 3, labwire's application name.
    pub sending_application: &'a str,
    /// Field 7, an HL7 timestamp.
    pub timestamp: &'a str,
    /// Field 11, labwire's own control id.
    pub control_id: &'a str,
}

/// The `FHS`/`BHS` answering `inbound`: applications swapped, our own control id (field 11),
/// field 12 naming the inbound control id, the inbound delimiters.
fn reply_header(inbound: &[u8], ours: ReplyHeader<'_>) -> Result<SegmentBuilder, EncodeError> {
    let name = match inbound.get(..3) {
        Some(b"FHS") => "FHS",
        _ => "BHS",
    };
    let mut s = SegmentBuilder::new(name, header_delimiters(inbound))?;
    s.set(3, ours.sending_application)
        .set_raw(5, segment_field(inbound, 2))
        .set_raw(6, segment_field(inbound, 3))
        .set(7, ours.timestamp)
        .set(11, ours.control_id)
        .set_raw(12, segment_field(inbound, 10));
    Ok(s)
}

/// `BHS` … ACKs … `BTS` (inside `FHS` … `FTS` when the inbound had them).
pub(crate) fn batch_reply(
    file_header: Option<(&[u8], ReplyHeader<'_>)>,
    batch_header: (&[u8], ReplyHeader<'_>),
    acks: &[&[u8]],
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    if let Some((fhs, ours)) = file_header {
        reply_header(fhs, ours)?.write(&mut out);
    }
    let (bhs, ours) = batch_header;
    reply_header(bhs, ours)?.write(&mut out);
    for ack in acks {
        out.extend_from_slice(ack);
        if !ack.ends_with(b"\r") {
            out.push(b'\r');
        }
    }
    let mut bts = SegmentBuilder::new("BTS", header_delimiters(bhs))?;
    bts.set(1, &acks.len().to_string()).write(&mut out);
    if let Some((fhs, _)) = file_header {
        let mut fts = SegmentBuilder::new("FTS", header_delimiters(fhs))?;
        fts.set(1, "1").write(&mut out);
    }
    Ok(out)
}
