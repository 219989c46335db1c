//! The one loop that runs every protocol over every transport (quinn's `ConnectionDriver`
//! pattern).
//!
//! Per connection: read with an idle deadline and feed the [`Link`]; hand each complete message
//! to the [`Ingest`] and acknowledge it with [`Link::commit`] **only** when the ingest says it is
//! durable (otherwise [`Link::reject`]: the instrument resends); write whatever the link wants
//! sent under a write deadline; wake the link at [`Link::poll_timeout`]; start downloads when the
//! line is idle. Every read and write has a deadline, so a silent or half-open peer ends the
//! connection with a status event instead of a stuck task.

use crate::connector::Connector;
use crate::health::LinkHealth;
use crate::ingest::{CommandDelivery, CommandOutcome, Ingest, IngestFailure};
use crate::link::{Link, LinkEvent, SendId, Token};
use crate::status::StatusReporter;
use crate::transport::{BoxStream, Connection};
use bytes::BytesMut;
use labwire_event::{
    Event, EventKind, InputError, InstrumentId, Origin, QueryReply, SiteId, limits,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Deadlines and buffer sizes of the driver loop.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverConfig {
    /// Close the connection when the instrument sends nothing for this long (default 10 min;
    /// `None` disables). TCP keepalive catches dead peers sooner on idle TCP links.
    pub idle_timeout: Option<Duration>,
    /// Longest time one write may block (default 5 s): a pty with no reader or a peer with a
    /// full window ends the connection instead of hanging it.
    pub write_timeout: Duration,
    /// Longest wait for the ingest to make a message durable: the site config's
    /// `[ingest] deadline` (default 5 s, inside the ASTM sender's 15 s reply window,
    /// LIS1-A §6.5.2).
    pub ingest_timeout: Duration,
    /// Longest wait for a lab application to answer a host query: the instrument's
    /// `host_query_timeout` (default 5 s).
    pub query_timeout: Duration,
    /// Bytes read per call (default 4096).
    pub read_chunk: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Some(Duration::from_secs(600)),
            write_timeout: Duration::from_secs(5),
            ingest_timeout: labwire_router::config::DEFAULT_INGEST_DEADLINE,
            query_timeout: labwire_router::config::DEFAULT_HOST_QUERY_TIMEOUT,
            read_chunk: 4096,
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Ended {
    /// The instrument closed the connection (EOF).
    PeerClosed,
    /// A read failed (on a pty a hang-up is `EIO`, raw OS error 5).
    ReadFailed(std::io::Error),
    /// A write failed.
    WriteFailed(std::io::Error),
    /// A write did not complete within [`DriverConfig::write_timeout`].
    WriteTimeout,
    /// Nothing arrived within [`DriverConfig::idle_timeout`].
    IdleTimeout(Duration),
    /// The transport closed it (replaced by a newer connection).
    ClosedByTransport,
    /// The connector is shutting down.
    Shutdown,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("peer closed the connection"),
            Self::ReadFailed(e) => write!(f, "read failed: {e}"),
            Self::WriteFailed(e) => write!(f, "write failed: {e}"),
            Self::WriteTimeout => f.write_str("write timeout"),
            Self::IdleTimeout(d) => write!(f, "idle timeout: nothing received for {d:?}"),
            Self::ClosedByTransport => f.write_str("replaced by a newer connection"),
            Self::Shutdown => f.write_str("shutting down"),
        }
    }
}

/// Everything one connection's loop needs besides the link and the stream.
pub(crate) struct Driver<'a, C: Connector, I: Ingest> {
    pub connector: &'a C,
    pub ingest: &'a I,
    pub status: &'a StatusReporter,
    pub health: &'a LinkHealth,
    pub config: &'a DriverConfig,
    pub site: &'a SiteId,
    pub instrument: &'a InstrumentId,
    pub commands: &'a mut Option<mpsc::Receiver<CommandDelivery>>,
    pub shutdown: &'a CancellationToken,
}

