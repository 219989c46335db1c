#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A router process is SIGKILLed after handing out receipts (before the instruments got their
//! ACKs): nothing it acknowledged is lost, and the retransmits are stored once.
//!
//! The router under test runs in a child process: this same test binary, re-run with the ignored
//! helper test `crash_child_helper` selected and its work given in environment variables.

mod common;

use common::*;
use labwire_tests::NatsServer;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const EVENTS: u32 = 100;
const DIRECT: u32 = 50;

#[tokio::test]
async fn router_sigkilled_after_receipts_loses_nothing_and_retransmits_are_stored_once() {
    let mut nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LABWIRE_CRASH_URL", nats.url())
        .env("LABWIRE_CRASH_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut receipts = Vec::new();
    let mut next_line = || loop {
        let line = lines.next().expect("child ended early").unwrap();
        // libtest may print its own text before ours on the same line.
        if let Some(at) = line.find("LABWIRE ") {
            return line[at + "LABWIRE ".len()..].to_owned();
        }
    };
    // Phase 1: the bus is up, events go straight to JetStream.
    loop {
        let line = next_line();
        if line == "phase1-done" {
            break;
        }
        receipts.push(line.strip_prefix("receipt ").unwrap().to_owned());
    }
    // Phase 2: the bus is gone, events are spooled.
    nats.kill();
    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    while receipts.len() < EVENTS as usize {
        let line = next_line();
        receipts.push(line.strip_prefix("receipt ").unwrap().to_owned());
    }
    // Crash right after the last receipt, before any instrument ACK went out.
    child.kill().unwrap();
    child.wait().unwrap();

    let events: Vec<_> = (0..EVENTS)
        .map(|n| result_event("cobas-1", n, 300))
        .collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(receipts, expected);

    // A new instance on the same spool file drains what the dead one spooled.
    nats.restart().unwrap();
    let router = ready_router(&nats.url(), dir.path()).await;
    wait_for(Duration::from_secs(10), || router.spool().is_empty()).await;
    assert_eq!(
        router.stats().snapshot().drained,
        u64::from(EVENTS - DIRECT)
    );
    // Every instrument retransmits its last, unacknowledged message; the stream keeps one copy.
    let ingest = router.ingest();
    for ev in &events {
        let r = ingest.submit(vec![ev.clone()]).await.unwrap();
        assert_eq!(r.deduplicated(), 1);
    }
    let ids: Vec<String> = stream_ids(&nats.url()).await.into_values().collect();
    assert_eq!(ids, expected);
}

/// Runs in the child process only (see the module docs).
#[tokio::test]
#[ignore = "helper process of router_sigkilled_after_receipts_loses_nothing…; run by that test"]
async fn crash_child_helper() {
    let url = std::env::var("LABWIRE_CRASH_URL").expect("run by the crash test only");
    let dir = std::path::PathBuf::from(std::env::var("LABWIRE_CRASH_DIR").unwrap());
    let router = ready_router(&url, &dir).await;
    let ingest = router.ingest();
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LABWIRE {line}").unwrap();
        out.flush().unwrap();
    };
    for n in 0..EVENTS {
        if n == DIRECT {
            say("phase1-done".into());
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).unwrap();
        }
        let ev = result_event("cobas-1", n, 300);
        let receipt = ingest.submit(vec![ev.clone()]).await.unwrap();
        if n < DIRECT {
            assert_eq!(receipt.published(), 1);
        } else {
            assert_eq!(receipt.spooled(), 1);
        }
        say(format!("receipt {}", ev.id));
    }
    // Wait to be killed.
    tokio::time::sleep(Duration::from_secs(60)).await;
}
