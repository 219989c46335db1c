//! The owner of one physical line: one request at a time for every unit on it.
//!
//! The loop always serves the device whose next poll is due first (ties in the order the
//! devices were given, so polling is fair), one request at a time with the line's inter-frame
//! silence. A unit that does not answer costs one deadline and is then retried on its own
//! backoff (doubling from its poll interval up to `backoff_max`), so it never holds up the
//! others: they keep their poll rate as long as the line has the capacity (see
//! [`super::PollCounters::late`]).

use super::device::{Device, DeviceSpec, PollCounters};
use super::line::{Line, LineEndpoint};
use crate::health::LinkHealth;
use crate::ingest::Ingest;
use crate::transport::BackoffConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Initial wait before reopening a line that could not be opened; doubles up to the largest
/// `backoff_max` of the line's devices.
pub const LINE_REOPEN_INITIAL: Duration = Duration::from_millis(200);

/// One device to serve on a line, with its durability gate and counters.
#[derive(Debug)]
pub struct LineDevice<I> {
    /// What to poll.
    pub spec: DeviceSpec,
    /// Where its events go.
    pub ingest: I,
    /// Link health (up/down, timeouts, messages) for metrics.
    pub health: LinkHealth,
    /// Poll counters.
    pub counters: Arc<PollCounters>,
}

impl<I: Ingest> LineDevice<I> {
    /// A device with fresh health and counters.
    pub fn new(spec: DeviceSpec, ingest: I) -> Self {
        Self {
            spec,
            ingest,
            health: LinkHealth::new(),
            counters: Arc::new(PollCounters::default()),
        }
    }
}

/// Serves every device of one line until `shutdown` is cancelled.
pub async fn run_line<I: Ingest>(
    endpoint: LineEndpoint,
    devices: Vec<LineDevice<I>>,
    shutdown: CancellationToken,
) {
    let backoff_max = devices
        .iter()
        .map(|d| d.spec.backoff_max)
        .max()
        .unwrap_or(Duration::from_secs(30));
    let mut line = Line::new(
        endpoint,
        BackoffConfig {
            initial: LINE_REOPEN_INITIAL,
            max: backoff_max.max(LINE_REOPEN_INITIAL),
            jitter: 0.2,
        },
    );
    let start = Instant::now();
    let mut devices: Vec<Device> = devices
        .into_iter()
        .map(|d| Device::new(d.spec, d.ingest, d.health, d.counters, start))
        .collect();
    tracing::info!(line = %line.endpoint(), devices = devices.len(), "modbus line scheduler started");
    loop {
        let next = devices
            .iter()
            .enumerate()
            .min_by_key(|(i, d)| (d.next_due(), *i))
            .map(|(i, d)| (i, d.next_due()));
        let Some((index, due)) = next else {
            shutdown.cancelled().await;
            return;
        };
        tokio::select! {
            () = shutdown.cancelled() => {
                line.close();
                return;
            }
            () = tokio::time::sleep_until(due) => {}
        }
        if let Some(device) = devices.get_mut(index) {
            tokio::select! {
                () = shutdown.cancelled() => {
                    line.close();
                    return;
                }
                () = device.poll(&mut line) => {}
            }
        }
    }
}
