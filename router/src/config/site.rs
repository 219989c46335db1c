//! Parsing and validating a whole site configuration, collecting every error.

use super::checks::{duration, integer, size};
use super::error::Collector;
use super::instrument::{InstrumentConfig, Transport};
use super::instrument_check;
use super::model::*;
use super::raw::*;
use labwire_event::SiteId;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// The ASTM sender timer of the instruments (LIS1-A: 15 s): labwire must answer each frame
/// within it, so the ingest deadline has to be shorter.
const ASTM_INSTRUMENT_SENDER_TIMER: Duration = Duration::from_secs(15);

/// Deserialises one spanned TOML value, recording every error (with its span) on failure.
///
/// serde stops at the first problem in a table, so after an error the key it points at is
/// taken out and the table deserialised again, until it succeeds or the error cannot be tied
/// to a key: an instrument with a misspelt key and a wrong type reports both. A table that
/// needed this returns `None` (its remaining values are not checked further, which would only
/// add follow-on errors about the keys taken out).
fn section<'i, T: Deserialize<'i>>(
    c: &mut Collector<'_>,
    value: Spanned<DeValue<'i>>,
) -> Option<T> {
    let span = value.span();
    let mut value = value;
    let mut failed = false;
    loop {
        let e = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => return (!failed).then_some(v),
            Err(e) => e,
        };
        c.toml(&e, span.clone());
        failed = true;
        let (Some(at), DeValue::Table(table)) = (e.span(), value.get_mut()) else {
            return None;
        };
        // The key whose key or value holds the error; else (a table opened by its own
        // `[header]` spans only the header) the nearest key before the error.
        let inside =
            |r: std::ops::Range<usize>| r.start <= at.start && at.start < r.end.max(r.start + 1);
        let key = table
            .iter()
            .find(|(k, v)| inside(k.span()) || inside(v.span()))
            .or_else(|| {
                table
                    .iter()
                    .filter(|(k, _)| k.span().start <= at.start)
                    .max_by_key(|(k, _)| k.span().start)
            })
            .map(|(k, _)| k.get_ref().to_string());
        match key {
            Some(k) => {
                table.remove(k.as_str());
            }
            None => return None,
        }
    }
}

/// The sections of the file, each deserialised on its own so that one bad section does not
/// hide errors in the others.
#[derive(Default)]
struct Sections {
    /// `None`: no `site` key; `Some(None)`: present but not a string.
    site: Option<Option<Spanned<String>>>,
    nats: RawNats,
    stream: RawStream,
    storage: RawStorage,
    spool: RawSpool,
    ingest: RawIngest,
    metrics: RawMetrics,
    logging: RawLogging,
    /// `None`: no `[uplink]` section; else the section (`None` when it did not deserialise)
    /// and the span of its key.
    uplink: Option<(Option<super::uplink::RawUplink>, Range<usize>)>,
    /// Each instrument with the span of its table, or `None` when it did not deserialise.
    instruments: Vec<(Option<RawInstrument>, Range<usize>)>,
}

fn sections(c: &mut Collector<'_>, root: DeTable<'_>) -> Sections {
    let mut s = Sections::default();
    for (key, value) in root {
        match key.get_ref().as_ref() {
            "site" => s.site = Some(section(c, value)),
            "nats" => s.nats = section(c, value).unwrap_or_default(),
            "stream" => s.stream = section(c, value).unwrap_or_default(),
            "storage" => s.storage = section(c, value).unwrap_or_default(),
            "spool" => s.spool = section(c, value).unwrap_or_default(),
            "ingest" => s.ingest = section(c, value).unwrap_or_default(),
            "metrics" => s.metrics = section(c, value).unwrap_or_default(),
            "logging" => s.logging = section(c, value).unwrap_or_default(),
            "uplink" => {
                let span = key.span();
                s.uplink = Some((section(c, value), span));
            }
            "instrument" => {
                match value.into_inner() {
                    DeValue::Array(items) => {
                        for item in items.iter() {
                            let span = item.span();
                            if item.get_ref().is_table() {
                                s.instruments.push((section(c, item.clone()), span));
                            } else {
                                c.at(span, "each instrument must be a table: write [[instrument]]");
                            }
                        }
                    }
                    _ => c.at(
                        key.span(),
                        "`instrument` must be an array of tables: write [[instrument]], not [instrument]",
                    ),
                }
            }
            other => c.at(
                key.span(),
                format!(
                    "unknown key `{other}` at the top level; expected one of {}",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            ),
        }
    }
    s
}

/// Parses and validates a site configuration; see [`super::SiteConfig::from_toml_str`].
pub(crate) fn parse(text: &str, source_name: &str) -> Result<SiteConfig, super::ConfigErrors> {
    let mut c = Collector::new(text, source_name);
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in &syntax {
            c.toml(e, 0..0);
        }
        return c.finish(None);
    }
    let s = sections(&mut c, root.into_inner());
    let config = build(&mut c, s);
    c.finish(config)
}

