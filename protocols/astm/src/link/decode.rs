//! Incremental frame decoder (ASTM E1381 §6.3 / CLSI LIS1-A §8.3).
//!
//! [`FrameDecoder`] takes bytes as they arrive, in any chunking, and yields
//! frames, single-byte controls (ENQ, ACK, NAK, EOT), runs of line noise, and
//! frame errors with byte offsets. Every input byte is looked at once (O(n));
//! frame text is found and summed in one vectorisable pass and copied into one reusable buffer that
//! never grows past [`FrameLimits::max_text`], so a warm decoder does not
//! allocate on the happy path.
//!
//! Tolerances (seen in real captures): the CR LF after the checksum may be
//! missing entirely or in part, lowercase checksum digits are accepted, and
//! bytes between frames that are not controls are reported as [`Decoded::Noise`]
//! and skipped.

use memchr::{memchr2, memchr3};

use super::checksum::parse_checksum_digits;
use super::control::{CR, Control, ENQ, EOT, ETB, ETX, LF, STX};
use super::error::{EXCERPT_LEN, FrameError, FrameErrorKind};
use super::frame::{Frame, FrameEnd, FrameLimits, FrameNumber};

/// A run of noise is reported at the latest after this many bytes, so a
/// garbage flood is visible without buffering anything.
pub const NOISE_REPORT_BYTES: usize = 4096;

/// One item produced by [`FrameDecoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A frame with a valid frame number digit and checksum.
    Frame(Frame<'a>),
    /// ENQ, ACK, NAK or EOT outside a frame.
    Control {
        /// Which control byte.
        control: Control,
        /// Its offset in the stream.
        offset: usize,
    },
    /// Bytes between frames that are neither controls nor CR/LF trailers.
    Noise {
        /// Offset of the first noise byte.
        offset: usize,
        /// Number of bytes in the run (CR/LF inside the run included).
        len: usize,
    },
    /// A frame that was rejected.
    Error(FrameError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames.
    Idle,
    /// After STX, waiting for FN.
    Number,
    /// Inside the text.
    Text,
    /// After ETX/ETB, waiting for the first checksum digit.
    Check1,
    /// Waiting for the second checksum digit.
    Check2(u8),
    /// Skipping the rest of an over-long frame.
    Discard,
    /// Skipping up to `n` checksum digits of a discarded frame.
    DiscardCheck(u8),
}

/// Incremental, bounded E1381 frame decoder. See the module docs.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    limits: FrameLimits,
    state: State,
    text: Vec<u8>,
    sum: u8,
    raw_number: u8,
    end: FrameEnd,
    frame_offset: usize,
    offset: usize,
    noise: Option<(usize, usize)>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(FrameLimits::default())
    }
}

