//! The supervisor against the real `nats-server`: the port it reports is the one the server
//! listens on, concurrent starts never collide, a restart keeps port and store, and a server
//! that dies or never reports is a clear error within the timeout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labwire_local_nats::{LocalNats, NatsError, NatsOptions, find_binary};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// The port from the server's own log line (an oracle independent of the ports file).
fn logged_port(log: &Path) -> u16 {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("Listening for client connections on"))
        .unwrap_or_else(|| panic!("no listening line in:\n{text}"));
    line.rsplit(':').next().unwrap().trim().parse().unwrap()
}

/// Connects as a NATS client and checks the server greets with its INFO line (JetStream on).
fn greets_with_jetstream(port: u16) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO "), "{line}");
    assert!(line.contains("\"jetstream\":true"), "{line}");
    let mut w = &stream;
    w.write_all(b"CONNECT {}\r\nPING\r\n").unwrap();
}

#[test]
fn the_reported_port_is_the_one_the_server_listens_on() {
    let dir = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(NatsOptions::in_dir(find_binary().unwrap(), dir.path())).unwrap();
    assert_eq!(
        nats.port(),
        logged_port(&dir.path().join("nats-server.log"))
    );
    assert_eq!(nats.url(), format!("nats://127.0.0.1:{}", nats.port()));
    greets_with_jetstream(nats.port());
}

#[test]
fn concurrent_starts_each_get_their_own_port() {
    let binary = find_binary().unwrap();
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let binary = binary.clone();
            std::thread::spawn(move || {
                let dir = tempfile::tempdir().unwrap();
                let nats = LocalNats::start(NatsOptions::in_dir(binary, dir.path())).unwrap();
                (nats, dir)
            })
        })
        .collect();
    let servers: Vec<_> = starts.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ports: Vec<u16> = servers.iter().map(|(n, _)| n.port()).collect();
    for (n, dir) in &servers {
        assert_eq!(n.port(), logged_port(&dir.path().join("nats-server.log")));
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 6, "{ports:?}");
}

#[test]
fn restart_keeps_the_port_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats =
        LocalNats::start(NatsOptions::in_dir(find_binary().unwrap(), dir.path())).unwrap();
    let port = nats.port();
    let first_pid = nats.pid().unwrap();
    nats.kill();
    assert!(!nats.is_running());
    nats.restart().unwrap();
    assert_eq!(nats.port(), port);
    assert_ne!(nats.pid().unwrap(), first_pid);
    greets_with_jetstream(port);
    assert!(dir.path().join("store").join("jetstream").is_dir());
}

#[test]
fn a_server_that_exits_at_once_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = NatsOptions::in_dir("/bin/false".into(), dir.path());
    match LocalNats::start(opts) {
        Err(NatsError::Exited { status, .. }) => assert!(status.contains('1'), "{status}"),
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[test]
fn a_server_that_never_reports_times_out_with_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("silent-server");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let mut opts = NatsOptions::in_dir(script, dir.path());
    opts.ready_timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = LocalNats::start(opts).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(matches!(err, NatsError::NotReady { .. }), "{text}");
    assert!(text.contains("no ports file"), "{text}");
}
