//! Incremental MLLP frame reassembly, sans-IO: bytes and the current time in, events out.
//!
//! Every byte is looked at once (memchr jumps to the next VT or FS), so trickled input costs
//! O(n). A frame larger than [`FramerConfig::max_frame_bytes`] is dropped (reported, not
//! buffered). A frame that has not ended [`FramerConfig::frame_timeout`] after its VT is dropped
//! when [`Framer::on_timeout`] is called at or after [`Framer::next_deadline`]. A frame cut short
//! (new VT, deadline, end of input) is reported with its bytes, moved out of the buffer, and
//! the cause. A block holding only CR/LF/space/tab is line noise, not a message.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{COMMIT_ACK, COMMIT_NAK, CR, END, START};

/// Framer limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    /// Largest frame payload kept, in bytes. Default
    /// [`labwire_event::limits::DEFAULT_MESSAGE_BYTES`] (4 MiB).
    pub max_frame_bytes: usize,
    /// How long a frame may take from its VT to its FS. Default 30 s.
    pub frame_timeout: Duration,
}

impl Default for FramerConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: labwire_event::limits::DEFAULT_MESSAGE_BYTES,
            frame_timeout: Duration::from_secs(30),
        }
    }
}

/// What the framer found. Offsets count bytes since the framer was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramerEvent {
    /// A complete message frame (payload without VT/FS/CR).
    Frame {
        /// Offset of the payload's first byte.
        offset: u64,
        /// The message bytes.
        payload: Vec<u8>,
    },
    /// An MLLP release 2 commit acknowledgement block.
    CommitAck {
        /// Offset of its VT.
        offset: u64,
    },
    /// An MLLP release 2 negative commit acknowledgement block.
    CommitNak {
        /// Offset of its VT.
        offset: u64,
    },
    /// Bytes outside any frame were skipped.
    Skipped {
        /// Offset of the first skipped byte.
        offset: u64,
        /// How many bytes.
        len: usize,
        /// True when they were only CR, LF, spaces or tabs (harmless line noise); also for an
        /// MLLP block holding nothing else (then `offset` is its VT and `len` counts VT and FS).
        whitespace_only: bool,
    },
    /// A frame grew past the limit and was dropped up to its FS.
    TooLarge {
        /// Offset of its VT.
        offset: u64,
        /// The limit.
        limit: usize,
    },
    /// A frame was cut short before its FS; the bytes received are handed over (never more than
    /// [`FramerConfig::max_frame_bytes`]: a longer frame is reported as [`FramerEvent::TooLarge`]).
    Truncated {
        /// Offset of its VT.
        offset: u64,
        /// Payload bytes received (`payload.len()`).
        len: usize,
        /// Why the frame ended early.
        cause: TruncationCause,
        /// The payload bytes received, without the VT.
        payload: Vec<u8>,
    },
}

/// Why a frame was cut short (see [`FramerEvent::Truncated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncationCause {
    /// A new VT arrived before the FS; it starts the next frame.
    NewStartBlock,
    /// [`FramerConfig::frame_timeout`] passed without an FS ([`Framer::on_timeout`]).
    Deadline,
    /// The input ended inside the frame ([`Framer::finish`]: connection closed, end of file).
    EndOfInput,
}

impl TruncationCause {
    /// A short explanation for people, e.g. for an error event's reason.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NewStartBlock => "a new start block (VT) arrived before the end block (FS)",
            Self::Deadline => "no end block (FS) before the frame deadline",
            Self::EndOfInput => "the input ended (connection closed) before the end block (FS)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames.
    Idle,
    /// Inside a frame that began at `vt` (offset of VT).
    InFrame {
        vt: u64,
        started: Instant,
        dropping: bool,
    },
    /// Just after FS: a CR here belongs to the frame.
    AfterEnd,
}

/// Reassembles MLLP frames.
#[derive(Debug)]
pub struct Framer {
    cfg: FramerConfig,
    state: State,
    buf: Vec<u8>,
    offset: u64,
    skipped: Option<(u64, usize, bool)>,
    events: VecDeque<FramerEvent>,
}

fn blank(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b'\r' | b'\n' | b' ' | b'\t'))
}

impl Framer {
    /// A framer with the given limits.
    pub fn new(cfg: FramerConfig) -> Self {
        Self {
            cfg,
            state: State::Idle,
            buf: Vec::new(),
            offset: 0,
            skipped: None,
            events: VecDeque::new(),
        }
    }

