//! A simulated ASTM instrument: the real `labwire_astm` link in the instrument role over a real
//! stream, driven step by step from a test.

use labwire_astm::link::{Link, LinkConfig, LinkEvent, Role, SendFailure};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub struct AstmInstrument<S> {
    pub link: Link,
    pub stream: S,
}

/// What the instrument saw.
#[derive(Debug)]
pub enum Seen {
    /// A link event (messages are committed and reported as `Message`).
    Event(LinkEvent),
    /// A complete message from the host (already ACKed).
    Message(Vec<u8>),
}

pub fn instrument_config() -> LinkConfig {
    let mut c = LinkConfig::new(Role::Instrument);
    c.sender_timeout = Duration::from_secs(3);
    c.receiver_timeout = Duration::from_secs(3);
    c.busy_retry = Duration::from_millis(200);
    c
}

impl<S: AsyncRead + AsyncWrite + Unpin> AstmInstrument<S> {
    pub fn new(stream: S) -> Self {
        Self {
            link: Link::new(instrument_config()),
            stream,
        }
    }

    async fn flush(&mut self) -> Option<()> {
        while let Some(bytes) = self.link.poll_transmit() {
            self.stream.write_all(&bytes).await.ok()?;
        }
        Some(())
    }

    /// Runs the link for at most `limit`, returning the first thing `done` accepts.
    pub async fn pump(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Seen) -> bool,
    ) -> Option<Seen> {
        let end = tokio::time::Instant::now() + limit;
        let mut buf = [0u8; 1024];
        loop {
            self.flush().await?;
            while let Some(ev) = self.link.poll_event() {
                let seen = match ev {
                    LinkEvent::Message { token, text } => {
                        let _ = self.link.commit(token, Instant::now());
                        Seen::Message(text)
                    }
                    other => Seen::Event(other),
                };
                if done(&seen) {
                    self.flush().await?;
                    return Some(seen);
                }
            }
            let wake = self
                .link
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or(end)
                .min(end);
            tokio::select! {
                r = self.stream.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.link.handle_input(Instant::now(), &buf[..n]),
                },
                () = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= end {
                        return None;
                    }
                    self.link.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Sends one message; Ok when every frame was ACKed.
    pub async fn send(&mut self, text: &[u8]) -> Result<(), Option<SendFailure>> {
        self.link
            .send_message(text.to_vec(), Instant::now())
            .map_err(|_| None)?;
        match self
            .pump(Duration::from_secs(10), |s| {
                matches!(
                    s,
                    Seen::Event(LinkEvent::Sent(_) | LinkEvent::SendFailed { .. })
                )
            })
            .await
        {
            Some(Seen::Event(LinkEvent::Sent(_))) => Ok(()),
            Some(Seen::Event(LinkEvent::SendFailed { reason, .. })) => Err(Some(reason)),
            _ => Err(None),
        }
    }

    /// Waits for one message from the host (ACKing it) and the end of its transfer.
    pub async fn receive(&mut self, limit: Duration) -> Option<Vec<u8>> {
        let got = match self.pump(limit, |s| matches!(s, Seen::Message(_))).await {
            Some(Seen::Message(text)) => text,
            _ => return None,
        };
        self.pump(Duration::from_secs(2), |s| {
            matches!(s, Seen::Event(LinkEvent::Terminated))
        })
        .await;
        Some(got)
    }
}
