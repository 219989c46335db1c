//! Building transports and connectors from the site configuration (`[[instrument]]`,
//! `labwire_router::config`).

use crate::astm::{AstmConfig, AstmConnector};
use crate::astm_records::AstmRecordsConnector;
use crate::hl7::{Hl7Config, Hl7Connector};
use crate::transport::{
    OnSecondConnection, SerialPort, SerialSettings, TcpClient, TcpClientConfig, TcpServer,
    TcpServerConfig, Transport, TransportError,
};
use labwire_router::config::{self as cfg, InstrumentConfig, ProtocolSettings};
use tokio_serial::{DataBits, FlowControl, Parity, StopBits};

/// The transport of one instrument: binds the listening port for `listen`; `connect` and
/// `serial` connect lazily when the connector runs.
pub async fn transport_for(instrument: &InstrumentConfig) -> Result<Transport, TransportError> {
    Ok(match &instrument.transport {
        cfg::Transport::Listen(l) => Transport::from(
            TcpServer::bind(TcpServerConfig {
                listen: l.addr,
                allow_peers: l.allow_peers.clone(),
                on_second_connection: match l.on_second_connection {
                    cfg::SecondConnection::Refuse => OnSecondConnection::Refuse,
                    cfg::SecondConnection::Replace => OnSecondConnection::Replace,
                },
                max_connections: clamp(u64::from(l.max_connections)),
                max_connections_per_peer: clamp(u64::from(l.max_connections_per_peer)),
                takeover_after: l.takeover_after,
            })
            .await?,
        ),
        cfg::Transport::Connect { host, port } => {
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            Transport::from(TcpClient::new(TcpClientConfig::new(addr)))
        }
        cfg::Transport::Serial(s) => Transport::from(SerialPort::new(serial_settings(s))),
    })
}

/// tokio-serial settings for a configured port (out-of-range data/stop bits fall back to 8N1
/// values; the config loader already rejects them).
pub fn serial_settings(s: &cfg::SerialPort) -> SerialSettings {
    let mut out = SerialSettings::new(s.path.to_string_lossy());
    out.baud = s.baud;
    out.parity = match s.parity {
        cfg::Parity::None => Parity::None,
        cfg::Parity::Even => Parity::Even,
        cfg::Parity::Odd => Parity::Odd,
    };
    out.data_bits = match s.data_bits {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        _ => DataBits::Eight,
    };
    out.stop_bits = if s.stop_bits == 2 {
        StopBits::Two
    } else {
        StopBits::One
    };
    out.flow_control = match s.flow_control {
        cfg::FlowControl::None => FlowControl::None,
        cfg::FlowControl::Software => FlowControl::Software,
        cfg::FlowControl::Hardware => FlowControl::Hardware,
    };
    out
}

