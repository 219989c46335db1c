//! TCP server transport: the instrument connects to labwire.
//!
//! One accept task per instrument port. Peers outside the allow-list are refused and reported.
//! At most [`TcpServerConfig::max_connections`] connections are served at once (1 for ASTM: one
//! session at a time; more for HL7, whose senders often open a connection per message), and at
//! most [`TcpServerConfig::max_connections_per_peer`] from one peer address.
//!
//! When a new connection arrives and the limits are reached, labwire first looks at the live
//! connections, because a dead or stalled one must never lock the analyser out:
//!
//! - a connection the peer has already closed (FIN received but not yet read by the driver,
//!   or reset) no longer counts; its driver ends on its own when it reads the close (reported as
//!   `closed-connection-gave-way` when it would otherwise have blocked the new one);
//! - a connection from which nothing has been received for [`TcpServerConfig::takeover_after`]
//!   gives its slot to the new one (reported as `connection-taken-over`), whatever
//!   [`OnSecondConnection`] says;
//! - otherwise [`OnSecondConnection`] decides: refuse the new one (default, reported as
//!   `second-connection-refused`) or replace the oldest live one (`connection-replaced`).

use super::{Connection, NoticeSink, TransportError, TransportNotice, tune_tcp};
use labwire_router::config::{DEFAULT_TAKEOVER_AFTER, PeerRule};
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What to do when a connection arrives beyond the limits while every live one is busy (see
/// the module docs for the dead and quiet connections that give way first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnSecondConnection {
    /// Keep the live connections, close the new one and report it (default).
    #[default]
    Refuse,
    /// Close the oldest live connection (assumed stale) and serve the new one; reported too.
    Replace,
}

/// TCP server settings.
#[derive(Debug, Clone)]
pub struct TcpServerConfig {
    /// Address to listen on, e.g. `0.0.0.0:5001`.
    pub listen: SocketAddr,
    /// Peers allowed to connect (addresses or networks, as in the site config); empty allows
    /// any peer.
    pub allow_peers: Vec<PeerRule>,
    /// Policy for a connection beyond the limits.
    pub on_second_connection: OnSecondConnection,
    /// Connections served at once (at least 1; 1 means one session at a time).
    pub max_connections: usize,
    /// Connections one peer address may hold at once (at least 1).
    pub max_connections_per_peer: usize,
    /// A live connection from which nothing has been received for this long gives its slot to a
    /// new connection.
    pub takeover_after: Duration,
}

impl TcpServerConfig {
    /// One session at a time from any peer, refusing a second busy one, with the default
    /// takeover threshold (`labwire_router::config::DEFAULT_TAKEOVER_AFTER`).
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            allow_peers: Vec::new(),
            on_second_connection: OnSecondConnection::Refuse,
            max_connections: 1,
            max_connections_per_peer: 1,
            takeover_after: DEFAULT_TAKEOVER_AFTER,
        }
    }
}

/// A listening socket for one instrument.
pub struct TcpServer {
    accepted: mpsc::Receiver<Connection>,
    local: SocketAddr,
    sink: Arc<Mutex<Option<NoticeSink>>>,
    stop: CancellationToken,
    max_connections: usize,
}

impl TcpServer {
    /// Binds the port and starts accepting.
    pub async fn bind(config: TcpServerConfig) -> Result<Self, TransportError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| TransportError::Bind {
                    addr: config.listen.to_string(),
                    source,
                })?;
        let local = listener
            .local_addr()
            .map_err(|source| TransportError::Bind {
                addr: config.listen.to_string(),
                source,
            })?;
        let (tx, accepted) = mpsc::channel(1);
        let sink: Arc<Mutex<Option<NoticeSink>>> = Arc::new(Mutex::new(None));
        let stop = CancellationToken::new();
        let max_connections = config.max_connections.max(1);
        tokio::spawn(accept_loop(
            listener,
            config,
            tx,
            Arc::clone(&sink),
            stop.clone(),
        ));
        Ok(Self {
            accepted,
            local,
            sink,
            stop,
            max_connections,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How many connections this server hands out at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    pub(super) async fn accept(
        &mut self,
        notice: &NoticeSink,
    ) -> Result<Connection, TransportError> {
        if let Ok(mut s) = self.sink.lock() {
            *s = Some(Arc::clone(notice));
        }
        self.accepted
            .recv()
            .await
            .ok_or_else(|| TransportError::Closed("accept task ended".into()))
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn report(sink: &Mutex<Option<NoticeSink>>, state: &'static str, detail: String) {
    tracing::warn!(state, %detail, "tcp server");
    if let Ok(s) = sink.lock()
        && let Some(f) = s.as_ref()
    {
        f(TransportNotice { state, detail });
    }
}

/// A TCP stream the accept loop can still look at while the driver owns it: the driver holds
/// the only strong reference (dropping it closes the socket), the accept loop a weak one.
struct WatchedTcp {
    tcp: Arc<TcpStream>,
    last_read: Arc<Mutex<Instant>>,
}

impl AsyncRead for WatchedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            match self.tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    if n > 0
                        && let Ok(mut t) = self.last_read.lock()
                    {
                        *t = Instant::now();
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for WatchedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.tcp).shutdown(std::net::Shutdown::Write))
    }
}

