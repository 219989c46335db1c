//! Mutual TLS against the shipped broker example (`deploy/mosquitto/`), run by a real mosquitto
//! with certificates generated here: the right site gets through; a certificate from another
//! CA or an expired one is refused and reported; a site cannot publish under another site.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{FixedProbe, Pki, Recorder, config, until};
use labwire_tests::Mosquitto;
use labwire_uplink::broker::{TlsFiles, client_tls};
use labwire_uplink::service::start;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

const CONF: &str = include_str!("../../deploy/mosquitto/labwire-hub.conf");
const ACL: &str = include_str!("../../deploy/mosquitto/acl");

/// The shipped config with the listener on the test port and the files in the broker's dir.
/// mosquitto started as root drops to its own user, so the dir and files are made readable.
fn hub_broker(pki_dir: &Path) -> Mosquitto {
    let pki_dir = pki_dir.to_path_buf();
    Mosquitto::start_with(move |port, dir| {
        for f in ["hub-ca.pem", "server.pem", "server.key"] {
            std::fs::copy(pki_dir.join(f), dir.join(f)).unwrap();
        }
        std::fs::rename(dir.join("hub-ca.pem"), dir.join("ca.pem")).unwrap();
        std::fs::write(dir.join("acl"), ACL).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for f in ["ca.pem", "server.pem", "server.key", "acl"] {
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        CONF.replace("listener 8883", &format!("listener {port} 127.0.0.1"))
            .replace("/etc/mosquitto/labwire", &dir.display().to_string())
    })
    .unwrap()
}

fn files(pki: &Pki, ca: &str, (cert, key): (std::path::PathBuf, std::path::PathBuf)) -> TlsFiles {
    TlsFiles {
        ca: pki.ca_path(ca),
        cert,
        key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_the_right_site_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Pki::new(dir.path(), "hub");
    let rogue = Pki::new(dir.path(), "rogue");
    hub.issue("server", "hub.example.org", true, false);
    let broker = hub_broker(dir.path());
    let url = format!("mqtts://127.0.0.1:{}", broker.port());

    let reader = files(&hub, "hub", hub.issue("reader", "hub-reader", false, false));
    let recorder = Recorder::start(broker.port(), Some(Arc::new(client_tls(&reader).unwrap())));
    until("the hub reader to subscribe", || recorder.subscribed() >= 1).await;

    // Refused: a client certificate from another CA, and an expired one from the hub's CA.
    let shutdown = CancellationToken::new();
    let mut refused = Vec::new();
    for (name, tls) in [
        (
            "other-ca",
            files(
                &hub,
                "hub",
                rogue.issue("rogue-site", "lab-rogue", false, false),
            ),
        ),
        (
            "expired",
            files(
                &hub,
                "hub",
                hub.issue("expired", "lab-expired", false, true),
            ),
        ),
    ] {
        let outbox = dir.path().join(format!("{name}.db"));
        let site = format!("lab-{name}");
        let up = start(
            config(&site, &url, &outbox, Some(tls)),
            Arc::new(FixedProbe),
            shutdown.clone(),
        )
        .await
        .unwrap();
        refused.push(up);
    }
    // A site certificate for lab-south used by a labwire configured as lab-north: it connects,
    // but the ACL drops everything it publishes under labwire/lab-north/.
    let south = files(&hub, "hub", hub.issue("south", "lab-south", false, false));
    let impostor = start(
        config(
            "lab-north",
            &url,
            &dir.path().join("impostor.db"),
            Some(south),
        ),
        Arc::new(FixedProbe),
        shutdown.clone(),
    )
    .await
    .unwrap();
    for up in &refused {
        until("two refused connection attempts", || {
            up.stats.connect_failures.load(Ordering::Relaxed) >= 2
        })
        .await;
        assert!(!up.stats.connected.load(Ordering::Relaxed));
        assert_eq!(up.stats.sent.load(Ordering::Relaxed), 0);
    }
    until(
        "the impostor's publishes to be acknowledged (and dropped by the ACL)",
        || impostor.stats.sent.load(Ordering::Relaxed) >= 2,
    )
    .await;

    // The right site: its certificate's CN is its site id.
    let east = files(&hub, "hub", hub.issue("east", "lab-east", false, false));
    let up = start(
        config("lab-east", &url, &dir.path().join("east.db"), Some(east)),
        Arc::new(FixedProbe),
        shutdown.clone(),
    )
    .await
    .unwrap();
    until("lab-east's heartbeat at the hub", || {
        recorder
            .snapshot()
            .iter()
            .any(|s| s.topic == "labwire/lab-east/heartbeat")
    })
    .await;
    assert!(up.stats.connected.load(Ordering::Relaxed));
    let topics: Vec<String> = recorder
        .snapshot()
        .iter()
        .map(|s| s.topic.clone())
        .collect();
    assert!(
        topics.iter().all(|t| t.starts_with("labwire/lab-east/")),
        "only lab-east got through: {topics:?}"
    );
    shutdown.cancel();
}
