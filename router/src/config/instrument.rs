//! Per-instrument configuration: protocol, transport, charset, limits and protocol timers.

use super::checks::{duration, integer, size};
use super::error::Collector;
use super::raw::RawInstrument;
use labwire_event::InstrumentId;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Default cap on one link-layer frame. Standard ASTM frames carry at most 247 characters
/// (E1381 §6.3.1), but vendors send single frames of 26 KB and up to 64,000 characters.
pub const DEFAULT_MAX_FRAME_BYTES: u64 = 64 << 10;
/// Default cap on one assembled message (all frames of an ASTM message, one HL7 message).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 4 << 20;
/// Default time an application has to answer a host query before the instrument is told
/// "no orders".
pub const DEFAULT_HOST_QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// ASTM E1381 sender timer: waiting for a reply to ENQ or a frame (LIS1-A §6.5.2: 15 s).
pub const DEFAULT_ASTM_SENDER_TIMER: Duration = Duration::from_secs(15);
/// ASTM E1381 receiver timer: waiting for the next frame or EOT (LIS1-A: 30 s; Roche uses 15 s).
pub const DEFAULT_ASTM_RECEIVER_TIMER: Duration = Duration::from_secs(30);
/// ASTM wait after a NAK to our ENQ before trying again (10 s).
pub const DEFAULT_ASTM_BUSY_TIMER: Duration = Duration::from_secs(10);
/// ASTM wait of the host (LIS) after losing line contention (20 s).
pub const DEFAULT_ASTM_CONTENTION_TIMER: Duration = Duration::from_secs(20);
/// ASTM retransmissions of one frame before giving up (E1381: 6).
pub const DEFAULT_ASTM_MAX_RETRIES: u8 = 6;
/// Time to wait for an HL7 ACK to a message labwire sent.
pub const DEFAULT_HL7_ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Default serial baud rate.
pub const DEFAULT_BAUD: u32 = 9600;

/// The protocol an instrument speaks (`protocol = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstrumentProtocol {
    /// ASTM E1381/E1394 (LIS1-A/LIS2-A2).
    Astm,
    /// HL7 v2 over MLLP.
    Hl7,
    /// Modbus TCP (`connect`) or RTU (`serial`).
    Modbus,
    /// A line-oriented serial device.
    SerialLine,
}

impl InstrumentProtocol {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Astm => "astm",
            Self::Hl7 => "hl7",
            Self::Modbus => "modbus",
            Self::SerialLine => "serial-line",
        }
    }

    /// The protocol recorded in events from this instrument.
    pub fn event_protocol(self) -> labwire_event::Protocol {
        match self {
            Self::Astm => labwire_event::Protocol::Astm,
            Self::Hl7 => labwire_event::Protocol::Hl7,
            Self::Modbus => labwire_event::Protocol::Modbus,
            Self::SerialLine => labwire_event::Protocol::Serial,
        }
    }
}

/// Character set of the instrument's text (`charset = "…"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Charset {
    /// UTF-8.
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1 (Latin-1), common on older analysers.
    #[serde(rename = "iso-8859-1")]
    Iso8859_1,
    /// Windows-1252 (Western European).
    #[serde(rename = "windows-1252")]
    Windows1252,
    /// Windows-1251 (Cyrillic).
    #[serde(rename = "cp1251")]
    Cp1251,
    /// HL7: MSH-18 when present; otherwise UTF-8 when the bytes are valid UTF-8, else
    /// windows-1252.
    #[default]
    #[serde(rename = "auto")]
    Auto,
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Even parity.
    Even,
    /// Odd parity.
    Odd,
}

/// Serial flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    /// None.
    #[default]
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// What a listener does when a second peer connects while one is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondConnection {
    /// Keep the first connection, close the new one.
    #[default]
    Refuse,
    /// Close the first connection, keep the new one (instruments that reconnect without closing).
    Replace,
}

/// ASTM link framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AstmFraming {
    /// E1381 link layer: ENQ/ACK, STX…ETX frames with checksums, EOT.
    #[default]
    E1381,
    /// No link layer: bare E1394 records separated by CR (some TCP instruments).
    None,
}

