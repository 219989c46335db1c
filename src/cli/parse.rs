//! `labwire parse`: decode captures and print one canonical event per line (NDJSON).
//!
//! Input may be raw ASTM E1394 records, an E1381-framed transcript (ENQ/ACK/EOT bytes interleaved,
//! as captured on a line), or HL7 v2 with or without MLLP framing; the protocol is detected per
//! file unless `--protocol` is given. Bad input is reported as `FILE:OFFSET: reason` on stderr
//! (for a message that deframes but does not map, OFFSET is where the message starts and the
//! reason names the byte inside the decoded message text);
//! the other files and messages are still processed, and the exit code is 2.

use labwire_event::{Event, InstrumentId, Origin, SiteId};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The largest capture file `parse` reads (bigger files are refused, not truncated).
const MAX_CAPTURE_BYTES: u64 = 256 * 1024 * 1024;

/// A wire protocol `parse` can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WireProtocol {
    /// ASTM E1381/E1394 (CLSI LIS1-A / LIS2-A2).
    Astm,
    /// HL7 v2 (ER7), with or without MLLP framing.
    Hl7,
}

/// Arguments of `labwire parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The protocol of every file; detected per file when not given.
    #[arg(long, value_enum)]
    pub protocol: Option<WireProtocol>,
    /// Site id to put in the events.
    #[arg(long, default_value = "local")]
    pub site: String,
    /// Instrument id to put in the events (event ids depend on it).
    #[arg(long, default_value = "capture")]
    pub instrument: String,
    /// Reception time to stamp on the events (RFC 3339); now when not given.
    #[arg(long)]
    pub received_at: Option<jiff::Timestamp>,
    /// Capture files to decode (`-` reads standard input).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let site = match SiteId::new(args.site.as_str()) {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("--site: {e}")),
    };
    let instrument = match InstrumentId::new(args.instrument.as_str()) {
        Ok(i) => i,
        Err(e) => return usage_error(&format!("--instrument: {e}")),
    };
    let origin = Origin {
        site,
        instrument,
        received_at: args.received_at.unwrap_or_else(jiff::Timestamp::now),
    };

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for file in &args.files {
        let name = file.display().to_string();
        let bytes = match read_capture(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{name}: {e}");
                failed = true;
                continue;
            }
        };
        let report = decode(&bytes, args.protocol, &origin);
        for item in report {
            match item {
                Ok(event) => {
                    if let Err(e) = write_event(&mut out, &event) {
                        eprintln!("labwire parse: cannot write to standard output: {e}");
                        return ExitCode::from(1);
                    }
                }
                Err(Problem { offset, reason }) => {
                    failed = true;
                    eprintln!("{name}:{offset}: {reason}");
                }
            }
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("labwire parse: cannot write to standard output: {e}");
        return ExitCode::from(1);
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("labwire parse: {msg}");
    ExitCode::from(2)
}

fn write_event(out: &mut impl Write, event: &Event) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

fn read_capture(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_CAPTURE_BYTES + 1)
            .read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(path)?
            .take(MAX_CAPTURE_BYTES + 1)
            .read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > MAX_CAPTURE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_CAPTURE_BYTES} bytes; split the capture"
        )));
    }
    Ok(bytes)
}

/// A problem found in a capture: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset inside the file.
    pub offset: usize,
    /// Human-readable reason.
    pub reason: String,
}

/// Decodes one capture into events and problems, in file order.
pub fn decode(
    bytes: &[u8],
    protocol: Option<WireProtocol>,
    origin: &Origin,
) -> Vec<Result<Event, Problem>> {
    let protocol = match protocol.or_else(|| detect(bytes)) {
        Some(p) => p,
        None => {
            return vec![Err(Problem {
                offset: 0,
                reason: "neither ASTM nor HL7: no E1381 frame, E1394 header record or HL7 MSH \
                         segment found (use --protocol to force one)"
                    .to_owned(),
            })];
        }
    };
    match protocol {
        WireProtocol::Astm => {
            let opts = labwire_astm::canonical::DecodeOptions::default();
            let captured = labwire_astm::capture::split_capture(
                bytes,
                &labwire_astm::capture::CaptureLimits::default(),
            );
            collect(
                captured.into_iter().map(|m| {
                    m.map(|m| (m.offset, m.text))
                        .map_err(|e| (e.offset(), e.to_string()))
                }),
                |text| {
                    labwire_astm::canonical::message_to_events(text, origin, &opts)
                        .map_err(|e| (e.offset, e.to_string()))
                },
            )
        }
        WireProtocol::Hl7 => {
            let opts = labwire_hl7::canonical::DecodeOptions::default();
            let captured = labwire_hl7::capture::split_capture(
                bytes,
                &labwire_hl7::capture::CaptureLimits::default(),
            );
            collect(
                captured.into_iter().map(|m| {
                    m.map(|m| (m.offset, m.text))
                        .map_err(|e| (e.offset(), e.to_string()))
                }),
                |text| {
                    labwire_hl7::canonical::message_to_events(text, origin, &opts)
                        .map_err(|e| (e.offset(), e.to_string()))
                },
            )
        }
    }
}