impl FrameDecoder {
    /// A decoder with the given limits, positioned at stream offset 0.
    #[must_use]
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            limits,
            state: State::Idle,
            text: Vec::new(),
            sum: 0,
            raw_number: 0,
            end: FrameEnd::Last,
            frame_offset: 0,
            offset: 0,
            noise: None,
        }
    }

    /// The limits this decoder enforces.
    #[must_use]
    pub fn limits(&self) -> FrameLimits {
        self.limits
    }

    /// Offset in the stream of the next byte to be consumed.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// True while a frame has started (STX seen) but not finished.
    #[must_use]
    pub fn in_frame(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Drops any partial frame and pending noise; the stream offset is kept.
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.text.clear();
        self.noise = None;
    }

    /// Consumes bytes from the front of `input` until one item is complete,
    /// and returns it; `None` when `input` is exhausted without completing one.
    ///
    /// Call in a loop until it returns `None`, then feed the next chunk. The
    /// returned frame text borrows the decoder's buffer until the next call.
    pub fn decode<'a>(&'a mut self, input: &mut &[u8]) -> Option<Decoded<'a>> {
        loop {
            let &byte = input.first()?;
            match self.state {
                State::Idle => {
                    if (byte == STX || Control::from_byte(byte).is_some())
                        && let Some(noise) = self.take_noise()
                    {
                        return Some(noise);
                    }
                    self.advance(input, 1);
                    if byte == STX {
                        self.start_frame();
                    } else if let Some(control) = Control::from_byte(byte) {
                        return Some(Decoded::Control {
                            control,
                            offset: self.offset - 1,
                        });
                    } else if let Some((_, len)) = self.noise.as_mut() {
                        *len += 1;
                        if *len >= NOISE_REPORT_BYTES {
                            return self.take_noise();
                        }
                    } else if byte != CR && byte != LF {
                        self.noise = Some((self.offset - 1, 1));
                    }
                }
                State::Number => {
                    if is_interrupt(byte) {
                        return Some(self.interrupted(byte));
                    }
                    self.advance(input, 1);
                    self.raw_number = byte;
                    self.sum = byte;
                    self.state = State::Text;
                }
                State::Text => {
                    let (stop, sum) = scan_text(input);
                    if let Some(err) = self.push_text(input, stop, sum) {
                        return Some(err);
                    }
                    let &terminator = input.first()?;
                    if is_interrupt(terminator) {
                        return Some(self.interrupted(terminator));
                    }
                    self.advance(input, 1);
                    self.end = if terminator == ETB {
                        FrameEnd::Intermediate
                    } else {
                        FrameEnd::Last
                    };
                    self.sum = self.sum.wrapping_add(terminator);
                    self.state = State::Check1;
                }
                State::Check1 => {
                    if parse_checksum_digits(byte, b'0').is_none() {
                        return Some(self.malformed_checksum(byte));
                    }
                    self.advance(input, 1);
                    self.state = State::Check2(byte);
                }
                State::Check2(high) => {
                    let Some(received) = parse_checksum_digits(high, byte) else {
                        return Some(self.malformed_checksum(byte));
                    };
                    self.advance(input, 1);
                    self.state = State::Idle;
                    let Some(number) = FrameNumber::from_ascii(self.raw_number) else {
                        let found = self.raw_number;
                        return Some(self.error(FrameErrorKind::BadFrameNumber { found }));
                    };
                    if received != self.sum {
                        let computed = self.sum;
                        return Some(
                            self.error(FrameErrorKind::ChecksumMismatch { received, computed }),
                        );
                    }
                    return Some(Decoded::Frame(Frame {
                        number,
                        end: self.end,
                        text: &self.text,
                        offset: self.frame_offset,
                    }));
                }
                State::Discard => {
                    let Some(stop) = memchr3(ETX, ETB, STX, input) else {
                        let skip = memchr2(EOT, ENQ, input).unwrap_or(input.len());
                        self.advance(input, skip);
                        if !input.is_empty() {
                            self.state = State::Idle;
                        }
                        continue;
                    };
                    let head = input.get(..stop).unwrap_or_default();
                    if let Some(at) = memchr2(EOT, ENQ, head) {
                        self.advance(input, at);
                        self.state = State::Idle;
                        continue;
                    }
                    self.advance(input, stop);
                    if input.first() == Some(&STX) {
                        self.state = State::Idle;
                    } else {
                        self.advance(input, 1);
                        self.state = State::DiscardCheck(2);
                    }
                }
                State::DiscardCheck(left) => {
                    if left == 0 || parse_checksum_digits(byte, b'0').is_none() {
                        self.state = State::Idle;
                    } else {
                        self.advance(input, 1);
                        self.state = State::DiscardCheck(left - 1);
                    }
                }
            }
        }
    }

    /// Reports the noise seen since the last item, if any, without waiting
    /// for the run to end (a link calls this after each read, so a garbled
    /// reply byte is noticed at once). Bytes that follow continue the count.
    pub fn flush_noise(&mut self) -> Option<Decoded<'static>> {
        if self.state == State::Idle {
            self.take_noise()
        } else {
            None
        }
    }

    fn take_noise(&mut self) -> Option<Decoded<'static>> {
        let (offset, len) = self.noise.take()?;
        if len == 0 {
            return None;
        }
        // Later bytes belong to a new run that starts right here.
        self.noise = Some((self.offset, 0));
        Some(Decoded::Noise { offset, len })
    }

    /// Signals the end of the input: returns the error for a frame left
    /// unfinished, or the last run of noise, and resets to idle.
    pub fn finish(&mut self) -> Option<Decoded<'static>> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match state {
            State::Idle => {
                let noise = self.take_noise();
                self.noise = None;
                noise
            }
            State::Discard | State::DiscardCheck(_) => None,
            State::Number | State::Text | State::Check1 | State::Check2(_) => {
                let kind = match FrameNumber::from_ascii(self.raw_number) {
                    None if state != State::Number => FrameErrorKind::BadFrameNumber {
                        found: self.raw_number,
                    },
                    _ => FrameErrorKind::Truncated,
                };
                let err = self.make_error(kind);
                self.text.clear();
                Some(Decoded::Error(err))
            }
        }
    }

    fn advance(&mut self, input: &mut &[u8], n: usize) {
        let n = n.min(input.len());
        *input = input.get(n..).unwrap_or_default();
        self.offset += n;
    }

    fn start_frame(&mut self) {
        self.state = State::Number;
        self.frame_offset = self.offset - 1;
        self.text.clear();
        self.sum = 0;
        self.raw_number = 0;
    }

    /// Moves `n` bytes of text (summing to `sum`) from `input` into the
    /// buffer, enforcing the limit.
    fn push_text<'a>(&mut self, input: &mut &[u8], n: usize, sum: u8) -> Option<Decoded<'a>> {
        let chunk = input.get(..n).unwrap_or_default();
        if self.text.len() + chunk.len() > self.limits.max_text {
            let room = self.limits.max_text.saturating_sub(self.text.len());
            self.text
                .extend_from_slice(chunk.get(..room.min(EXCERPT_LEN)).unwrap_or_default());
            self.advance(input, n);
            self.state = State::Discard;
            let limit = self.limits.max_text;
            return Some(Decoded::Error(
                self.make_error(FrameErrorKind::TooLong { limit }),
            ));
        }
        self.sum = self.sum.wrapping_add(sum);
        self.text.extend_from_slice(chunk);
        self.advance(input, n);
        None
    }

    fn interrupted<'a>(&mut self, by: u8) -> Decoded<'a> {
        self.state = State::Idle;
        let at = self.offset;
        self.error(FrameErrorKind::Interrupted { by, at })
    }

    fn malformed_checksum<'a>(&mut self, found: u8) -> Decoded<'a> {
        self.state = State::Idle;
        if FrameNumber::from_ascii(self.raw_number).is_none() {
            let found = self.raw_number;
            return self.error(FrameErrorKind::BadFrameNumber { found });
        }
        self.error(FrameErrorKind::MalformedChecksum { found })
    }

    fn error<'a>(&mut self, kind: FrameErrorKind) -> Decoded<'a> {
        Decoded::Error(self.make_error(kind))
    }

    fn make_error(&self, kind: FrameErrorKind) -> FrameError {
        let mut excerpt = Vec::with_capacity(EXCERPT_LEN);
        excerpt.push(STX);
        if !matches!(kind, FrameErrorKind::Interrupted { .. }) || self.raw_number != 0 {
            excerpt.push(self.raw_number);
        }
        let room = EXCERPT_LEN - excerpt.len();
        excerpt.extend_from_slice(
            self.text
                .get(..room.min(self.text.len()))
                .unwrap_or_default(),
        );
        FrameError {
            offset: self.frame_offset,
            kind,
            excerpt,
        }
    }
}

