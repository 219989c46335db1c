//! The Modbus connector against simulated devices over real TCP sockets: readings as telemetry,
//! change-only reporting, a shared gateway with a dead unit, connection loss and recovery,
//! split reads after "illegal data address", and alarms. Every wait is for a positive signal
//! (an event, a counter); nothing is asserted on timing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{count_state, instrument, site, wait_until};
use labwire_connectors::MemoryIngest;
use labwire_connectors::modbus::{DeviceSpec, LineDevice, LineEndpoint, PollCounters, run_line};
use labwire_event::{Event, EventKind};
use labwire_modbus_map::{DeviceProfile, builtin_profile, parse_profile};
use labwire_sim::modbus::{ModbusSim, UnitFault};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn profile(text: &str) -> Arc<DeviceProfile> {
    Arc::new(parse_profile(text, "test", labwire_router::config::parse_duration).unwrap())
}

fn fridge() -> Arc<DeviceProfile> {
    profile(builtin_profile("fridge-generic").unwrap())
}

fn spec(name: &str, unit: u8, profile: Arc<DeviceProfile>, poll_ms: u64) -> DeviceSpec {
    DeviceSpec {
        site: site(),
        instrument: instrument(name),
        unit,
        profile,
        poll: Duration::from_millis(poll_ms),
        timeout: Duration::from_millis(50),
        keepalive: Duration::from_secs(3600),
        backoff_max: Duration::from_millis(800),
    }
}

struct Running {
    sim: ModbusSim,
    endpoint: LineEndpoint,
    shutdown: CancellationToken,
}

async fn simulator(units: &[(u8, Arc<DeviceProfile>)]) -> Running {
    let sim = ModbusSim::new();
    for (id, p) in units {
        sim.add_unit(*id, Arc::clone(p));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let (s, stop) = (sim.clone(), shutdown.clone());
    tokio::spawn(async move { s.serve_tcp(listener, stop).await });
    Running {
        sim,
        endpoint: LineEndpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port,
        },
        shutdown,
    }
}

fn start(
    endpoint: LineEndpoint,
    specs: Vec<DeviceSpec>,
    ingest: &MemoryIngest,
) -> (Vec<Arc<PollCounters>>, CancellationToken) {
    let devices: Vec<LineDevice<MemoryIngest>> = specs
        .into_iter()
        .map(|s| LineDevice::new(s, ingest.clone()))
        .collect();
    let counters = devices.iter().map(|d| Arc::clone(&d.counters)).collect();
    let shutdown = CancellationToken::new();
    tokio::spawn(run_line(endpoint, devices, shutdown.clone()));
    (counters, shutdown)
}

fn telemetry_of<'a>(events: &'a [Event], name: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Telemetry && e.instrument.as_str() == name)
        .collect()
}

fn value(e: &Event, code: &str) -> Option<String> {
    e.observations
        .iter()
        .find(|o| o.code.as_deref() == Some(code))
        .and_then(|o| o.value.clone())
}

fn has_value(events: &[Event], name: &str, code: &str, want: &str) -> bool {
    telemetry_of(events, name)
        .iter()
        .any(|e| value(e, code).as_deref() == Some(want))
}

fn get(c: &AtomicU64) -> u64 {
    PollCounters::get(c)
}

