//! Modbus device keys of the site config (shared conventions §6): `unit`, `profile`, `poll`,
//! `[instrument.modbus]`, and profile errors reported with both files' positions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use labwire_router::config::{ProtocolSettings, SiteConfig};
use std::time::Duration;

fn errors(text: &str, name: &str) -> Vec<String> {
    SiteConfig::from_toml_str(text, name)
        .expect_err("config should be rejected")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_modbus_instrument_takes_unit_profile_and_poll() {
    let text = "site = \"site-a\"\n[[instrument]]\nid = \"fridge-3\"\nprotocol = \"modbus\"\nconnect = \"10.20.5.3:502\"\nunit = 7\nprofile = \"fridge-generic\"\npoll = \"2s\"\n[instrument.modbus]\ntimeout = \"300ms\"\nkeepalive = \"1m\"\n";
    let config = SiteConfig::from_toml_str(text, "site.toml").unwrap();
    let ProtocolSettings::Modbus(m) = &config.instruments[0].settings else {
        panic!("not modbus: {:?}", config.instruments[0].settings);
    };
    assert_eq!(m.unit, 7);
    assert_eq!(m.poll, Duration::from_secs(2));
    assert_eq!(m.timeout, Duration::from_millis(300));
    assert_eq!(m.keepalive, Duration::from_secs(60));
    assert_eq!(m.profile.profile.name, "fridge-generic");
    assert!(m.profile.profile.point("temperature").is_some());
}

#[test]
fn bad_units_missing_profiles_and_misplaced_keys_are_refused_with_positions() {
    let text = "site = \"site-a\"\n[[instrument]]\nid = \"f\"\nprotocol = \"modbus\"\nconnect = \"10.0.0.1:502\"\nunit = 248\nprofile = \"no-such-profile\"\n[[instrument]]\nid = \"c311\"\nprotocol = \"astm\"\nlisten = \"0.0.0.0:5001\"\npoll = \"5s\"\n[[instrument]]\nid = \"g\"\nprotocol = \"modbus\"\nconnect = \"10.0.0.2:502\"\n";
    let e = errors(text, "site.toml");
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(
        e.iter()
            .any(|m| m.starts_with("site.toml:15:12: a modbus instrument needs `profile`")),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with("site.toml:6:8: unit = 248")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m
                .starts_with("site.toml:7:11: profile \"no-such-profile\": no built-in profile")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("site.toml:12:8: `poll` applies only to modbus")),
        "{e:#?}"
    );
}

#[test]
fn a_profile_file_error_names_the_site_line_and_the_profile_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("my-fridge.toml"),
        "name = \"my-fridge\"\n[[point]]\nname = \"t\"\ntable = \"input\"\naddress = 0\nscael = 0.1\n",
    )
    .unwrap();
    let site = dir.path().join("site.toml");
    let text = "site = \"site-a\"\n[[instrument]]\nid = \"f\"\nprotocol = \"modbus\"\nconnect = \"10.0.0.1:502\"\nprofile = \"my-fridge.toml\"\n";
    let e = errors(text, &site.display().to_string());
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("site.toml:6:11: profile \"my-fridge.toml\": "),
        "{}",
        e[0]
    );
    assert!(
        e[0].contains("my-fridge.toml:6:1: unknown field `scael`"),
        "{}",
        e[0]
    );
}
