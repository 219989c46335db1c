//! Host queries: "which tests for this specimen?" asked by an instrument, answered by a lab app.
//!
//! Conventions §2: `lab.<site>.<instrument>.query` is core NATS request/reply, never stored (the
//! stream does not capture it). The request carries the `query` event as JSON; the reply is a
//! [`labwire_event::QueryReply`]. No responder, no reply in time, or a reply that does not parse
//! all mean the connector tells the instrument "no information" ([`QueryOutcome::NoOrders`]).

use crate::bus::Bus;
use labwire_event::{Event, EventKind, QueryReply};
use std::time::Duration;

/// Default time an app has to answer a host query; well inside the instrument's own timer
/// (ASTM E1381 gives the receiver 15 s per frame; instruments often wait 10–30 s for orders).
/// The site config's `host_query_timeout` default.
pub const DEFAULT_QUERY_TIMEOUT: Duration = crate::config::DEFAULT_HOST_QUERY_TIMEOUT;

/// Why the instrument is told "no orders".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoOrdersReason {
    /// The app answered with an empty order list.
    AppHasNone,
    /// No app subscribes to the query subject.
    NoResponders,
    /// No answer within the timeout.
    Timeout(Duration),
    /// The answer was not a `QueryReply` (the parse error, with its byte offset when known).
    BadReply(String),
    /// The event is not a `query`, or could not be encoded.
    NotAQuery,
    /// The request failed otherwise (disconnected, …).
    Request(String),
}

/// What to tell the instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    /// Orders to download.
    Orders(QueryReply),
    /// Tell the instrument there is no information for this query.
    NoOrders(NoOrdersReason),
}

impl Bus {
    /// Asks the lab apps for orders: a NATS request on the event's `query` subject, waiting at
    /// most `timeout`. Never fails: every problem becomes [`QueryOutcome::NoOrders`] with a reason.
    pub async fn host_query(&self, event: &Event, timeout: Duration) -> QueryOutcome {
        use async_nats::client::RequestErrorKind;
        if event.kind != EventKind::Query {
            return QueryOutcome::NoOrders(NoOrdersReason::NotAQuery);
        }
        let Ok(payload) = crate::bus::encode(event) else {
            return QueryOutcome::NoOrders(NoOrdersReason::NotAQuery);
        };
        let request = self.client().request(event.subject(), payload);
        let reply = match tokio::time::timeout(timeout, request).await {
            Err(_) => return QueryOutcome::NoOrders(NoOrdersReason::Timeout(timeout)),
            Ok(Err(e)) => {
                let reason = match e.kind() {
                    RequestErrorKind::NoResponders => NoOrdersReason::NoResponders,
                    RequestErrorKind::TimedOut => NoOrdersReason::Timeout(timeout),
                    _ => NoOrdersReason::Request(e.to_string()),
                };
                return QueryOutcome::NoOrders(reason);
            }
            Ok(Ok(msg)) => msg,
        };
        outcome_of_reply(&reply.payload)
    }
}

/// What an app's reply means for the instrument. A reply that does not parse gives a reason that
/// names the position and the kind of problem, never a value from the reply (it may carry
/// patient data, and the reason is logged).
fn outcome_of_reply(payload: &[u8]) -> QueryOutcome {
    match serde_json::from_slice::<QueryReply>(payload) {
        Ok(r) if r.orders.is_empty() => QueryOutcome::NoOrders(NoOrdersReason::AppHasNone),
        Ok(r) => QueryOutcome::Orders(r),
        Err(e) => {
            let offset = crate::commands::json_error_offset(payload, &e);
            QueryOutcome::NoOrders(NoOrdersReason::BadReply(format!(
                "{} (byte offset {offset})",
                crate::commands::json_error_reason(&e)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply with a marker where the schema wants another type: serde_json's own message
    /// would quote the marker.
    #[test]
    fn a_bad_reply_reason_names_the_position_not_the_value() {
        let marker = "CanaryReplyValue42";
        let replies = [
            format!(r#"{{"orders":"{marker}"}}"#),
            format!(r#"{{"orders":[{{"specimen_id":["{marker}"]}}]}}"#),
            format!(r#"{{"orders":[], "{marker}": 1, "x": tru}}"#),
        ];
        for reply in &replies {
            let QueryOutcome::NoOrders(NoOrdersReason::BadReply(reason)) =
                outcome_of_reply(reply.as_bytes())
            else {
                panic!("not a bad reply: {reply}");
            };
            assert!(
                !reason.to_lowercase().contains(&marker.to_lowercase()),
                "{reason}"
            );
            assert!(reason.contains("line 1 column"), "{reason}");
            assert!(reason.contains("byte offset"), "{reason}");
        }
    }
}
