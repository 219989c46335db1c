//! A simulated HL7 instrument: MLLP frames over a real stream, using `labwire_hl7`'s framer.

use labwire_hl7::mllp::{self, Framer, FramerConfig, FramerEvent};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub struct Hl7Instrument<S> {
    pub stream: S,
    framer: Framer,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Hl7Instrument<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            framer: Framer::new(FramerConfig::default()),
        }
    }

    pub async fn send(&mut self, msg: &str) {
        let mut out = Vec::new();
        mllp::frame(msg.as_bytes(), &mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next frame from labwire, as text, or `None` after `limit` or on close.
    pub async fn recv(&mut self, limit: Duration) -> Option<String> {
        let end = tokio::time::Instant::now() + limit;
        let mut buf = [0u8; 4096];
        loop {
            while let Some(ev) = self.framer.poll() {
                if let FramerEvent::Frame { payload, .. } = ev {
                    return Some(String::from_utf8(payload).unwrap());
                }
            }
            match tokio::time::timeout_at(end, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.framer.push(Instant::now(), &buf[..n]),
                _ => return None,
            }
        }
    }
}

/// Field `n` of the first segment named `seg` (MSH counts MSH-1 as the separator).
pub fn field(msg: &str, seg: &str, n: usize) -> String {
    let line = msg
        .split('\r')
        .find(|l| l.starts_with(seg))
        .unwrap_or_else(|| panic!("no {seg} in {msg:?}"));
    let idx = if seg == "MSH" { n - 1 } else { n };
    line.split('|').nth(idx).unwrap_or("").to_owned()
}

pub fn segments(msg: &str, seg: &str) -> usize {
    msg.split('\r').filter(|l| l.starts_with(seg)).count()
}
