//! `labwire check-config FILE`: validates a site configuration (shared conventions §4, §5).
//!
//! On success prints `FILE: ok (N instruments)` and a short summary on stdout, exit 0. On
//! failure prints every error as `FILE:LINE:COL: message` on stderr, exit 2.

use labwire_event::limits::NATS_DEFAULT_MAX_PAYLOAD;
use labwire_router::config::{
    LoadError, ProtocolSettings, SiteConfig, Transport, format_byte_size, format_duration,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `labwire check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The site configuration file (TOML).
    pub file: PathBuf,
    /// Print only the first line (`FILE: ok (N instruments)`), no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    match SiteConfig::load(&args.file) {
        Ok(config) => {
            print!(
                "{}",
                summary(&args.file.display().to_string(), &config, args.quiet)
            );
            if let Some(warning) = config.nats.plaintext_secret_warning() {
                eprintln!("{}: warning: {warning}", args.file.display());
            }
            for w in config.bus_warnings(NATS_DEFAULT_MAX_PAYLOAD) {
                eprintln!(
                    "{}: warning: {w} (checked against the NATS default max_payload; the \
                     server's own value is known only when `labwire run` connects)",
                    args.file.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            let n = errors.len();
            eprintln!(
                "{}: {n} error{}",
                args.file.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Loads a site config for `run` and `tail`: on failure every error is printed on stderr
/// (`FILE:LINE:COL: message`) and the exit code for bad input (2) is returned.
pub(crate) fn load_or_report(path: &std::path::Path) -> Result<SiteConfig, ExitCode> {
    SiteConfig::load(path).map_err(|err| {
        match err {
            LoadError::Invalid(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
            }
            other => eprintln!("{other}"),
        }
        ExitCode::from(2)
    })
}

/// The text printed for a valid configuration.
fn summary(name: &str, c: &SiteConfig, quiet: bool) -> String {
    let n = c.instruments.len();
    let mut out = format!(
        "{name}: ok ({n} instrument{})\n",
        if n == 1 { "" } else { "s" }
    );
    if quiet {
        return out;
    }
    out.push_str(&format!("  site      {}\n", c.site));
    out.push_str(&format!(
        "  nats      {} ({}{})\n",
        c.nats.redacted_url(),
        c.nats.auth.describe(),
        if c.nats.tls.is_some() { ", TLS" } else { "" }
    ));
    out.push_str(&format!(
        "  stream    LAB max_age={} max_bytes={} duplicate_window={}\n",
        format_duration(c.stream.max_age),
        format_byte_size(c.stream.max_bytes),
        format_duration(c.stream.duplicate_window)
    ));
    out.push_str(&format!(
        "  spool     {} (max {} events, {})\n",
        c.storage.path.display(),
        c.spool.max_events,
        format_byte_size(c.spool.max_bytes)
    ));
    out.push_str(&format!(
        "  ingest    deadline={}\n",
        format_duration(c.ingest.deadline)
    ));
    if c.metrics.enabled {
        out.push_str(&format!(
            "  metrics   http://{}/metrics (/healthz, /readyz)\n",
            c.metrics.listen
        ));
    } else {
        out.push_str("  metrics   off\n");
    }
    for i in &c.instruments {
        let peers = match &i.transport {
            Transport::Listen(l) if !l.allow_peers.is_empty() => {
                format!(" from {} peer rule(s)", l.allow_peers.len())
            }
            _ => String::new(),
        };
        let device = match &i.settings {
            ProtocolSettings::Modbus(m) => format!(
                " unit {} profile {} ({} points) poll {}",
                m.unit,
                m.profile.profile.name,
                m.profile.profile.points.len(),
                format_duration(m.poll)
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {:<12} {:<11} {}{}{}{}\n",
            i.id.as_str(),
            i.protocol().as_str(),
            i.transport,
            peers,
            device,
            if i.enabled { "" } else { " (disabled)" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SiteConfig {
        SiteConfig::from_toml_str(text, "site.toml").unwrap()
    }

    #[test]
    fn the_summary_names_the_site_bus_and_every_instrument() {
        let c = config(
            "site = \"site-a\"\n[nats]\nuser = \"u\"\npassword = \"secret-pw\"\n[[instrument]]\nid = \"c311\"\nprotocol = \"astm\"\nlisten = \"0.0.0.0:5001\"\nallow_peers = [\"10.0.0.0/8\"]\n[[instrument]]\nid = \"ba400\"\nprotocol = \"hl7\"\nconnect = \"10.1.1.1:2575\"\nenabled = false\n",
        );
        let s = summary("site.toml", &c, false);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "site.toml: ok (2 instruments)");
        assert!(s.contains("  site      site-a\n"), "{s}");
        assert!(s.contains("(user/password)"), "{s}");
        assert!(!s.contains("secret-pw"), "{s}");
        assert!(
            s.contains("c311         astm        listen 0.0.0.0:5001 from 1 peer rule(s)\n"),
            "{s}"
        );
        assert!(
            s.contains("ba400        hl7         connect 10.1.1.1:2575 (disabled)\n"),
            "{s}"
        );
        assert_eq!(
            summary("site.toml", &c, true),
            "site.toml: ok (2 instruments)\n"
        );
    }

    #[test]
    fn the_summary_names_a_devices_unit_profile_and_poll() {
        let c = config(
            "site = \"site-a\"\n[[instrument]]\nid = \"fridge-3\"\nprotocol = \"modbus\"\nconnect = \"10.20.5.3:502\"\nunit = 3\nprofile = \"fridge-generic\"\npoll = \"10s\"\n",
        );
        let s = summary("site.toml", &c, false);
        assert!(
            s.contains("fridge-3     modbus      connect 10.20.5.3:502 unit 3 profile fridge-generic (5 points) poll 10s\n"),
            "{s}"
        );
    }

    #[test]
    fn exit_codes_are_0_for_a_valid_file_and_2_for_errors_or_a_missing_file() {
        let dir = std::env::temp_dir().join(format!("labwire-check-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "site = \"site-a\"\n").unwrap();
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "site = \"Site A\"\n").unwrap();
        let code = |file: PathBuf| run(Args { file, quiet: true });
        assert_eq!(code(good), ExitCode::SUCCESS);
        assert_eq!(code(bad), ExitCode::from(2));
        assert_eq!(code(dir.join("missing.toml")), ExitCode::from(2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