/// Maps every captured message (`(file offset, text)`, or a capture error) to events, keeping
/// file order. A mapping error is reported at the message's start, naming the byte inside it.
fn collect(
    messages: impl Iterator<Item = Result<(usize, Vec<u8>), (usize, String)>>,
    map: impl Fn(&[u8]) -> Result<Vec<Event>, (usize, String)>,
) -> Vec<Result<Event, Problem>> {
    let mut out = Vec::new();
    for msg in messages {
        match msg.map(|(offset, text)| (offset, map(&text))) {
            Ok((_, Ok(events))) => out.extend(events.into_iter().map(Ok)),
            Ok((offset, Err((inner, reason)))) => out.push(Err(Problem {
                offset,
                reason: format!("{reason} (at byte {inner} of the message starting here)"),
            })),
            Err((offset, reason)) => out.push(Err(Problem { offset, reason })),
        }
    }
    out
}

/// Guesses the protocol of a capture from its first meaningful bytes.
pub fn detect(bytes: &[u8]) -> Option<WireProtocol> {
    const VT: u8 = 0x0b;
    const STX: u8 = 0x02;
    const ENQ: u8 = 0x05;
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = bytes.get(start..)?;
    let first = *head.first()?;
    if first == VT
        || head.starts_with(b"MSH")
        || head.starts_with(b"FHS")
        || head.starts_with(b"BHS")
    {
        return Some(WireProtocol::Hl7);
    }
    let header_record =
        matches!(first, b'H' | b'h') && head.get(1).is_some_and(|b| b.is_ascii_punctuation());
    if first == STX || first == ENQ || header_record {
        return Some(WireProtocol::Astm);
    }
    // A capture may start with line noise, acknowledgements, log text or a vendor's textual
    // notation (`<STX>`, `^B`); look further, and let the protocol's splitter explain the rest.
    let window = head.get(..head.len().min(8192)).unwrap_or(head);
    let has = |needle: &[u8]| window.windows(needle.len()).any(|w| w == needle);
    if window.contains(&VT) || has(b"MSH|") || has(b"<SB>") || has(b"<VT>") {
        return Some(WireProtocol::Hl7);
    }
    if window.contains(&STX) || window.contains(&ENQ) || has(b"H|") || has(b"<STX>") {
        return Some(WireProtocol::Astm);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_framing() {
        assert_eq!(detect(b"\x0bMSH|^~\\&|\x1c\r"), Some(WireProtocol::Hl7));
        assert_eq!(detect(b"MSH|^~\\&|A"), Some(WireProtocol::Hl7));
        assert_eq!(detect(b"\r\nFHS|^~\\&"), Some(WireProtocol::Hl7));
        assert_eq!(detect(b"\x05\x021H|\\^&\r\x03"), Some(WireProtocol::Astm));
        assert_eq!(detect(b"H|\\^&|||\rL|1\r"), Some(WireProtocol::Astm));
        assert_eq!(detect(b"\x06\x06\x021H"), Some(WireProtocol::Astm));
        assert_eq!(
            detect(b"2.3.1 Send\nHOST: <ACK>\n<STX>1H|\\^&"),
            Some(WireProtocol::Astm)
        );
        assert_eq!(detect(b"^E^B1H|`^&|||"), Some(WireProtocol::Astm));
        assert_eq!(detect(b"Text\n<SB>MSH|^~\\&|"), Some(WireProtocol::Hl7));
        assert_eq!(detect(b"hello world"), None);
        assert_eq!(detect(b""), None);
    }
}
