//! `labwire run` as a process: started from a site config, stopped by signals, its log read.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `labwire run`, its stderr (the log) collected line by line.
struct Site {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Site {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_labwire"))
            .args(["run", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` (a positive signal), up to `limit`.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Waits for the process to exit, up to `limit`; then drains the rest of its log.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "labwire run did not exit within {limit:?}; log:\n{}",
                self.log.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        status
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nats_credentials_never_reach_the_log_or_check_config_and_clear_text_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    // 192.0.2.1 (TEST-NET-1) is not loopback and never answers: the bus stays down.
    std::fs::write(
        &config,
        format!(
            "site = \"site-a\"\n[nats]\nurl = \"nats://ops:s3cret-pw@192.0.2.1:4222\"\nconnect_timeout = \"200ms\"\n[storage]\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("spool.db").display().to_string()
        ),
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_labwire"))
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains("s3cret-pw"), "{printed}");
    assert!(
        printed.contains("nats://ops:***@192.0.2.1:4222"),
        "{printed}"
    );
    assert!(
        printed.contains("sent unencrypted to 192.0.2.1"),
        "{printed}"
    );

    let mut site = Site::start(&config);
    site.wait_for("labwire running", Duration::from_secs(60));
    site.signal("TERM");
    let status = site.wait_exit(Duration::from_secs(30));
    let log = site.log.join("\n");
    assert!(status.success(), "{status}\n{log}");
    assert!(!log.contains("s3cret-pw"), "{log}");
    assert!(log.contains("nats://ops:***@192.0.2.1:4222"), "{log}");
    assert!(log.contains("sent unencrypted to 192.0.2.1"), "{log}");
}

/// Sends one ASTM message (ENQ, one frame, EOT) on a blocking socket; checks both ACKs.
fn send_astm(port: u16, text: &[u8]) -> std::net::TcpStream {
    use labwire_astm::link::frame::{FrameEnd, FrameNumber, encode_frame};
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut byte = [0u8; 1];
    s.write_all(&[0x05]).unwrap();
    s.read_exact(&mut byte).unwrap();
    assert_eq!(byte[0], 0x06, "ENQ answered");
    let mut frame = Vec::new();
    encode_frame(
        FrameNumber::new_wrapping(1),
        text,
        FrameEnd::Last,
        &mut frame,
    );
    s.write_all(&frame).unwrap();
    s.read_exact(&mut byte).unwrap();
    assert_eq!(byte[0], 0x06, "frame answered");
    s.write_all(&[0x04]).unwrap();
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A host query the apps never answer keeps the connector busy for its whole
/// `host_query_timeout` (60 s), longer than the 20 s shutdown grace: the first SIGTERM starts a
/// graceful shutdown that waits for it, the second one exits at once (code 130).
#[test]
fn a_second_sigterm_exits_at_once_while_work_is_in_progress() {
    let nats = labwire_tests::NatsServer::start().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    let mut queries = rt
        .block_on(client.subscribe("lab.site-a.c311.query"))
        .unwrap();
    rt.block_on(client.flush()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "site = \"site-a\"\n[nats]\nurl = \"{}\"\n[storage]\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:0\"\n[[instrument]]\nid = \"c311\"\nprotocol = \"astm\"\nlisten = \"127.0.0.1:{port}\"\nhost_query_timeout = \"60s\"\n",
            nats.url(),
            dir.path().join("spool.db").display().to_string()
        ),
    )
    .unwrap();
    let mut site = Site::start(&config);
    site.wait_for("labwire running", Duration::from_secs(60));

    let _instrument = send_astm(port, b"H|\\^&|||c311\rQ|1|^S1||ALL||||||||O\rL|1|N\r");
    // Positive signal: the query reached the apps (which never answer).
    let query = rt.block_on(async {
        use futures::StreamExt;
        tokio::time::timeout(Duration::from_secs(30), queries.next()).await
    });
    assert!(matches!(query, Ok(Some(_))), "no host query on the bus");

    site.signal("TERM");
    site.wait_for("shutting down", Duration::from_secs(10));
    let second = Instant::now();
    site.signal("TERM");
    let status = site.wait_exit(Duration::from_secs(10));
    let log = site.log.join("\n");
    assert!(
        second.elapsed() < Duration::from_secs(10),
        "exit took {:?}\n{log}",
        second.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("second signal: exiting now"), "{log}");
}
