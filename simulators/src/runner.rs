//! Running several simulated instruments at once: each its own task, traffic generator, fault
//! plan and connection, all writing into one shared ledger.

use crate::astm_session::{AstmInstrument, SimError};
use crate::fault::FaultPlan;
use crate::hl7_session::Hl7Instrument;
use crate::ledger::Ledger;
use crate::message::SimMessage;
use crate::profile::{Profile, WireProtocol};
use crate::traffic::{Traffic, TrafficConfig};
use crate::wire::{Endpoint, Io};
use labwire_event::{EventKind, InstrumentId, SiteId};
use std::sync::Arc;
use std::time::Duration;

/// Where the simulated instruments meet the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Connect to the host's listeners: instrument `i` dials address `i` (modulo the list, so
    /// one address serves every instrument). labwire's connectors take one connection per
    /// instrument, so give one address per instrument when talking to labwire.
    Connect(Vec<String>),
    /// Listen for the host; instrument `i` listens on the given port + `i`.
    Listen {
        /// IP address to bind.
        host: String,
        /// Port of the first instrument.
        port: u16,
    },
    /// A pseudo-terminal per instrument; the host opens the printed slave path like a serial
    /// port.
    Pty,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Site labwire runs as (for the expected event ids).
    pub site: SiteId,
    /// Instrument ids are `<prefix>-1`, `<prefix>-2`, …
    pub instrument_prefix: String,
    /// How many instruments.
    pub instruments: u32,
    /// The dialect they speak.
    pub profile: Profile,
    /// Where they meet the host.
    pub target: Target,
    /// Traffic and fault seed.
    pub seed: u64,
    /// Messages per second per instrument; 0 sends the next one as soon as the last is acked.
    pub rate: f64,
    /// Stop after this many messages per instrument.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Faults (each instrument gets a copy reseeded with its number).
    pub faults: FaultPlan,
    /// Marker for every identifying field (PHI-canary tests).
    pub canary: Option<String>,
    /// Timestamp of the first work item; `None` = now (local time).
    pub start: Option<jiff::civil::DateTime>,
}

/// What a running simulator reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// An instrument is reachable: connecting to, listening on, or pty slave path.
    Ready {
        /// The instrument.
        instrument: InstrumentId,
        /// Human-readable location.
        location: String,
    },
    /// A message went out.
    Sent {
        /// The instrument.
        instrument: InstrumentId,
        /// Its message number.
        seq: u64,
        /// Event kind.
        kind: EventKind,
        /// Whether the host acknowledged it.
        acked: bool,
    },
    /// The host downloaded orders between messages.
    Downloaded {
        /// The instrument.
        instrument: InstrumentId,
        /// Orders (ASTM O records, HL7 ORC segments) received.
        orders: usize,
    },
    /// An instrument stopped with an error.
    Failed {
        /// The instrument.
        instrument: InstrumentId,
        /// Why.
        error: String,
    },
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

enum Sim {
    Astm(AstmInstrument),
    Hl7(Hl7Instrument),
}

impl Sim {
    async fn send(&mut self, msg: &SimMessage) -> Result<bool, SimError> {
        match self {
            Self::Astm(s) => s.send(msg).await,
            Self::Hl7(s) => s.send(msg).await,
        }
    }

    async fn idle(&mut self, until: tokio::time::Instant) -> Result<usize, SimError> {
        match self {
            Self::Astm(s) => s.idle(until).await,
            Self::Hl7(s) => s.idle(until).await,
        }
    }
}

/// Instrument id `<prefix>-<n>`, made a valid id (lowercase, `[a-z0-9-]`).
pub fn instrument_id(prefix: &str, n: u32) -> Result<InstrumentId, labwire_event::IdError> {
    let clean: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    InstrumentId::new(format!("{}-{n}", clean.trim_matches('-')))
}

