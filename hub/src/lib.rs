//! labwire hub: the regional hub (shared conventions §8, docs/hub.md).
//!
//! - [`config`]: `labwire hub --config FILE` (`[mqtt]`, `[database]`, `[http]`, `[fleet]`).
//! - [`ingest`]: MQTT subscriber on `labwire/+/#`; every payload validated against the
//!   `labwire.telemetry/v1` types of `labwire-uplink`, stored, then acknowledged.
//! - [`store`]: SQLite (embedded default) or PostgreSQL through sqlx `Any`; dedupe by record
//!   id; newest fact wins; retention by age.
//! - [`fleet`]: online/offline with hysteresis, offline overriding healthy, alert conditions.
//! - [`view`], [`chart`], [`http`]: the fleet console (`GET /`), `GET /api/sites`, metrics.

pub mod chart;
pub mod config;
pub mod fleet;
pub mod http;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod store;
pub mod view;

use config::HubConfig;
use metrics::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the hub could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The database.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The broker settings (TLS files).
    #[error("mqtt: {0}")]
    Broker(#[from] labwire_uplink::broker::BrokerError),
    /// The HTTP listener.
    #[error("http listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The console templates (a build defect).
    #[error("console templates: {0}")]
    Templates(#[from] minijinja::Error),
    /// A task ended abnormally.
    #[error("hub task failed: {0}")]
    Task(String),
}

/// A running hub: the subscriber, the console and the retention sweep.
pub struct Hub {
    http_addr: SocketAddr,
    metrics: Arc<Metrics>,
    store: Store,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Hub {
    /// Opens the database (running migrations), binds the HTTP listener and starts the tasks.
    pub async fn start(config: &HubConfig) -> Result<Self, HubError> {
        let options = ingest::options(config)?;
        let store = Store::open(&config.database_url, config.backend).await?;
        let metrics = Arc::new(Metrics::default());
        let (shutdown, rx) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| HubError::Listen {
                addr: config.listen,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| HubError::Listen {
            addr: config.listen,
            source,
        })?;
        let state = Arc::new(http::AppState::new(
            store.clone(),
            config.fleet,
            metrics.clone(),
        )?);
        let mut tasks = Vec::new();
        let mut http_rx = rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve =
                axum::serve(listener, http::router(state)).with_graceful_shutdown(async move {
                    let _ = http_rx.wait_for(|s| *s).await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "console server stopped");
            }
        }));
        tasks.push(tokio::spawn(ingest::run(
            options,
            store.clone(),
            metrics.clone(),
            config.fleet,
            rx.clone(),
        )));
        tasks.push(tokio::spawn(retention(
            store.clone(),
            config.retention,
            metrics.clone(),
            rx,
        )));
        tracing::info!(%http_addr, "labwire hub started");
        Ok(Self {
            http_addr,
            metrics,
            store,
            shutdown,
            tasks,
        })
    }

    /// Where the console listens (the bound address, also when the config said port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether the subscriber holds its subscription right now.
    pub fn subscribed(&self) -> bool {
        self.metrics.subscribed.load(Ordering::Relaxed)
    }

    /// Stops the tasks and closes the database.
    pub async fn stop(self) -> Result<(), HubError> {
        let _ = self.shutdown.send(true);
        let mut failed = None;
        for t in self.tasks {
            if let Err(e) = t.await {
                failed = Some(e.to_string());
            }
        }
        self.store.close().await;
        failed.map_or(Ok(()), |e| Err(HubError::Task(e)))
    }
}

async fn retention(
    store: Store,
    retention: Duration,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let cutoff = jiff::Timestamp::now()
            .checked_sub(
                jiff::SignedDuration::try_from(retention).unwrap_or(jiff::SignedDuration::MAX),
            )
            .unwrap_or(jiff::Timestamp::MIN);
        match store.prune(cutoff).await {
            Ok(n) => {
                metrics.pruned.fetch_add(n, Ordering::Relaxed);
                if n > 0 {
                    tracing::info!(records = n, "retention deleted old records");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; retried later"),
        }
        tokio::select! {
            () = tokio::time::sleep(limits::RETENTION_SWEEP) => {}
            _ = shutdown.changed() => return,
        }
    }
}
