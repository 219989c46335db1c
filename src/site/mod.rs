//! [`Site`]: the composition `labwire run` runs (shared conventions §4).
//!
//! In order: the router (bus, spool, ingest gate, drain), the metrics registry, the HTTP
//! endpoint (`/metrics`, `/healthz`, `/readyz` by [`readiness`]), then one connector per enabled
//! instrument ([`instruments`]), each with the counting ingest gate ([`CountingIngest`]) and, when
//! the instrument takes orders, its command feed ([`commands`]). On cancellation it stops
//! accepting, lets work in progress finish within the grace period and leaves undelivered events
//! in the spool for the next start.

pub mod commands;
mod counting;
pub mod instruments;
mod modbus;
pub mod readiness;
#[cfg(test)]
mod tests;
pub mod uplink;

pub use counting::CountingIngest;

use labwire_router::Router;
use labwire_router::config::{LoadError, SiteConfig};
use labwire_router::health::HealthEndpoint;
use labwire_router::metrics::{Metrics, MetricsWriter};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown may take before [`Site::run`] returns anyway (events still undelivered are
/// safe in the spool).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Why a site stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SiteError {
    /// A secret file named in the config could not be read.
    #[error("{0}")]
    Secret(#[from] labwire_router::config::SecretFileError),
    /// The router (spool, bus client) could not start.
    #[error("starting the router: {0}")]
    Start(#[from] labwire_router::StartError),
    /// The metrics endpoint could not listen.
    #[error("metrics.listen {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// An instrument's transport could not be set up (e.g. its `listen` port is in use).
    #[error("instrument {0}: {1}")]
    Instrument(String, labwire_connectors::transport::TransportError),
    /// The uplink could not start (`[uplink]`).
    #[error("{0}")]
    Uplink(#[from] uplink::StartError),
    /// Shutdown took longer than the grace period.
    #[error("shutdown took longer than {}s; undelivered events stay in the spool", .0.as_secs())]
    SlowShutdown(Duration),
}

/// A site: its configuration and how to run it.
#[derive(Debug)]
pub struct Site {
    config: SiteConfig,
    config_hash: [u8; 32],
    metrics_bound: Option<oneshot::Sender<SocketAddr>>,
    shutdown_grace: Duration,
}

impl Site {
    /// A site from a validated configuration.
    pub fn new(config: SiteConfig) -> Self {
        Self {
            config,
            config_hash: [0; 32],
            metrics_bound: None,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }

    /// Reads and validates a site configuration file.
    pub fn from_config(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let site = SiteConfig::load(path).map(Self::new)?;
        Ok(match std::fs::read(path) {
            Ok(bytes) => site.config_hash(config_hash(&bytes)),
            Err(_) => site,
        })
    }

    /// Sets the configuration hash the uplink's heartbeat reports (SHA-256 of the file as
    /// loaded; all zeros until set).
    #[must_use]
    pub fn config_hash(mut self, hash: [u8; 32]) -> Self {
        self.config_hash = hash;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SiteConfig {
        &self.config
    }

    /// Sends the address the metrics endpoint listens on once it is bound (a configured port 0
    /// picks a free one).
    #[must_use]
    pub fn on_metrics_bound(mut self, tx: oneshot::Sender<SocketAddr>) -> Self {
        self.metrics_bound = Some(tx);
        self
    }

    /// Changes how long shutdown may take ([`SHUTDOWN_GRACE`] by default).
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Runs the site until `shutdown` is cancelled, then stops it within the grace period.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SiteError> {
        let Self {
            config,
            config_hash,
            metrics_bound,
            shutdown_grace,
        } = self;
        tracing::info!(
            site = %config.site,
            instruments = config.instruments.len(),
            nats = %config.nats.redacted_url(),
            spool = %config.storage.path.display(),
            "labwire starting"
        );
        if let Some(warning) = config.nats.plaintext_secret_warning() {
            tracing::warn!("{warning}");
        }
        let router = Router::start(config.router_options()?).await?;
        let metrics = router_metrics(&router);
        let tasks = TaskTracker::new();
        serve_http(&config, &router, &metrics, &tasks, &shutdown, metrics_bound).await?;
        // The uplink never gates readiness: patient-data flow does not depend on the WAN.
        let uplink = match &config.uplink {
            Some(settings) => Some(
                uplink::start(
                    &config,
                    settings,
                    config_hash,
                    &router,
                    &metrics,
                    shutdown.child_token(),
                )
                .await?,
            ),
            None => None,
        };
        let served = instruments::start_all(
            &config,
            &router,
            &metrics,
            &tasks,
            &shutdown,
            uplink.as_ref(),
        )
        .await?;
        tracing::info!(site = %config.site, instruments = served, "labwire running");

        shutdown.cancelled().await;
        tasks.close();
        let stop = async {
            tasks.wait().await;
            router.shutdown().await;
        };
        tokio::time::timeout(shutdown_grace, stop)
            .await
            .map_err(|_| SiteError::SlowShutdown(shutdown_grace))
    }
}

/// SHA-256 of a configuration file's bytes, as the uplink's heartbeat reports it.
pub fn config_hash(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The metrics registry with the router's families and `labwire_bus_connected`.
fn router_metrics(router: &Router) -> Metrics {
    let metrics = Metrics::new();
    metrics.register_router(Arc::clone(router.stats()));
    let bus = router.bus().clone();
    metrics.register(move |w: &mut MetricsWriter| {
        w.gauge(
            "labwire_bus_connected",
            "1 while the NATS connection is up.",
            &[],
            if bus.is_connected() { 1.0 } else { 0.0 },
        );
    });
    metrics
}

/// Serves `/metrics`, `/healthz` and `/readyz` unless `[metrics] enabled = false`.
async fn serve_http(
    config: &SiteConfig,
    router: &Router,
    metrics: &Metrics,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
    bound: Option<oneshot::Sender<SocketAddr>>,
) -> Result<(), SiteError> {
    if !config.metrics.enabled {
        tracing::info!("metrics endpoint disabled ([metrics] enabled = false)");
        return Ok(());
    }
    let listener = HealthEndpoint::bind(config.metrics.listen)
        .await
        .map_err(|source| SiteError::Bind {
            addr: config.metrics.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(config.metrics.listen);
    let endpoint = HealthEndpoint::new(metrics.clone(), Arc::new(readiness::rule(router)));
    tasks.spawn(endpoint.serve(listener, shutdown.clone()));
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }
    Ok(())
}