async fn wait_counter(what: &str, pred: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pred() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_tcp_device_is_polled_and_its_readings_arrive_as_telemetry() {
    let sim = simulator(&[(1, fridge())]).await;
    sim.sim.set(1, "temperature", -18.2).unwrap();
    sim.sim.set(1, "door-open", 1.0).unwrap();
    let ingest = MemoryIngest::new();
    let (_c, stop) = start(
        sim.endpoint.clone(),
        vec![spec("fridge-1", 1, fridge(), 50)],
        &ingest,
    );
    let events = wait_until(&ingest, "a telemetry event", |e| {
        has_value(e, "fridge-1", "temperature", "-18.2")
    })
    .await;
    let t = telemetry_of(&events, "fridge-1")[0];
    assert_eq!(t.protocol, labwire_event::Protocol::Modbus);
    assert_eq!(t.subject(), "lab.site-a.fridge-1.telemetry");
    let temp = t
        .observations
        .iter()
        .find(|o| o.code.as_deref() == Some("temperature"))
        .unwrap();
    assert_eq!(temp.units.as_deref(), Some("Cel"));
    assert_eq!(value(t, "door-open").as_deref(), Some("1"));
    assert_eq!(
        value(t, "setpoint").as_deref(),
        Some("-15"),
        "the simulator's plausible base"
    );
    assert_eq!(count_state(&events, "up"), 1);
    stop.cancel();
    sim.shutdown.cancel();
}

#[tokio::test]
async fn unchanged_readings_wait_for_the_deadband_and_changes_are_published() {
    let sim = simulator(&[(1, fridge())]).await;
    sim.sim.set(1, "temperature", -18.0).unwrap();
    let ingest = MemoryIngest::new();
    let (c, stop) = start(
        sim.endpoint.clone(),
        vec![spec("fridge-1", 1, fridge(), 20)],
        &ingest,
    );
    wait_until(&ingest, "the first reading", |e| {
        has_value(e, "fridge-1", "temperature", "-18")
    })
    .await;
    // Ten more polls of the same values: no new event (deadband 0.2, keep-alive 1 h).
    let after_first = get(&c[0].polls_ok);
    wait_counter("ten more polls", || get(&c[0].polls_ok) >= after_first + 10).await;
    // 0.1 is inside the deadband: still nothing.
    sim.sim.set(1, "temperature", -17.9).unwrap();
    let after_small = get(&c[0].polls_ok);
    wait_counter("ten more polls", || get(&c[0].polls_ok) >= after_small + 10).await;
    assert_eq!(telemetry_of(&ingest.events(), "fridge-1").len(), 1);
    assert_eq!(get(&c[0].events), 1);
    sim.sim.set(1, "temperature", -17.5).unwrap();
    wait_until(&ingest, "the change beyond the deadband", |e| {
        has_value(e, "fridge-1", "temperature", "-17.5")
    })
    .await;
    assert_eq!(telemetry_of(&ingest.events(), "fridge-1").len(), 2);
    stop.cancel();
    sim.shutdown.cancel();
}

#[tokio::test]
async fn three_units_behind_one_gateway_keep_their_poll_rate_while_one_is_dead() {
    let sim = simulator(&[(1, fridge()), (2, fridge()), (3, fridge())]).await;
    sim.sim.set_fault(2, UnitFault::NoAnswer).unwrap();
    let ingest = MemoryIngest::new();
    let (c, stop) = start(
        sim.endpoint.clone(),
        vec![
            spec("fridge-1", 1, fridge(), 200),
            spec("fridge-2", 2, fridge(), 200),
            spec("fridge-3", 3, fridge(), 200),
        ],
        &ingest,
    );
    wait_until(&ingest, "unit 2 down", |e| {
        e.iter().any(|x| {
            x.instrument.as_str() == "fridge-2"
                && x.status.as_ref().is_some_and(|s| s.state == "down")
        })
    })
    .await;
    wait_counter("20 polls of unit 1", || get(&c[0].polls_ok) >= 20).await;
    let (ok1, ok3) = (get(&c[0].polls_ok), get(&c[2].polls_ok));
    let failed2 = get(&c[1].polls_failed);
    // Fair: the live units were polled equally often, and never a whole interval late,
    // although unit 2 cost a deadline at every attempt.
    assert!(ok1.abs_diff(ok3) <= 1, "unit 1 {ok1} polls, unit 3 {ok3}");
    assert_eq!(get(&c[0].late), 0, "unit 1 polls were late");
    assert_eq!(get(&c[2].late), 0, "unit 3 polls were late");
    assert!(failed2 >= 2, "unit 2 failed {failed2} polls");
    // Backoff: the dead unit was tried less often than the live ones.
    assert!(
        failed2 < ok1 / 2,
        "unit 2 tried {failed2} times vs {ok1} polls of unit 1"
    );
    assert_eq!(get(&c[1].polls_ok), 0);
    // It comes back.
    sim.sim.set_fault(2, UnitFault::None).unwrap();
    wait_until(&ingest, "unit 2 up", |e| {
        e.iter().any(|x| {
            x.instrument.as_str() == "fridge-2"
                && x.status.as_ref().is_some_and(|s| s.state == "up")
        })
    })
    .await;
    stop.cancel();
    sim.shutdown.cancel();
}

#[tokio::test]
async fn a_dropped_gateway_connection_reconnects_without_a_restart() {
    let sim = simulator(&[(1, fridge())]).await;
    sim.sim.set(1, "temperature", -20.0).unwrap();
    let ingest = MemoryIngest::new();
    let (c, stop) = start(
        sim.endpoint.clone(),
        vec![spec("fridge-1", 1, fridge(), 20)],
        &ingest,
    );
    wait_until(&ingest, "the first reading", |e| {
        has_value(e, "fridge-1", "temperature", "-20")
    })
    .await;
    for round in 1..=3u32 {
        sim.sim.drop_connections();
        let value = -20.0 + f64::from(round);
        sim.sim.set(1, "temperature", value).unwrap();
        let want = format!("{value}");
        wait_until(&ingest, "a reading after the drop", |e| {
            has_value(e, "fridge-1", "temperature", &want)
        })
        .await;
    }
    assert!(get(&c[0].polls_ok) >= 4);
    stop.cancel();
    sim.shutdown.cancel();
}

#[tokio::test]
async fn a_gateway_that_is_not_there_yet_is_reached_once_it_listens() {
    // Reserve a port, close it, start the line against it, then start the device there.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let endpoint = LineEndpoint::Tcp {
        host: "127.0.0.1".to_owned(),
        port: addr.port(),
    };
    let ingest = MemoryIngest::new();
    let (c, stop) = start(endpoint, vec![spec("fridge-1", 1, fridge(), 20)], &ingest);
    wait_until(&ingest, "down", |e| count_state(e, "down") == 1).await;
    assert!(get(&c[0].polls_failed) >= 2);
    let sim = ModbusSim::new();
    sim.add_unit(1, fridge());
    sim.set(1, "temperature", -21.0).unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server_stop = CancellationToken::new();
    let (s, st) = (sim.clone(), server_stop.clone());
    tokio::spawn(async move { s.serve_tcp(listener, st).await });
    wait_until(&ingest, "up and a reading", |e| {
        count_state(e, "up") == 1 && has_value(e, "fridge-1", "temperature", "-21")
    })
    .await;
    stop.cancel();
    server_stop.cancel();
}

