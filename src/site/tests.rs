#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The composition end to end: a site without a bus spools, reports readiness and stops.

use super::*;
use labwire_router::config::SiteConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One ASTM message from a simulated analyser: ENQ, one frame, EOT; returns the replies.
async fn send_astm_message(port: u16) -> Vec<u8> {
    use labwire_astm::link::frame::{FrameEnd, FrameNumber, encode_frame};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut replies = Vec::new();
    let mut byte = [0u8; 1];
    s.write_all(&[0x05]).await.unwrap();
    s.read_exact(&mut byte).await.unwrap();
    replies.push(byte[0]);
    let mut frame = Vec::new();
    let text = b"H|\\^&|||c311\rP|1\rO|1|S1||^^^GLU\rR|1|^^^GLU|5.4|mmol/L\rL|1|N\r";
    encode_frame(
        FrameNumber::new_wrapping(1),
        text,
        FrameEnd::Last,
        &mut frame,
    );
    s.write_all(&frame).await.unwrap();
    s.read_exact(&mut byte).await.unwrap();
    replies.push(byte[0]);
    s.write_all(&[0x04]).await.unwrap();
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_without_a_bus_spools_instrument_results_reports_ready_and_stops() {
    let dir = std::env::temp_dir().join(format!("labwire-run-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let instrument_port = free_port();
    // Nothing listens on port 9 of loopback (discard): the bus stays disconnected.
    let text = format!(
        "site = \"site-a\"\n[nats]\nurl = \"nats://127.0.0.1:9\"\nconnect_timeout = \"200ms\"\n[storage]\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:0\"\n[[instrument]]\nid = \"c311\"\nprotocol = \"astm\"\nlisten = \"127.0.0.1:{instrument_port}\"\n[[instrument]]\nid = \"fridge\"\nprotocol = \"modbus\"\nconnect = \"127.0.0.1:9\"\nprofile = \"fridge-generic\"\n",
        dir.join("spool.db").display().to_string()
    );
    let config = SiteConfig::from_toml_str(&text, "site.toml").unwrap();
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // `Router::start` is not provably `Send` (sqlx's `Acquire` lifetimes), so the site runs
    // on this task next to the checks instead of being spawned.
    let site = Site::new(config).on_metrics_bound(tx).run(shutdown.clone());
    let checks = async {
        let addr = tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .unwrap()
            .unwrap();
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200 OK"));
        let ready = get(addr, "/readyz").await;
        assert!(
            ready.ends_with("ready: bus not connected; spooling\n"),
            "{ready}"
        );

        // The analyser gets ACK to its ENQ, and ACK to its frame once the result is
        // durable in the spool.
        assert_eq!(send_astm_message(instrument_port).await, [0x06, 0x06]);
        let metrics = get(addr, "/metrics").await;
        assert!(metrics.contains("\nlabwire_bus_connected 0\n"), "{metrics}");
        // The result, plus status events (instrument connected), wait in the spool.
        let depth: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("labwire_spool_depth "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(depth >= 1, "{metrics}");
        assert!(
            metrics.contains(
                "\nlabwire_link_messages_total{instrument=\"c311\",protocol=\"astm\"} 1\n"
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("\nlabwire_events_total{instrument=\"c311\",kind=\"result\"} 1\n"),
            "{metrics}"
        );
        // The Modbus fridge is polled (its gateway does not answer): its link is in the metrics.
        assert!(
            metrics.contains("instrument=\"fridge\",protocol=\"modbus\""),
            "{metrics}"
        );
        shutdown.cancel();
        addr
    };
    let (result, addr) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(site, checks)
    })
    .await
    .unwrap();
    result.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", instrument_port))
            .await
            .is_err()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[ingest] deadline` and `host_query_timeout` are the deadlines the driver uses (they were a
/// fixed 10 s and 5 s, the latter silently capping a longer `host_query_timeout`).
#[test]
fn the_driver_uses_the_configured_ingest_deadline_and_host_query_timeout() {
    let c = SiteConfig::from_toml_str(
        "site = \"site-a\"\n[ingest]\ndeadline = \"2s\"\n[[instrument]]\nid = \"c311\"\nprotocol = \"astm\"\nlisten = \"127.0.0.1:5001\"\nhost_query_timeout = \"30s\"\n",
        "site.toml",
    )
    .unwrap();
    let d = instruments::driver_config(&c, &c.instruments[0]);
    assert_eq!(d.ingest_timeout, Duration::from_secs(2));
    assert_eq!(d.query_timeout, Duration::from_secs(30));
    // Without a site config, the library's defaults are the config's.
    let defaults = labwire_connectors::DriverConfig::default();
    assert_eq!(defaults.ingest_timeout, Duration::from_secs(5));
    assert_eq!(defaults.query_timeout, Duration::from_secs(5));
}
