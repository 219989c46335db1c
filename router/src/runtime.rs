//! [`Router`]: the bus, the spool, the ingest gate and the drain task, started together.

use crate::bus::{Bus, BusOptions};
use crate::drain::{self, DrainOptions};
use crate::error::{BusError, SpoolError};
use crate::ingest::IngestGate;
use crate::spool::{Spool, SpoolOptions};
use crate::stats::RouterStats;
use crate::status::StatusPublisher;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The NATS client could not be set up.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Everything the router needs; the site config fills it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouterOptions {
    /// The bus.
    pub bus: BusOptions,
    /// The spool.
    pub spool: SpoolOptions,
    /// The drain.
    pub drain: DrainOptions,
}

impl RouterOptions {
    /// Options with defaults for everything but the bus URL and the spool file.
    pub fn new(bus: BusOptions, spool: SpoolOptions) -> Self {
        Self {
            bus,
            spool,
            drain: DrainOptions::default(),
        }
    }
}

/// A running router. Dropping it stops the drain task (the spool keeps what is left).
pub struct Router {
    bus: Bus,
    spool: Arc<Spool>,
    ingest: IngestGate,
    status: StatusPublisher,
    cancel: CancellationToken,
    drain: Option<JoinHandle<()>>,
}

impl Router {
    /// Opens the spool, connects the bus (in the background if the server is not up) and starts
    /// the drain, which empties whatever a previous run left in the spool.
    pub async fn start(opts: RouterOptions) -> Result<Self, StartError> {
        let stats = Arc::new(RouterStats::default());
        let spool = Arc::new(Spool::open(opts.spool, Arc::clone(&stats)).await?);
        let bus = Bus::connect(opts.bus, Arc::clone(&stats)).await?;
        let status = StatusPublisher::new(bus.clone(), Arc::clone(&spool), Arc::clone(&stats));
        let ingest = IngestGate::new(bus.clone(), Arc::clone(&spool), status.clone());
        let cancel = CancellationToken::new();
        let drain = tokio::spawn(drain::run(
            bus.clone(),
            Arc::clone(&spool),
            opts.drain,
            cancel.clone(),
        ));
        Ok(Self {
            bus,
            spool,
            ingest,
            status,
            cancel,
            drain: Some(drain),
        })
    }

    /// The ingest gate (clone it into each connector).
    pub fn ingest(&self) -> IngestGate {
        self.ingest.clone()
    }

    /// The bus (host queries, commands, subscriptions).
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The spool.
    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// The status reporter.
    pub fn status(&self) -> &StatusPublisher {
        &self.status
    }

    /// Opens the order-download queue of one instrument (a durable JetStream consumer).
    pub async fn commands(
        &self,
        target: crate::commands::CommandTarget,
        opts: crate::commands::CommandOptions,
    ) -> Result<crate::commands::CommandQueue, BusError> {
        crate::commands::CommandQueue::open(&self.bus, self.status.clone(), target, opts).await
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<RouterStats> {
        self.bus.stats()
    }

    /// Waits for the status events still being delivered (the last ones of a stopping site),
    /// then stops the drain and waits for it; undelivered events stay in the spool for the next
    /// run. Callers bound the whole with their grace period.
    pub async fn shutdown(mut self) {
        self.status.flush().await;
        self.cancel.cancel();
        if let Some(task) = self.drain.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
