//! `labwire sim --protocol modbus`: simulated Modbus devices (docs/devices.md).
//!
//! Units 1..=N (`--instruments N`) play one device profile (`--profile`, default
//! `fridge-generic`) on a Modbus TCP server (`--listen ADDR:PORT`, a device or a gateway) or as
//! an RTU line on a pseudo-terminal (`--pty`, its path printed on stdout). Values drift; faults
//! per unit: `--faults 2=no-answer,3=exception:4,1=slow:300,4=strict`.

use super::sim::Args;
use labwire_modbus_map::{DeviceProfile, load_profile};
use labwire_router::config::parse_duration;
use labwire_sim::modbus::{ModbusSim, UnitFault};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often simulated values take a drift step.
const DRIFT_EVERY: Duration = Duration::from_secs(1);

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("labwire sim: {msg}");
    ExitCode::from(2)
}

/// Parses `UNIT=KIND[,…]`: `no-answer`, `exception:CODE`, `slow:MILLIS`, `strict`.
fn faults(list: &str) -> Result<Vec<(u8, UnitFault)>, String> {
    if list == "none" {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (unit, kind) = item
                .split_once('=')
                .ok_or_else(|| format!("fault {item:?}: expected UNIT=KIND"))?;
            let unit: u8 = unit
                .trim()
                .parse()
                .map_err(|_| format!("fault {item:?}: bad unit id"))?;
            let fault = match kind.trim().split_once(':') {
                None if kind.trim() == "no-answer" => UnitFault::NoAnswer,
                None if kind.trim() == "strict" => UnitFault::StrictAddresses,
                Some(("exception", code)) => UnitFault::Exception(
                    code.trim()
                        .trim_start_matches("0x")
                        .parse()
                        .map_err(|_| format!("fault {item:?}: bad exception code"))?,
                ),
                Some(("slow", ms)) => UnitFault::Slow(Duration::from_millis(
                    ms.trim()
                        .parse()
                        .map_err(|_| format!("fault {item:?}: bad delay in ms"))?,
                )),
                _ => {
                    return Err(format!(
                        "fault {item:?}: kinds are no-answer, exception:CODE, slow:MILLIS, strict"
                    ));
                }
            };
            Ok((unit, fault))
        })
        .collect()
}

/// Runs simulated Modbus devices until the duration ends or Ctrl-C.
pub(crate) async fn run(args: &Args) -> ExitCode {
    let name = args.profile.as_deref().unwrap_or("fridge-generic");
    let profile: Arc<DeviceProfile> =
        match load_profile(name, std::path::Path::new("."), parse_duration) {
            Ok(p) => Arc::new(p),
            Err(e) => return usage(e),
        };
    let units = match u8::try_from(args.instruments) {
        Ok(n @ 1..=247) => n,
        _ => return usage("--instruments: 1 to 247 Modbus units"),
    };
    let faults = match faults(&args.faults) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let sim = ModbusSim::new();
    for unit in 1..=units {
        sim.add_unit(unit, Arc::clone(&profile));
    }
    for (unit, fault) in faults {
        if let Err(e) = sim.set_fault(unit, fault) {
            return usage(e);
        }
    }
    let stop = CancellationToken::new();
    let drift = {
        let (sim, stop) = (sim.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = 0u64;
            while stop
                .run_until_cancelled(tokio::time::sleep(DRIFT_EVERY))
                .await
                .is_some()
            {
                tick += 1;
                sim.drift(tick);
            }
        })
    };
    let served = if let Some(addr) = &args.listen {
        let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
            Ok(l) => l,
            Err(e) => return usage(format!("--listen {addr}: {e}")),
        };
        let local = listener
            .local_addr()
            .map_or(addr.clone(), |a| a.to_string());
        eprintln!(
            "labwire sim: modbus tcp {local}: units 1-{units} playing {}",
            profile.name
        );
        let (sim, stop2) = (sim.clone(), stop.clone());
        tokio::spawn(async move { sim.serve_tcp(listener, stop2).await })
    } else if args.pty {
        let (master, slave) = match tokio_serial::SerialStream::pair() {
            Ok(p) => p,
            Err(e) => return usage(format!("--pty: {e}")),
        };
        let path = tokio_serial::SerialPort::name(&slave).unwrap_or_default();
        println!("{path}");
        eprintln!(
            "labwire sim: modbus rtu on {path}: units 1-{units} playing {}",
            profile.name
        );
        let (sim, stop2) = (sim.clone(), stop.clone());
        tokio::spawn(async move {
            // Keep the slave end open so the line survives labwire reopening it.
            let _slave = slave;
            sim.serve_rtu(master, stop2).await
        })
    } else {
        return usage("modbus devices need --listen ADDR:PORT (TCP) or --pty (RTU)");
    };
    let until = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = until => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    stop.cancel();
    let _ = drift.await;
    match served.await {
        Ok(Ok(())) | Err(_) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("labwire sim: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse_per_unit() {
        assert_eq!(
            faults("2=no-answer, 3=exception:4,1=slow:300,4=strict").unwrap(),
            vec![
                (2, UnitFault::NoAnswer),
                (3, UnitFault::Exception(4)),
                (1, UnitFault::Slow(Duration::from_millis(300))),
                (4, UnitFault::StrictAddresses)
            ]
        );
        assert!(faults("2=melt").is_err());
        assert!(faults("x=no-answer").is_err());
        assert_eq!(faults("none").unwrap(), vec![]);
    }
}
