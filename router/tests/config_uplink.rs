#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! `[uplink]`: defaults from labwire-uplink, and errors with line and column.

use labwire_router::config::SiteConfig;
use std::time::Duration;

fn errors(text: &str) -> Vec<(usize, usize, String)> {
    let errs = SiteConfig::from_toml_str(text, "site.toml").expect_err("config should be rejected");
    errs.iter()
        .map(|e| (e.line, e.column, e.message.clone()))
        .collect()
}

#[test]
fn a_minimal_uplink_takes_the_documented_defaults() {
    let text = "site = \"lab-north\"\n[storage]\npath = \"data/spool.db\"\n[uplink]\n\
                url = \"mqtts://hub.example.org:8883\"\nca_file = \"ca.pem\"\n\
                cert_file = \"site.pem\"\nkey_file = \"site.key\"\n";
    let c = SiteConfig::from_toml_str(text, "site.toml").unwrap();
    let u = c.uplink.unwrap();
    assert_eq!(
        (u.url.host.as_str(), u.url.port, u.url.tls),
        ("hub.example.org", 8883, true)
    );
    // The defaults documented in docs/config.md.
    assert_eq!(u.interval, Duration::from_secs(60));
    assert_eq!(u.outbox, std::path::Path::new("data/outbox.db"));
    assert_eq!(u.outbox_max_bytes, 64 << 20);
    assert_eq!(u.outbox_max_age, Duration::from_secs(7 * 86_400));
    assert_eq!((u.drain_rate, u.max_inflight, u.min_cell), (20, 32, 11));
    assert!(
        SiteConfig::from_toml_str("site = \"a\"\n", "s")
            .unwrap()
            .uplink
            .is_none()
    );
}

#[test]
fn uplink_errors_name_line_and_column() {
    let e = errors("site = \"a\"\n[uplink]\nurl = \"mqtt://hub.example.org:1883\"\n");
    assert_eq!((e[0].0, e[0].1), (3, 7), "{e:?}");
    assert!(e[0].2.contains("loopback"), "{e:?}");

    let e = errors("site = \"a\"\n[uplink]\nurl = \"mqtts://hub:8883\"\n");
    assert_eq!((e[0].0, e[0].1), (3, 7), "{e:?}");
    assert!(e[0].2.contains("ca_file, cert_file and key_file"), "{e:?}");

    let e = errors("site = \"a\"\n[uplink]\nurl = \"mqtt://127.0.0.1:1883\"\nmin_cell = 3\n");
    assert_eq!((e[0].0, e[0].1), (4, 12), "{e:?}");
    assert!(
        e[0].2.contains("uplink.min_cell = 3 is out of range"),
        "{e:?}"
    );

    let e = errors("site = \"a\"\n[uplink]\nurl = \"mqtt://127.0.0.1:1883\"\nusername = \"x\"\n");
    assert_eq!(e[0].0, 4, "{e:?}");
    assert!(e[0].2.contains("username"), "{e:?}");
    assert_eq!(e.len(), 1, "{e:?}");

    let e = errors("site = \"a\"\n[uplink]\ninterval = \"30s\"\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, 2, "{e:?}");
    assert!(e[0].2.contains("needs url"), "{e:?}");
}
