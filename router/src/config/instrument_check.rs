//! Validation of one `[[instrument]]` table: required keys, exactly one transport that fits
//! the protocol, keys that belong to another transport or protocol, and value ranges.

use super::checks::{duration, integer, size};
use super::error::Collector;
use super::instrument::*;
use super::raw::RawInstrument;
use labwire_event::{InstrumentId, limits};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// Validates one `[[instrument]]` table; `span` is the table's span. Returns `None` when a
/// required key is missing or the transport is unusable (errors are recorded in `c`).
pub(crate) fn validate(
    c: &mut Collector<'_>,
    raw: RawInstrument,
    span: Range<usize>,
) -> Option<InstrumentConfig> {
    let header = span.start..span.start;
    let id = match &raw.id {
        Some(id) => match InstrumentId::new(id.get_ref().as_str()) {
            Ok(v) => Some(v),
            Err(e) => {
                c.at(id.span(), format!("instrument {e}"));
                None
            }
        },
        None => {
            c.at(header.clone(), "instrument has no `id`");
            None
        }
    };
    let protocol = match &raw.protocol {
        Some(p) => Some(*p.get_ref()),
        None => {
            c.at(
                header.clone(),
                "instrument has no `protocol` (astm, hl7, modbus or serial-line)",
            );
            None
        }
    };
    let transport = transport(c, &raw, protocol, header);
    let limits = limits(c, &raw);
    let host_query_timeout = duration(
        c,
        &raw.host_query_timeout,
        "host_query_timeout",
        DEFAULT_HOST_QUERY_TIMEOUT,
        (Duration::from_millis(100), MINUTE),
    );
    if let Some(p) = protocol {
        device_keys_only_for_modbus(c, &raw, p);
    }
    let settings = protocol.and_then(|p| settings(c, &raw, p));
    Some(InstrumentConfig {
        id: id?,
        enabled: raw.enabled.unwrap_or(true),
        transport: transport?,
        charset: raw.charset.unwrap_or_default(),
        limits,
        host_query_timeout,
        settings: settings?,
    })
}