const GAPPY: &str = r#"
name = "gappy"
[[point]]
name = "a"
table = "holding"
address = 0
[[point]]
name = "b"
table = "holding"
address = 3
type = "i32"
order = "CDAB"
scale = 0.01
unit = "bar"
"#;

#[tokio::test]
async fn a_coalesced_read_refused_as_illegal_address_is_split_per_point() {
    let p = profile(GAPPY);
    let sim = simulator(&[(5, Arc::clone(&p))]).await;
    sim.sim.set_fault(5, UnitFault::StrictAddresses).unwrap();
    sim.sim.set(5, "a", 7.0).unwrap();
    sim.sim.set(5, "b", -1234.56).unwrap();
    let ingest = MemoryIngest::new();
    let (_c, stop) = start(
        sim.endpoint.clone(),
        vec![spec("press-1", 5, p, 20)],
        &ingest,
    );
    let events = wait_until(&ingest, "both points after the split", |e| {
        has_value(e, "press-1", "a", "7") && has_value(e, "press-1", "b", "-1234.56")
    })
    .await;
    assert_eq!(
        count_state(&events, "point-refused"),
        0,
        "{:?}",
        common::summary(&events)
    );
    stop.cancel();
    sim.shutdown.cancel();
}

#[tokio::test]
async fn a_device_exception_is_a_status_not_an_outage() {
    let sim = simulator(&[(1, fridge())]).await;
    sim.sim.set_fault(1, UnitFault::Exception(0x04)).unwrap();
    let ingest = MemoryIngest::new();
    let (c, stop) = start(
        sim.endpoint.clone(),
        vec![spec("fridge-1", 1, fridge(), 20)],
        &ingest,
    );
    let events = wait_until(&ingest, "point-refused", |e| {
        count_state(e, "point-refused") >= 1
    })
    .await;
    let detail = events
        .iter()
        .filter_map(|e| e.status.as_ref())
        .find(|s| s.state == "point-refused")
        .and_then(|s| s.detail.clone())
        .unwrap();
    assert!(detail.contains("exception 0x04"), "{detail}");
    assert_eq!(count_state(&events, "down"), 0);
    assert_eq!(get(&c[0].polls_failed), 0);
    stop.cancel();
    sim.shutdown.cancel();
}

const ALARMED: &str = r#"
name = "alarmed"
[[point]]
name = "temperature"
table = "input"
address = 0
type = "i16"
scale = 0.1
unit = "Cel"
[point.alarm]
high = -15.0
hysteresis = 1.0
"#;

#[tokio::test]
async fn an_alarm_is_raised_and_cleared_as_status_events() {
    let p = profile(ALARMED);
    let sim = simulator(&[(1, Arc::clone(&p))]).await;
    sim.sim.set(1, "temperature", -20.0).unwrap();
    let ingest = MemoryIngest::new();
    let (_c, stop) = start(
        sim.endpoint.clone(),
        vec![spec("freezer-1", 1, p, 20)],
        &ingest,
    );
    wait_until(&ingest, "a first reading", |e| {
        has_value(e, "freezer-1", "temperature", "-20")
    })
    .await;
    sim.sim.set(1, "temperature", -14.0).unwrap();
    let events = wait_until(&ingest, "alarm-high", |e| count_state(e, "alarm-high") == 1).await;
    let detail = events
        .iter()
        .filter_map(|e| e.status.as_ref())
        .find(|s| s.state == "alarm-high")
        .and_then(|s| s.detail.clone())
        .unwrap();
    assert!(detail.contains("point temperature"), "{detail}");
    // Inside the limit but not past the hysteresis: still raised. Then past it: cleared.
    sim.sim.set(1, "temperature", -15.5).unwrap();
    wait_until(&ingest, "the reading", |e| {
        has_value(e, "freezer-1", "temperature", "-15.5")
    })
    .await;
    assert_eq!(count_state(&ingest.events(), "alarm-cleared"), 0);
    sim.sim.set(1, "temperature", -16.5).unwrap();
    wait_until(&ingest, "alarm-cleared", |e| {
        count_state(e, "alarm-cleared") == 1
    })
    .await;
    stop.cancel();
    sim.shutdown.cancel();
}
