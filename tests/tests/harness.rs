#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The harness starts real brokers that speak their protocol, and survives kill/restart.

use labwire_tests::{Mosquitto, NatsServer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn nats_info_line(port: u16) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

#[test]
fn nats_server_starts_with_jetstream_and_comes_back_on_the_same_port() {
    let mut nats = NatsServer::start().unwrap();
    let port = nats.port();
    assert_eq!(nats.url(), format!("nats://127.0.0.1:{port}"));
    let info = nats_info_line(port);
    assert!(info.starts_with("INFO "), "{info}");
    assert!(info.contains("\"jetstream\":true"), "{info}");

    nats.kill();
    assert!(!nats.is_running());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    nats.restart().unwrap();
    assert_eq!(nats.port(), port);
    assert!(nats_info_line(port).contains("\"jetstream\":true"));
    assert!(nats.store_dir().join("jetstream").is_dir());

    nats.pause().unwrap();
    assert!(nats.is_running());
    // Paused: the kernel still accepts the connection, but the server never says INFO.
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut line = String::new();
    assert!(BufReader::new(stream).read_line(&mut line).is_err());
    nats.resume().unwrap();
    assert!(nats_info_line(port).starts_with("INFO "));

    nats.stop();
    assert!(!nats.is_running());
    assert!(nats.pause().is_err());
}

#[test]
fn parallel_nats_servers_get_distinct_ports() {
    let servers: Vec<NatsServer> = (0..3).map(|_| NatsServer::start().unwrap()).collect();
    let mut ports: Vec<u16> = servers.iter().map(NatsServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3);
}

#[test]
fn dropping_the_server_kills_it() {
    let nats = NatsServer::start().unwrap();
    let port = nats.port();
    drop(nats);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn mosquitto_answers_an_mqtt_connect_with_connack() {
    let mut broker = Mosquitto::start().unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", broker.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // MQTT 3.1.1 CONNECT, clean session, keepalive 10 s, client id "t".
    let connect = [
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 1, b't',
    ];
    s.write_all(&connect).unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0], "log:\n{}", broker.log_tail(10));

    broker.kill();
    assert!(!broker.is_running());
    broker.restart().unwrap();
    assert!(TcpStream::connect(("127.0.0.1", broker.port())).is_ok());
}

#[test]
fn a_missing_binary_is_a_clear_error_not_a_skip() {
    let err = labwire_tests::find_binary(
        "labwire-no-such-binary",
        "LABWIRE_NO_SUCH_BINARY_BIN",
        "apt-get install something",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("labwire-no-such-binary"), "{msg}");
    assert!(msg.contains("apt-get install something"), "{msg}");
}
