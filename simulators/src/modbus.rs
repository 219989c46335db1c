//! Simulated Modbus devices (TCP server, or RTU on a serial port or pty), driven by the same
//! device profiles labwire reads (`labwire-modbus-map`), on tokio-modbus's server side.
//!
//! One [`ModbusSim`] plays every unit on one line: a TCP device or gateway, or an RS-485 bus.
//! Values drift plausibly around a base (between a point's alarm limits when it has them), and
//! each unit can be given a fault: no answer, an exception code, a slow answer, answering with
//! another unit's id is not modelled by tokio-modbus's server (it echoes the request's header).
//! TCP connections can be dropped on demand ([`ModbusSim::drop_connections`]).

use labwire_modbus_map::{DeviceProfile, Point, Table, decode_registers, encode_registers};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_util::sync::CancellationToken;

/// What a simulated unit does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnitFault {
    /// Answers every request.
    #[default]
    None,
    /// Never answers (a dead unit on a shared line).
    NoAnswer,
    /// Answers every request with this exception code (e.g. 0x04 server device failure).
    Exception(u8),
    /// Answers after this delay.
    Slow(Duration),
    /// Refuses reads of addresses no point names with "illegal data address" (0x02), as many
    /// real devices do; coalesced reads across gaps then fail.
    StrictAddresses,
}

/// One simulated unit: its profile, its registers and bits, and its fault.
#[derive(Debug)]
struct Unit {
    profile: Arc<DeviceProfile>,
    words: HashMap<(Table, u16), u16>,
    bits: HashMap<(Table, u16), bool>,
    fault: UnitFault,
    base: HashMap<String, f64>,
}

#[derive(Debug, Default)]
struct Shared {
    units: Mutex<HashMap<u8, Unit>>,
    requests: Mutex<HashMap<u8, u64>>,
    generation: AtomicU64,
}

/// The units on one simulated line. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ModbusSim {
    shared: Arc<Shared>,
}

/// Why the simulator could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No such unit.
    #[error("no unit {0}")]
    NoUnit(u8),
    /// No such point in the unit's profile.
    #[error("unit {0}: no point {1:?}")]
    NoPoint(u8, String),
    /// The value does not fit the point.
    #[error("{0}")]
    Value(String),
    /// Socket or serial error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn plausible_base(p: &Point) -> f64 {
    match p.alarm {
        Some(a) => match (a.low, a.high) {
            (Some(l), Some(h)) => (l + h) / 2.0,
            (None, Some(h)) => h - 5.0 * a.hysteresis.max(1.0),
            (Some(l), None) => l + 5.0 * a.hysteresis.max(1.0),
            (None, None) => 0.0,
        },
        None => match (p.min, p.max) {
            (Some(l), Some(h)) => (l + h) / 2.0,
            _ if p.value_type == labwire_modbus_map::ValueType::Bool => 0.0,
            _ => 100.0 * p.scale.abs().max(0.01),
        },
    }
}

impl ModbusSim {
    /// An empty line.
    pub fn new() -> Self {
        Self::default()
    }

    fn units(&self) -> MutexGuard<'_, HashMap<u8, Unit>> {
        self.shared
            .units
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds unit `id` playing `profile`, every point at a plausible starting value.
    pub fn add_unit(&self, id: u8, profile: Arc<DeviceProfile>) {
        let mut unit = Unit {
            profile: Arc::clone(&profile),
            words: HashMap::new(),
            bits: HashMap::new(),
            fault: UnitFault::None,
            base: HashMap::new(),
        };
        for p in &profile.points {
            let base = plausible_base(p);
            unit.base.insert(p.name.clone(), base);
            let _ = store(&mut unit, p, base);
        }
        self.units().insert(id, unit);
    }

    /// Sets a point of a unit to a reading (scaled units, as labwire reports it).
    pub fn set(&self, unit: u8, point: &str, value: f64) -> Result<(), SimError> {
        let mut units = self.units();
        let u = units.get_mut(&unit).ok_or(SimError::NoUnit(unit))?;
        let profile = Arc::clone(&u.profile);
        let p = profile
            .point(point)
            .ok_or_else(|| SimError::NoPoint(unit, point.to_owned()))?;
        store(u, p, value)
    }

