//! Modbus devices: one scheduler per physical line (instruments sharing a gateway address or a
//! serial port share it; shared conventions §6), each device with the counting ingest gate and
//! link metrics like every other connector.

use super::counting::CountingIngest;
use labwire_connectors::modbus::{LineDevice, run_line, site::plan_lines};
use labwire_connectors::{RouterIngest, register_link_metrics};
use labwire_router::Router;
use labwire_router::config::SiteConfig;
use labwire_router::metrics::Metrics;
use labwire_uplink::service::UplinkInput;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Starts one scheduler per Modbus line; returns how many instruments they serve.
pub fn start_lines(
    config: &SiteConfig,
    router: &Router,
    metrics: &Metrics,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
    uplink: Option<&UplinkInput>,
) -> usize {
    let mut served = 0;
    for line in plan_lines(&config.site, &config.instruments) {
        let devices: Vec<LineDevice<CountingIngest>> = line
            .devices
            .into_iter()
            .filter_map(|spec| {
                let instrument = config
                    .instruments
                    .iter()
                    .find(|i| i.id == spec.instrument)?;
                let ingest = CountingIngest::new(
                    RouterIngest::new(router).with_query_timeout(instrument.host_query_timeout),
                    metrics.events().clone(),
                )
                .with_uplink(uplink.cloned());
                let device = LineDevice::new(spec, ingest);
                register_link_metrics(
                    metrics,
                    device.spec.instrument.clone(),
                    labwire_event::Protocol::Modbus,
                    device.health.clone(),
                );
                tracing::info!(
                    instrument = %device.spec.instrument,
                    line = %line.endpoint,
                    unit = device.spec.unit,
                    profile = %device.spec.profile.name,
                    "modbus device polled"
                );
                Some(device)
            })
            .collect();
        served += devices.len();
        tasks.spawn(run_line(line.endpoint, devices, shutdown.child_token()));
    }
    served
}
