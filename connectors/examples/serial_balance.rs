#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A line-oriented serial device onto the lab bus, in one file: copy it for your balance or pH
//! meter.
//!
//! A laboratory balance prints one reading per line, e.g. `ST,GS,+0012.34 g` (stability `ST`
//! stable / `US` unstable, mode `GS` gross / `NT` net, signed value, units). This example parses
//! those lines with nom, turns each into a `telemetry` event and runs it through the same driver,
//! deadlines, reconnect logic and durability gate as the ASTM and HL7 connectors.
//!
//! ```text
//! cargo run -p labwire-connectors --example serial_balance          # simulated balance on a pty, events printed
//! cargo run -p labwire-connectors --example serial_balance -- --serial /dev/serial/by-id/usb-FTDI_…  # a real balance
//! cargo run -p labwire-connectors --example serial_balance -- --nats nats://127.0.0.1:4222   # publish on the local bus
//! cargo build -p labwire-connectors --no-default-features --example serial_balance   # API only: no async-nats, no sqlx
//! ```
//!
//! With `--nats` the events go to `lab.site-a.balance-1.telemetry` through the router (spooled to
//! `serial_balance-spool.db` while NATS is down); that needs the `router` feature (default).

use labwire_connectors::serial_line::{LineError, SerialLineConnector};
use labwire_connectors::transport::{
    BackoffConfig, Connection, SerialPort, SerialSettings, Transport,
};
use labwire_connectors::{Connector, ConnectorContext, Ingest, MemoryIngest, run};
use labwire_event::{InstrumentId, Observation, SiteId};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, digit1, one_of, space0, space1};
use nom::combinator::{all_consuming, map, opt, recognize};
use nom::{IResult, Parser};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// 1. The device's line format, parsed with nom.
// ---------------------------------------------------------------------------------------------

/// One parsed balance line.
#[derive(Debug, PartialEq)]
struct Reading<'a> {
    stable: bool,
    mode: &'a str,
    value: &'a str,
    units: &'a str,
}

fn reading(line: &str) -> IResult<&str, Reading<'_>> {
    let stability = alt((map(tag("ST"), |_| true), map(tag("US"), |_| false)));
    let mode = alt((tag("GS"), tag("NT"), tag("TR")));
    let number = recognize((opt(one_of("+-")), digit1, opt((char('.'), digit1))));
    let units = take_while1(|c: char| c.is_ascii_alphabetic() || c == '%');
    map(
        all_consuming((
            stability,
            char(','),
            mode,
            char(','),
            space0,
            number,
            space1,
            units,
            space0,
        )),
        |(stable, _, mode, _, _, value, _, units, _)| Reading {
            stable,
            mode,
            value,
            units,
        },
    )
    .parse(line)
}

/// `+0012.34` → `12.34`, `-0001.50` → `-1.50`: the value as text, without padding.
fn tidy(value: &str) -> String {
    let (sign, digits) = match value.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", value.trim_start_matches('+')),
    };
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() || trimmed.starts_with('.') {
        format!("0{trimmed}")
    } else {
        trimmed.to_owned()
    };
    format!("{sign}{trimmed}")
}

/// The per-device parser the connector calls for every line.
fn parse_line(line: &str) -> Result<Vec<Observation>, LineError> {
    let (_, r) = reading(line).map_err(|e| {
        let rest = match &e {
            nom::Err::Error(e) | nom::Err::Failure(e) => e.input,
            nom::Err::Incomplete(_) => "",
        };
        LineError {
            reason: "not a balance reading (expected e.g. `ST,GS,+0012.34 g`)".into(),
            column: line.len() - rest.len(),
        }
    })?;
    let code = match r.mode {
        "NT" => "net-weight",
        "TR" => "tare",
        _ => "gross-weight",
    };
    Ok(vec![Observation {
        code: Some(code.into()),
        value: Some(tidy(r.value)),
        units: Some(r.units.into()),
        // Stable readings are final, unstable ones preliminary.
        status: Some(if r.stable { "F" } else { "P" }.into()),
        ..Observation::default()
    }])
}

// ---------------------------------------------------------------------------------------------
// 2. Wiring: transport + connector + ingest, then `run`.
// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let site = SiteId::new("site-a").unwrap();
    let instrument = InstrumentId::new("balance-1").unwrap();
    let connector = SerialLineConnector::new(parse_line);

    // A real port (reopened with backoff when unplugged), or a simulated balance on a pty.
    let (transport, simulated) = match arg("--serial") {
        Some(path) => {
            let mut settings = SerialSettings::new(path);
            settings.baud = 9600;
            (Transport::from(SerialPort::new(settings)), false)
        }
        None => (simulated_balance(), true),
    };

    match arg("--nats") {
        Some(url) => {
            publish_on_the_bus(&url, connector, transport, site, instrument, simulated).await
        }
        None => {
            let ingest = MemoryIngest::new();
            let ctx = ConnectorContext::new(site, instrument, ingest.clone());
            let printer = tokio::spawn(print_events(ingest, ctx.shutdown.clone()));
            serve(connector, transport, ctx, simulated).await;
            printer.abort();
        }
    }
}