    /// Reads a point of a unit back as a reading (what labwire would report).
    pub fn get(&self, unit: u8, point: &str) -> Result<f64, SimError> {
        let units = self.units();
        let u = units.get(&unit).ok_or(SimError::NoUnit(unit))?;
        let p = u
            .profile
            .point(point)
            .ok_or_else(|| SimError::NoPoint(unit, point.to_owned()))?;
        if p.table.is_bits() {
            return Ok(f64::from(u8::from(
                u.bits.get(&(p.table, p.address)).copied().unwrap_or(false),
            )));
        }
        let words: Vec<u16> = (0..p.value_type.width())
            .map(|i| {
                u.words
                    .get(&(p.table, p.address.wrapping_add(i)))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        decode_registers(p, &words)
            .map(|r| r.value)
            .map_err(|e| SimError::Value(e.to_string()))
    }

    /// Gives a unit a fault (or [`UnitFault::None`] to heal it).
    pub fn set_fault(&self, unit: u8, fault: UnitFault) -> Result<(), SimError> {
        let mut units = self.units();
        let u = units.get_mut(&unit).ok_or(SimError::NoUnit(unit))?;
        u.fault = fault;
        Ok(())
    }

    /// Requests addressed to `unit` so far (answered or not).
    pub fn requests(&self, unit: u8) -> u64 {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&unit)
            .copied()
            .unwrap_or(0)
    }

    /// Closes every open TCP connection at its next byte (a gateway reboot, a cable blip).
    pub fn drop_connections(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Moves every non-writable register point a small step along a slow wave around its base
    /// (call it periodically; `tick` counts the calls).
    pub fn drift(&self, tick: u64) {
        let mut units = self.units();
        for u in units.values_mut() {
            let profile = Arc::clone(&u.profile);
            for (i, p) in profile.points.iter().enumerate() {
                if p.writable || p.table.is_bits() {
                    continue;
                }
                let base = u.base.get(&p.name).copied().unwrap_or(0.0);
                let phase = (tick as f64 + i as f64 * 7.0) / 20.0;
                let amplitude = (p.deadband * 3.0).max(p.scale.abs() * 5.0);
                let _ = store(u, p, base + amplitude * phase.sin());
            }
        }
    }

    fn answer(&self, req: SlaveRequest<'static>) -> Result<Option<Response>, ExceptionCode> {
        *self
            .shared
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(req.slave)
            .or_insert(0) += 1;
        let mut units = self.units();
        // No unit with that id on the line: nobody answers (RS-485), as a gateway without a
        // route would time out too.
        let Some(u) = units.get_mut(&req.slave) else {
            return Ok(None);
        };
        match u.fault {
            UnitFault::NoAnswer => return Ok(None),
            UnitFault::Exception(code) => return Err(ExceptionCode::new(code)),
            _ => {}
        }
        let strict = u.fault == UnitFault::StrictAddresses;
        let named = |u: &Unit, table: Table, start: u16, count: u16| -> bool {
            (start..start.saturating_add(count)).all(|a| {
                u.profile.points.iter().any(|p| {
                    p.table == table
                        && u32::from(a) >= u32::from(p.address)
                        && u32::from(a) < p.end()
                })
            })
        };
        let words = |u: &Unit, table: Table, start: u16, count: u16| -> Vec<u16> {
            (0..count)
                .map(|i| {
                    u.words
                        .get(&(table, start.wrapping_add(i)))
                        .copied()
                        .unwrap_or(0)
                })
                .collect()
        };
        let bits = |u: &Unit, table: Table, start: u16, count: u16| -> Vec<bool> {
            (0..count)
                .map(|i| {
                    u.bits
                        .get(&(table, start.wrapping_add(i)))
                        .copied()
                        .unwrap_or(false)
                })
                .collect()
        };
        let check = |u: &Unit, table: Table, start: u16, count: u16| {
            if strict && !named(u, table, start, count) {
                Err(ExceptionCode::IllegalDataAddress)
            } else {
                Ok(())
            }
        };
        let response = match req.request {
            Request::ReadHoldingRegisters(a, n) => {
                check(u, Table::Holding, a, n)?;
                Response::ReadHoldingRegisters(words(u, Table::Holding, a, n))
            }
            Request::ReadInputRegisters(a, n) => {
                check(u, Table::Input, a, n)?;
                Response::ReadInputRegisters(words(u, Table::Input, a, n))
            }
            Request::ReadCoils(a, n) => {
                check(u, Table::Coil, a, n)?;
                Response::ReadCoils(bits(u, Table::Coil, a, n))
            }
            Request::ReadDiscreteInputs(a, n) => {
                check(u, Table::Discrete, a, n)?;
                Response::ReadDiscreteInputs(bits(u, Table::Discrete, a, n))
            }
            Request::WriteSingleRegister(a, w) => {
                check(u, Table::Holding, a, 1)?;
                u.words.insert((Table::Holding, a), w);
                Response::WriteSingleRegister(a, w)
            }
            Request::WriteMultipleRegisters(a, ws) => {
                let n = u16::try_from(ws.len()).map_err(|_| ExceptionCode::IllegalDataValue)?;
                check(u, Table::Holding, a, n)?;
                for (i, w) in ws.iter().enumerate() {
                    let i = u16::try_from(i).unwrap_or(0);
                    u.words.insert((Table::Holding, a.wrapping_add(i)), *w);
                }
                Response::WriteMultipleRegisters(a, n)
            }
            Request::WriteSingleCoil(a, b) => {
                check(u, Table::Coil, a, 1)?;
                u.bits.insert((Table::Coil, a), b);
                Response::WriteSingleCoil(a, b)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        Ok(Some(response))
    }

    /// Serves Modbus TCP on `listener` until `shutdown` is cancelled.
    pub async fn serve_tcp(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), SimError> {
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let this = self.clone();
        let on_connected = move |stream: TcpStream, _addr| {
            let this = this.clone();
            async move {
                let generation = this.shared.generation.load(Ordering::SeqCst);
                let stream = Droppable {
                    inner: stream,
                    shared: Arc::clone(&this.shared),
                    generation,
                };
                Ok(Some((SimService(this), stream)))
            }
        };
        server
            .serve_until(
                &on_connected,
                |_e| {},
                async move { shutdown.cancelled().await },
            )
            .await?;
        Ok(())
    }

    /// Serves Modbus RTU on an open serial port (or pty) until `shutdown` is cancelled.
    pub async fn serve_rtu(
        &self,
        port: tokio_serial::SerialStream,
        shutdown: CancellationToken,
    ) -> Result<(), SimError> {
        let server = tokio_modbus::server::rtu::Server::new(port);
        server
            .serve_until(SimService(self.clone()), async move {
                shutdown.cancelled().await;
            })
            .await?;
        Ok(())
    }
}

fn store(u: &mut Unit, p: &Point, value: f64) -> Result<(), SimError> {
    if p.table.is_bits() {
        u.bits.insert((p.table, p.address), value != 0.0);
        return Ok(());
    }
    // The simulator may hold any value the type can; min/max limit writes from labwire only.
    let mut unlimited = p.clone();
    unlimited.min = None;
    unlimited.max = None;
    let words = encode_registers(&unlimited, value).map_err(|e| SimError::Value(e.to_string()))?;
    for (i, w) in words.into_iter().enumerate() {
        let i = u16::try_from(i).unwrap_or(0);
        u.words.insert((p.table, p.address.wrapping_add(i)), w);
    }
    Ok(())
}

/// The tokio-modbus service of a simulated line.
#[derive(Debug, Clone)]
struct SimService(ModbusSim);

impl Service for SimService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let slow = match self.0.units().get(&req.slave).map(|u| u.fault) {
            Some(UnitFault::Slow(d)) => Some(d),
            _ => None,
        };
        let answer = self.0.answer(req);
        Box::pin(async move {
            if let Some(d) = slow {
                tokio::time::sleep(d).await;
            }
            answer
        })
    }
}

/// A TCP stream that fails at its next read or write once [`ModbusSim::drop_connections`] was
/// called, so the server closes it.
struct Droppable {
    inner: TcpStream,
    shared: Arc<Shared>,
    generation: u64,
}

impl Droppable {
    fn dropped(&self) -> bool {
        self.shared.generation.load(Ordering::SeqCst) != self.generation
    }
}

fn reset() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "simulated connection drop",
    )
}

impl AsyncRead for Droppable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.dropped() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Droppable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.dropped() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
