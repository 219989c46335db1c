//! Order downloads: apps publish a [`Command`] on `lab.<site>.<instrument>.cmd` (JetStream); each
//! instrument's connector reads them through a durable pull consumer, so commands published while
//! the instrument (or labwire) is offline wait in the stream and are delivered when it returns.
//!
//! A command is acked only when the instrument accepted the order ([`PendingCommand::accepted`]);
//! [`PendingCommand::retry_later`] naks it with a delay, and a command neither acked nor naked is
//! redelivered after the consumer's `ack_wait`. A message that is not a valid
//! `labwire.command/v1` is terminated (never redelivered) and reported as an `error` event.

use crate::bus::Bus;
use crate::error::BusError;
use crate::status::StatusPublisher;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use labwire_event::{
    COMMAND_SCHEMA, Command, EventKind, InputError, InstrumentId, Origin, Protocol, SiteId,
    command_subject,
};
use std::time::Duration;

/// Consumer settings for one instrument's command queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOptions {
    /// How long a delivered command may stay unacked before it is redelivered.
    pub ack_wait: Duration,
    /// Delay before a command the instrument refused is offered again.
    pub retry_delay: Duration,
}

impl Default for CommandOptions {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            retry_delay: Duration::from_secs(5),
        }
    }
}

/// Which instrument a command queue serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTarget {
    /// The site.
    pub site: SiteId,
    /// The instrument.
    pub instrument: InstrumentId,
    /// Its protocol (for `error` events about bad commands).
    pub protocol: Protocol,
}

impl CommandTarget {
    /// The durable consumer name: `cmd-<site>_<instrument>` (`_` cannot occur in ids, so names
    /// of different sites and instruments never collide).
    pub fn consumer_name(&self) -> String {
        format!("cmd-{}_{}", self.site, self.instrument)
    }
}

/// One instrument's queue of order downloads.
pub struct CommandQueue {
    messages: pull::Stream,
    target: CommandTarget,
    reporter: StatusPublisher,
    retry_delay: Duration,
}

impl CommandQueue {
    /// Creates (or reuses) the durable consumer for `target` and starts pulling.
    pub async fn open(
        bus: &Bus,
        reporter: StatusPublisher,
        target: CommandTarget,
        opts: CommandOptions,
    ) -> Result<Self, BusError> {
        let name = target.consumer_name();
        let fail = |reason: String| BusError::Consumer {
            consumer: name.clone(),
            reason,
        };
        let stream = bus
            .jetstream()
            .get_stream(&bus.options().stream.name)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: command_subject(&target.site, &target.instrument),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: opts.ack_wait,
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let messages = consumer.messages().await.map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            messages,
            target,
            reporter,
            retry_delay: opts.retry_delay,
        })
    }

    /// The next command, waiting for one. Invalid messages are terminated and reported as
    /// `error` events, then skipped. An `Err` is transient (e.g. missed heartbeats while the
    /// client reconnects): log it and call `next` again. `None` when the consumer stream ends.
    pub async fn next(&mut self) -> Option<Result<PendingCommand, BusError>> {
        loop {
            let msg = match self.messages.next().await? {
                Ok(msg) => msg,
                Err(e) => {
                    return Some(Err(BusError::Consumer {
                        consumer: self.target.consumer_name(),
                        reason: e.to_string(),
                    }));
                }
            };
            match parse_command(&msg.payload) {
                Ok(command) => {
                    let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
                    return Some(Ok(PendingCommand {
                        command,
                        delivered,
                        msg,
                        retry_delay: self.retry_delay,
                    }));
                }
                Err(input_error) => self.reject(&msg, input_error).await,
            }
        }
    }

    async fn reject(&self, msg: &jetstream::Message, input_error: InputError) {
        tracing::warn!(reason = %input_error.reason, "invalid command terminated");
        if let Err(e) = msg.ack_with(AckKind::Term).await {
            tracing::warn!(error = %e, "could not terminate an invalid command");
        }
        let origin = Origin {
            site: self.target.site.clone(),
            instrument: self.target.instrument.clone(),
            received_at: jiff::Timestamp::now(),
        };
        let mut keyed = b"cmd\n".to_vec();
        keyed.extend_from_slice(&msg.payload);
        let mut event = origin.event(EventKind::Error, self.target.protocol, &keyed, 0);
        event.error = Some(input_error);
        labwire_event::BoundedRaw::new(&String::from_utf8_lossy(&msg.payload)).apply(&mut event);
        self.reporter.report(event);
    }
}