/// One entry of `allow_peers`: an address or a network (`10.1.2.3`, `10.1.2.0/24`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRule {
    network: IpAddr,
    prefix_len: u8,
}

impl PeerRule {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| {
            format!(
                "{text:?} is not an IP address or network (e.g. \"10.1.2.3\" or \"10.1.2.0/24\")"
            )
        })?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("{text:?}: prefix length must be 0 to {max}")),
            },
        };
        Ok(Self {
            network,
            prefix_len,
        })
    }

    /// Whether a peer address falls inside this rule.
    pub fn matches(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, peer) {
            (IpAddr::V4(n), IpAddr::V4(p)) => prefix_eq(
                u128::from(n.to_bits()),
                u128::from(p.to_bits()),
                32,
                self.prefix_len,
            ),
            (IpAddr::V6(n), IpAddr::V6(p)) => {
                prefix_eq(n.to_bits(), p.to_bits(), 128, self.prefix_len)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    let shift = u32::from(bits.saturating_sub(prefix));
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

impl std::fmt::Display for PeerRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// A TCP server the instrument connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenTransport {
    /// Local address to listen on.
    pub addr: SocketAddr,
    /// Peers allowed to connect; empty means any peer.
    pub allow_peers: Vec<PeerRule>,
    /// What to do with a second simultaneous connection.
    pub on_second_connection: SecondConnection,
}

impl ListenTransport {
    /// Whether `peer` may connect.
    pub fn allows(&self, peer: IpAddr) -> bool {
        self.allow_peers.is_empty() || self.allow_peers.iter().any(|r| r.matches(peer))
    }
}

/// A serial port and its line settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialPort {
    /// Device path; prefer stable `/dev/serial/by-id/…` paths.
    pub path: PathBuf,
    /// Baud rate.
    pub baud: u32,
    /// Parity.
    pub parity: Parity,
    /// Data bits (5–8).
    pub data_bits: u8,
    /// Stop bits (1 or 2).
    pub stop_bits: u8,
    /// Flow control.
    pub flow_control: FlowControl,
}

/// How labwire reaches the instrument: exactly one of `listen`, `connect`, `serial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// labwire listens; the instrument connects.
    Listen(ListenTransport),
    /// labwire connects to `host:port`.
    Connect {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A serial port.
    Serial(SerialPort),
}

impl Transport {
    /// `listen`, `connect` or `serial`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Listen(_) => "listen",
            Self::Connect { .. } => "connect",
            Self::Serial(_) => "serial",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Listen(l) => write!(f, "listen {}", l.addr),
            Self::Connect { host, port } if host.contains(':') => {
                write!(f, "connect [{host}]:{port}")
            }
            Self::Connect { host, port } => write!(f, "connect {host}:{port}"),
            Self::Serial(s) => write!(f, "serial {} {} baud", s.path.display(), s.baud),
        }
    }
}

/// Size limits for the instrument's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentLimits {
    /// Largest link-layer frame accepted.
    pub max_frame_bytes: u64,
    /// Largest assembled message accepted.
    pub max_message_bytes: u64,
}

/// ASTM E1381/E1394 options (`[instrument.astm]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AstmOptions {
    /// Our wait for a reply to ENQ or a frame when labwire sends.
    pub sender_timer: Duration,
    /// Our wait for the next frame or EOT when receiving.
    pub receiver_timer: Duration,
    /// Wait after the instrument NAKs our ENQ.
    pub busy_timer: Duration,
    /// Wait after losing line contention to the instrument.
    pub contention_timer: Duration,
    /// Retransmissions of one frame before giving up.
    pub max_retries: u8,
    /// Link framing.
    pub framing: AstmFraming,
    /// labwire also sends (order downloads, host-query answers); false: results only.
    pub bidirectional: bool,
    /// When sending, put each record in its own frame (required by some Roche analysers).
    pub one_record_per_frame: bool,
}