/// A validated instrument with the spans the cross-instrument checks point at.
struct Placed {
    config: InstrumentConfig,
    id_span: Range<usize>,
    listen_span: Option<Range<usize>>,
}

fn build(c: &mut Collector<'_>, s: Sections) -> Option<SiteConfig> {
    let site = match &s.site {
        Some(Some(site)) => match SiteId::new(site.get_ref().as_str()) {
            Ok(v) => Some(v),
            Err(e) => {
                c.at(site.span(), format!("site {e}"));
                None
            }
        },
        Some(None) => None,
        None => {
            c.at(
                0..0,
                "missing `site = \"…\"` (the site id, e.g. \"site-a\")",
            );
            None
        }
    };
    let nats = nats(c, s.nats);
    let stream = stream(c, s.stream);
    let storage = StorageConfig {
        path: match s.storage.path {
            Some(p) if p.get_ref().trim().is_empty() => {
                c.at(p.span(), "storage.path is empty");
                PathBuf::new()
            }
            Some(p) => PathBuf::from(p.into_inner()),
            None => PathBuf::from(DEFAULT_STORAGE_PATH),
        },
    };
    let spool = SpoolConfig {
        max_events: integer(
            c,
            &s.spool.max_events,
            "spool.max_events",
            DEFAULT_SPOOL_MAX_EVENTS,
            (1, 100_000_000),
        ),
        max_bytes: size(
            c,
            &s.spool.max_bytes,
            "spool.max_bytes",
            DEFAULT_SPOOL_MAX_BYTES,
            (1 << 20, 1 << 40),
        ),
    };
    let ingest = IngestConfig {
        deadline: duration(
            c,
            &s.ingest.deadline,
            "ingest.deadline",
            DEFAULT_INGEST_DEADLINE,
            (Duration::from_millis(100), Duration::from_secs(60)),
        ),
    };
    let metrics = metrics(c, s.metrics);
    let uplink = match s.uplink {
        Some((Some(u), span)) => super::uplink::uplink(c, u, span, &storage.path),
        _ => None,
    };
    let logging = LoggingConfig {
        level: s.logging.level.unwrap_or(LogLevel::Info),
        json: s.logging.json.unwrap_or(false),
    };

    let mut placed = Vec::new();
    for (raw, span) in s.instruments {
        let Some(raw) = raw else { continue };
        let id_span = raw.id.as_ref().map_or(span.clone(), Spanned::span);
        let listen_span = raw.listen.as_ref().map(Spanned::span);
        if let Some(config) = instrument_check::validate(c, raw, span) {
            placed.push(Placed {
                config,
                id_span,
                listen_span,
            });
        }
    }
    duplicate_ids(c, &placed);
    listen_conflicts(c, &placed, metrics.as_ref());
    if let Some(deadline) = &s.ingest.deadline {
        deadline_fits_astm(c, &placed, deadline);
    }

    Some(SiteConfig {
        site: site?,
        nats: nats?,
        stream: stream?,
        storage,
        spool,
        ingest,
        metrics: metrics?,
        logging,
        uplink,
        instruments: placed.into_iter().map(|p| p.config).collect(),
    })
}

fn duplicate_ids(c: &mut Collector<'_>, placed: &[Placed]) {
    let mut seen: HashMap<&str, &Placed> = HashMap::new();
    for p in placed {
        if let Some(first) = seen.get(p.config.id.as_str()) {
            let (line, _) = super::error::line_column(c.text(), first.id_span.start);
            c.at(
                p.id_span.clone(),
                format!(
                    "duplicate instrument id \"{}\" (first defined on line {line})",
                    p.config.id
                ),
            );
        } else {
            seen.insert(p.config.id.as_str(), p);
        }
    }
}

