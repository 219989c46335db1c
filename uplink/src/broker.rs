//! Where the hub's broker is and how to reach it: `mqtts://` with mutual TLS, or `mqtt://` to a
//! loopback address only (tests, a local bridge). The edge only ever connects out.

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The MQTT packet limit, both ways (rumqttc's default is 10 KiB; a `health` record of a large
/// site is bigger). Records over [`crate::outbox::MAX_RECORD_BYTES`] are refused before this.
pub const MAX_PACKET_BYTES: usize = 256 * 1024;
/// Keep-alive ping interval.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Why a broker address or TLS file was refused.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Not `mqtt://host:port` or `mqtts://host:port`.
    #[error("uplink url must be mqtts://HOST:PORT (or mqtt://HOST:PORT to a loopback address)")]
    BadUrl,
    /// `mqtt://` to a host that is not loopback.
    #[error("mqtt:// (no TLS) is only allowed to a loopback address; use mqtts://")]
    PlainToRemote,
    /// `mqtts://` without the three TLS files.
    #[error("mqtts:// needs ca, cert and key files")]
    MissingTls,
    /// A TLS file could not be read or parsed.
    #[error("uplink {what} {path}: {reason}")]
    TlsFile {
        /// `ca`, `cert` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the combination (e.g. the key does not match the certificate).
    #[error("uplink TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// A parsed broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether TLS is used (`mqtts://`).
    pub tls: bool,
}

impl BrokerUrl {
    /// Parses `mqtts://host:port` or `mqtt://host:port` (the latter only to loopback).
    pub fn parse(url: &str) -> Result<Self, BrokerError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(BrokerError::BadUrl);
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or(BrokerError::BadUrl)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| BrokerError::BadUrl)?;
        if host.is_empty() || host.contains(['/', '@', '?', '#']) || port == 0 {
            return Err(BrokerError::BadUrl);
        }
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !tls && !loopback {
            return Err(BrokerError::PlainToRemote);
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

/// The mutual-TLS files: the hub's CA, this site's certificate chain and its private key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) the broker's certificate must chain to.
    pub ca: PathBuf,
    /// This site's client certificate (chain), PEM.
    pub cert: PathBuf,
    /// This site's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

fn tls_file_err(
    what: &'static str,
    path: &Path,
) -> impl Fn(rustls::pki_types::pem::Error) -> BrokerError {
    let path = path.to_path_buf();
    move |e| BrokerError::TlsFile {
        what,
        path: path.clone(),
        reason: e.to_string(),
    }
}

/// Builds the rustls client configuration (ring provider, TLS 1.2 and 1.3, the given CA only,
/// client certificate authentication).
pub fn client_tls(files: &TlsFiles) -> Result<rustls::ClientConfig, BrokerError> {
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(&files.ca)
        .map_err(tls_file_err("ca", &files.ca))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_file_err("ca", &files.ca))?;
    if cas.is_empty() {
        return Err(BrokerError::TlsFile {
            what: "ca",
            path: files.ca.clone(),
            reason: "no certificate in the file".into(),
        });
    }
    for ca in cas {
        roots.add(ca)?;
    }
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(tls_file_err("cert", &files.cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_file_err("cert", &files.cert))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(tls_file_err("key", &files.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?)
}

/// The rumqttc options for `site`: client id `labwire-<site>`, QoS 1 publishing only, clean
/// session (the outbox, not the broker session, is the durable store), raised packet limit.
pub fn mqtt_options(
    site: &str,
    url: &BrokerUrl,
    tls: Option<&TlsFiles>,
    max_inflight: u16,
) -> Result<MqttOptions, BrokerError> {
    let mut o = MqttOptions::new(format!("labwire-{site}"), url.host.clone(), url.port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_inflight(max_inflight.max(1))
        .set_request_channel_capacity(usize::from(max_inflight.max(1)) * 2);
    if url.tls {
        let files = tls.ok_or(BrokerError::MissingTls)?;
        let config = client_tls(files)?;
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let u = BrokerUrl::parse("mqtts://hub.example.org:8883").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("hub.example.org", 8883, true)
        );
        assert!(BrokerUrl::parse("mqtt://127.0.0.1:1883").is_ok());
        assert!(BrokerUrl::parse("mqtt://[::1]:1883").is_ok());
        assert!(BrokerUrl::parse("mqtt://localhost:1883").is_ok());
        assert!(matches!(
            BrokerUrl::parse("mqtt://hub.example.org:1883"),
            Err(BrokerError::PlainToRemote)
        ));
        assert!(matches!(
            BrokerUrl::parse("mqtt://10.0.0.1:1883"),
            Err(BrokerError::PlainToRemote)
        ));
        for bad in [
            "http://x:1",
            "mqtts://x",
            "mqtts://:1",
            "mqtts://x:0",
            "mqtts://u@x:1",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
