//! The connection to one physical line, on tokio-modbus's client.
//!
//! tokio-modbus has no request timeouts (slowtec/tokio-modbus#113), so every call here has its
//! own deadline. After a timeout or a transport error the context is dropped and the line is
//! reopened on the next request: on TCP a late answer would otherwise be read as the answer to
//! the next request (`HeaderMismatch`), and on RTU stale bytes would be mis-framed. Device
//! exceptions are data, not faults: they come back as `Ok(Err(ExceptionCode))`.

use crate::transport::{Backoff, BackoffConfig, SerialSettings};
use labwire_modbus_map::{ReadBlock, Table};
use std::time::Duration;
use tokio::time::Instant;
use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};

/// Where a line is.
#[derive(Debug, Clone, PartialEq)]
pub enum LineEndpoint {
    /// Modbus TCP (a device, or a gateway with several units behind it).
    Tcp {
        /// Host name or address.
        host: String,
        /// Port (502 by default on devices).
        port: u16,
    },
    /// Modbus RTU on a serial port (RS-485 with several units, or RS-232).
    Rtu(SerialSettings),
}

impl LineEndpoint {
    /// The silence the line must keep between frames: 3.5 character times, fixed at 1.75 ms
    /// above 19 200 baud (MB SL §2.5.1.1). TCP needs none.
    pub fn inter_frame_silence(&self) -> Duration {
        match self {
            Self::Tcp { .. } => Duration::ZERO,
            Self::Rtu(s) if s.baud > 19_200 => Duration::from_micros(1750),
            // 11 bits per character (start, 8 data, parity or second stop, stop).
            Self::Rtu(s) => Duration::from_micros(3_500_000 * 11 / u64::from(s.baud.max(1))),
        }
    }
}

impl std::fmt::Display for LineEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "tcp {host}:{port}"),
            Self::Rtu(s) => write!(f, "rtu {} {} baud", s.path, s.baud),
        }
    }
}

/// Why a request got no answer from the unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineFault {
    /// The line could not be opened (or is waiting to be retried).
    #[error("line down: {0}")]
    Down(String),
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection broke or the answer could not be framed.
    #[error("transport: {0}")]
    Transport(String),
    /// A gateway answered that the unit behind it did not respond (exceptions 0x0A, 0x0B).
    #[error("gateway: unit not reachable ({0})")]
    Gateway(String),
}

/// What a read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadData {
    /// Registers.
    Words(Vec<u16>),
    /// Coils or discrete inputs.
    Bits(Vec<bool>),
}

/// One line's connection, opened on demand and reopened with backoff.
pub struct Line {
    endpoint: LineEndpoint,
    ctx: Option<Context>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    last_frame_end: Option<Instant>,
    reconnects: u64,
    opened: bool,
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Line")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.ctx.is_some())
            .field("reconnects", &self.reconnects)
            .finish()
    }
}

impl Line {
    /// A line that opens on the first request; failed opens are retried after `backoff`.
    pub fn new(endpoint: LineEndpoint, backoff: BackoffConfig) -> Self {
        Self {
            endpoint,
            ctx: None,
            backoff: Backoff::new(backoff),
            retry_at: None,
            last_frame_end: None,
            reconnects: 0,
            opened: false,
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &LineEndpoint {
        &self.endpoint
    }

    /// Times the line was reopened after its first open.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    async fn open(&mut self, timeout: Duration) -> Result<(), LineFault> {
        if self.ctx.is_some() {
            return Ok(());
        }
        if let Some(at) = self.retry_at
            && Instant::now() < at
        {
            return Err(LineFault::Down(format!(
                "{}: reopening in {} ms",
                self.endpoint,
                at.saturating_duration_since(Instant::now()).as_millis()
            )));
        }
        let opened: Result<Context, String> = match &self.endpoint {
            LineEndpoint::Tcp { host, port } => {
                match tokio::time::timeout(
                    timeout,
                    tokio::net::TcpStream::connect((host.as_str(), *port)),
                )
                .await
                {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        Ok(tokio_modbus::client::tcp::attach_slave(stream, Slave(1)))
                    }
                    Ok(Err(e)) => Err(format!("{}: {e}", self.endpoint)),
                    Err(_) => Err(format!("{}: connect timed out", self.endpoint)),
                }
            }
            LineEndpoint::Rtu(settings) => crate::transport::SerialPort::new(settings.clone())
                .try_open()
                .map(|port| tokio_modbus::client::rtu::attach_slave(port, Slave(1)))
                .map_err(|e| format!("{}: {e}", self.endpoint)),
        };
        match opened {
            Ok(ctx) => {
                self.ctx = Some(ctx);
                self.retry_at = None;
                self.backoff.reset();
                if self.opened {
                    self.reconnects += 1;
                }
                self.opened = true;
                tracing::info!(line = %self.endpoint, "modbus line open");
                Ok(())
            }
            Err(reason) => {
                let wait = self.backoff.next_delay();
                self.retry_at = Some(Instant::now() + wait);
                tracing::warn!(line = %self.endpoint, %reason, retry_ms = wait.as_millis() as u64, "modbus line cannot be opened");
                Err(LineFault::Down(reason))
            }
        }
    }

