//! Modbus RTU on a shared line (a real pseudo-terminal pair standing in for RS-485): three units
//! on one port, one of them dead. The scheduler owns the port; the live units keep their poll
//! rate (counted per unit, not timed) and the dead one is reported down.
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
use labwire_connectors::transport::SerialSettings;
use labwire_modbus_map::{DeviceProfile, builtin_profile, parse_profile};
use labwire_sim::modbus::{ModbusSim, UnitFault};
use std::sync::Arc;
use std::time::Duration;
use tokio_serial::{SerialPort, SerialStream};
use tokio_util::sync::CancellationToken;

fn fridge() -> Arc<DeviceProfile> {
    Arc::new(
        parse_profile(
            builtin_profile("fridge-generic").unwrap(),
            "fridge",
            labwire_router::config::parse_duration,
        )
        .unwrap(),
    )
}

fn spec(name: &str, unit: u8) -> DeviceSpec {
    DeviceSpec {
        site: site(),
        instrument: instrument(name),
        unit,
        profile: fridge(),
        poll: Duration::from_millis(200),
        timeout: Duration::from_millis(60),
        keepalive: Duration::from_secs(3600),
        backoff_max: Duration::from_millis(800),
    }
}

#[tokio::test]
async fn three_units_on_one_rtu_line_keep_their_poll_rate_while_one_is_dead() {
    let (master, slave) = SerialStream::pair().unwrap();
    let path = slave.name().unwrap();
    let sim = ModbusSim::new();
    for unit in [1, 2, 3] {
        sim.add_unit(unit, fridge());
    }
    sim.set(1, "temperature", -18.2).unwrap();
    sim.set(3, "temperature", 4.5).unwrap();
    sim.set_fault(2, UnitFault::NoAnswer).unwrap();
    let sim_stop = CancellationToken::new();
    let (s, st) = (sim.clone(), sim_stop.clone());
    tokio::spawn(async move { s.serve_rtu(master, st).await });

    let mut settings = SerialSettings::new(path);
    settings.baud = 115_200;
    // Several opens of the same pty across reconnects in one test process.
    settings.exclusive = false;
    let ingest = MemoryIngest::new();
    let devices: Vec<LineDevice<MemoryIngest>> =
        [("fridge-1", 1), ("fridge-2", 2), ("fridge-3", 3)]
            .into_iter()
            .map(|(n, u)| LineDevice::new(spec(n, u), ingest.clone()))
            .collect();
    let counters: Vec<Arc<PollCounters>> =
        devices.iter().map(|d| Arc::clone(&d.counters)).collect();
    let stop = CancellationToken::new();
    tokio::spawn(run_line(LineEndpoint::Rtu(settings), devices, stop.clone()));

    let events = wait_until(&ingest, "both live units' readings and unit 2 down", |e| {
        let has = |inst: &str, v: &str| {
            e.iter().any(|x| {
                x.instrument.as_str() == inst
                    && x.observations.iter().any(|o| {
                        o.code.as_deref() == Some("temperature") && o.value.as_deref() == Some(v)
                    })
            })
        };
        has("fridge-1", "-18.2")
            && has("fridge-3", "4.5")
            && e.iter().any(|x| {
                x.instrument.as_str() == "fridge-2"
                    && x.status.as_ref().is_some_and(|s| s.state == "down")
            })
    })
    .await;
    assert_eq!(count_state(&events, "down"), 1);
    let get = PollCounters::get;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while get(&counters[0].polls_ok) < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "unit 1 stopped being polled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ok1, ok3) = (get(&counters[0].polls_ok), get(&counters[2].polls_ok));
    assert!(ok1.abs_diff(ok3) <= 1, "unit 1 {ok1} polls, unit 3 {ok3}");
    assert_eq!(get(&counters[0].late), 0);
    assert_eq!(get(&counters[2].late), 0);
    let failed2 = get(&counters[1].polls_failed);
    assert!(
        failed2 >= 2 && failed2 < ok1 / 2,
        "unit 2 tried {failed2} times vs {ok1}"
    );
    // The dead unit saw requests (it was asked), but far fewer than the live ones.
    assert!(sim.requests(2) >= 2 && sim.requests(2) < sim.requests(1) / 2);
    stop.cancel();
    sim_stop.cancel();
    drop(slave);
}
