//! TCP server transport: the instrument connects to labwire.
//!
//! One accept task per instrument port. Peers outside the allow-list are refused and reported.
//! Only one connection per instrument is live: a second one is either refused (the default — the
//! first keeps its session) or replaces the first (for instruments that reconnect without
//! closing the stale socket), per [`OnSecondConnection`].

use super::{Connection, NoticeSink, TransportError, TransportNotice, tune_tcp};
use labwire_router::config::PeerRule;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What to do when an instrument opens a second connection while one is live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnSecondConnection {
    /// Keep the live connection, close the new one and report it (default).
    #[default]
    Refuse,
    /// Close the live connection (assumed stale) and serve the new one; reported too.
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
    /// Policy for a second concurrent connection.
    pub on_second_connection: OnSecondConnection,
}

/// A listening socket for one instrument.
pub struct TcpServer {
    accepted: mpsc::Receiver<Connection>,
    local: SocketAddr,
    sink: Arc<Mutex<Option<NoticeSink>>>,
    stop: CancellationToken,
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
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
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

struct Live {
    close: CancellationToken,
    alive: CancellationToken,
    peer: SocketAddr,
}

async fn accept_loop(
    listener: TcpListener,
    config: TcpServerConfig,
    tx: mpsc::Sender<Connection>,
    sink: Arc<Mutex<Option<NoticeSink>>>,
    stop: CancellationToken,
) {
    let mut live: Option<Live> = None;
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
        if let Some(l) = live.as_ref().filter(|l| !l.alive.is_cancelled()) {
            match config.on_second_connection {
                OnSecondConnection::Refuse => {
                    report(
                        &sink,
                        "second-connection-refused",
                        format!("{peer} refused: {} is still connected", l.peer),
                    );
                    continue;
                }
                OnSecondConnection::Replace => {
                    report(
                        &sink,
                        "connection-replaced",
                        format!("{} replaced by {peer}", l.peer),
                    );
                    l.close.cancel();
                }
            }
        }
        if let Err(e) = tune_tcp(&stream) {
            tracing::debug!(%peer, error = %e, "cannot set TCP options");
        }
        let close = CancellationToken::new();
        let alive = CancellationToken::new();
        live = Some(Live {
            close: close.clone(),
            alive: alive.clone(),
            peer,
        });
        let conn = Connection::tracked(Box::new(stream), peer.to_string(), close, alive);
        if tx.send(conn).await.is_err() {
            return;
        }
    }
}