/// A connection the accept loop handed out.
struct Live {
    close: CancellationToken,
    alive: CancellationToken,
    peer: SocketAddr,
    opened: Instant,
    tcp: Weak<TcpStream>,
    last_read: Arc<Mutex<Instant>>,
}

impl Live {
    /// Whether the peer has closed (FIN or reset), as far as the kernel knows, even if the
    /// driver has not read it yet. Pending data means "not yet": the driver is still reading.
    fn closed_by_peer(&self) -> bool {
        let Some(tcp) = self.tcp.upgrade() else {
            return true;
        };
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(&*tcp).peek(&mut probe) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// How long nothing has been received (since the connection opened if nothing ever was).
    fn quiet_for(&self, now: Instant) -> Duration {
        let last = self.last_read.lock().map(|t| *t).unwrap_or(self.opened);
        now.saturating_duration_since(last.max(self.opened))
    }
}

/// What the accept loop decided for a new connection.
enum Admit {
    /// There is room.
    Yes,
    /// Room was made by closing this live connection (index into the live list).
    Evict(usize, &'static str, String),
    /// No room.
    Refuse(String),
}

fn admit(config: &TcpServerConfig, live: &[Live], peer: SocketAddr, now: Instant) -> Admit {
    let max = config.max_connections.max(1);
    let per_peer = config.max_connections_per_peer.max(1);
    let from_peer = |l: &&Live| l.peer.ip() == peer.ip();
    let peer_full = live.iter().filter(from_peer).count() >= per_peer;
    let all_full = live.len() >= max;
    if !peer_full && !all_full {
        return Admit::Yes;
    }
    // The candidates to give way: the peer's own connections when the peer is at its limit,
    // else any.
    let candidates = live
        .iter()
        .enumerate()
        .filter(|(_, l)| !peer_full || l.peer.ip() == peer.ip());
    let quietest = candidates
        .clone()
        .map(|(i, l)| (i, l.quiet_for(now)))
        .max_by_key(|(_, q)| *q);
    if let Some((i, quiet)) = quietest.filter(|(_, q)| *q >= config.takeover_after) {
        let old = live.get(i).map(|l| l.peer.to_string()).unwrap_or_default();
        return Admit::Evict(
            i,
            "connection-taken-over",
            format!(
                "{old} received nothing for {}s; {peer} takes its place",
                quiet.as_secs()
            ),
        );
    }
    match config.on_second_connection {
        OnSecondConnection::Replace => {
            let oldest = candidates.min_by_key(|(_, l)| l.opened).map(|(i, _)| i);
            match oldest {
                Some(i) => {
                    let old = live.get(i).map(|l| l.peer.to_string()).unwrap_or_default();
                    Admit::Evict(
                        i,
                        "connection-replaced",
                        format!("{old} replaced by {peer}"),
                    )
                }
                None => Admit::Refuse(format!("{peer} refused: no connection to replace")),
            }
        }
        OnSecondConnection::Refuse => {
            let busy: Vec<String> = candidates.map(|(_, l)| l.peer.to_string()).collect();
            Admit::Refuse(format!(
                "{peer} refused: {} still connected (limit {}, per peer {})",
                busy.join(", "),
                max,
                per_peer
            ))
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: TcpServerConfig,
    tx: mpsc::Sender<Connection>,
    sink: Arc<Mutex<Option<NoticeSink>>>,
    stop: CancellationToken,
) {
    let mut live: Vec<Live> = Vec::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                report(&sink, "accept-failed", e.to_string());
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if !config.allow_peers.is_empty()
            && !config.allow_peers.iter().any(|r| r.matches(peer.ip()))
        {
            report(
                &sink,
                "peer-refused",
                format!("{peer} is not in allow_peers"),
            );
            continue;
        }
        // Connections that ended, or that their peer closed (the driver will read the close
        // soon), do not hold a slot.
        live.retain(|l| !l.alive.is_cancelled());
        let mut closed = Vec::new();
        live.retain(|l| {
            let gone = l.closed_by_peer();
            if gone {
                closed.push(l.peer.to_string());
            }
            !gone
        });
        if !closed.is_empty() && live.len() + closed.len() >= config.max_connections.max(1) {
            report(
                &sink,
                "closed-connection-gave-way",
                format!(
                    "{} already closed by the peer; {peer} is served",
                    closed.join(", ")
                ),
            );
        }
        let now = Instant::now();
        match admit(&config, &live, peer, now) {
            Admit::Yes => {}
            Admit::Evict(i, state, detail) => {
                report(&sink, state, detail);
                if i < live.len() {
                    live.swap_remove(i).close.cancel();
                }
            }
            Admit::Refuse(detail) => {
                report(&sink, "second-connection-refused", detail);
                continue;
            }
        }
        if let Err(e) = tune_tcp(&stream) {
            tracing::debug!(%peer, error = %e, "cannot set TCP options");
        }
        let close = CancellationToken::new();
        let alive = CancellationToken::new();
        let tcp = Arc::new(stream);
        let last_read = Arc::new(Mutex::new(now));
        live.push(Live {
            close: close.clone(),
            alive: alive.clone(),
            peer,
            opened: now,
            tcp: Arc::downgrade(&tcp),
            last_read: Arc::clone(&last_read),
        });
        let stream = WatchedTcp { tcp, last_read };
        let conn = Connection::tracked(Box::new(stream), peer.to_string(), close, alive);
        if tx.send(conn).await.is_err() {
            return;
        }
    }
}