async fn endpoint(
    target: &Target,
    index: u32,
) -> std::io::Result<(Endpoint, String, Option<Box<dyn Io>>)> {
    match target {
        Target::Connect(addrs) => {
            let i = usize::try_from(index).unwrap_or(0) % addrs.len().max(1);
            let addr = addrs.get(i).cloned().unwrap_or_default();
            let at = format!("connecting to {addr}");
            Ok((Endpoint::Connect(addr), at, None))
        }
        Target::Listen { host, port } => {
            let port = port.saturating_add(u16::try_from(index).unwrap_or(u16::MAX));
            let l = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
            let at = l.local_addr()?;
            Ok((Endpoint::Listen(l), format!("listening on {at}"), None))
        }
        Target::Pty => {
            use tokio_serial::SerialPort;
            let (master, slave) =
                tokio_serial::SerialStream::pair().map_err(std::io::Error::other)?;
            let path = slave.name().unwrap_or_else(|| "<pty>".to_owned());
            // The slave end stays open so the line does not hang up before labwire opens it.
            let keep: Box<dyn Io> = Box::new(slave);
            Ok((
                Endpoint::Stream(Some(Box::new(master))),
                format!("pty {path}"),
                Some(keep),
            ))
        }
    }
}

/// Runs the instruments until `count` or `duration` (whichever comes first) and returns when all
/// have stopped. Every message lands in `ledger`.
pub async fn run(cfg: RunConfig, ledger: Ledger, progress: ProgressFn) -> Result<(), SimError> {
    let start = cfg
        .start
        .unwrap_or_else(|| jiff::tz::Offset::UTC.to_datetime(jiff::Timestamp::now()));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..cfg.instruments {
        let instrument = instrument_id(&cfg.instrument_prefix, i + 1)
            .map_err(|e| SimError::BadId(e.to_string()))?;
        let (ep, location, keep) =
            endpoint(&cfg.target, i)
                .await
                .map_err(|source| SimError::Io {
                    instrument: instrument.clone(),
                    source,
                })?;
        progress(Progress::Ready {
            instrument: instrument.clone(),
            location,
        });
        let seed = cfg.seed.wrapping_add(u64::from(i));
        let mut plan = cfg.faults.clone();
        plan.reseed(seed);
        let mut sim = match cfg.profile.protocol {
            WireProtocol::Astm => Sim::Astm(AstmInstrument::new(
                cfg.site.clone(),
                instrument.clone(),
                cfg.profile.clone(),
                ep,
                plan,
                ledger.clone(),
                seed,
            )),
            WireProtocol::Hl7 => Sim::Hl7(Hl7Instrument::new(
                cfg.site.clone(),
                instrument.clone(),
                cfg.profile.clone(),
                ep,
                plan,
                ledger.clone(),
                seed,
            )),
        };
        let mut traffic = Traffic::new(
            cfg.profile.clone(),
            TrafficConfig {
                seed: cfg.seed,
                instrument_index: i,
                start,
                canary: cfg.canary.clone(),
            },
        );
        let profile = cfg.profile.clone();
        let progress = progress.clone();
        let (rate, count, duration) = (cfg.rate, cfg.count, cfg.duration);
        tasks.spawn(async move {
            let _keep = keep;
            let began = tokio::time::Instant::now();
            let interval = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
            let mut seq = 0u64;
            loop {
                if count.is_some_and(|c| seq >= c) || duration.is_some_and(|d| began.elapsed() >= d)
                {
                    break;
                }
                let work = traffic.next_work();
                let msg = SimMessage::build(&profile, &work, seq);
                match sim.send(&msg).await {
                    Ok(acked) => progress(Progress::Sent {
                        instrument: instrument.clone(),
                        seq,
                        kind: msg.kind,
                        acked,
                    }),
                    Err(e) => {
                        progress(Progress::Failed {
                            instrument: instrument.clone(),
                            error: e.to_string(),
                        });
                        return;
                    }
                }
                seq += 1;
                if let Some(iv) = interval {
                    // Between messages the instrument listens: the host may download orders.
                    let next = began + iv.mul_f64(seq as f64);
                    match sim.idle(next).await {
                        Ok(0) => {}
                        Ok(orders) => progress(Progress::Downloaded {
                            instrument: instrument.clone(),
                            orders,
                        }),
                        Err(e) => {
                            progress(Progress::Failed {
                                instrument: instrument.clone(),
                                error: e.to_string(),
                            });
                            return;
                        }
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}