/// Two listeners conflict when they use the same port and either the same IP address or one
/// of them listens on all addresses.
fn conflicts(a: SocketAddr, b: SocketAddr) -> bool {
    // Port 0 (an ephemeral port chosen at bind time; metrics only) never clashes.
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn listen_conflicts(c: &mut Collector<'_>, placed: &[Placed], metrics: Option<&MetricsConfig>) {
    let mut earlier: Vec<(SocketAddr, &str, usize)> = Vec::new();
    if let Some(m) = metrics.filter(|m| m.enabled) {
        earlier.push((m.listen, "the metrics endpoint", 0));
    }
    for p in placed {
        let (Transport::Listen(l), Some(span)) = (&p.config.transport, &p.listen_span) else {
            continue;
        };
        if let Some((addr, who, line)) = earlier.iter().find(|(a, _, _)| conflicts(*a, l.addr)) {
            let place = if *line == 0 {
                String::new()
            } else {
                format!(" on line {line}")
            };
            c.at(
                span.clone(),
                format!(
                    "listen address {} of instrument \"{}\" clashes with {addr} of {who}{place}",
                    l.addr, p.config.id
                ),
            );
        } else {
            let (line, _) = super::error::line_column(c.text(), span.start);
            earlier.push((l.addr, p.config.id.as_str(), line));
        }
    }
}

fn deadline_fits_astm(
    c: &mut Collector<'_>,
    placed: &[Placed],
    deadline: &Spanned<super::units::HumanDuration>,
) {
    let d = deadline.get_ref().0;
    if d < ASTM_INSTRUMENT_SENDER_TIMER {
        return;
    }
    if let Some(p) = placed
        .iter()
        .find(|p| p.config.protocol() == super::instrument::InstrumentProtocol::Astm)
    {
        c.at(
            deadline.span(),
            format!(
                "ingest.deadline = \"{}\" must be shorter than the 15s ASTM sender timer of the instruments (e.g. \"{}\"): they give up waiting for our ACK after 15s",
                super::units::format_duration(d),
                p.config.id
            ),
        );
    }
}

/// A secret given as `KEY = "value"` or `KEY_file = "path"`; both is an error.
fn inline_or_file(
    c: &mut Collector<'_>,
    inline: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    key: &str,
) -> Option<Spanned<Secret>> {
    if let (Some(i), Some(f)) = (&inline, &file) {
        let (line, _) = super::error::line_column(c.text(), i.span().start);
        c.at(
            f.span(),
            format!("{key}_file given together with {key} (line {line}); use one"),
        );
    }
    match (inline, file) {
        (Some(v), _) => Some(Spanned::new(v.span(), Secret::Inline(v.into_inner()))),
        (None, Some(f)) => Some(Spanned::new(
            f.span(),
            Secret::File(PathBuf::from(f.into_inner())),
        )),
        (None, None) => None,
    }
}

fn nats(c: &mut Collector<'_>, n: RawNats) -> Option<NatsConfig> {
    let url = match n.url {
        Some(u) => {
            let text = u.get_ref().trim().to_owned();
            for part in text.split(',') {
                let part = part.trim();
                let ok = ["nats://", "tls://", "ws://", "wss://"]
                    .iter()
                    .any(|s| part.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
                if !ok {
                    c.at(
                        u.span(),
                        format!(
                            "nats.url: {part:?} is not a NATS URL (e.g. \"nats://127.0.0.1:4222\"; tls://, ws://, wss:// also work)"
                        ),
                    );
                }
            }
            text
        }
        None => DEFAULT_NATS_URL.to_owned(),
    };
    let mut methods: Vec<(&str, Range<usize>)> = Vec::new();
    let mut auth = NatsAuth::None;
    if let Some(f) = n.creds_file {
        methods.push(("creds_file", f.span()));
        auth = NatsAuth::CredsFile(PathBuf::from(f.into_inner()));
    }
    if let Some(f) = n.nkey_seed_file {
        methods.push(("nkey_seed_file", f.span()));
        auth = NatsAuth::NkeySeedFile(PathBuf::from(f.into_inner()));
    }
    let password = inline_or_file(c, n.password, n.password_file, "nats.password");
    match (n.user, password) {
        (Some(u), Some(p)) => {
            methods.push(("user/password", u.span()));
            auth = NatsAuth::UserPassword {
                user: u.into_inner(),
                password: p.into_inner(),
            };
        }
        (Some(u), None) => c.at(
            u.span(),
            "nats.user is set but neither nats.password nor nats.password_file is",
        ),
        (None, Some(p)) => c.at(p.span(), "a NATS password is set but nats.user is not"),
        (None, None) => {}
    }
    let token = inline_or_file(c, n.token, n.token_file, "nats.token");
    if let Some(t) = token {
        methods.push(("token", t.span()));
        auth = NatsAuth::Token(t.into_inner());
    }
    if let [(first, _), rest @ ..] = methods.as_slice() {
        for (m, span) in rest {
            c.at(
                span.clone(),
                format!(
                    "nats: `{m}` given together with `{first}`; choose one way to authenticate"
                ),
            );
        }
    }
    let tls = n.tls.map(|t| {
        let span = t.span();
        let t = t.into_inner();
        let any_key = t.ca_file.is_some() || t.cert_file.is_some() || t.key_file.is_some();
        let client_cert = match (t.cert_file, t.key_file) {
            (Some(cert), Some(key)) => Some((
                PathBuf::from(cert.into_inner()),
                PathBuf::from(key.into_inner()),
            )),
            (Some(cert), None) => {
                c.at(
                    cert.span(),
                    "nats.tls.cert_file needs nats.tls.key_file too",
                );
                None
            }
            (None, Some(key)) => {
                c.at(key.span(), "nats.tls.key_file needs nats.tls.cert_file too");
                None
            }
            (None, None) => None,
        };
        let ca_file = t.ca_file.map(|f| PathBuf::from(f.into_inner()));
        if !any_key {
            c.at(
                span,
                "[nats.tls] is empty: give ca_file and/or cert_file + key_file",
            );
        }
        NatsTls {
            ca_file,
            client_cert,
        }
    });
    Some(NatsConfig {
        url,
        auth,
        tls,
        connect_timeout: duration(
            c,
            &n.connect_timeout,
            "nats.connect_timeout",
            DEFAULT_NATS_CONNECT_TIMEOUT,
            (Duration::from_millis(100), Duration::from_secs(120)),
        ),
        ping_interval: duration(
            c,
            &n.ping_interval,
            "nats.ping_interval",
            DEFAULT_NATS_PING_INTERVAL,
            (Duration::from_secs(1), Duration::from_secs(600)),
        ),
    })
}

fn stream(c: &mut Collector<'_>, s: RawStream) -> Option<StreamConfig> {
    let max_age = duration(
        c,
        &s.max_age,
        "stream.max_age",
        DEFAULT_STREAM_MAX_AGE,
        (Duration::from_secs(60), Duration::from_secs(3650 * 86_400)),
    );
    let max_bytes = size(
        c,
        &s.max_bytes,
        "stream.max_bytes",
        DEFAULT_STREAM_MAX_BYTES,
        (1 << 20, 1 << 50),
    );
    let duplicate_window = duration(
        c,
        &s.duplicate_window,
        "stream.duplicate_window",
        DEFAULT_DUPLICATE_WINDOW,
        (Duration::from_secs(1), Duration::from_secs(30 * 86_400)),
    );
    if duplicate_window > max_age {
        let span = s
            .duplicate_window
            .as_ref()
            .or(s.max_age.as_ref())
            .map_or(0..0, Spanned::span);
        c.at(
            span,
            format!(
                "stream.duplicate_window ({}) is longer than stream.max_age ({})",
                super::units::format_duration(duplicate_window),
                super::units::format_duration(max_age)
            ),
        );
    }
    Some(StreamConfig {
        max_age,
        max_bytes,
        duplicate_window,
    })
}

fn metrics(c: &mut Collector<'_>, m: RawMetrics) -> Option<MetricsConfig> {
    let listen = match m.listen {
        Some(l) => match l.get_ref().trim().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                c.at(
                    l.span(),
                    format!(
                        "metrics.listen = {:?} is not an IP:port address (e.g. \"0.0.0.0:9464\")",
                        l.get_ref()
                    ),
                );
                return None;
            }
        },
        None => DEFAULT_METRICS_LISTEN.parse().ok()?,
    };
    Some(MetricsConfig {
        enabled: m.enabled.unwrap_or(true),
        listen,
    })
}
