//! Order downloads for one instrument: its durable command queue, opened in the background.
//!
//! The command consumer needs the bus, which may not be up when the site starts: it is opened
//! with retries ([`OPEN_RETRY`]), then fed into the connector's channel
//! through [`labwire_connectors::spawn_command_pump`].

use labwire_backoff::{Backoff, BackoffConfig};
use labwire_connectors::{CommandDelivery, LinkHealth, spawn_command_pump};
use labwire_router::commands::{CommandOptions, CommandQueue, CommandTarget};
use labwire_router::{Bus, StatusPublisher};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Retries of opening an instrument's command queue while the bus is not up: 500 ms doubling
/// to 10 s, with jitter.
pub const OPEN_RETRY: BackoffConfig =
    BackoffConfig::new(Duration::from_millis(500), Duration::from_secs(10));

/// Starts the command feed of `target` on `tasks`; the connector receives deliveries from the
/// returned channel once the queue is open. Ends on `shutdown`.
pub fn feed(
    bus: &Bus,
    status: &StatusPublisher,
    target: CommandTarget,
    health: LinkHealth,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> mpsc::Receiver<CommandDelivery> {
    let (tx, rx) = mpsc::channel(1);
    let bus = bus.clone();
    let status = status.clone();
    tasks.spawn(async move {
        let Some(queue) = open_with_retry(&bus, &status, &target, &shutdown).await else {
            return;
        };
        tracing::info!(instrument = %target.instrument, "order downloads enabled");
        let mut pump = spawn_command_pump(queue, health);
        loop {
            let delivery = tokio::select! {
                () = shutdown.cancelled() => return,
                d = pump.recv() => match d {
                    Some(d) => d,
                    None => return,
                },
            };
            if tx.send(delivery).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Opens the queue, retrying until it opens (`None` when `shutdown` fires first).
async fn open_with_retry(
    bus: &Bus,
    status: &StatusPublisher,
    target: &CommandTarget,
    shutdown: &CancellationToken,
) -> Option<CommandQueue> {
    let mut retry = Backoff::new(OPEN_RETRY);
    loop {
        let opened = CommandQueue::open(
            bus,
            status.clone(),
            target.clone(),
            CommandOptions::default(),
        );
        tokio::select! {
            () = shutdown.cancelled() => return None,
            r = opened => match r {
                Ok(q) => return Some(q),
                Err(e) => tracing::debug!(instrument = %target.instrument, error = %e, "command queue not open yet"),
            },
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = retry.wait() => {}
        }
    }
}
