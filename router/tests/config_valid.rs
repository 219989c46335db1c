#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Valid site configs: the shipped example, the conventions' minimal form, and defaults.

use labwire_router::config::*;
use std::time::Duration;

#[test]
fn the_shipped_example_config_is_valid() {
    let text = include_str!("../../deploy/site.example.toml");
    let c = SiteConfig::from_toml_str(text, "deploy/site.example.toml")
        .unwrap_or_else(|e| panic!("example config must be valid:\n{e}"));
    assert_eq!(c.site.as_str(), "site-a");
    assert_eq!(c.instruments.len(), 4);
    assert_eq!(c.enabled_instruments().count(), 3);
    let c311 = &c.instruments[0];
    assert_eq!(c311.id.as_str(), "cobas-c311-1");
    assert_eq!(c311.charset, CharsetSetting::Iso8859_1);
    let Transport::Listen(l) = &c311.transport else {
        panic!("c311 listens")
    };
    assert!(l.allows("10.20.0.17".parse().unwrap()));
    assert!(!l.allows("10.21.0.17".parse().unwrap()));
    let ProtocolSettings::Astm(a) = &c311.settings else {
        panic!("c311 is ASTM")
    };
    assert_eq!(a.sender_timer, Duration::from_secs(15));
    assert_eq!(c.instruments[3].protocol(), InstrumentProtocol::Modbus);
}

#[test]
fn the_example_config_file_loads_from_disk() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/site.example.toml");
    assert!(SiteConfig::load(path).is_ok());
}

#[test]
fn the_conventions_minimal_config_gets_documented_defaults() {
    let text = r#"
site = "site-a"

[nats]
url = "nats://127.0.0.1:4222"

[storage]
path = "labwire.db"

[[instrument]]
id = "cobas-c311-1"
protocol = "astm"
listen = "0.0.0.0:5001"

[[instrument]]
id = "ba400-1"
protocol = "hl7"
listen = "0.0.0.0:2575"
"#;
    let c = SiteConfig::from_toml_str(text, "site.toml").unwrap();
    assert_eq!(c.nats.auth, NatsAuth::None);
    assert_eq!(c.stream.duplicate_window, DEFAULT_DUPLICATE_WINDOW);
    assert_eq!(c.spool.max_events, DEFAULT_SPOOL_MAX_EVENTS);
    assert_eq!(c.ingest.deadline, DEFAULT_INGEST_DEADLINE);
    assert_eq!(c.metrics.listen.to_string(), DEFAULT_METRICS_LISTEN);
    assert_eq!(c.logging.level, LogLevel::Info);
    let hl7 = &c.instruments[1];
    assert_eq!(hl7.limits.max_frame_bytes, DEFAULT_MAX_FRAME_BYTES);
    assert_eq!(hl7.charset, CharsetSetting::Auto);
    assert!(hl7.enabled);
    assert!(
        matches!(&hl7.settings, ProtocolSettings::Hl7(h) if h.ack_timeout == DEFAULT_HL7_ACK_TIMEOUT)
    );
}

#[test]
fn a_serial_instrument_gets_line_settings() {
    let text = r#"site = "s"
[[instrument]]
id = "xn"
protocol = "astm"
serial = "/dev/ttyS0"
baud = 19200
parity = "even"
data_bits = 7
stop_bits = 2
flow_control = "hardware"
"#;
    let c = SiteConfig::from_toml_str(text, "s.toml").unwrap();
    let Transport::Serial(p) = &c.instruments[0].transport else {
        panic!()
    };
    assert_eq!(
        (p.baud, p.parity, p.data_bits, p.stop_bits, p.flow_control),
        (19200, Parity::Even, 7, 2, FlowControl::Hardware)
    );
}

#[test]
fn credentials_are_not_printed_by_debug() {
    let text = "site = \"s\"\n[nats]\nuser = \"labwire\"\npassword = \"hunter2-secret\"\n";
    let c = SiteConfig::from_toml_str(text, "s.toml").unwrap();
    let shown = format!("{c:?}");
    assert!(shown.contains("labwire"));
    assert!(!shown.contains("hunter2-secret"));
}

#[test]
fn files_that_are_too_large_or_not_utf8_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (MAX_CONFIG_BYTES + 1) as usize]).unwrap();
    assert!(matches!(
        SiteConfig::load(&big),
        Err(LoadError::TooLarge { .. })
    ));
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"site = \"s\" # M\xfcller\n").unwrap();
    assert!(matches!(
        SiteConfig::load(&latin1),
        Err(LoadError::NotUtf8 { offset: 14, .. })
    ));
    assert!(matches!(
        SiteConfig::load(dir.path().join("missing.toml")),
        Err(LoadError::Io { .. })
    ));
}

#[test]
fn every_toml_example_in_the_config_docs_is_valid() {
    let doc = include_str!("../../docs/config.md");
    let mut blocks = 0;
    let mut rest = doc;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").expect("closed code block");
        let example = &body[..end];
        let text = if example.contains("site =") {
            example.to_owned()
        } else {
            format!("site = \"site-a\"\n{example}")
        };
        if let Err(e) = SiteConfig::from_toml_str(&text, "docs/config.md example") {
            panic!("example {blocks} in docs/config.md is invalid:\n{e}\n---\n{text}");
        }
        blocks += 1;
        rest = &body[end..];
    }
    assert!(blocks >= 3, "found {blocks} examples");
}

#[test]
fn listeners_get_connection_limits_from_one_place() {
    let text = "site = \"site-a\"\n[nats]\nurl = \"nats://127.0.0.1:4222\"\n[storage]\npath = \"x.db\"\n\
        [[instrument]]\nid = \"a\"\nprotocol = \"astm\"\nlisten = \"127.0.0.1:5001\"\n\
        [[instrument]]\nid = \"h\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:5002\"\n\
        [[instrument]]\nid = \"h2\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:5003\"\n\
        max_connections = 2\nmax_connections_per_peer = 5\ntakeover_after = \"2m\"\n";
    let c = SiteConfig::from_toml_str(text, "site.toml").unwrap();
    let listen = |i: usize| match &c.instruments[i].transport {
        Transport::Listen(l) => l.clone(),
        other => panic!("{other:?}"),
    };
    let astm = listen(0);
    assert_eq!(
        (astm.max_connections, astm.max_connections_per_peer),
        (1, 1)
    );
    assert_eq!(astm.takeover_after, DEFAULT_TAKEOVER_AFTER);
    let hl7 = listen(1);
    assert_eq!(hl7.max_connections, DEFAULT_HL7_MAX_CONNECTIONS);
    assert_eq!(
        hl7.max_connections_per_peer,
        DEFAULT_HL7_MAX_CONNECTIONS_PER_PEER
    );
    let tuned = listen(2);
    assert_eq!(
        (tuned.max_connections, tuned.max_connections_per_peer),
        (2, 2)
    );
    assert_eq!(tuned.takeover_after, Duration::from_secs(120));
}