    /// Feeds bytes received at `now`. Results are read with [`Framer::poll`].
    pub fn push(&mut self, now: Instant, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = match self.state {
                State::AfterEnd => {
                    self.state = State::Idle;
                    usize::from(bytes.first() == Some(&CR))
                }
                State::Idle => match memchr::memchr(START, bytes) {
                    Some(p) => {
                        self.skip(bytes.get(..p).unwrap_or_default());
                        self.flush_skipped();
                        self.state = State::InFrame {
                            vt: self.offset + p as u64,
                            started: now,
                            dropping: false,
                        };
                        self.buf.clear();
                        p + 1
                    }
                    None => {
                        self.skip(bytes);
                        bytes.len()
                    }
                },
                State::InFrame {
                    vt,
                    started,
                    dropping,
                } => match memchr::memchr2(START, END, bytes) {
                    Some(p) => {
                        let chunk = bytes.get(..p).unwrap_or_default();
                        self.take(chunk, vt, started, dropping);
                        let dropping = matches!(self.state, State::InFrame { dropping: true, .. });
                        if bytes.get(p) == Some(&END) {
                            if !dropping {
                                self.finish_frame(vt);
                            }
                            self.state = State::AfterEnd;
                            p + 1
                        } else {
                            self.cut(vt, dropping, TruncationCause::NewStartBlock);
                            self.state = State::InFrame {
                                vt: self.offset + p as u64,
                                started: now,
                                dropping: false,
                            };
                            p + 1
                        }
                    }
                    None => {
                        self.take(bytes, vt, started, dropping);
                        bytes.len()
                    }
                },
            };
            self.offset += used as u64;
            bytes = bytes.get(used..).unwrap_or_default();
        }
    }

    fn skip(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        let ws = blank(b);
        match &mut self.skipped {
            Some((_, len, w)) => {
                *len += b.len();
                *w &= ws;
            }
            None => self.skipped = Some((self.offset, b.len(), ws)),
        }
    }

    fn flush_skipped(&mut self) {
        if let Some((offset, len, whitespace_only)) = self.skipped.take() {
            self.events.push_back(FramerEvent::Skipped {
                offset,
                len,
                whitespace_only,
            });
        }
    }

    fn take(&mut self, chunk: &[u8], vt: u64, started: Instant, dropping: bool) {
        if dropping {
            return;
        }
        if self.buf.len() + chunk.len() > self.cfg.max_frame_bytes {
            self.events.push_back(FramerEvent::TooLarge {
                offset: vt,
                limit: self.cfg.max_frame_bytes,
            });
            self.buf = Vec::new();
            self.state = State::InFrame {
                vt,
                started,
                dropping: true,
            };
        } else {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Reports the frame begun at `vt` as cut short, handing over its bytes (moved, not copied).
    fn cut(&mut self, vt: u64, dropping: bool, cause: TruncationCause) {
        let payload = std::mem::take(&mut self.buf);
        if !dropping {
            self.events.push_back(FramerEvent::Truncated {
                offset: vt,
                len: payload.len(),
                cause,
                payload,
            });
        }
    }

    fn finish_frame(&mut self, vt: u64) {
        let payload = std::mem::take(&mut self.buf);
        let ev = match payload.as_slice() {
            [COMMIT_ACK] => FramerEvent::CommitAck { offset: vt },
            [COMMIT_NAK] => FramerEvent::CommitNak { offset: vt },
            // A block holding only line noise (e.g. the CR left over when a stray VT cut the
            // previous frame): nothing to deliver; reported like whitespace between frames.
            p if blank(p) => FramerEvent::Skipped {
                offset: vt,
                len: p.len() + 2,
                whitespace_only: true,
            },
            _ => FramerEvent::Frame {
                offset: vt + 1,
                payload,
            },
        };
        self.events.push_back(ev);
    }

    /// The next event, if any.
    pub fn poll(&mut self) -> Option<FramerEvent> {
        self.events.pop_front()
    }

    /// When the frame being received must be complete; `None` between frames.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::InFrame { started, .. } => started.checked_add(self.cfg.frame_timeout),
            _ => None,
        }
    }

    /// Drops the unfinished frame when `now` is at or past [`Framer::next_deadline`].
    pub fn on_timeout(&mut self, now: Instant) {
        if let (State::InFrame { vt, dropping, .. }, Some(deadline)) =
            (self.state, self.next_deadline())
            && now >= deadline
        {
            self.cut(vt, dropping, TruncationCause::Deadline);
            self.state = State::Idle;
        }
    }

    /// The input has ended (connection closed, end of file): reports an unfinished frame and
    /// trailing bytes.
    pub fn finish(&mut self) {
        if let State::InFrame { vt, dropping, .. } = self.state {
            self.cut(vt, dropping, TruncationCause::EndOfInput);
        }
        self.buf.clear();
        self.state = State::Idle;
        self.flush_skipped();
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut Framer) -> Vec<FramerEvent> {
        std::iter::from_fn(|| f.poll()).collect()
    }

    #[test]
    fn frames_in_one_push_and_byte_by_byte() {
        let input = b"xx\x0bMSH|A\x1c\r\x0bMSH|B\x1c\x0b\x06\x1c\r";
        let now = Instant::now();
        let mut a = Framer::new(FramerConfig::default());
        a.push(now, input);
        let mut b = Framer::new(FramerConfig::default());
        for byte in input {
            b.push(now, std::slice::from_ref(byte));
        }
        let ea = all(&mut a);
        assert_eq!(ea, all(&mut b));
        assert_eq!(
            ea,
            vec![
                FramerEvent::Skipped {
                    offset: 0,
                    len: 2,
                    whitespace_only: false
                },
                FramerEvent::Frame {
                    offset: 3,
                    payload: b"MSH|A".to_vec()
                },
                FramerEvent::Frame {
                    offset: 11,
                    payload: b"MSH|B".to_vec()
                },
                FramerEvent::CommitAck { offset: 17 },
            ]
        );
    }

    #[test]
    fn oversized_frame_is_dropped_and_next_one_kept() {
        let mut f = Framer::new(FramerConfig {
            max_frame_bytes: 4,
            ..FramerConfig::default()
        });
        f.push(Instant::now(), b"\x0b123456\x1c\r\x0bab\x1c\r");
        assert_eq!(
            all(&mut f),
            vec![
                FramerEvent::TooLarge {
                    offset: 0,
                    limit: 4
                },
                FramerEvent::Frame {
                    offset: 10,
                    payload: b"ab".to_vec()
                }
            ]
        );
        // Cut short while dropping: reported once (TooLarge), the next frame's cut keeps its bytes.
        f.push(Instant::now(), b"\x0b123456\x0bab");
        f.finish();
        assert_eq!(
            all(&mut f),
            vec![
                FramerEvent::TooLarge {
                    offset: 14,
                    limit: 4
                },
                cut(21, TruncationCause::EndOfInput, b"ab"),
            ]
        );
    }

    fn cut(offset: u64, cause: TruncationCause, payload: &[u8]) -> FramerEvent {
        FramerEvent::Truncated {
            offset,
            len: payload.len(),
            cause,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn frame_cut_by_the_deadline_keeps_its_bytes() {
        let t0 = Instant::now();
        let mut f = Framer::new(FramerConfig::default());
        assert_eq!(f.next_deadline(), None);
        f.push(t0, b"\x0bMSH|");
        let d = f.next_deadline().unwrap();
        assert_eq!(d, t0 + Duration::from_secs(30));
        f.on_timeout(d - Duration::from_millis(1));
        assert!(f.poll().is_none());
        f.on_timeout(d);
        assert_eq!(f.poll(), Some(cut(0, TruncationCause::Deadline, b"MSH|")));
        assert_eq!(f.next_deadline(), None);
        f.push(t0, b"\x0bMSH|B\x1c\r");
        assert_eq!(
            all(&mut f),
            vec![FramerEvent::Frame {
                offset: 6,
                payload: b"MSH|B".to_vec()
            }]
        );
    }

    #[test]
    fn frame_cut_by_a_new_start_block_keeps_its_bytes() {
        let input = b"\x0bMSH|A\rPID|1\x0bMSH|B\x1c\r";
        let mut f = Framer::new(FramerConfig::default());
        for byte in input {
            f.push(Instant::now(), std::slice::from_ref(byte));
        }
        assert_eq!(
            all(&mut f),
            vec![
                cut(0, TruncationCause::NewStartBlock, b"MSH|A\rPID|1"),
                FramerEvent::Frame {
                    offset: 13,
                    payload: b"MSH|B".to_vec()
                }
            ]
        );
    }

    #[test]
    fn frame_cut_by_the_end_of_input_keeps_its_bytes() {
        let mut f = Framer::new(FramerConfig::default());
        f.push(Instant::now(), b"\x0bMSH|A\x1c\r\x0bMSH|B\rOBX");
        f.finish();
        assert_eq!(
            all(&mut f),
            vec![
                FramerEvent::Frame {
                    offset: 1,
                    payload: b"MSH|A".to_vec()
                },
                cut(8, TruncationCause::EndOfInput, b"MSH|B\rOBX"),
            ]
        );
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn stray_start_block_before_the_trailing_cr_yields_no_message() {
        // python-hl7 sending a file ending in a stray VT line: `... VT CR FS CR`.
        let mut f = Framer::new(FramerConfig::default());
        f.push(Instant::now(), b"\x0bMSH|A\r\x0b\r\x1c\r\r\n\x0b\x1c\r");
        assert_eq!(
            all(&mut f),
            vec![
                cut(0, TruncationCause::NewStartBlock, b"MSH|A\r"),
                FramerEvent::Skipped {
                    offset: 7,
                    len: 3,
                    whitespace_only: true
                },
                FramerEvent::Skipped {
                    offset: 11,
                    len: 2,
                    whitespace_only: true
                },
                FramerEvent::Skipped {
                    offset: 13,
                    len: 2,
                    whitespace_only: true
                },
            ]
        );
    }
}