/// The write half with its deadline.
struct Writer {
    wr: tokio::io::WriteHalf<BoxStream>,
    out: BytesMut,
    timeout: Duration,
}

impl Writer {
    /// Writes everything the link wants sent, under the write deadline.
    async fn flush<L: Link>(&mut self, link: &mut L, health: &LinkHealth) -> Result<(), Ended> {
        while link.poll_transmit(&mut self.out) {}
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.wr.write_all(&self.out).await?;
            self.wr.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => {
                self.out.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(Ended::WriteFailed(e)),
            Err(_) => {
                health.timeout();
                Err(Ended::WriteTimeout)
            }
        }
    }
}

/// A download in flight.
struct Pending {
    id: SendId,
    done: oneshot::Sender<CommandOutcome>,
}

impl<C: Connector, I: Ingest> Driver<'_, C, I> {
    /// Runs one connection until it ends.
    pub(crate) async fn run(&mut self, link: &mut C::Link, conn: Connection) -> Ended {
        let mut pending: Option<Pending> = None;
        let ended = self.serve(link, conn, &mut pending).await;
        if let Some(p) = pending.take() {
            let _ = p
                .done
                .send(CommandOutcome::Failed(format!("connection ended: {ended}")));
        }
        ended
    }

    async fn serve(
        &mut self,
        link: &mut C::Link,
        conn: Connection,
        pending: &mut Option<Pending>,
    ) -> Ended {
        let Connection {
            stream,
            closed_by_transport,
            ..
        } = conn;
        let (mut rd, wr) = tokio::io::split(stream);
        let mut writer = Writer {
            wr,
            out: BytesMut::new(),
            timeout: self.config.write_timeout,
        };
        let mut buf = vec![0u8; self.config.read_chunk.max(1)];
        let mut counters = link.counters();
        let mut next_send_id = 0u64;
        let mut idle_deadline = self.config.idle_timeout.map(|d| Instant::now() + d);
        let mut spent_timer: Option<Instant> = None;
        loop {
            // 1. Everything the link wants written, under the write deadline.
            if let Err(end) = writer.flush(link, self.health).await {
                return end;
            }
            // 2. One event at a time; its answer may produce more bytes, so loop back.
            if let Some(ev) = link.poll_event() {
                let waited = matches!(ev, LinkEvent::Message { .. });
                if let Err(end) = self.on_event(link, ev, pending, &mut writer).await {
                    return end;
                }
                // Time spent waiting for the ingest or the apps is not the peer's silence.
                if let (true, Some(d)) = (waited, self.config.idle_timeout) {
                    idle_deadline = Some(Instant::now() + d);
                }
                let now = link.counters();
                self.health.add_link_delta(counters, now);
                counters = now;
                continue;
            }
            // 3. Wait for bytes, a timer, a download or the end.
            // A link that keeps returning a deadline it has already been woken for would spin
            // this loop; such a deadline is ignored until the link changes it.
            let timer = link
                .poll_timeout()
                .map(Instant::from_std)
                .filter(|t| Some(*t) != spent_timer);
            let can_send = pending.is_none() && link.is_idle();
            let commands = self.commands.as_mut();
            let has_commands = can_send && commands.is_some();
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Ended::Shutdown,
                () = closed_by_transport.cancelled() => return Ended::ClosedByTransport,
                r = rd.read(&mut buf) => match r {
                    Ok(0) => {
                        // Whatever the link held (a frame cut by the close) is still recorded.
                        link.handle_end_of_input(now_std());
                        while let Some(ev) = link.poll_event() {
                            if self.on_event(link, ev, pending, &mut writer).await.is_err() {
                                break;
                            }
                        }
                        return Ended::PeerClosed;
                    }
                    Ok(n) => {
                        if let Some(d) = self.config.idle_timeout {
                            idle_deadline = Some(Instant::now() + d);
                        }
                        link.handle_input(now_std(), buf.get(..n).unwrap_or_default());
                    }
                    Err(e) => return Ended::ReadFailed(e),
                },
                () = sleep_until(timer), if timer.is_some() => {
                    link.handle_timeout(now_std());
                    spent_timer = timer.filter(|t| {
                        link.poll_timeout().map(Instant::from_std) == Some(*t)
                    });
                    if spent_timer.is_some() {
                        tracing::warn!(instrument = %self.instrument, "link kept an expired deadline");
                    }
                }
                () = sleep_until(idle_deadline), if idle_deadline.is_some() => {
                    self.health.timeout();
                    return Ended::IdleTimeout(self.config.idle_timeout.unwrap_or_default());
                }
                cmd = recv(commands), if has_commands => match cmd {
                    Some(delivery) => {
                        let id = SendId(next_send_id);
                        next_send_id = next_send_id.wrapping_add(1);
                        match link.send_orders(id, &delivery.command.orders, now_std()) {
                            Ok(()) => *pending = Some(Pending { id, done: delivery.done }),
                            Err(e) => {
                                self.status.report("download-refused", Some(e.to_string()));
                                let _ = delivery.done.send(CommandOutcome::Failed(e.to_string()));
                            }
                        }
                    }
                    None => *self.commands = None,
                },
            }
            let now = link.counters();
            self.health.add_link_delta(counters, now);
            counters = now;
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            site: self.site.clone(),
            instrument: self.instrument.clone(),
            received_at: jiff::Timestamp::now(),
        }
    }

    async fn submit(&self, events: Vec<Event>) -> Result<(), IngestFailure> {
        match tokio::time::timeout(self.config.ingest_timeout, self.ingest.submit(events)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(instrument = %self.instrument, error = %e, "not durable");
                Err(e)
            }
            Err(_) => {
                tracing::warn!(instrument = %self.instrument, "ingest timed out");
                Err(IngestFailure::Unavailable(format!(
                    "not durable within {:?}",
                    self.config.ingest_timeout
                )))
            }
        }
    }

    /// Makes an `error` event about `raw` durable. When its event is itself too large for the
    /// bus (an unusable message of several MiB), it is recorded with the start of `raw` only
    /// ([`limits::ERROR_EXCERPT_BYTES`]), so that the instrument still gets a definite answer.
    async fn submit_error(&self, raw: &[u8], error: InputError) -> Result<(), IngestFailure> {
        let ev = self.error_event(raw, error.clone());
        match self.submit(vec![ev]).await {
            Err(IngestFailure::TooLarge { .. }) => {
                let ev = self.error_event(excerpt(raw), error);
                self.submit(vec![ev]).await
            }
            other => other,
        }
    }

    async fn on_event(
        &mut self,
        link: &mut C::Link,
        ev: LinkEvent,
        pending: &mut Option<Pending>,
        writer: &mut Writer,
    ) -> Result<(), Ended> {
        match ev {
            LinkEvent::Message { token, raw } => {
                return self.on_message(link, token, raw, writer).await;
            }
            LinkEvent::Rejected {
                reason,
                offset,
                raw,
            } => {
                self.health.rejected();
                // Rejected input shares the instrument's noise budget: a peer sending stray
                // frames cannot fill the spool and `LAB` (counted and summarised instead).
                if self.status.admit_noise(crate::status::REJECTED_INPUT) {
                    let error = InputError { reason, offset };
                    // Best effort: the bytes were unusable anyway; nothing to acknowledge.
                    let _ = self.submit_error(&raw, error).await;
                }
            }
            LinkEvent::Status { state, detail } => self.status.report(state, detail),
            LinkEvent::Sent(id) => {
                if let Some(p) = pending.take_if(|p| p.id == id) {
                    let _ = p.done.send(CommandOutcome::Delivered);
                }
            }
            LinkEvent::SendFailed { id, reason } => {
                if let Some(p) = pending.take_if(|p| p.id == id) {
                    self.status.report("download-failed", Some(reason.clone()));
                    let _ = p.done.send(CommandOutcome::Failed(reason));
                }
            }
        }
        Ok(())
    }

    /// The id covers reason, offset and (for content-less errors) the receive time: see
    /// [`Origin::error_event`].
    fn error_event(&self, raw: &[u8], error: InputError) -> Event {
        self.origin()
            .error_event(self.connector.protocol(), raw, error)
    }

    async fn on_message(
        &mut self,
        link: &mut C::Link,
        token: Token,
        raw: Vec<u8>,
        writer: &mut Writer,
    ) -> Result<(), Ended> {
        let origin = self.origin();
        match self.connector.decode(&raw, &origin) {
            Ok(events) => {
                let (queries, others): (Vec<Event>, Vec<Event>) =
                    events.into_iter().partition(|e| e.kind == EventKind::Query);
                if !others.is_empty() {
                    match self.submit(others).await {
                        Ok(()) => {}
                        Err(IngestFailure::TooLarge { size, limit }) => {
                            self.unstorable(link, token, &raw, size, limit).await;
                            return Ok(());
                        }
                        Err(_) => {
                            self.health.ingest_failure();
                            link.reject(token, now_std());
                            return Ok(());
                        }
                    }
                }
                if let Some(first) = queries.first() {
                    link.query_received(token, now_std());
                    // Let the acknowledgement out before waiting for the apps.
                    writer.flush(link, self.health).await?;
                    let reply = self.ask(&queries).await;
                    link.answer_query(token, first, reply.as_ref(), now_std());
                } else {
                    link.commit(token, now_std());
                }
                self.health.message();
            }
            Err(error) => {
                self.health.rejected();
                if self.submit_error(&raw, error.clone()).await.is_ok() {
                    link.refuse(token, &error, now_std());
                } else {
                    self.health.ingest_failure();
                    link.reject(token, now_std());
                }
            }
        }
        Ok(())
    }

    /// A message whose events can never be stored (larger than the bus accepts): an `error`
    /// event with the size, the limit and the start of the message becomes durable, then the
    /// instrument gets a definite answer ([`Link::refuse_unstorable`]) instead of being asked to
    /// resend forever. Only if that error event cannot be stored either is the message rejected
    /// (a transient failure: the resend is answered once the bus takes the error event).
    async fn unstorable(
        &mut self,
        link: &mut C::Link,
        token: Token,
        raw: &[u8],
        size: usize,
        limit: usize,
    ) {
        self.health.rejected();
        let error = InputError {
            reason: format!(
                "message of {} bytes cannot be stored: its event needs {size} bytes, the bus \
                 accepts at most {limit} (NATS max_payload); raw holds the first {} bytes",
                raw.len(),
                raw.len().min(limits::ERROR_EXCERPT_BYTES)
            ),
            offset: None,
        };
        let ev = self.error_event(excerpt(raw), error.clone());
        if self.submit(vec![ev]).await.is_ok() {
            link.refuse_unstorable(token, &error, now_std());
        } else {
            self.health.ingest_failure();
            link.reject(token, now_std());
        }
    }

    /// Asks the apps about every query record of one message; merges the orders.
    async fn ask(&self, queries: &[Event]) -> Option<QueryReply> {
        let mut merged: Option<QueryReply> = None;
        for q in queries {
            let answer =
                tokio::time::timeout(self.config.query_timeout, self.ingest.host_query(q.clone()))
                    .await
                    .ok()
                    .flatten();
            if let Some(r) = answer {
                merged
                    .get_or_insert_with(QueryReply::default)
                    .orders
                    .extend(r.orders);
            }
        }
        merged
    }
}

/// The start of `raw` an `error` event carries when the whole input cannot be stored.
fn excerpt(raw: &[u8]) -> &[u8] {
    raw.get(..limits::ERROR_EXCERPT_BYTES).unwrap_or(raw)
}

fn now_std() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn recv(rx: Option<&mut mpsc::Receiver<CommandDelivery>>) -> Option<CommandDelivery> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
