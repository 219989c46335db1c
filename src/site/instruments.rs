//! One connector per enabled `[[instrument]]`: the transport, the connector for its protocol,
//! the counting ingest gate, link metrics and, when it takes orders, its command feed.
//!
//! A new built-in connector kind is one arm in [`start`] that calls [`Start::spawn`] with the
//! connector built from the instrument's settings.

use super::SiteError;
use super::counting::CountingIngest;
use labwire_connectors::transport::{Transport, TransportError};
use labwire_connectors::{
    Connector, ConnectorContext, DriverConfig, RouterIngest, register_link_metrics,
    run as run_connector, site,
};
use labwire_router::Router;
use labwire_router::commands::CommandTarget;
use labwire_router::config::{InstrumentConfig, ProtocolSettings, SiteConfig};
use labwire_router::metrics::Metrics;
use labwire_uplink::service::UplinkInput;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Starts the connectors of every enabled instrument; returns how many are served.
pub async fn start_all(
    config: &SiteConfig,
    router: &Router,
    metrics: &Metrics,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
    uplink: Option<&UplinkInput>,
) -> Result<usize, SiteError> {
    let mut served = 0usize;
    for instrument in &config.instruments {
        if !instrument.enabled {
            tracing::info!(instrument = %instrument.id, "instrument disabled in the site config");
            continue;
        }
        let start = Start {
            router,
            metrics,
            config,
            instrument,
            tasks,
            shutdown,
            uplink,
        };
        match start.start().await {
            Ok(true) => served += 1,
            Ok(false) => {}
            Err(e) => return Err(SiteError::Instrument(instrument.id.to_string(), e)),
        }
    }
    served += super::modbus::start_lines(config, router, metrics, tasks, shutdown, uplink);
    Ok(served)
}

/// The driver's deadlines from the site config: `[ingest] deadline` decides when the instrument
/// is NAKed, the instrument's `host_query_timeout` how long the apps have to answer a query.
pub fn driver_config(config: &SiteConfig, instrument: &InstrumentConfig) -> DriverConfig {
    DriverConfig {
        ingest_timeout: config.ingest.deadline,
        query_timeout: instrument.host_query_timeout,
        ..DriverConfig::default()
    }
}

/// What every connector is started with.
pub struct Start<'a> {
    router: &'a Router,
    metrics: &'a Metrics,
    config: &'a SiteConfig,
    instrument: &'a InstrumentConfig,
    tasks: &'a TaskTracker,
    shutdown: &'a CancellationToken,
    uplink: Option<&'a UplinkInput>,
}

impl Start<'_> {
    /// Starts the connector of one enabled instrument; `Ok(false)` when its protocol has no
    /// connector in this build (logged). A `listen` port is bound here, so a port in use stops
    /// the start with an error.
    async fn start(&self) -> Result<bool, TransportError> {
        let instrument = self.instrument;
        let sends = match &instrument.settings {
            ProtocolSettings::Astm(a) => a.bidirectional,
            ProtocolSettings::Hl7(_) => true,
            // One scheduler per physical line, started by `super::modbus::start_lines`.
            ProtocolSettings::Modbus(_) => return Ok(false),
            ProtocolSettings::SerialLine => {
                tracing::warn!(
                    instrument = %instrument.id,
                    protocol = instrument.protocol().as_str(),
                    transport = %instrument.transport,
                    "the {} connector is not built into this labwire yet: instrument not served",
                    instrument.protocol().as_str()
                );
                return Ok(false);
            }
        };
        let transport = site::transport_for(instrument).await?;
        match &instrument.settings {
            ProtocolSettings::Hl7(_) => {
                self.spawn(site::hl7_connector_for(instrument), transport, sends);
            }
            _ if site::astm_uses_e1381(instrument) => {
                self.spawn(site::astm_connector_for(instrument), transport, sends);
            }
            _ => self.spawn(
                site::astm_records_connector_for(instrument),
                transport,
                sends,
            ),
        }
        tracing::info!(
            instrument = %instrument.id,
            protocol = instrument.protocol().as_str(),
            transport = %instrument.transport,
            downloads = sends,
            "instrument connector started"
        );
        Ok(true)
    }

    /// Runs `connector` over `transport` on the site's task tracker, with the counting ingest
    /// gate, link metrics and (when `takes_orders`) the instrument's command feed.
    pub fn spawn<C: Connector>(&self, connector: C, transport: Transport, takes_orders: bool) {
        let id = self.instrument.id.clone();
        let ingest = CountingIngest::new(
            RouterIngest::new(self.router).with_query_timeout(self.instrument.host_query_timeout),
            self.metrics.events().clone(),
        )
        .with_uplink(self.uplink.cloned());
        let mut ctx = ConnectorContext::new(self.config.site.clone(), id.clone(), ingest);
        ctx.shutdown = self.shutdown.child_token();
        ctx.config = driver_config(self.config, self.instrument);
        register_link_metrics(
            self.metrics,
            id.clone(),
            connector.protocol(),
            ctx.health.clone(),
        );
        if takes_orders {
            let target = CommandTarget {
                site: self.config.site.clone(),
                instrument: id.clone(),
                protocol: connector.protocol(),
            };
            ctx.commands = Some(super::commands::feed(
                self.router.bus(),
                self.router.status(),
                target,
                ctx.health.clone(),
                self.tasks,
                ctx.shutdown.clone(),
            ));
        }
        self.tasks.spawn(async move {
            if let Err(e) = run_connector(connector, transport, ctx).await {
                tracing::error!(instrument = %id, error = %e, "connector stopped");
            }
        });
    }
}
