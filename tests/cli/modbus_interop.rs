//! Modbus interop with an independent peer (issue 10 item 9): pymodbus (PyPI, installed into
//! `.venv-interop/` by scripts/install-deps) plays a Modbus TCP device whose registers it encodes
//! with Python's `struct`; `labwire run` polls it with a profile covering the register types and
//! word orders, and the test reads the readings on the bus. The expected readings are the
//! test's own literals, not labwire's decoder.

use futures::StreamExt;
use labwire_event::{Event, EventKind};
use labwire_tests::NatsServer;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills a child process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-interop/bin/python");
    assert!(
        python.is_file(),
        "the interop peers are not installed ({} is missing): run scripts/install-deps",
        python.display()
    );
    python
}

const PROFILE: &str = r#"
name = "interop-device"
description = "every register type the pymodbus peer encodes"

[[point]]
name = "temperature"
table = "input"
address = 0
type = "i16"
scale = 0.1
unit = "Cel"

[[point]]
name = "flow"
table = "input"
address = 2
type = "f32"
order = "CDAB"
unit = "L/min"

[[point]]
name = "pressure"
table = "input"
address = 4
type = "f32"

[[point]]
name = "count"
table = "holding"
address = 10
type = "u32"

[[point]]
name = "offset"
table = "holding"
address = 12
type = "i32"

[[point]]
name = "level"
table = "holding"
address = 20
type = "u16"
scale = 0.5

[[point]]
name = "valve-open"
table = "coil"
address = 3

[[point]]
name = "door-open"
table = "discrete"
address = 1
"#;

/// The device image the peer serves (unit 7): typed values it encodes itself.
const IMAGE: &str = r#"{"units": {"7": {
  "input": {"0": ["i16", -183], "2": ["f32_cdab", 21.75], "4": ["f32", -0.5]},
  "holding": {"10": ["u32", 123456], "12": ["i32", -70000], "20": ["u16", 9]},
  "coil": {"3": 1},
  "discrete": {"1": 0}
}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labwire_reads_every_register_type_from_a_pymodbus_device() {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("connectors/tests/interop/modbus_server.py");
    let mut peer = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the pymodbus peer");
    let mut stdin = peer.stdin.take().unwrap();
    writeln!(stdin, "{}", IMAGE.replace('\n', " ")).unwrap();
    let mut line = String::new();
    BufReader::new(peer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _peer = Killed(peer);
    let port: u16 = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the peer said {line:?}"));

    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("interop-device.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"site-a\"\n[nats]\nurl = \"{}\"\n[stream]\nmax_bytes = \"64MiB\"\n[storage]\npath = {:?}\n[metrics]\nenabled = false\n\
             [[instrument]]\nid = \"pymodbus-1\"\nprotocol = \"modbus\"\nconnect = \"127.0.0.1:{port}\"\nunit = 7\nprofile = {:?}\npoll = \"200ms\"\n",
            nats.url(),
            dir.path().join("spool.db"),
            profile,
        ),
    )
    .unwrap();
    let app = async_nats::connect(nats.url()).await.unwrap();
    let mut telemetry = app
        .subscribe("lab.site-a.pymodbus-1.telemetry")
        .await
        .unwrap();
    let _labwire = Killed(
        Command::new(env!("CARGO_BIN_EXE_labwire"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let msg = tokio::time::timeout(Duration::from_secs(30), telemetry.next())
        .await
        .expect("a reading within 30 s")
        .unwrap();
    let e: Event = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(e.kind, EventKind::Telemetry);
    let mut readings: Vec<(String, String, Option<String>)> = e
        .observations
        .iter()
        .map(|o| {
            (
                o.code.clone().unwrap_or_default(),
                o.value.clone().unwrap_or_default(),
                o.units.clone(),
            )
        })
        .collect();
    readings.sort();
    let want = |code: &str, value: &str, unit: Option<&str>| {
        (code.to_owned(), value.to_owned(), unit.map(str::to_owned))
    };
    assert_eq!(
        readings,
        vec![
            want("count", "123456", None),
            want("door-open", "0", None),
            want("flow", "21.75", Some("L/min")),
            want("level", "4.5", None),
            want("offset", "-70000", None),
            want("pressure", "-0.5", None),
            want("temperature", "-18.3", Some("Cel")),
            want("valve-open", "1", None),
        ]
    );
}
