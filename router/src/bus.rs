//! The local NATS bus: connection, the JetStream stream `LAB`, and publish-with-ack.
//!
//! Conventions §2: durable subjects are listed one kind at a time (`lab.*.*.result`, …) and never
//! `lab.>`, so the request/reply `query` subject is not captured by the stream. Every publish
//! carries `Nats-Msg-Id` = the event id; the stream's `duplicate_window` covers the whole retry
//! horizon (spool replay included), so a retransmitted or replayed event is stored once.
//!
//! A plain NATS publish returns `Ok` even while disconnected: only a JetStream `PublishAck`
//! means stored, and a missing ack does not mean "not stored" — hence the msg-id on every retry.

use crate::error::BusError;
use crate::stats::RouterStats;
pub use crate::stream_setup::StreamPolicy;
use crate::stream_setup::{Plan, plan};
use async_nats::jetstream::{self, message::PublishMessage, stream};
use bytes::Bytes;
use labwire_backoff::{Backoff, BackoffConfig};
use labwire_event::{Event, EventKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The JetStream stream holding the durable subjects.
pub const STREAM_NAME: &str = "LAB";

/// Bytes of the `Nats-Msg-Id` header block besides the id itself
/// (`NATS/1.0\r\nNats-Msg-Id: …\r\n\r\n`): a publish needs its payload, its id and these.
pub(crate) const HEADER_OVERHEAD: usize = 32;

/// The event kinds stored in the stream, plus `cmd`: each becomes `lab.*.*.<kind>`.
pub const STREAM_KINDS: [&str; 7] = [
    "result",
    "qc",
    "order",
    "telemetry",
    "status",
    "error",
    "cmd",
];

/// Default JetStream ack deadline for one publish (the gate spools when it passes): half of the
/// site config's default `[ingest] deadline`, as [`crate::config::SiteConfig::bus_options`] sets.
pub const DEFAULT_ACK_DEADLINE: Duration =
    Duration::from_millis(crate::config::DEFAULT_INGEST_DEADLINE.as_millis() as u64 / 2);
/// Default stream `duplicate_window`: the site config's `[stream] duplicate_window` default.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = crate::config::DEFAULT_DUPLICATE_WINDOW;
/// Default stream `max_age`: the site config's `[stream] max_age` default.
pub const DEFAULT_MAX_AGE: Duration = crate::config::DEFAULT_STREAM_MAX_AGE;
/// Default stream `max_bytes`: the site config's `[stream] max_bytes` default.
pub const DEFAULT_MAX_BYTES: i64 = crate::config::DEFAULT_STREAM_MAX_BYTES as i64;

/// TLS settings for the NATS connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusTls {
    /// Require TLS even if the server does not ask for it.
    pub required: bool,
    /// Extra root CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// How to authenticate to NATS (at most one applies).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusAuth {
    /// No credentials.
    #[default]
    None,
    /// A `.creds` file (JWT + nkey seed).
    CredentialsFile(PathBuf),
    /// An nkey seed (`SU…`).
    NkeySeed(String),
    /// User and password.
    UserPassword {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A token.
    Token(String),
}

impl std::fmt::Debug for BusAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::CredentialsFile(p) => write!(f, "CredentialsFile({})", p.display()),
            Self::NkeySeed(_) => f.write_str("NkeySeed(<redacted>)"),
            Self::UserPassword { user, .. } => write!(f, "UserPassword({user}, <redacted>)"),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// Settings of the stream `LAB`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Stream name ([`STREAM_NAME`] in production; tests may vary it).
    pub name: String,
    /// Oldest message kept.
    pub max_age: Duration,
    /// Bytes kept (oldest dropped first).
    pub max_bytes: i64,
    /// How long a `Nats-Msg-Id` is remembered for deduplication; must cover the retry horizon,
    /// including spool replay after an outage.
    pub duplicate_window: Duration,
    /// What may be done to an existing stream of that name (never shortening it).
    pub policy: StreamPolicy,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            name: STREAM_NAME.to_owned(),
            max_age: DEFAULT_MAX_AGE,
            max_bytes: DEFAULT_MAX_BYTES,
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
            policy: StreamPolicy::Own,
        }
    }
}

/// Everything needed to connect to the bus; the site config fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusOptions {
    /// Server URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Authentication.
    pub auth: BusAuth,
    /// TLS.
    pub tls: BusTls,
    /// The stream.
    pub stream: StreamOptions,
    /// Deadline for one publish ack.
    pub ack_deadline: Duration,
    /// Client ping interval (lower than the 60 s default so a dead link is seen sooner).
    pub ping_interval: Duration,
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
    /// Client name shown by the server.
    pub client_name: String,
}

