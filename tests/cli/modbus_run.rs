//! `labwire run` with Modbus devices end to end: a real nats-server, the labwire binary, and
//! simulated devices on real TCP sockets (two units behind one gateway, one directly). The app
//! is a plain NATS client reading the `telemetry` and `status` subjects.

use futures::StreamExt;
use labwire_event::{Event, EventKind};
use labwire_modbus_map::{builtin_profile, parse_profile};
use labwire_sim::modbus::ModbusSim;
use labwire_tests::NatsServer;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Labwire(Child);

impl Drop for Labwire {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(sim: &ModbusSim, stop: &CancellationToken) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (s, st) = (sim.clone(), stop.clone());
    tokio::spawn(async move { s.serve_tcp(listener, st).await });
    port
}

fn value(e: &Event, code: &str) -> Option<String> {
    e.observations
        .iter()
        .find(|o| o.code.as_deref() == Some(code))
        .and_then(|o| o.value.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labwire_run_polls_modbus_devices_onto_the_bus() {
    let nats = NatsServer::start().unwrap();
    let stop = CancellationToken::new();
    let parse = labwire_router::config::parse_duration;
    let fridge =
        Arc::new(parse_profile(builtin_profile("fridge-generic").unwrap(), "f", parse).unwrap());
    let water =
        Arc::new(parse_profile(builtin_profile("water-system").unwrap(), "w", parse).unwrap());
    let gateway = ModbusSim::new();
    gateway.add_unit(1, Arc::clone(&fridge));
    gateway.add_unit(2, Arc::clone(&fridge));
    gateway.set(1, "temperature", -18.2).unwrap();
    gateway.set(2, "temperature", 4.5).unwrap();
    let gateway_port = serve(&gateway, &stop).await;
    let purifier = ModbusSim::new();
    purifier.add_unit(1, water);
    purifier.set(1, "resistivity", 18.2).unwrap();
    purifier.set(1, "dispensed-volume", 12345.6).unwrap();
    let purifier_port = serve(&purifier, &stop).await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"site-a\"\n[nats]\nurl = \"{}\"\n[stream]\nmax_bytes = \"64MiB\"\n[storage]\npath = {:?}\n[metrics]\nenabled = false\n\
             [[instrument]]\nid = \"fridge-1\"\nprotocol = \"modbus\"\nconnect = \"127.0.0.1:{gateway_port}\"\nunit = 1\nprofile = \"fridge-generic\"\npoll = \"100ms\"\n\
             [[instrument]]\nid = \"fridge-2\"\nprotocol = \"modbus\"\nconnect = \"127.0.0.1:{gateway_port}\"\nunit = 2\nprofile = \"fridge-generic\"\npoll = \"100ms\"\n\
             [[instrument]]\nid = \"water-1\"\nprotocol = \"modbus\"\nconnect = \"127.0.0.1:{purifier_port}\"\nprofile = \"water-system\"\npoll = \"100ms\"\n",
            nats.url(),
            dir.path().join("spool.db"),
        ),
    )
    .unwrap();
    let app = async_nats::connect(nats.url()).await.unwrap();
    let mut telemetry = app.subscribe("lab.site-a.*.telemetry").await.unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _labwire = Labwire(child);

    let mut seen: Vec<(String, String, String)> = Vec::new();
    let wanted = [
        ("fridge-1", "temperature", "-18.2"),
        ("fridge-2", "temperature", "4.5"),
        ("water-1", "resistivity", "18.2"),
        ("water-1", "dispensed-volume", "12345.6"),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !wanted
        .iter()
        .all(|(i, c, v)| seen.iter().any(|s| s.0 == *i && s.1 == *c && s.2 == *v))
    {
        let msg = tokio::time::timeout_at(deadline, telemetry.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; telemetry seen: {seen:?}"))
            .unwrap();
        let e: Event = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(e.kind, EventKind::Telemetry);
        assert!(
            msg.headers
                .as_ref()
                .is_some_and(|h| h.get("Nats-Msg-Id").is_some()),
            "published through JetStream with a message id"
        );
        for code in ["temperature", "resistivity", "dispensed-volume"] {
            if let Some(v) = value(&e, code) {
                seen.push((e.instrument.to_string(), code.to_owned(), v));
            }
        }
    }
    // Stored durably in the LAB stream, not just published.
    let js = async_nats::jetstream::new(app.clone());
    let mut stream = js.get_stream("LAB").await.unwrap();
    let info = stream.info().await.unwrap();
    assert!(info.state.messages >= 3, "{:?}", info.state);
    stop.cancel();
}

/// `labwire sim --protocol modbus` plays a gateway with two fridges; `labwire run` polls both:
/// what a test lab does with two commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labwire_sim_plays_modbus_devices_that_labwire_run_polls() {
    use std::io::{BufRead, BufReader};
    let nats = NatsServer::start().unwrap();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args([
            "sim",
            "--protocol",
            "modbus",
            "--listen",
            "127.0.0.1:0",
            "--instruments",
            "2",
            "--duration",
            "2m",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // "labwire sim: modbus tcp 127.0.0.1:PORT: units 1-2 playing fridge-generic"
    let mut first = String::new();
    BufReader::new(sim.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _sim = Labwire(sim);
    let addr = first
        .strip_prefix("labwire sim: modbus tcp ")
        .and_then(|rest| rest.split_once(": units 1-2"))
        .map(|(addr, _)| addr.to_owned())
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"site-a\"\n[nats]\nurl = \"{}\"\n[stream]\nmax_bytes = \"64MiB\"\n[storage]\npath = {:?}\n[metrics]\nenabled = false\n\
             [[instrument]]\nid = \"fridge-1\"\nprotocol = \"modbus\"\nconnect = \"{addr}\"\nunit = 1\nprofile = \"fridge-generic\"\npoll = \"100ms\"\n\
             [[instrument]]\nid = \"fridge-2\"\nprotocol = \"modbus\"\nconnect = \"{addr}\"\nunit = 2\nprofile = \"fridge-generic\"\npoll = \"100ms\"\n",
            nats.url(),
            dir.path().join("spool.db"),
        ),
    )
    .unwrap();
    let app = async_nats::connect(nats.url()).await.unwrap();
    let mut telemetry = app.subscribe("lab.site-a.*.telemetry").await.unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _run = Labwire(run);
    let mut with_temperature = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while with_temperature.len() < 2 {
        let msg = tokio::time::timeout_at(deadline, telemetry.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; fridges seen: {with_temperature:?}"))
            .unwrap();
        let e: Event = serde_json::from_slice(&msg.payload).unwrap();
        if let Some(v) = value(&e, "temperature") {
            assert!(v.parse::<f64>().is_ok(), "a plain decimal: {v}");
            with_temperature.insert(e.instrument.to_string());
        }
    }
    assert_eq!(
        with_temperature.into_iter().collect::<Vec<_>>(),
        vec!["fridge-1".to_owned(), "fridge-2".to_owned()]
    );
}
