//! Shared helpers of the broker tests: a recorder subscribed to `#`, a fixed probe, an uplink
//! configuration, and certificates generated at test time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code
)]

use labwire_uplink::broker::{BrokerUrl, TlsFiles};
use labwire_uplink::build::InstrumentSnapshot;
use labwire_uplink::outbox::OutboxLimits;
use labwire_uplink::record::{EventCounts, LinkCounts, Protocol};
use labwire_uplink::service::{EdgeState, Probe, UplinkConfig};
use labwire_uplink::{InstrumentRef, SiteRef, Version};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One message the recorder saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub payload: Vec<u8>,
    pub at: Instant,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap()
    }
    pub fn kind(&self) -> String {
        self.json()["kind"].as_str().unwrap().to_owned()
    }
}

/// A subscriber on `#` (QoS 1, persistent session) that keeps everything it receives.
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connacks: Arc<Mutex<u32>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    pub fn start(port: u16, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let mut o = MqttOptions::new("recorder", "127.0.0.1", port);
        o.set_clean_session(false)
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_keep_alive(Duration::from_secs(5));
        if let Some(tls) = tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
        }
        let (client, mut eventloop) = AsyncClient::new(o, 16);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connacks = Arc::new(Mutex::new(0));
        let (s, c) = (Arc::clone(&seen), Arc::clone(&connacks));
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => *c.lock().unwrap() += 1,
                    Ok(Event::Incoming(Packet::Publish(p))) => s.lock().unwrap().push(Seen {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        at: Instant::now(),
                    }),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self {
            seen,
            connacks,
            task,
        }
    }

    pub fn snapshot(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn subscribed(&self) -> u32 {
        *self.connacks.lock().unwrap()
    }
}

/// Polls `cond` until it holds; fails after a minute (a positive signal, not a sleep).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A probe with one instrument and fixed counters.
pub struct FixedProbe;

impl Probe for FixedProbe {
    fn edge(&self) -> EdgeState {
        EdgeState {
            spool_depth: 0,
            bus_connected: true,
            instruments: 1,
        }
    }
    fn instruments(&self) -> Vec<InstrumentSnapshot> {
        vec![InstrumentSnapshot {
            instrument: InstrumentRef::new("c311").unwrap(),
            protocol: Protocol::Astm,
            link_up: true,
            alarm: false,
            events: EventCounts::default(),
            link: LinkCounts::default(),
            last_message_at: None,
        }]
    }
}

pub fn config(site: &str, url: &str, outbox: &Path, tls: Option<TlsFiles>) -> UplinkConfig {
    UplinkConfig {
        site: SiteRef::new(site).unwrap(),
        url: BrokerUrl::parse(url).unwrap(),
        tls,
        interval: Duration::from_secs(3600),
        outbox: outbox.to_path_buf(),
        limits: OutboxLimits::default(),
        drain_rate: 1000,
        max_inflight: 16,
        min_cell: 11,
        alert_fill_percent: 80,
        version: Version::new("0.1.0").unwrap(),
        config_hash: [7; 32],
    }
}

/// A CA, and certificates it signs, written as PEM files into a dir.
pub struct Pki {
    pub dir: PathBuf,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem()).unwrap();
        Self {
            dir: dir.to_path_buf(),
            ca,
        }
    }

    pub fn ca_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-ca.pem"))
    }

    /// Writes `<file>.pem` and `<file>.key`; `server` adds 127.0.0.1 as a SAN.
    pub fn issue(
        &self,
        file: &str,
        common_name: &str,
        server: bool,
        expired: bool,
    ) -> (PathBuf, PathBuf) {
        let sans = if server {
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()]
        } else {
            Vec::new()
        };
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}
