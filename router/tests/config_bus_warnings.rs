#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `check-config`'s bus warning: an instrument allowed to send more than the bus stores.

use labwire_router::config::*;

fn site(hl7_max_message: Option<&str>) -> SiteConfig {
    let limit = hl7_max_message
        .map(|m| format!("max_message_bytes = \"{m}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "site = \"site-a\"\n[nats]\nurl = \"nats://127.0.0.1:4222\"\n[storage]\npath = \"l.db\"\n\
         [[instrument]]\nid = \"ba400-1\"\nprotocol = \"hl7\"\nlisten = \"0.0.0.0:2575\"\n{limit}"
    );
    SiteConfig::from_toml_str(&text, "site.toml").unwrap()
}

#[test]
fn the_default_message_limit_is_more_than_a_default_nats_server_stores() {
    // 4 MiB allowed by default; a default nats-server takes 1 MiB per publish.
    let warnings = site(None).bus_warnings(1 << 20);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("ba400-1"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("max_message_bytes 4MiB"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("max_payload 1MiB"), "{}", warnings[0]);
}

#[test]
fn a_message_limit_well_under_max_payload_is_quiet() {
    assert_eq!(
        site(Some("512KiB")).bus_warnings(1 << 20),
        Vec::<String>::new()
    );
    assert_eq!(site(None).bus_warnings(8 << 20), Vec::<String>::new());
}

#[test]
fn a_message_limit_equal_to_max_payload_still_warns() {
    // The event around the message (ids, parsed fields, JSON escaping of raw) needs room too.
    assert_eq!(site(Some("1MiB")).bus_warnings(1 << 20).len(), 1);
}