    /// Drops the connection; the next request reopens it.
    pub fn close(&mut self) {
        self.ctx = None;
    }

    async fn keep_silence(&mut self) {
        let silence = self.endpoint.inter_frame_silence();
        if let Some(end) = self.last_frame_end
            && !silence.is_zero()
        {
            tokio::time::sleep_until(end + silence).await;
        }
    }

    /// Reads `block` from `unit` with a deadline of `timeout`.
    pub async fn read(
        &mut self,
        unit: u8,
        block: &ReadBlock,
        timeout: Duration,
    ) -> Result<Result<ReadData, ExceptionCode>, LineFault> {
        self.open(timeout).await?;
        self.keep_silence().await;
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(LineFault::Down(self.endpoint.to_string()));
        };
        ctx.set_slave(Slave(unit));
        let (start, count) = (block.start, block.count);
        let call = async {
            match block.table {
                Table::Coil => ctx
                    .read_coils(start, count)
                    .await
                    .map(|r| r.map(ReadData::Bits)),
                Table::Discrete => ctx
                    .read_discrete_inputs(start, count)
                    .await
                    .map(|r| r.map(ReadData::Bits)),
                Table::Input => ctx
                    .read_input_registers(start, count)
                    .await
                    .map(|r| r.map(ReadData::Words)),
                Table::Holding => ctx
                    .read_holding_registers(start, count)
                    .await
                    .map(|r| r.map(ReadData::Words)),
            }
        };
        let result = tokio::time::timeout(timeout, call).await;
        self.last_frame_end = Some(Instant::now());
        self.settle(result, timeout)
    }

    /// Writes registers (or, for coils, one bit per value) to `unit`.
    pub async fn write(
        &mut self,
        unit: u8,
        table: Table,
        address: u16,
        words: &[u16],
        timeout: Duration,
    ) -> Result<Result<(), ExceptionCode>, LineFault> {
        self.open(timeout).await?;
        self.keep_silence().await;
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(LineFault::Down(self.endpoint.to_string()));
        };
        ctx.set_slave(Slave(unit));
        let call = async {
            match (table, words) {
                (Table::Coil, [w]) => ctx.write_single_coil(address, *w != 0).await,
                (Table::Coil, _) => {
                    let bits: Vec<bool> = words.iter().map(|w| *w != 0).collect();
                    ctx.write_multiple_coils(address, &bits).await
                }
                (_, [w]) => ctx.write_single_register(address, *w).await,
                _ => ctx.write_multiple_registers(address, words).await,
            }
        };
        let result = tokio::time::timeout(timeout, call).await;
        self.last_frame_end = Some(Instant::now());
        self.settle(result, timeout)
    }

    fn settle<T>(
        &mut self,
        result: Result<tokio_modbus::Result<T>, tokio::time::error::Elapsed>,
        timeout: Duration,
    ) -> Result<Result<T, ExceptionCode>, LineFault> {
        match result {
            Ok(Ok(Ok(v))) => Ok(Ok(v)),
            Ok(Ok(Err(
                e @ (ExceptionCode::GatewayPathUnavailable | ExceptionCode::GatewayTargetDevice),
            ))) => Err(LineFault::Gateway(format!("{e:?}"))),
            Ok(Ok(Err(e))) => Ok(Err(e)),
            Ok(Err(e)) => {
                self.close();
                Err(LineFault::Transport(e.to_string()))
            }
            Err(_) => {
                self.close();
                Err(LineFault::Timeout(timeout))
            }
        }
    }
}