fn transport(
    c: &mut Collector<'_>,
    raw: &RawInstrument,
    protocol: Option<InstrumentProtocol>,
    header: Range<usize>,
) -> Option<Transport> {
    let given: Vec<(&str, &Spanned<String>)> = [
        ("listen", &raw.listen),
        ("connect", &raw.connect),
        ("serial", &raw.serial),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    let (kind, value) = match given.as_slice() {
        [] => {
            c.at(
                header,
                "instrument has no transport: set exactly one of `listen`, `connect` or `serial`",
            );
            return None;
        }
        [one] => *one,
        [_, more @ ..] => {
            for (k, v) in more {
                c.at(
                    v.span(),
                    format!(
                        "`{k}` given together with `{}`: set exactly one of `listen`, `connect` or `serial`",
                        given.first().map_or("", |g| g.0)
                    ),
                );
            }
            return None;
        }
    };
    if let Some(p) = protocol {
        let allowed: &[&str] = match p {
            InstrumentProtocol::Astm => &["listen", "connect", "serial"],
            InstrumentProtocol::Hl7 => &["listen", "connect"],
            InstrumentProtocol::Modbus => &["connect", "serial"],
            InstrumentProtocol::SerialLine => &["serial", "connect"],
        };
        if !allowed.contains(&kind) {
            let why = match p {
                InstrumentProtocol::Hl7 => "HL7 runs over TCP (MLLP)",
                InstrumentProtocol::Modbus => {
                    "labwire polls Modbus devices as the master: Modbus TCP uses `connect`, Modbus RTU uses `serial`"
                }
                _ => {
                    "a serial-line device is reached over `serial` or a serial-to-TCP converter (`connect`)"
                }
            };
            c.at(
                value.span(),
                format!(
                    "protocol {} cannot use `{kind}`: {why}; allowed: {}",
                    p.as_str(),
                    allowed.join(", ")
                ),
            );
        }
    }
    // Keys that only make sense for one transport.
    let serial_keys: [(&str, Option<Range<usize>>); 5] = [
        ("baud", raw.baud.as_ref().map(Spanned::span)),
        ("parity", raw.parity.as_ref().map(Spanned::span)),
        ("data_bits", raw.data_bits.as_ref().map(Spanned::span)),
        ("stop_bits", raw.stop_bits.as_ref().map(Spanned::span)),
        ("flow_control", raw.flow_control.as_ref().map(Spanned::span)),
    ];
    let listen_keys: [(&str, Option<Range<usize>>); 5] = [
        ("allow_peers", raw.allow_peers.as_ref().map(Spanned::span)),
        (
            "on_second_connection",
            raw.on_second_connection.as_ref().map(Spanned::span),
        ),
        (
            "max_connections",
            raw.max_connections.as_ref().map(Spanned::span),
        ),
        (
            "max_connections_per_peer",
            raw.max_connections_per_peer.as_ref().map(Spanned::span),
        ),
        (
            "takeover_after",
            raw.takeover_after.as_ref().map(Spanned::span),
        ),
    ];
    for (keys, needs) in [(&serial_keys[..], "serial"), (&listen_keys[..], "listen")] {
        if kind != needs {
            for (k, s) in keys {
                if let Some(s) = s {
                    c.at(
                        s.clone(),
                        format!(
                            "`{k}` applies only to `{needs}` instruments, this one uses `{kind}`"
                        ),
                    );
                }
            }
        }
    }
    let text = value.get_ref().trim();
    match kind {
        "listen" => {
            let addr = match text.parse::<SocketAddr>() {
                Ok(a) if a.port() != 0 => a,
                Ok(_) => {
                    c.at(
                        value.span(),
                        format!("listen = {text:?}: port 0 is not allowed"),
                    );
                    return None;
                }
                Err(_) => {
                    c.at(
                        value.span(),
                        format!(
                            "listen = {text:?} is not an IP:port address (e.g. \"0.0.0.0:5001\")"
                        ),
                    );
                    return None;
                }
            };
            let mut allow_peers = Vec::new();
            for p in raw.allow_peers.iter().flat_map(|v| v.get_ref().iter()) {
                match PeerRule::parse(p.get_ref()) {
                    Ok(r) => allow_peers.push(r),
                    Err(e) => c.at(p.span(), format!("allow_peers: {e}")),
                }
            }
            // ASTM runs one session at a time (E1381 has no notion of two senders); HL7 serves
            // connection-per-message senders concurrently.
            let (max, per_peer) = match protocol {
                Some(InstrumentProtocol::Hl7) => (
                    integer(
                        c,
                        &raw.max_connections,
                        "max_connections",
                        DEFAULT_HL7_MAX_CONNECTIONS,
                        (1, 1024),
                    ),
                    integer(
                        c,
                        &raw.max_connections_per_peer,
                        "max_connections_per_peer",
                        DEFAULT_HL7_MAX_CONNECTIONS_PER_PEER,
                        (1, 1024),
                    ),
                ),
                _ => {
                    for (k, v) in [
                        ("max_connections", &raw.max_connections),
                        ("max_connections_per_peer", &raw.max_connections_per_peer),
                    ] {
                        if let Some(v) = v {
                            c.at(
                                v.span(),
                                format!("`{k}` applies only to hl7 listeners; an ASTM listener serves one session at a time"),
                            );
                        }
                    }
                    (1, 1)
                }
            };
            let takeover_after = duration(
                c,
                &raw.takeover_after,
                "takeover_after",
                DEFAULT_TAKEOVER_AFTER,
                (SECOND, Duration::from_secs(24 * 3600)),
            );
            Some(Transport::Listen(ListenTransport {
                addr,
                allow_peers,
                on_second_connection: raw
                    .on_second_connection
                    .as_ref()
                    .map(|v| *v.get_ref())
                    .unwrap_or_default(),
                max_connections: max,
                max_connections_per_peer: per_peer.min(max),
                takeover_after,
            }))
        }
        "connect" => match parse_host_port(text) {
            Ok((host, port)) => Some(Transport::Connect { host, port }),
            Err(e) => {
                c.at(value.span(), format!("connect = {text:?}: {e}"));
                None
            }
        },
        _ => {
            if text.is_empty() {
                c.at(
                    value.span(),
                    "serial = \"\": give the device path, e.g. \"/dev/serial/by-id/…\"",
                );
                return None;
            }
            let baud = integer(c, &raw.baud, "baud", DEFAULT_BAUD, (50, 4_000_000));
            let data_bits = integer(c, &raw.data_bits, "data_bits", 8, (5, 8));
            let stop_bits = integer(c, &raw.stop_bits, "stop_bits", 1, (1, 2));
            Some(Transport::Serial(SerialPort {
                path: PathBuf::from(text),
                baud,
                parity: raw
                    .parity
                    .as_ref()
                    .map(|v| *v.get_ref())
                    .unwrap_or_default(),
                data_bits,
                stop_bits,
                flow_control: raw
                    .flow_control
                    .as_ref()
                    .map(|v| *v.get_ref())
                    .unwrap_or_default(),
            }))
        }
    }
}

/// Splits `host:port` (IPv6 hosts in brackets: `[fd00::1]:5000`).
fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or("expected host:port, e.g. \"10.1.2.3:5001\"")?;
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if host.contains(':') && bracketed.is_none_or(|h| h.parse::<IpAddr>().is_err()) {
        return Err("IPv6 addresses go in brackets: \"[fd00::1]:5001\"".to_owned());
    }
    let host = bracketed.unwrap_or(host);
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err("expected host:port, e.g. \"10.1.2.3:5001\"".to_owned());
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host.to_owned(), p)),
        _ => Err(format!("port {port:?} must be 1 to 65535")),
    }
}