/// A delivered command, waiting for the instrument's verdict. Dropping it without a verdict
/// leaves it unacked: it is redelivered after `ack_wait`.
#[must_use = "ack the command once the instrument accepted it, or retry it later"]
pub struct PendingCommand {
    command: Command,
    delivered: i64,
    msg: jetstream::Message,
    retry_delay: Duration,
}

impl PendingCommand {
    /// The command.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// How many times it has been delivered (1 the first time).
    pub fn delivered(&self) -> i64 {
        self.delivered
    }

    /// The instrument accepted the orders: ack, waiting for the server to confirm.
    pub async fn accepted(self) -> Result<(), BusError> {
        self.msg
            .double_ack()
            .await
            .map_err(|e| consumer_error(&self.msg, e))
    }

    /// The instrument refused or was busy: offer the command again after the retry delay.
    pub async fn retry_later(self) -> Result<(), BusError> {
        let delay = self.retry_delay;
        self.retry_after(delay).await
    }

    /// Offer the command again after `delay`.
    pub async fn retry_after(self, delay: Duration) -> Result<(), BusError> {
        self.msg
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| consumer_error(&self.msg, e))
    }
}

fn consumer_error(msg: &jetstream::Message, e: async_nats::Error) -> BusError {
    BusError::Consumer {
        consumer: msg
            .info()
            .map(|i| i.consumer.to_owned())
            .unwrap_or_default(),
        reason: e.to_string(),
    }
}

/// Parses a command, checking its schema tag.
fn parse_command(payload: &[u8]) -> Result<Command, InputError> {
    let command: Command = serde_json::from_slice(payload).map_err(|e| InputError {
        reason: format!(
            "command is not valid {COMMAND_SCHEMA} JSON: {}",
            json_error_reason(&e)
        ),
        offset: Some(json_error_offset(payload, &e)),
    })?;
    if command.schema != COMMAND_SCHEMA {
        return Err(InputError {
            reason: format!("command schema is not {COMMAND_SCHEMA:?}"),
            offset: None,
        });
    }
    Ok(command)
}

/// The reason of a serde_json error without anything from the input: the kind of problem and
/// its line and column. serde_json's own message quotes string values and unknown keys
/// (`invalid type: string "…"`), which may be patient data and would end up in logs; only a
/// missing field is named, since that name comes from labwire's schema, not from the input.
pub(crate) fn json_error_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "malformed JSON".to_owned(),
        Category::Eof => "JSON ends early".to_owned(),
        Category::Io => "unreadable JSON".to_owned(),
        Category::Data => e
            .to_string()
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map_or_else(
                || "a value of the wrong type or an unexpected key".to_owned(),
                |(field, _)| format!("missing field `{field}`"),
            ),
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The byte offset of a serde_json error (its line and column, 1-based, turned into an offset).
pub(crate) fn json_error_offset(payload: &[u8], e: &serde_json::Error) -> u64 {
    let line_start: usize = payload
        .split_inclusive(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    (line_start + e.column().saturating_sub(1)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_gives_a_byte_offset() {
        let payload = b"{\"schema\":\"labwire.command/v1\",\n \"id\": }";
        let err = parse_command(payload).unwrap_err();
        let offset = err.offset.unwrap() as usize;
        assert!(err.reason.contains("labwire.command/v1"));
        assert_eq!(payload[offset], b'}', "offset {offset}");
    }

    /// Values of an invalid command (an app's message) never reach the reason, which is logged.
    #[test]
    fn an_invalid_command_reason_names_the_position_not_the_value() {
        let marker = "CanaryCommandValue7";
        let payloads = [
            format!(r#"{{"schema":"labwire.command/v1","id":"c1","orders":"{marker}"}}"#),
            format!(r#"{{"schema":"{marker}","id":"c1","orders":[]}}"#),
            format!(r#"{{"schema":"labwire.command/v1","id":["{marker}"],"orders":[]}}"#),
        ];
        for payload in &payloads {
            let err = parse_command(payload.as_bytes()).unwrap_err();
            assert!(
                !err.reason.to_lowercase().contains(&marker.to_lowercase()),
                "{}",
                err.reason
            );
        }
    }

    #[test]
    fn a_foreign_schema_is_refused() {
        let payload = br#"{"schema":"other/v9","id":"c1","orders":[]}"#;
        assert!(
            parse_command(payload)
                .unwrap_err()
                .reason
                .contains("is not \"labwire.command/v1\"")
        );
        let ok = br#"{"schema":"labwire.command/v1","id":"c1","orders":[]}"#;
        assert_eq!(parse_command(ok).unwrap().id, "c1");
    }
}
