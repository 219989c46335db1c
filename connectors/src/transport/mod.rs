//! Transports: how bytes reach an instrument.
//!
//! Three kinds, one shape: a [`Transport`] hands out [`Connection`]s, each a boxed
//! `AsyncRead + AsyncWrite` stream. The driver runs a connection until it ends, then asks the
//! transport for the next one; a server with [`Transport::max_connections`] above 1 (HL7) has
//! each of its connections driven concurrently:
//!
//! - [`TcpServer`]: the instrument connects to us (peer allow-list, connection limits, dead or
//!   quiet connections give way to new ones);
//! - [`TcpClient`]: we connect to the instrument (capped exponential backoff with jitter);
//! - [`SerialPort`]: an RS-232 line through tokio-serial (reopened with backoff);
//! - [`Transport::custom`]: any other source of streams (tests use pseudo-terminals).
//!
//! Every TCP stream gets `TCP_NODELAY` (protocol turn-arounds are single bytes) and keepalive
//! (a pulled cable is noticed even on an idle link).

mod serial;
mod tcp_client;
mod tcp_server;

/// The reconnect schedule: labwire's one backoff (`labwire-backoff`), re-exported for transports.
pub use labwire_backoff::{Backoff, BackoffConfig};
pub use serial::{SerialPort, SerialSettings};
pub use tcp_client::{TcpClient, TcpClientConfig};
pub use tcp_server::{OnSecondConnection, TcpServer, TcpServerConfig};

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// A byte stream to an instrument.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A boxed [`Stream`].
pub type BoxStream = Box<dyn Stream>;

/// One live connection to an instrument.
pub struct Connection {
    /// The bytes.
    pub stream: BoxStream,
    /// Who is on the other end (peer address or device path), for status events and logs.
    pub peer: String,
    /// Cancelled when the transport wants this connection closed (e.g. a newer connection
    /// from the same instrument replaced it).
    pub closed_by_transport: CancellationToken,
    /// Cancelled when the connection is dropped, so the transport knows it is gone.
    _alive: Option<tokio_util::sync::DropGuard>,
}

impl Connection {
    /// Wraps a stream that the transport will not need to close early.
    pub fn new(stream: BoxStream, peer: impl Into<String>) -> Self {
        Self {
            stream,
            peer: peer.into(),
            closed_by_transport: CancellationToken::new(),
            _alive: None,
        }
    }

    fn tracked(
        stream: BoxStream,
        peer: String,
        close: CancellationToken,
        alive: CancellationToken,
    ) -> Self {
        Self {
            stream,
            peer,
            closed_by_transport: close,
            _alive: Some(alive.drop_guard()),
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Why a transport could not produce a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The transport has stopped for good (its accept task ended or the custom source is empty).
    #[error("transport closed: {0}")]
    Closed(String),
}

/// Something the transport wants reported on the instrument's status subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportNotice {
    /// Short state, e.g. `connection-refused`, `connect-failed`, `open-failed`.
    pub state: &'static str,
    /// Detail for people (addresses, OS errors; no patient data).
    pub detail: String,
}

/// Where transports report [`TransportNotice`]s (the connector turns them into status events).
pub type NoticeSink = std::sync::Arc<dyn Fn(TransportNotice) + Send + Sync>;

type Opener =
    Box<dyn FnMut() -> Pin<Box<dyn Future<Output = Result<Connection, String>> + Send>> + Send>;

/// A source of connections to one instrument.
pub struct Transport {
    kind: Kind,
}

enum Kind {
    Server(TcpServer),
    Client(TcpClient),
    Serial(SerialPort),
    Custom { open: Opener, backoff: Backoff },
}

impl Transport {
    /// A transport over any async opener, retried with backoff when it fails.
    ///
    /// Tests use this for pseudo-terminal pairs; integrators can use it for USB or vendor SDK
    /// streams.
    pub fn custom<F, Fut>(mut open: F, backoff: BackoffConfig) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Connection, String>> + Send + 'static,
    {
        Self {
            kind: Kind::Custom {
                open: Box::new(move || Box::pin(open())),
                backoff: Backoff::new(backoff),
            },
        }
    }

    /// Waits for the next connection. Failed attempts are reported through `notice` and retried
    /// with backoff; this only returns an error when the transport can never connect again.
    pub async fn next_connection(
        &mut self,
        notice: &NoticeSink,
    ) -> Result<Connection, TransportError> {
        match &mut self.kind {
            Kind::Server(s) => s.accept(notice).await,
            Kind::Client(c) => Ok(c.connect(notice).await),
            Kind::Serial(s) => Ok(s.open(notice).await),
            Kind::Custom { open, backoff } => loop {
                match open().await {
                    Ok(c) => {
                        backoff.reset();
                        return Ok(c);
                    }
                    Err(detail) => {
                        notice(TransportNotice {
                            state: "open-failed",
                            detail,
                        });
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            },
        }
    }

    /// How many connections this transport hands out at once (1 except for a TCP server
    /// configured for more).
    pub fn max_connections(&self) -> usize {
        match &self.kind {
            Kind::Server(s) => s.max_connections(),
            _ => 1,
        }
    }

    /// Called by the driver when a connection ended: waits before reconnecting if the
    /// connection did not last (a peer that accepts and hangs up at once must not cause a
    /// tight reconnect loop).
    pub async fn connection_ended(&mut self, lasted: Duration) {
        let backoff = match &mut self.kind {
            Kind::Server(_) => return,
            Kind::Client(c) => c.backoff_mut(),
            Kind::Serial(s) => s.backoff_mut(),
            Kind::Custom { backoff, .. } => backoff,
        };
        if lasted >= STABLE_AFTER {
            backoff.reset();
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// A connection that lasted this long resets the reconnect backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

impl From<TcpServer> for Transport {
    fn from(s: TcpServer) -> Self {
        Self {
            kind: Kind::Server(s),
        }
    }
}

impl From<TcpClient> for Transport {
    fn from(c: TcpClient) -> Self {
        Self {
            kind: Kind::Client(c),
        }
    }
}

impl From<SerialPort> for Transport {
    fn from(s: SerialPort) -> Self {
        Self {
            kind: Kind::Serial(s),
        }
    }
}

/// TCP keepalive idle time before the first probe.
pub const KEEPALIVE_TIME: Duration = Duration::from_secs(30);

/// Sets `TCP_NODELAY` and keepalive on a TCP stream.
pub(crate) fn tune_tcp(stream: &tokio::net::TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(stream);
    let ka = socket2::TcpKeepalive::new().with_time(KEEPALIVE_TIME);
    #[cfg(target_os = "linux")]
    let ka = ka.with_interval(Duration::from_secs(10));
    sock.set_tcp_keepalive(&ka)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_streams_get_nodelay_and_keepalive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_server, _) = listener.accept().await.unwrap();
        tune_tcp(&client).unwrap();
        assert!(client.nodelay().unwrap());
        let sock = socket2::SockRef::from(&client);
        assert!(sock.keepalive().unwrap());
    }
}
