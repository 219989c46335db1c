//! TCP client transport: labwire connects to the instrument (or to a terminal server in front
//! of an RS-232 line), reconnecting with capped exponential backoff and jitter.

use super::{Backoff, BackoffConfig, Connection, NoticeSink, TransportNotice, tune_tcp};
use std::time::Duration;
use tokio::net::TcpStream;

/// TCP client settings.
#[derive(Debug, Clone)]
pub struct TcpClientConfig {
    /// `host:port` of the instrument.
    pub connect: String,
    /// How long one connection attempt may take (default 5 s).
    pub connect_timeout: Duration,
    /// Reconnect backoff.
    pub backoff: BackoffConfig,
}

impl TcpClientConfig {
    /// Settings with the default timeout and backoff.
    pub fn new(connect: impl Into<String>) -> Self {
        Self {
            connect: connect.into(),
            connect_timeout: Duration::from_secs(5),
            backoff: BackoffConfig::default(),
        }
    }
}

/// Connects to an instrument, again and again.
#[derive(Debug)]
pub struct TcpClient {
    config: TcpClientConfig,
    backoff: Backoff,
}

impl TcpClient {
    /// A client for `config.connect`; nothing happens until the driver asks for a connection.
    pub fn new(config: TcpClientConfig) -> Self {
        let backoff = Backoff::new(config.backoff);
        Self { config, backoff }
    }

    pub(super) fn backoff_mut(&mut self) -> &mut Backoff {
        &mut self.backoff
    }

    pub(super) async fn connect(&mut self, notice: &NoticeSink) -> Connection {
        loop {
            let addr = &self.config.connect;
            let err =
                match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr))
                    .await
                {
                    Ok(Ok(stream)) => {
                        if let Err(e) = tune_tcp(&stream) {
                            tracing::debug!(%addr, error = %e, "cannot set TCP options");
                        }
                        let peer = stream
                            .peer_addr()
                            .map_or_else(|_| addr.clone(), |a| a.to_string());
                        return Connection::new(Box::new(stream), peer);
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {:?}", self.config.connect_timeout),
                };
            let wait = self.backoff.next_delay();
            notice(TransportNotice {
                state: "connect-failed",
                detail: format!("{addr}: {err}; retrying in {} ms", wait.as_millis()),
            });
            tokio::time::sleep(wait).await;
        }
    }
}
