//! Per-instrument configuration: protocol, transport, charset, limits and protocol timers.

use labwire_event::InstrumentId;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Default cap on one link-layer frame. LIS1-A frames carry at most 240 characters of text
/// (247 bytes with framing), but real analysers send single frames of 26 KB, and some allow
/// up to 64,000 characters.
pub const DEFAULT_MAX_FRAME_BYTES: u64 = labwire_event::limits::DEFAULT_FRAME_BYTES as u64;
/// Default cap on one assembled message (all frames of an ASTM message, one HL7 message).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = labwire_event::limits::DEFAULT_MESSAGE_BYTES as u64;
/// Default time an application has to answer a host query before the instrument is told
/// "no orders".
pub const DEFAULT_HOST_QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// ASTM E1381 sender timer: waiting for a reply to ENQ or a frame (LIS1-A: 15 s).
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
/// Default Modbus unit (slave) id (`unit`).
pub const DEFAULT_MODBUS_UNIT: u8 = 1;
/// Default interval at which every point of a device is read (`poll`).
pub const DEFAULT_DEVICE_POLL: Duration = Duration::from_secs(5);
/// Default wait for one device answer before the request counts as unanswered
/// (`[instrument.modbus] timeout`).
pub const DEFAULT_DEVICE_TIMEOUT: Duration = Duration::from_secs(1);
/// Default interval after which an unchanged reading is reported again, so a steady device can
/// be told from a silent one (`[instrument.modbus] keepalive`).
pub const DEFAULT_DEVICE_KEEPALIVE: Duration = Duration::from_secs(300);
/// Default longest wait between attempts to reach a unit that stopped answering
/// (`[instrument.modbus] backoff_max`); the wait doubles from `poll` up to this.
pub const DEFAULT_DEVICE_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Connections an HL7 listener serves at once (`max_connections`): MLLP senders that open a
/// connection per message overlap the close of one with the open of the next.
pub const DEFAULT_HL7_MAX_CONNECTIONS: u32 = 16;
/// Connections one peer address may hold on an HL7 listener (`max_connections_per_peer`).
pub const DEFAULT_HL7_MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// A listener's live connection from which nothing has been received for this long gives its
/// slot to a new connection, even under `on_second_connection = "refuse"` (`takeover_after`).
pub const DEFAULT_TAKEOVER_AFTER: Duration = Duration::from_secs(30);

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
pub enum CharsetSetting {
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
    /// What to do with a connection beyond the limits while the others are busy.
    pub on_second_connection: SecondConnection,
    /// Connections served at once: always 1 for ASTM (one session at a time), default
    /// [`DEFAULT_HL7_MAX_CONNECTIONS`] for HL7.
    pub max_connections: u32,
    /// Connections one peer address may hold at once (default
    /// [`DEFAULT_HL7_MAX_CONNECTIONS_PER_PEER`] for HL7, 1 for ASTM).
    pub max_connections_per_peer: u32,
    /// A connection quiet (nothing received) this long, or already closed by its peer, gives its
    /// slot to a new one (default [`DEFAULT_TAKEOVER_AFTER`]).
    pub takeover_after: Duration,
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

/// A validated device profile, shared by every instrument that names it.
#[derive(Debug, Clone)]
pub struct ProfileRef {
    /// What the config wrote: a built-in name or a path.
    pub reference: String,
    /// The parsed and validated profile.
    pub profile: std::sync::Arc<labwire_modbus_map::DeviceProfile>,
}

impl PartialEq for ProfileRef {
    fn eq(&self, other: &Self) -> bool {
        self.reference == other.reference && *self.profile == *other.profile
    }
}

/// Every number in a validated profile is finite, so equality is reflexive.
impl Eq for ProfileRef {}

/// Modbus options (`unit`, `profile`, `poll` and `[instrument.modbus]`; shared conventions §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModbusOptions {
    /// Unit (slave) id, 0-247.
    pub unit: u8,
    /// The device profile.
    pub profile: ProfileRef,
    /// How often every point is read (points may set a slower `poll` of their own).
    pub poll: Duration,
    /// Wait for one answer.
    pub timeout: Duration,
    /// An unchanged reading is reported again after this long.
    pub keepalive: Duration,
    /// Longest wait between attempts to reach a unit that stopped answering.
    pub backoff_max: Duration,
}

/// Protocol-specific settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolSettings {
    /// ASTM.
    Astm(AstmOptions),
    /// HL7 v2.
    Hl7(Hl7Options),
    /// Modbus TCP or RTU.
    Modbus(ModbusOptions),
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
    pub charset: CharsetSetting,
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
            ProtocolSettings::Modbus(_) => InstrumentProtocol::Modbus,
            ProtocolSettings::SerialLine => InstrumentProtocol::SerialLine,
        }
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
}
