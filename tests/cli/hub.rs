//! `labwire hub --config FILE` (conventions §8, docs/hub.md): config errors with line and
//! column (exit 2); a real start against mosquitto and SQLite that prints the console address,
//! answers `GET /api/sites`, and stops on SIGTERM with exit 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("hub.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[database]\nurl = \"sqlite://hub.db\"\nretension = \"1d\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args(["hub", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hub.toml:5:1:"), "{err}");
    assert!(err.contains("retension"), "{err}");
}

#[test]
fn the_hub_serves_the_api_and_stops_on_sigterm() {
    let broker = labwire_tests::Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &format!(
            "[mqtt]\nurl = \"{}\"\n[database]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            broker.url(),
            dir.path().join("hub.db").display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args(["hub", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let addr = line
        .strip_prefix("labwire hub: console at http://")
        .and_then(|r| r.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /api/sites HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\r\n\r\n[]"), "{response}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "the hub did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