/// `--nats`: through labwire's router (JetStream, spooled while the bus is down).
#[cfg(feature = "router")]
async fn publish_on_the_bus<C: Connector>(
    url: &str,
    connector: C,
    transport: Transport,
    site: SiteId,
    instrument: InstrumentId,
    simulated: bool,
) {
    let opts = labwire_router::RouterOptions::new(
        labwire_router::BusOptions::new(url),
        labwire_router::SpoolOptions::new("serial_balance-spool.db"),
    );
    let router = labwire_router::Router::start(opts).await.unwrap();
    let ingest = labwire_connectors::RouterIngest::new(&router);
    serve(
        connector,
        transport,
        ConnectorContext::new(site, instrument, ingest),
        simulated,
    )
    .await;
    router.shutdown().await;
}

/// `--nats` without the `router` feature.
#[cfg(not(feature = "router"))]
async fn publish_on_the_bus<C: Connector>(
    _url: &str,
    _connector: C,
    _transport: Transport,
    _site: SiteId,
    _instrument: InstrumentId,
    _simulated: bool,
) {
    eprintln!("--nats needs the `router` feature of labwire-connectors (on by default)");
}

/// Runs the connector until Ctrl-C (or, in simulation, until the five readings are stored).
async fn serve<C: Connector, I: Ingest>(
    connector: C,
    transport: Transport,
    ctx: ConnectorContext<I>,
    simulated: bool,
) {
    let shutdown = ctx.shutdown.clone();
    let health = ctx.health.clone();
    let watched = health.clone();
    tokio::spawn(async move {
        if simulated {
            while watched.snapshot().messages < 5 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
        shutdown.cancel();
    });
    if let Err(e) = run(connector, transport, ctx).await {
        eprintln!("connector stopped: {e}");
    }
    let h = health.snapshot();
    eprintln!(
        "readings stored: {}, lines rejected: {}, reconnects: {}",
        h.messages, h.rejected, h.reconnects
    );
}

/// Prints stored events as JSON lines.
async fn print_events(ingest: MemoryIngest, shutdown: CancellationToken) {
    let mut printed = 0;
    while !shutdown.is_cancelled() {
        let events = ingest.wait_for(|e| e.len() > printed).await;
        for e in events.iter().skip(printed) {
            println!("{}", serde_json::to_string(e).unwrap());
        }
        printed = events.len();
    }
}

/// A balance on a pseudo-terminal: prints five readings (and one line of noise).
fn simulated_balance() -> Transport {
    Transport::custom(
        || async {
            let (mut device, port) =
                tokio_serial::SerialStream::pair().map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let lines: [&[u8]; 6] = [
                    b"US,GS,+0012.31 g\r\n",
                    b"ST,GS,+0012.34 g\r\n",
                    b"\x1b[noise]\r\n",
                    b"ST,NT,-0001.50 g\r\n",
                    b"ST,TR,+0000.00 g\r\n",
                    b"ST,GS,+0100.00 g\r\n",
                ];
                for line in lines {
                    if device.write_all(line).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Keep the device end open until the example stops.
                std::future::pending::<()>().await;
            });
            Ok(Connection::new(Box::new(port), "simulated balance (pty)"))
        },
        BackoffConfig::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stable_and_unstable_readings() {
        let obs = parse_line("ST,GS,+0012.34 g").unwrap();
        assert_eq!(obs[0].value.as_deref(), Some("12.34"));
        assert_eq!(obs[0].units.as_deref(), Some("g"));
        assert_eq!(obs[0].status.as_deref(), Some("F"));
        let obs = parse_line("US,NT,-0001.50 g").unwrap();
        assert_eq!(obs[0].code.as_deref(), Some("net-weight"));
        assert_eq!(obs[0].value.as_deref(), Some("-1.50"));
        assert_eq!(obs[0].status.as_deref(), Some("P"));
        assert_eq!(
            parse_line("ST,GS,+0000.00 g").unwrap()[0].value.as_deref(),
            Some("0.00")
        );
    }

    #[test]
    fn reports_where_a_bad_line_goes_wrong() {
        let err = parse_line("ST,XX,+1 g").unwrap_err();
        assert_eq!(err.column, 3);
        assert!(parse_line("ST,GS,+12.3").is_err(), "units are required");
    }
}
