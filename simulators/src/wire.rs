//! The simulator's side of the wire: where connections come from ([`Endpoint`]) and the fault
//! layer every byte passes through on its way out ([`Wire`]).

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A byte stream the simulator can talk over (TCP socket, pty master, in-memory pipe).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How long one write may block before the link counts as dead (a pty with no reader blocks).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the simulator gets its connections.
pub enum Endpoint {
    /// TCP client: connect to the host's listener (reconnects dial again).
    Connect(String),
    /// TCP server: wait for the host to connect (reconnects accept again).
    Listen(TcpListener),
    /// One ready stream (a pty, a test pipe); it cannot be reopened once dropped.
    Stream(Option<Box<dyn Io>>),
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(a) => write!(f, "Connect({a})"),
            Self::Listen(l) => write!(f, "Listen({:?})", l.local_addr().ok()),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl Endpoint {
    /// Opens (or accepts) a connection.
    pub async fn open(&mut self) -> std::io::Result<Box<dyn Io>> {
        match self {
            Self::Connect(addr) => {
                let s = tokio::net::TcpStream::connect(addr.as_str()).await?;
                s.set_nodelay(true)?;
                Ok(Box::new(s))
            }
            Self::Listen(l) => {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok(Box::new(s))
            }
            Self::Stream(s) => s.take().ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the stream was closed and cannot be reopened",
                )
            }),
        }
    }

    /// Whether [`Endpoint::open`] can be called again after a disconnect.
    pub fn can_reopen(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }
}

/// A connection with the fault layer on its write side.
pub struct Wire {
    io: Box<dyn Io>,
    /// Write one byte per write call (and flush each).
    pub byte_by_byte: bool,
}

impl Wire {
    /// Wraps a connection.
    pub fn new(io: Box<dyn Io>) -> Self {
        Self {
            io,
            byte_by_byte: false,
        }
    }

    /// Writes `bytes` (one by one when [`Wire::byte_by_byte`] is set), bounded by
    /// [`WRITE_TIMEOUT`].
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let fut = async {
            if self.byte_by_byte {
                for b in bytes {
                    self.io.write_all(std::slice::from_ref(b)).await?;
                    self.io.flush().await?;
                    tokio::task::yield_now().await;
                }
            } else {
                self.io.write_all(bytes).await?;
                self.io.flush().await?;
            }
            Ok(())
        };
        tokio::time::timeout(WRITE_TIMEOUT, fut)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))?
    }

    /// Reads one byte within `wait`; `Ok(None)` on timeout, an error on EOF.
    pub async fn read_byte(&mut self, wait: Duration) -> std::io::Result<Option<u8>> {
        let mut one = [0u8; 1];
        match tokio::time::timeout(wait, self.io.read(&mut one)).await {
            Err(_) => Ok(None),
            Ok(Ok(0)) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the host closed the connection",
            )),
            Ok(Ok(_)) => Ok(Some(one[0])),
            Ok(Err(e)) => Err(e),
        }
    }

    /// Reads whatever arrives within `wait` (at most `max` bytes); empty on timeout.
    pub async fn read_some(&mut self, wait: Duration, max: usize) -> std::io::Result<Vec<u8>> {
        let mut chunk = vec![0u8; max.clamp(1, 64 * 1024)];
        match tokio::time::timeout(wait, self.io.read(&mut chunk)).await {
            Err(_) => Ok(Vec::new()),
            Ok(Ok(0)) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the host closed the connection",
            )),
            Ok(Ok(n)) => {
                chunk.truncate(n);
                Ok(chunk)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    /// Shuts the write side down and drops the connection.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
    }
}

/// `len` random bytes that are not E1381/MLLP control characters (so they are pure noise).
pub fn garbage(rng: &mut impl rand::Rng, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            let b: u8 = rng.random_range(0x20..0xFF);
            if b == 0x7F { b'#' } else { b }
        })
        .collect()
}
