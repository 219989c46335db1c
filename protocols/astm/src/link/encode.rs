//! Splitting a message into frames (ASTM E1381 §6.3.1.2 / CLSI LIS1-A §8.3.1.2).
//!
//! A message is E1394 record text, each record terminated by CR. It is cut
//! into frames of at most [`EncodeOptions::max_text`] text bytes (240 by the
//! standard); intermediate pieces end with ETB, the last with ETX. With
//! [`EncodeOptions::record_per_frame`] every record is sent as its own
//! ETX-terminated message (Roche cobas / python-astm "non-bulk" style), a record
//! longer than the limit still being split with ETB.

use super::frame::{FrameEnd, FrameNumber, STANDARD_MAX_TEXT, encode_frame};
use memchr::memchr;

/// How to cut a message into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Maximum text bytes per frame; 240 by default (the standard). Values
    /// below 1 are treated as 1.
    pub max_text: usize,
    /// Send each CR-terminated record as its own ETX frame (default false).
    pub record_per_frame: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            max_text: STANDARD_MAX_TEXT,
            record_per_frame: false,
        }
    }
}

/// The next frame's piece of `text` starting at `pos`: returns the end of the
/// piece (exclusive) and how the frame ends. `None` once `pos` reaches the end.
#[must_use]
pub fn next_piece(text: &[u8], pos: usize, options: &EncodeOptions) -> Option<(usize, FrameEnd)> {
    let rest = text.get(pos..).filter(|r| !r.is_empty())?;
    let max = options.max_text.max(1);
    let unit_len = if options.record_per_frame {
        memchr(b'\r', rest).map_or(rest.len(), |cr| cr + 1)
    } else {
        rest.len()
    };
    if unit_len > max {
        Some((pos + max, FrameEnd::Intermediate))
    } else {
        Some((pos + unit_len, FrameEnd::Last))
    }
}

/// Iterator over the frame pieces of a message: `(text piece, end)`.
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    text: &'a [u8],
    pos: usize,
    options: EncodeOptions,
}

/// The pieces `text` is cut into under `options`.
#[must_use]
pub fn pieces<'a>(text: &'a [u8], options: &EncodeOptions) -> Pieces<'a> {
    Pieces {
        text,
        pos: 0,
        options: *options,
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = (&'a [u8], FrameEnd);

    fn next(&mut self) -> Option<Self::Item> {
        let (end, kind) = next_piece(self.text, self.pos, &self.options)?;
        let piece = self.text.get(self.pos..end)?;
        self.pos = end;
        Some((piece, kind))
    }
}

/// Appends all frames of `text` to `out`, numbering from `first`; returns the
/// number the following frame would get.
pub fn encode_message(
    text: &[u8],
    first: FrameNumber,
    options: &EncodeOptions,
    out: &mut Vec<u8>,
) -> FrameNumber {
    let mut number = first;
    for (piece, end) in pieces(text, options) {
        encode_frame(number, piece, end, out);
        number = number.next();
    }
    number
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_limit_with_etb_and_ends_with_etx() {
        let opts = EncodeOptions {
            max_text: 4,
            record_per_frame: false,
        };
        let got: Vec<_> = pieces(b"H|\\^&\rL|1\r", &opts).collect();
        assert_eq!(
            got,
            vec![
                (&b"H|\\^"[..], FrameEnd::Intermediate),
                (&b"&\rL|"[..], FrameEnd::Intermediate),
                (&b"1\r"[..], FrameEnd::Last),
            ]
        );
    }

    #[test]
    fn record_per_frame_ends_each_record_with_etx() {
        let opts = EncodeOptions {
            max_text: 240,
            record_per_frame: true,
        };
        let got: Vec<_> = pieces(b"H|\\^&\rP|1\rL|1\r", &opts).map(|p| p.1).collect();
        assert_eq!(got, vec![FrameEnd::Last; 3]);
    }

    #[test]
    fn python_astm_chunked_vector() {
        // synthetic-python-astm-etb-chunked-14byte-frames.astm, byte for byte.
        let opts = EncodeOptions {
            max_text: 7,
            record_per_frame: false,
        };
        let mut out = Vec::new();
        encode_message(
            b"foo|1\rbar|24\rbaz|1^2^3|boo\r",
            FrameNumber::FIRST,
            &opts,
            &mut out,
        );
        assert_eq!(
            out,
            b"\x021foo|1\rb\x17A8\r\n\x022ar|24\rb\x176D\r\n\x023az|1^2^\x17C0\r\n\x0243|boo\r\x0333\r\n"
        );
    }
}
