//! Keeping NATS credentials out of logs and printed output (docs/config.md, "Secrets").
//!
//! A `nats.url` may carry credentials in its user-info part (`nats://user:password@host`,
//! `nats://token@host`). [`redact_url`] is the only form of the URL that labwire logs, prints or
//! puts in an error; [`NatsConfig::plaintext_secret_warning`] names a secret that would cross the
//! network unencrypted.

use super::model::{NatsAuth, NatsConfig};

/// What replaces a password or token.
pub const REDACTED: &str = "***";

/// The URL list with every password or token replaced by [`REDACTED`]; the user name stays
/// (`nats://ops:***@10.0.0.5:4222`, `nats://***@host`).
pub fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(redact_one)
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_one(url: &str) -> String {
    let Some((userinfo, _)) = split_userinfo(url) else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    // The user-info ends at the authority's last `@` (a password may itself contain `@`).
    let Some(after) = rest.trim_start().get(userinfo.len() + 1..) else {
        return url.to_owned();
    };
    let hidden = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:{REDACTED}"),
        None => REDACTED.to_owned(),
    };
    // Keep the text before the scheme (whitespace after a comma) as written.
    let lead = &url[..url.len() - url.trim_start().len()];
    let scheme = scheme.trim_start();
    format!("{lead}{scheme}://{hidden}@{after}")
}

/// The user-info and host:port part of one URL, when it has user-info.
fn split_userinfo(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@')
}

/// The host of one URL (without user-info, port or brackets).
fn host_of(url: &str) -> &str {
    let url = url.trim();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_encrypted(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("tls://") || url.starts_with("wss://")
}

impl NatsConfig {
    /// `nats.url` with passwords and tokens replaced by [`REDACTED`]: the form to log or print.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// A warning when a password or token (in `nats.url` or `nats.password` / `nats.token`)
    /// would be sent unencrypted to a host other than loopback: no `[nats.tls]` and a
    /// `nats://` or `ws://` URL. Names the host, never the secret.
    pub fn plaintext_secret_warning(&self) -> Option<String> {
        if self.tls.is_some() {
            return None;
        }
        let config_secret = matches!(
            self.auth,
            NatsAuth::UserPassword { .. } | NatsAuth::Token(_)
        );
        let exposed: Vec<&str> = self
            .url
            .split(',')
            .filter(|u| !is_encrypted(u))
            .filter(|u| config_secret || split_userinfo(u).is_some())
            .map(host_of)
            .filter(|h| !is_loopback(h))
            .collect();
        if exposed.is_empty() {
            return None;
        }
        Some(format!(
            "nats: a password or token would be sent unencrypted to {} (not loopback); use a tls:// URL or [nats.tls]",
            exposed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_and_tokens_are_replaced_user_names_and_hosts_stay() {
        assert_eq!(
            redact_url("nats://ops:s3cret@10.0.0.5:4222"),
            "nats://ops:***@10.0.0.5:4222"
        );
        assert_eq!(
            redact_url("tls://tok3n@nats.lab:4222"),
            "tls://***@nats.lab:4222"
        );
        assert_eq!(
            redact_url("nats://a:p1@h1:4222, nats://b:p2@h2:4222"),
            "nats://a:***@h1:4222, nats://b:***@h2:4222"
        );
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        // An `@` in the password itself.
        assert_eq!(redact_url("nats://u:p@ss@h:1"), "nats://u:***@h:1");
    }

    #[test]
    fn hosts_are_found_behind_user_info_ports_and_brackets() {
        assert_eq!(host_of("nats://u:p@host:4222"), "host");
        assert_eq!(host_of("nats://[::1]:4222"), "::1");
        assert_eq!(host_of(" tls://10.1.2.3"), "10.1.2.3");
        assert!(is_loopback("::1") && is_loopback("127.0.0.2") && is_loopback("LOCALHOST"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
