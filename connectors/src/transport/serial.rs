//! Serial (RS-232) transport through tokio-serial.
//!
//! Use stable device paths (`/dev/serial/by-id/usb-FTDI_…`) rather than `/dev/ttyUSB0`, which
//! can change on replug. The port is opened exclusively by default (`TIOCEXCL`), so a second
//! process cannot steal bytes. A USB adapter that disappears, or a pty whose other side hangs
//! up, shows up as a read error (`EIO`, raw OS error 5) rather than end-of-file; the driver treats
//! both as a disconnect and this transport reopens the port with backoff.

use super::{Backoff, BackoffConfig, Connection, NoticeSink, TransportNotice};
use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, StopBits};

/// Line settings of a serial port.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialSettings {
    /// Device path, e.g. `/dev/serial/by-id/usb-FTDI_FT232R-if00-port0`.
    pub path: String,
    /// Baud rate (default 9600).
    pub baud: u32,
    /// Data bits (default 8).
    pub data_bits: DataBits,
    /// Parity (default none).
    pub parity: Parity,
    /// Stop bits (default 1).
    pub stop_bits: StopBits,
    /// Flow control (default none).
    pub flow_control: FlowControl,
    /// Open with `TIOCEXCL` so no other process can open the port (default true).
    pub exclusive: bool,
    /// Reopen backoff.
    pub backoff: BackoffConfig,
}

impl SerialSettings {
    /// 9600 8N1, no flow control, exclusive.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            baud: 9600,
            data_bits: DataBits::Eight,
            parity: Parity::None,
            stop_bits: StopBits::One,
            flow_control: FlowControl::None,
            exclusive: true,
            backoff: BackoffConfig::default(),
        }
    }
}

/// A serial port that is (re)opened on demand.
#[derive(Debug)]
pub struct SerialPort {
    settings: SerialSettings,
    backoff: Backoff,
}

impl SerialPort {
    /// A port with these settings; nothing is opened until the driver asks.
    pub fn new(settings: SerialSettings) -> Self {
        let backoff = Backoff::new(settings.backoff);
        Self { settings, backoff }
    }

    pub(super) fn backoff_mut(&mut self) -> &mut Backoff {
        &mut self.backoff
    }

    pub(crate) fn try_open(&self) -> Result<tokio_serial::SerialStream, tokio_serial::Error> {
        let s = &self.settings;
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut port = tokio_serial::new(&s.path, s.baud)
            .data_bits(s.data_bits)
            .parity(s.parity)
            .stop_bits(s.stop_bits)
            .flow_control(s.flow_control)
            .open_native_async()?;
        #[cfg(unix)]
        port.set_exclusive(s.exclusive)?;
        Ok(port)
    }

    pub(super) async fn open(&mut self, notice: &NoticeSink) -> Connection {
        loop {
            match self.try_open() {
                Ok(port) => return Connection::new(Box::new(port), self.settings.path.clone()),
                Err(e) => {
                    let wait = self.backoff.next_delay();
                    notice(TransportNotice {
                        state: "open-failed",
                        detail: format!(
                            "{}: {e}; retrying in {} ms",
                            self.settings.path,
                            wait.as_millis()
                        ),
                    });
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}