fn is_interrupt(byte: u8) -> bool {
    matches!(byte, STX | EOT | ENQ)
}

/// True for the bytes that end frame text: STX, ETX, EOT, ENQ (0x02..=0x05) and ETB.
#[inline]
fn ends_text(byte: u8) -> bool {
    byte.wrapping_sub(STX) < 4 || byte == ETB
}

/// Finds the first byte that ends frame text and sums (mod 256) the bytes
/// before it, in one pass: blocks of 32 bytes are checked and summed without
/// branches (the compiler vectorises them), only the block holding the stop
/// byte is walked byte by byte. Returns `(input.len(), sum)` if none.
fn scan_text(input: &[u8]) -> (usize, u8) {
    const BLOCK: usize = 32;
    let mut sum = 0u8;
    let mut pos = 0;
    let mut blocks = input.chunks_exact(BLOCK);
    for block in &mut blocks {
        let mut stop = false;
        let mut block_sum = 0u8;
        for &b in block {
            stop |= ends_text(b);
            block_sum = block_sum.wrapping_add(b);
        }
        if stop {
            break;
        }
        sum = sum.wrapping_add(block_sum);
        pos += BLOCK;
    }
    for &b in input.get(pos..).unwrap_or_default() {
        if ends_text(b) {
            return (pos, sum);
        }
        sum = sum.wrapping_add(b);
        pos += 1;
    }
    (pos, sum)
}
