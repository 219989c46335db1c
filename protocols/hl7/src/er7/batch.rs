//! Batches and files (HL7 v2.5 §2.10.3): `FHS`/`BHS` … messages … `BTS`/`FTS`, and plain
//! captures holding several messages one after another.
//!
//! The splitter walks the segments (CR, LF or CRLF terminated) and cuts a new message at every
//! `MSH`. Envelope segments are reported separately; non-blank text before the first `MSH` is
//! reported as stray. Nothing is copied.

/// One piece of a batch or capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPart<'a> {
    /// A message, from its `MSH` to the end of its last segment (terminator excluded).
    Message {
        /// Byte offset of `MSH` in the input.
        offset: usize,
        /// The message bytes.
        bytes: &'a [u8],
    },
    /// A batch or file envelope segment (`FHS`, `BHS`, `BTS`, `FTS`).
    Envelope {
        /// Byte offset of the segment.
        offset: usize,
        /// The segment text.
        segment: &'a [u8],
    },
    /// Non-blank text that is not inside any message.
    Stray {
        /// Byte offset of the text.
        offset: usize,
        /// The text (consecutive lines).
        bytes: &'a [u8],
    },
}

fn starts_segment(line: &[u8], names: &[&[u8; 3]]) -> bool {
    names.iter().any(|n| line.starts_with(*n))
        && line.get(3).is_none_or(|b| !b.is_ascii_alphanumeric())
}

/// Splits a batch, file or capture into its parts.
pub fn split_batch(input: &[u8]) -> impl Iterator<Item = BatchPart<'_>> {
    let mut pos = 0usize;
    // (kind, start, end of last non-blank line)
    let mut open: Option<(bool, usize, usize)> = None;
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if done {
                return None;
            }
            let Some(tail) = input.get(pos..).filter(|t| !t.is_empty()) else {
                done = true;
                let (is_msg, start, end) = open.take()?;
                return Some(part(input, is_msg, start, end));
            };
            let len = memchr::memchr2(b'\r', b'\n', tail).unwrap_or(tail.len());
            let line = tail.get(..len).unwrap_or_default();
            let at = pos;
            pos += len + 1;
            if line
                .iter()
                .all(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                continue;
            }
            let envelope = starts_segment(line, &[b"FHS", b"BHS", b"BTS", b"FTS"]);
            let header = starts_segment(line, &[b"MSH"]);
            if envelope || header {
                let finished = open.take();
                if header {
                    open = Some((true, at, at + len));
                }
                match (finished, envelope) {
                    (Some((m, s, e)), true) => {
                        // Emit the finished part now and read the envelope again next call.
                        pos = at;
                        return Some(part(input, m, s, e));
                    }
                    (Some((m, s, e)), false) => return Some(part(input, m, s, e)),
                    (None, true) => {
                        return Some(BatchPart::Envelope {
                            offset: at,
                            segment: line,
                        });
                    }
                    (None, false) => continue,
                }
            }
            match &mut open {
                Some((_, _, end)) => *end = at + len,
                None => open = Some((false, at, at + len)),
            }
        }
    })
}

fn part(input: &[u8], is_msg: bool, start: usize, end: usize) -> BatchPart<'_> {
    let bytes = input.get(start..end).unwrap_or_default();
    if is_msg {
        BatchPart::Message {
            offset: start,
            bytes,
        }
    } else {
        BatchPart::Stray {
            offset: start,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_is_split() {
        let b =
            b"FHS|^~\\&|x\rBHS|^~\\&\rMSH|^~\\&|A\rPID|1\rMSH|^~\\&|B\r\nOBX|1\nBTS|2\rFTS|1\n\n";
        let parts: Vec<_> = split_batch(b).collect();
        assert_eq!(parts.len(), 6, "{parts:?}");
        assert!(matches!(parts[0], BatchPart::Envelope { offset: 0, .. }));
        assert!(matches!(parts[1], BatchPart::Envelope { .. }));
        assert_eq!(
            parts[2],
            BatchPart::Message {
                offset: 20,
                bytes: b"MSH|^~\\&|A\rPID|1"
            }
        );
        assert_eq!(
            parts[3],
            BatchPart::Message {
                offset: 37,
                bytes: b"MSH|^~\\&|B\r\nOBX|1"
            }
        );
        assert!(matches!(
            parts[4],
            BatchPart::Envelope {
                segment: b"BTS|2",
                ..
            }
        ));
        assert!(matches!(
            parts[5],
            BatchPart::Envelope {
                segment: b"FTS|1",
                ..
            }
        ));
    }

    #[test]
    fn stray_text_before_a_message() {
        let parts: Vec<_> = split_batch(b"hello\r\nworld\rMSH|^~\\&\r").collect();
        assert_eq!(
            parts[0],
            BatchPart::Stray {
                offset: 0,
                bytes: b"hello\r\nworld"
            }
        );
        assert!(matches!(parts[1], BatchPart::Message { offset: 13, .. }));
        assert_eq!(parts.len(), 2);
    }
}