impl BusOptions {
    /// Defaults for the given URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: BusAuth::None,
            tls: BusTls::default(),
            stream: StreamOptions::default(),
            ack_deadline: DEFAULT_ACK_DEADLINE,
            ping_interval: crate::config::DEFAULT_NATS_PING_INTERVAL,
            connect_timeout: crate::config::DEFAULT_NATS_CONNECT_TIMEOUT,
            client_name: "labwire-router".to_owned(),
        }
    }
}

/// The outcome of a stored publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Stream sequence of the message.
    pub sequence: u64,
    /// The server had already stored this id (within the duplicate window).
    pub duplicate: bool,
}

/// A connection to the local bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

struct BusInner {
    client: async_nats::Client,
    js: jetstream::Context,
    opts: BusOptions,
    stream_ready: AtomicBool,
    reconnected: Arc<Notify>,
    stats: Arc<RouterStats>,
}

impl Bus {
    /// Connects (in the background if the server is not up yet: the client keeps retrying) and
    /// tries once to create or update the stream. The ingest gate spools until both are ready.
    pub async fn connect(opts: BusOptions, stats: Arc<RouterStats>) -> Result<Self, BusError> {
        let reconnected = Arc::new(Notify::new());
        let notify = Arc::clone(&reconnected);
        let co = async_nats::ConnectOptions::new()
            .name(&opts.client_name)
            .ping_interval(opts.ping_interval)
            .connection_timeout(opts.connect_timeout)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_delay)
            .event_callback(move |event| {
                let notify = Arc::clone(&notify);
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!("nats connected");
                            notify.notify_waiters();
                        }
                        async_nats::Event::Disconnected => tracing::warn!("nats disconnected"),
                        other => tracing::debug!(event = %other, "nats event"),
                    }
                }
            });
        let co = apply_security(co, &opts)
            .await
            .map_err(|(path, source)| BusError::Credentials { path, source })?;
        let client = co
            .connect(opts.url.as_str())
            .await
            .map_err(|source| BusError::Connect {
                url: crate::config::redact_url(&opts.url),
                source,
            })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(opts.ack_deadline)
            .max_ack_inflight(5000)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let bus = Self {
            inner: Arc::new(BusInner {
                client,
                js,
                opts,
                stream_ready: AtomicBool::new(false),
                reconnected,
                stats,
            }),
        };
        tokio::spawn(keep_stream_ready(Arc::downgrade(&bus.inner)));
        Ok(bus)
    }

    /// Creates the stream, or sets up an existing one per [`StreamOptions::policy`]: never
    /// shortening its retention, and with [`StreamPolicy::UseExisting`] never changing it.
    pub async fn ensure_stream(&self) -> Result<(), BusError> {
        let s = &self.inner.opts.stream;
        let wanted = stream::Config {
            name: s.name.clone(),
            subjects: stream_subjects(),
            storage: stream::StorageType::File,
            max_age: s.max_age,
            max_bytes: s.max_bytes,
            duplicate_window: s.duplicate_window,
            ..Default::default()
        };
        let fut = self.set_up_stream(wanted);
        match tokio::time::timeout(self.inner.opts.ack_deadline, fut).await {
            Ok(Ok(())) => {
                self.inner.stream_ready.store(true, Ordering::Release);
                Ok(())
            }
            Ok(Err(reason)) => Err(BusError::Stream {
                stream: s.name.clone(),
                reason,
            }),
            Err(_) => Err(BusError::Stream {
                stream: s.name.clone(),
                reason: "timed out".to_owned(),
            }),
        }
    }

    /// Reads the existing stream (if any) and applies the [`plan`].
    async fn set_up_stream(&self, wanted: stream::Config) -> Result<(), String> {
        use async_nats::jetstream::context::GetStreamErrorKind;
        let js = &self.inner.js;
        let existing = match js.get_stream(&wanted.name).await {
            Ok(stream) => Some(stream.cached_info().config.clone()),
            Err(e) => match e.kind() {
                GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    None
                }
                _ => return Err(e.to_string()),
            },
        };
        match plan(existing.as_ref(), wanted, self.inner.opts.stream.policy) {
            Plan::Create(config) => js
                .create_stream(config)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Plan::Update { config, kept } => {
                if !kept.is_empty() {
                    tracing::warn!(
                        stream = %config.name,
                        kept = %kept.join(", "),
                        "the stream on the server keeps longer limits than the site config asks \
                         for; labwire never shortens them (shorten with the NATS tools if meant)"
                    );
                }
                js.update_stream(config)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Plan::UseAsIs => Ok(()),
            Plan::Refuse(why) => Err(why),
        }
    }

    /// Whether the client is connected right now.
    pub fn is_connected(&self) -> bool {
        self.inner.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Whether a publish can be tried: connected and the stream set up.
    pub fn is_ready(&self) -> bool {
        self.is_connected() && self.inner.stream_ready.load(Ordering::Acquire)
    }

    /// Marks the stream as needing `ensure_stream` again (e.g. after "stream not found").
    pub(crate) fn mark_stream_unknown(&self) {
        self.inner.stream_ready.store(false, Ordering::Release);
    }

    /// Resolves at the next (re)connection.
    pub async fn reconnected(&self) {
        self.inner.reconnected.notified().await;
    }

    /// Publishes `event` as JSON on its subject with `Nats-Msg-Id` = its id, and waits for the
    /// JetStream ack within the configured deadline.
    pub async fn publish_durable(&self, event: &Event) -> Result<Stored, BusError> {
        let payload = encode(event)?;
        self.publish_encoded(&event.subject(), event.id.as_str(), payload)
            .await
    }

    /// Publishes an already-encoded event (as held in the spool) with `Nats-Msg-Id` = `id`, and
    /// waits for its ack. Counts deduplicated acks.
    pub async fn publish_encoded(
        &self,
        subject: &str,
        id: &str,
        payload: Bytes,
    ) -> Result<Stored, BusError> {
        let deadline = self.inner.opts.ack_deadline;
        let size = payload.len() + id.len() + HEADER_OVERHEAD;
        let publish = PublishMessage::build().payload(payload).message_id(id);
        let attempt = async {
            let ack_future = self
                .inner
                .js
                .send_publish(subject.to_owned(), publish)
                .await?;
            ack_future.await
        };
        let ack = match tokio::time::timeout(deadline, attempt).await {
            Err(_) => {
                return Err(BusError::AckTimeout {
                    subject: subject.to_owned(),
                    deadline,
                });
            }
            Ok(Err(e)) => return Err(self.classify(subject, size, e)),
            Ok(Ok(ack)) => ack,
        };
        if ack.duplicate {
            RouterStats::add(&self.inner.stats.deduplicated, 1);
        }
        Ok(Stored {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    fn classify(
        &self,
        subject: &str,
        size: usize,
        e: async_nats::jetstream::context::PublishError,
    ) -> BusError {
        use async_nats::jetstream::context::PublishErrorKind as K;
        match e.kind() {
            K::MaxPayloadExceeded => BusError::TooLarge {
                subject: subject.to_owned(),
                size,
                limit: self.client().max_payload(),
            },
            K::TimedOut => BusError::AckTimeout {
                subject: subject.to_owned(),
                deadline: self.inner.opts.ack_deadline,
            },
            kind => {
                if kind == K::StreamNotFound {
                    self.mark_stream_unknown();
                }
                BusError::Publish {
                    subject: subject.to_owned(),
                    source: e,
                }
            }
        }
    }

    /// The core NATS client (for subscriptions and requests).
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.js
    }

    /// The options this bus was built with.
    pub fn options(&self) -> &BusOptions {
        &self.inner.opts
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<RouterStats> {
        &self.inner.stats
    }
}

/// Background task: creates the stream whenever the client is connected and the stream is not
/// known to be ready, and checks it again after every reconnection (the server may have lost
/// its store). A re-check never marks the stream unready by itself: publishes keep going, and a
/// lost stream shows up as "stream not found" on publish, which does. Ends when the bus is
/// dropped.
async fn keep_stream_ready(inner: std::sync::Weak<BusInner>) {
    let Some(notify) = inner.upgrade().map(|i| Arc::clone(&i.reconnected)) else {
        return;
    };
    let mut recheck = false;
    // Failed attempts to create the stream back off ([`STREAM_RETRY`]) so a server that keeps
    // refusing (e.g. not enough disk for max_bytes) is not hammered and the log gets one line per
    // attempt, not ten a second.
    let mut backoff = Backoff::new(STREAM_RETRY);
    let mut retry_in = STREAM_RETRY.initial;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let bus = Bus { inner: strong };
        let ready = bus.inner.stream_ready.load(Ordering::Acquire);
        if bus.is_connected() && (!ready || recheck) {
            match bus.ensure_stream().await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    retry_in = backoff.next_delay();
                    let failures = backoff.failures();
                    let text = e.to_string();
                    let hint = if text.contains("insufficient") || text.contains("10047") {
                        "the server has too little storage for the stream: lower [stream] \
                         max_bytes in the site config or free disk space on the NATS server"
                    } else {
                        "retrying"
                    };
                    tracing::warn!(error = %e, attempt = failures, hint, "stream not ready yet; spooling until it is");
                }
            }
        }
        recheck = false;
        let pause = if bus.is_ready() {
            Duration::from_secs(5)
        } else if backoff.failures() > 0 {
            retry_in
        } else {
            Duration::from_millis(100)
        };
        drop(bus);
        tokio::select! {
            () = notify.notified() => recheck = true,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Retries of a failed stream creation: 100 ms doubling to 30 s, with jitter.
const STREAM_RETRY: BackoffConfig =
    BackoffConfig::new(Duration::from_millis(100), Duration::from_secs(30));

/// The stream's subjects: `lab.*.*.<kind>` for each of [`STREAM_KINDS`] (never `lab.>`).
pub fn stream_subjects() -> Vec<String> {
    STREAM_KINDS
        .iter()
        .map(|kind| format!("lab.*.*.{kind}"))
        .collect()
}

/// Whether events of this kind go to the stream (everything except `query`).
pub fn is_durable_kind(kind: EventKind) -> bool {
    kind != EventKind::Query
}

/// Encodes an event as its JSON wire form.
pub fn encode(event: &Event) -> Result<Bytes, BusError> {
    serde_json::to_vec(event)
        .map(Bytes::from)
        .map_err(|source| BusError::Encode {
            id: event.id.to_string(),
            source,
        })
}

/// Exponential reconnect delay: 50 ms doubling to 2 s (loopback restarts come back fast).
fn reconnect_delay(attempts: usize) -> Duration {
    let shift = u32::try_from(attempts.min(6)).unwrap_or(6);
    Duration::from_millis(50u64 << shift).min(Duration::from_secs(2))
}

/// Applies the configured credentials and TLS settings to NATS connect options: the one place
/// the router and `labwire tail` get their security from. Fails only when a credentials file
/// cannot be read (its path and the I/O error are returned).
pub(crate) async fn apply_security(
    mut co: async_nats::ConnectOptions,
    opts: &BusOptions,
) -> Result<async_nats::ConnectOptions, (PathBuf, std::io::Error)> {
    co = match &opts.auth {
        BusAuth::None => co,
        BusAuth::CredentialsFile(path) => co
            .credentials_file(path)
            .await
            .map_err(|source| (path.clone(), source))?,
        BusAuth::NkeySeed(seed) => co.nkey(seed.clone()),
        BusAuth::UserPassword { user, password } => {
            co.user_and_password(user.clone(), password.clone())
        }
        BusAuth::Token(token) => co.token(token.clone()),
    };
    if opts.tls.required {
        co = co.require_tls(true);
    }
    if let Some(ca) = &opts.tls.ca_file {
        co = co.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &opts.tls.client_cert {
        co = co.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(co)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_retries_back_off_to_thirty_seconds() {
        assert_eq!(STREAM_RETRY.ceiling(1), Duration::from_millis(100));
        assert_eq!(STREAM_RETRY.ceiling(2), Duration::from_millis(200));
        assert_eq!(STREAM_RETRY.ceiling(9), Duration::from_millis(25_600));
        assert_eq!(STREAM_RETRY.ceiling(10), Duration::from_secs(30));
        assert_eq!(STREAM_RETRY.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn stream_subjects_never_capture_queries() {
        let subjects = stream_subjects();
        assert!(subjects.contains(&"lab.*.*.result".to_owned()));
        assert!(subjects.contains(&"lab.*.*.cmd".to_owned()));
        assert!(
            !subjects
                .iter()
                .any(|s| s.contains('>') || s.ends_with("query"))
        );
        assert!(!is_durable_kind(EventKind::Query));
        assert!(is_durable_kind(EventKind::Status));
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let a = BusAuth::UserPassword {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
        assert!(!format!("{:?}", BusAuth::NkeySeed("SUABC".into())).contains("SUABC"));
    }

    #[test]
    fn reconnect_delay_is_bounded() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(50));
        assert_eq!(reconnect_delay(100), Duration::from_secs(2));
    }
}
