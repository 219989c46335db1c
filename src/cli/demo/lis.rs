//! The demo's stand-in for the lab information system: answers host queries on
//! `lab.<site>.*.query` (shared conventions §2) with an order for most specimens and none for
//! every third one, so both kinds of answer show up on the instruments.

use futures::StreamExt;
use labwire_event::{Event, Order, QueryReply, SiteId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the LIS app answered so far.
#[derive(Debug, Default)]
pub struct LisCounts {
    /// Queries answered.
    pub queries: AtomicU64,
    /// Orders sent back in total.
    pub orders: AtomicU64,
}

/// Whether the LIS has work for this specimen (deterministic: the same specimen always gets
/// the same answer).
pub fn has_orders(specimen: &str) -> bool {
    let sum = specimen
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    sum % 3 != 0
}

/// Subscribes and answers in the background until the client closes.
pub async fn spawn(
    client: async_nats::Client,
    site: &SiteId,
    counts: Arc<LisCounts>,
) -> Result<tokio::task::JoinHandle<()>, async_nats::SubscribeError> {
    let mut queries = client.subscribe(format!("lab.{site}.*.query")).await?;
    Ok(tokio::spawn(async move {
        while let Some(msg) = queries.next().await {
            let Some(reply_to) = msg.reply else { continue };
            let Ok(event) = serde_json::from_slice::<Event>(&msg.payload) else {
                continue;
            };
            let orders: Vec<Order> = event
                .query
                .unwrap_or_default()
                .specimen_ids
                .into_iter()
                .filter(|s| has_orders(s))
                .map(|specimen_id| Order {
                    specimen_id,
                    tests: vec!["GLU".into()],
                    ..Order::default()
                })
                .collect();
            counts.queries.fetch_add(1, Ordering::Relaxed);
            counts
                .orders
                .fetch_add(orders.len() as u64, Ordering::Relaxed);
            let Ok(body) = serde_json::to_vec(&QueryReply { orders }) else {
                continue;
            };
            let _ = client.publish(reply_to, body.into()).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_specimens_get_orders_and_some_do_not() {
        let answers: Vec<bool> = (0..30).map(|i| has_orders(&format!("S{i:04}"))).collect();
        assert!(answers.iter().any(|a| *a));
        assert!(answers.iter().any(|a| !*a));
        assert_eq!(has_orders("S0001"), has_orders("S0001"));
    }
}