fn limits(c: &mut Collector<'_>, raw: &RawInstrument) -> InstrumentLimits {
    let max_frame_bytes = size(
        c,
        &raw.max_frame_bytes,
        "max_frame_bytes",
        DEFAULT_MAX_FRAME_BYTES,
        (
            limits::MIN_FRAME_BYTES as u64,
            limits::MAX_FRAME_BYTES as u64,
        ),
    );
    let max_message_bytes = size(
        c,
        &raw.max_message_bytes,
        "max_message_bytes",
        DEFAULT_MAX_MESSAGE_BYTES,
        (
            limits::MIN_MESSAGE_BYTES as u64,
            limits::MAX_MESSAGE_BYTES as u64,
        ),
    );
    if max_message_bytes < max_frame_bytes {
        let span = raw
            .max_message_bytes
            .as_ref()
            .or(raw.max_frame_bytes.as_ref())
            .map(Spanned::span);
        if let Some(span) = span {
            c.at(
                span,
                format!(
                    "max_message_bytes ({max_message_bytes}) is smaller than max_frame_bytes ({max_frame_bytes})"
                ),
            );
        }
    }
    InstrumentLimits {
        max_frame_bytes,
        max_message_bytes,
    }
}

fn settings(
    c: &mut Collector<'_>,
    raw: &RawInstrument,
    protocol: InstrumentProtocol,
) -> Option<ProtocolSettings> {
    if protocol != InstrumentProtocol::Astm
        && let Some(t) = &raw.astm
    {
        c.at(
            t.span(),
            format!(
                "[instrument.astm] settings given for a {} instrument",
                protocol.as_str()
            ),
        );
    }
    if protocol != InstrumentProtocol::Hl7
        && let Some(t) = &raw.hl7
    {
        c.at(
            t.span(),
            format!(
                "[instrument.hl7] settings given for a {} instrument",
                protocol.as_str()
            ),
        );
    }
    match protocol {
        InstrumentProtocol::Astm => {
            let default = super::raw::RawAstm::default();
            let a = raw.astm.as_ref().map_or(&default, Spanned::get_ref);
            Some(ProtocolSettings::Astm(AstmOptions {
                sender_timer: duration(
                    c,
                    &a.sender_timer,
                    "sender_timer",
                    DEFAULT_ASTM_SENDER_TIMER,
                    (SECOND, 2 * MINUTE),
                ),
                receiver_timer: duration(
                    c,
                    &a.receiver_timer,
                    "receiver_timer",
                    DEFAULT_ASTM_RECEIVER_TIMER,
                    (SECOND, 5 * MINUTE),
                ),
                busy_timer: duration(
                    c,
                    &a.busy_timer,
                    "busy_timer",
                    DEFAULT_ASTM_BUSY_TIMER,
                    (SECOND, 2 * MINUTE),
                ),
                contention_timer: duration(
                    c,
                    &a.contention_timer,
                    "contention_timer",
                    DEFAULT_ASTM_CONTENTION_TIMER,
                    (SECOND, 2 * MINUTE),
                ),
                max_retries: integer(
                    c,
                    &a.max_retries,
                    "max_retries",
                    DEFAULT_ASTM_MAX_RETRIES,
                    (1, 20),
                ),
                framing: a.framing.unwrap_or_default(),
                bidirectional: a.bidirectional.unwrap_or(true),
                one_record_per_frame: a.one_record_per_frame.unwrap_or(false),
            }))
        }
        InstrumentProtocol::Hl7 => {
            let default = super::raw::RawHl7::default();
            let h = raw.hl7.as_ref().map_or(&default, Spanned::get_ref);
            Some(ProtocolSettings::Hl7(Hl7Options {
                ack_timeout: duration(
                    c,
                    &h.ack_timeout,
                    "ack_timeout",
                    DEFAULT_HL7_ACK_TIMEOUT,
                    (SECOND, 5 * MINUTE),
                ),
            }))
        }
        InstrumentProtocol::Modbus => modbus(c, raw).map(ProtocolSettings::Modbus),
        InstrumentProtocol::SerialLine => Some(ProtocolSettings::SerialLine),
    }
}