/// HL7 v2 / MLLP options (`[instrument.hl7]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hl7Options {
    /// Wait for the instrument's ACK to a message labwire sent.
    pub ack_timeout: Duration,
}

/// Protocol-specific settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolSettings {
    /// ASTM.
    Astm(AstmOptions),
    /// HL7 v2.
    Hl7(Hl7Options),
    /// Modbus (register maps come with the Modbus connector).
    Modbus,
    /// Serial line device.
    SerialLine,
}

/// One instrument (`[[instrument]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentConfig {
    /// The instrument id: the third token of its subjects.
    pub id: InstrumentId,
    /// Whether labwire runs a connector for it.
    pub enabled: bool,
    /// How to reach it.
    pub transport: Transport,
    /// Its character set.
    pub charset: Charset,
    /// Input size limits.
    pub limits: InstrumentLimits,
    /// Time apps have to answer its host queries.
    pub host_query_timeout: Duration,
    /// Protocol and protocol options.
    pub settings: ProtocolSettings,
}

impl InstrumentConfig {
    /// The protocol it speaks.
    pub fn protocol(&self) -> InstrumentProtocol {
        match self.settings {
            ProtocolSettings::Astm(_) => InstrumentProtocol::Astm,
            ProtocolSettings::Hl7(_) => InstrumentProtocol::Hl7,
            ProtocolSettings::Modbus => InstrumentProtocol::Modbus,
            ProtocolSettings::SerialLine => InstrumentProtocol::SerialLine,
        }
    }
}

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
    let settings = protocol.map(|p| settings(c, &raw, p));
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
    let listen_keys: [(&str, Option<Range<usize>>); 2] = [
        ("allow_peers", raw.allow_peers.as_ref().map(Spanned::span)),
        (
            "on_second_connection",
            raw.on_second_connection.as_ref().map(Spanned::span),
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
            Some(Transport::Listen(ListenTransport {
                addr,
                allow_peers,
                on_second_connection: raw
                    .on_second_connection
                    .as_ref()
                    .map(|v| *v.get_ref())
                    .unwrap_or_default(),
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
        (256, 16 << 20),
    );
    let max_message_bytes = size(
        c,
        &raw.max_message_bytes,
        "max_message_bytes",
        DEFAULT_MAX_MESSAGE_BYTES,
        (1 << 10, 64 << 20),
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
) -> ProtocolSettings {
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
            ProtocolSettings::Astm(AstmOptions {
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
            })
        }
        InstrumentProtocol::Hl7 => {
            let default = super::raw::RawHl7::default();
            let h = raw.hl7.as_ref().map_or(&default, Spanned::get_ref);
            ProtocolSettings::Hl7(Hl7Options {
                ack_timeout: duration(
                    c,
                    &h.ack_timeout,
                    "ack_timeout",
                    DEFAULT_HL7_ACK_TIMEOUT,
                    (SECOND, 5 * MINUTE),
                ),
            })
        }
        InstrumentProtocol::Modbus => ProtocolSettings::Modbus,
        InstrumentProtocol::SerialLine => ProtocolSettings::SerialLine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_rules_match_addresses_and_networks() {
        let net = PeerRule::parse("10.1.2.0/24").unwrap();
        assert!(net.matches("10.1.2.77".parse().unwrap()));
        assert!(!net.matches("10.1.3.1".parse().unwrap()));
        assert!(net.matches("::ffff:10.1.2.5".parse().unwrap()));
        let one = PeerRule::parse("192.168.0.9").unwrap();
        assert!(one.matches("192.168.0.9".parse().unwrap()));
        assert!(!one.matches("192.168.0.10".parse().unwrap()));
        let any = PeerRule::parse("0.0.0.0/0").unwrap();
        assert!(any.matches("8.8.8.8".parse().unwrap()));
        let v6 = PeerRule::parse("fd00::/8").unwrap();
        assert!(v6.matches("fd12::1".parse().unwrap()));
        assert!(!v6.matches("10.0.0.1".parse().unwrap()));
        assert!(PeerRule::parse("10.1.2.0/33").is_err());
        assert!(PeerRule::parse("lab-pc").is_err());
    }

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
