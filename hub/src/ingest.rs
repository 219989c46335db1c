//! The MQTT side: subscribe to `labwire/+/#`, validate every payload against
//! `labwire.telemetry/v1`, store it, and only then acknowledge it (QoS 1, manual acks, a
//! persistent session: what the hub has not acknowledged the broker delivers again).

use crate::config::HubConfig;
use crate::fleet::Policy;
use crate::limits;
use crate::metrics::Metrics;
use crate::store::{Store, Stored};
use labwire_uplink::broker::{BrokerError, mqtt_options};
use labwire_uplink::record::Record;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// The topic filter the hub subscribes to.
pub const TOPIC_FILTER: &str = "labwire/+/#";

/// The broker options for the hub: the uplink's TLS and packet limits, a persistent session
/// and manual acknowledgements.
pub fn options(config: &HubConfig) -> Result<MqttOptions, BrokerError> {
    let mut o = mqtt_options(
        "hub",
        &config.mqtt_url,
        config.mqtt_tls.as_ref(),
        limits::MQTT_INFLIGHT,
    )?;
    o.set_client_id(config.mqtt_client_id.clone())
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(limits::MAX_PACKET_BYTES, limits::MAX_PACKET_BYTES);
    Ok(o)
}

/// What happened to one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored.
    Stored,
    /// Already stored.
    Duplicate,
    /// Not a valid record (counted, logged without content).
    Invalid,
    /// A valid record on another site's or kind's topic.
    WrongTopic,
}

/// Validates and stores one payload; retries the database with backoff until it succeeds or
/// `shutdown` is set (then returns `None`: the publish stays un-acked and is redelivered).
pub async fn handle(
    publish: &Publish,
    store: &Store,
    metrics: &Metrics,
    policy: &Policy,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    Metrics::inc(&metrics.received);
    let record = match Record::from_json(&publish.payload) {
        Ok(r) => r,
        Err(e) => {
            Metrics::inc(&metrics.invalid);
            // The topic's site level is a broker-enforced identity, not content; the payload
            // is never logged.
            tracing::warn!(topic = %publish.topic, bytes = publish.payload.len(), error = %e, "refused a payload that is not a labwire.telemetry/v1 record");
            return Some(Outcome::Invalid);
        }
    };
    if publish.topic != record.topic() {
        Metrics::inc(&metrics.wrong_topic);
        tracing::warn!(topic = %publish.topic, "refused a record whose site or kind does not match its topic");
        return Some(Outcome::WrongTopic);
    }
    let mut wait = Duration::from_millis(100);
    loop {
        match store.ingest(&record, jiff::Timestamp::now(), policy).await {
            Ok(Stored::New) => {
                Metrics::inc(&metrics.stored);
                return Some(Outcome::Stored);
            }
            Ok(Stored::Duplicate) => {
                Metrics::inc(&metrics.duplicates);
                return Some(Outcome::Duplicate);
            }
            Err(e) => {
                Metrics::inc(&metrics.store_errors);
                tracing::error!(error = %e, retry_in = ?wait, "could not store a record; it stays un-acknowledged");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return None,
                }
                wait = (wait * 2).min(limits::STORE_RETRY_MAX);
            }
        }
    }
}

/// Runs the subscriber until `shutdown` becomes true. Connection errors are logged and retried
/// with backoff (at most [`limits::MQTT_RECONNECT_MAX`] apart); they never end the loop.
pub async fn run(
    options: MqttOptions,
    store: Store,
    metrics: Arc<Metrics>,
    policy: Policy,
    mut shutdown: watch::Receiver<bool>,
) {
    let capacity = usize::from(limits::MQTT_INFLIGHT) * 2;
    let (client, mut eventloop) = AsyncClient::new(options, capacity);
    let mut wait = Duration::from_millis(200);
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = shutdown.changed() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                wait = Duration::from_millis(200);
                tracing::info!("connected to the broker; subscribing to {TOPIC_FILTER}");
                if let Err(e) = client.try_subscribe(TOPIC_FILTER, QoS::AtLeastOnce) {
                    tracing::error!(error = %e, "could not queue the subscription");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                metrics.subscribed.store(true, Ordering::Relaxed);
                tracing::info!("subscribed to {TOPIC_FILTER}");
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some(_) = handle(&p, &store, &metrics, &policy, &mut shutdown).await else {
                    break;
                };
                if let Err(e) = client.try_ack(&p) {
                    // The broker redelivers it; the id dedupes it.
                    tracing::warn!(error = %e, "could not queue an acknowledgement");
                }
            }
            Ok(_) => {}
            Err(e) => {
                metrics.subscribed.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, retry_in = ?wait, "broker connection failed");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
                wait = (wait * 2).min(limits::MQTT_RECONNECT_MAX);
            }
        }
    }
    metrics.subscribed.store(false, Ordering::Relaxed);
    let _ = client.try_disconnect();
}