/// Keys of Modbus devices that other protocols must not carry.
fn device_keys_only_for_modbus(
    c: &mut Collector<'_>,
    raw: &RawInstrument,
    protocol: InstrumentProtocol,
) {
    if protocol == InstrumentProtocol::Modbus {
        return;
    }
    let keys = [
        ("unit", raw.unit.as_ref().map(Spanned::span)),
        ("profile", raw.profile.as_ref().map(Spanned::span)),
        ("poll", raw.poll.as_ref().map(Spanned::span)),
        (
            "[instrument.modbus]",
            raw.modbus.as_ref().map(Spanned::span),
        ),
    ];
    for (k, span) in keys {
        if let Some(span) = span {
            c.at(
                span,
                format!(
                    "`{k}` applies only to modbus instruments, this one is {}",
                    protocol.as_str()
                ),
            );
        }
    }
}

/// `unit`, `profile`, `poll` and `[instrument.modbus]`. The profile is loaded and validated
/// here (built-in name, or a path relative to the site config's directory); its errors are
/// reported at the `profile` value with the profile file's own line and column.
fn modbus(c: &mut Collector<'_>, raw: &RawInstrument) -> Option<ModbusOptions> {
    let unit = match &raw.unit {
        None => DEFAULT_MODBUS_UNIT,
        Some(u) => match u8::try_from(*u.get_ref()) {
            Ok(v) if v <= labwire_modbus_map::limits::MAX_UNIT_ID => v,
            _ => {
                c.at(
                    u.span(),
                    format!(
                        "unit = {}: a Modbus unit id is 0 to {} (0 is broadcast)",
                        u.get_ref(),
                        labwire_modbus_map::limits::MAX_UNIT_ID
                    ),
                );
                DEFAULT_MODBUS_UNIT
            }
        },
    };
    let poll = duration(
        c,
        &raw.poll,
        "poll",
        DEFAULT_DEVICE_POLL,
        (Duration::from_millis(10), 24 * 60 * MINUTE),
    );
    let default = super::raw::RawModbus::default();
    let m = raw.modbus.as_ref().map_or(&default, Spanned::get_ref);
    let timeout = duration(
        c,
        &m.timeout,
        "timeout",
        DEFAULT_DEVICE_TIMEOUT,
        (Duration::from_millis(10), MINUTE),
    );
    let keepalive = duration(
        c,
        &m.keepalive,
        "keepalive",
        DEFAULT_DEVICE_KEEPALIVE,
        (SECOND, 24 * 60 * MINUTE),
    );
    let backoff_max = duration(
        c,
        &m.backoff_max,
        "backoff_max",
        DEFAULT_DEVICE_BACKOFF_MAX,
        (SECOND, 60 * MINUTE),
    );
    let Some(p) = &raw.profile else {
        let header = raw.protocol.as_ref().map_or(0..0, Spanned::span);
        c.at(
            header,
            format!(
                "a modbus instrument needs `profile`: a built-in ({}) or a path to a profile TOML file",
                labwire_modbus_map::builtin_names().collect::<Vec<_>>().join(", ")
            ),
        );
        return None;
    };
    let reference = p.get_ref().trim().to_owned();
    let base = std::path::Path::new(c.source_name())
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    match labwire_modbus_map::load_profile(&reference, &base, super::units::parse_duration) {
        Ok(profile) => Some(ModbusOptions {
            unit,
            profile: ProfileRef {
                reference,
                profile: std::sync::Arc::new(profile),
            },
            poll,
            timeout,
            keepalive,
            backoff_max,
        }),
        Err(e) => {
            for line in e.to_string().lines() {
                c.at(p.span(), format!("profile {reference:?}: {line}"));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_accepts_names_and_bracketed_ipv6() {
        assert_eq!(
            parse_host_port("analyzer.lab:5001"),
            Ok(("analyzer.lab".to_owned(), 5001))
        );
        assert_eq!(
            parse_host_port("[fd00::1]:80"),
            Ok(("fd00::1".to_owned(), 80))
        );
        assert!(parse_host_port("fd00::1:80").is_err());
        assert!(parse_host_port("host").is_err());
        assert!(parse_host_port("host:0").is_err());
        assert!(parse_host_port(":5001").is_err());
    }
}