fn clamp(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The ASTM connector for an `astm` instrument with `framing = "e1381"` (timers, limits,
/// charset).
pub fn astm_connector_for(instrument: &InstrumentConfig) -> AstmConnector {
    AstmConnector::new(astm_config_for(instrument))
}

/// The connector for an `astm` instrument with `framing = "none"` (bare records).
pub fn astm_records_connector_for(instrument: &InstrumentConfig) -> AstmRecordsConnector {
    AstmRecordsConnector::new(astm_config_for(instrument))
}

/// Whether an `astm` instrument uses the E1381 link layer (`framing = "e1381"`, the default).
pub fn astm_uses_e1381(instrument: &InstrumentConfig) -> bool {
    match &instrument.settings {
        ProtocolSettings::Astm(a) => a.framing == cfg::AstmFraming::E1381,
        _ => true,
    }
}

/// ASTM settings from an instrument block.
pub fn astm_config_for(instrument: &InstrumentConfig) -> AstmConfig {
    use labwire_astm::charset::AstmCharset as A;
    let mut c = AstmConfig::default();
    let charset = match instrument.charset {
        cfg::CharsetSetting::Utf8 => A::Utf8,
        cfg::CharsetSetting::Iso8859_1 => A::Latin1,
        cfg::CharsetSetting::Windows1252 => A::Windows1252,
        cfg::CharsetSetting::Cp1251 => A::Windows1251,
        cfg::CharsetSetting::Auto => A::Auto,
    };
    c.decode.charset = charset;
    if charset != A::Auto {
        c.send_charset = charset;
    }
    c.decode.limits.max_message_bytes = clamp(instrument.limits.max_message_bytes);
    c.link.max_message = clamp(instrument.limits.max_message_bytes);
    c.link.frame_limits.max_text = clamp(instrument.limits.max_frame_bytes);
    if let ProtocolSettings::Astm(a) = &instrument.settings {
        c.link.sender_timeout = a.sender_timer;
        c.link.receiver_timeout = a.receiver_timer;
        c.link.busy_retry = a.busy_timer;
        c.link.host_contention_wait = a.contention_timer;
        c.link.max_frame_retries = u32::from(a.max_retries);
        c.link.encode.record_per_frame = a.one_record_per_frame;
    }
    c
}

/// The HL7 connector for an `hl7` instrument (limits, charset, download ACK timeout).
pub fn hl7_connector_for(instrument: &InstrumentConfig) -> Hl7Connector {
    use labwire_hl7::er7::Hl7Charset as H;
    let mut c = Hl7Config::default();
    c.decode.charset = match instrument.charset {
        cfg::CharsetSetting::Utf8 => Some(H::Utf8),
        cfg::CharsetSetting::Iso8859_1 => Some(H::Latin1),
        cfg::CharsetSetting::Windows1252 => Some(H::Windows1252),
        cfg::CharsetSetting::Cp1251 => H::from_msh18(b"windows-1251"),
        cfg::CharsetSetting::Auto => None,
    };
    c.framer.max_frame_bytes = clamp(instrument.limits.max_message_bytes);
    c.decode.limits.max_message_bytes = clamp(instrument.limits.max_message_bytes);
    if let ProtocolSettings::Hl7(h) = &instrument.settings {
        c.download_ack_timeout = h.ack_timeout;
    }
    Hl7Connector::new(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use labwire_router::config::SiteConfig;

    const SITE: &str = r#"
site = "site-a"
[nats]
url = "nats://127.0.0.1:4222"
[storage]
path = "labwire.db"

[[instrument]]
id = "c311"
protocol = "astm"
listen = "127.0.0.1:PORT"
allow_peers = ["10.20.0.0/24"]
charset = "cp1251"
[instrument.astm]
receiver_timer = "15s"
one_record_per_frame = true

[[instrument]]
id = "xn"
protocol = "astm"
serial = "/dev/serial/by-id/usb-FTDI-port0"
baud = 19200
parity = "even"
data_bits = 7
stop_bits = 2
flow_control = "hardware"
"#;

    fn site() -> SiteConfig {
        let port = labwire_tests::free_loopback_port().unwrap();
        let text = SITE.replace("PORT", &port.to_string());
        SiteConfig::from_toml_str(&text, "site.toml").unwrap()
    }

    #[test]
    fn serial_settings_follow_the_config() {
        let site = site();
        let cfg::Transport::Serial(port) = &site.instruments[1].transport else {
            panic!("serial transport expected");
        };
        let s = serial_settings(port);
        assert_eq!(s.path, "/dev/serial/by-id/usb-FTDI-port0");
        assert_eq!(s.baud, 19200);
        assert_eq!(s.parity, Parity::Even);
        assert_eq!(s.data_bits, DataBits::Seven);
        assert_eq!(s.stop_bits, StopBits::Two);
        assert_eq!(s.flow_control, FlowControl::Hardware);
        assert!(s.exclusive);
    }

    #[tokio::test]
    async fn a_listen_instrument_binds_its_port() {
        let site = site();
        let c311 = &site.instruments[0];
        assert!(transport_for(c311).await.is_ok());
        // The connector is built from the same block (timers, charset).
        let _connector = astm_connector_for(c311);
    }
}
