#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every class of site-config error is reported with the line and column of the offending key
//! or value, and all errors in a file are reported together.

use labwire_router::config::SiteConfig;

/// `(line, column, message)` of every error, in file order.
fn errors(text: &str) -> Vec<(usize, usize, String)> {
    let errs = SiteConfig::from_toml_str(text, "site.toml").expect_err("config should be rejected");
    errs.iter()
        .map(|e| (e.line, e.column, e.message.clone()))
        .collect()
}

fn lines(text: &str) -> Vec<usize> {
    errors(text).into_iter().map(|(l, _, _)| l).collect()
}

fn assert_one(text: &str, line: usize, column: usize, needle: &str) {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let (l, c, m) = &errs[0];
    assert_eq!((*l, *c), (line, column), "{m}");
    assert!(m.contains(needle), "{m:?} should contain {needle:?}");
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let text = "site = \"site-a\"\n[nats]\nurl = \"nats://x:4222\n";
    let errs = errors(text);
    assert!(!errs.is_empty());
    assert_eq!(errs[0].0, 3, "{errs:?}");
}

#[test]
fn display_is_file_line_column_message() {
    let text = "site = \"site-a\"\n\n[[instrument]]\nid = \"Cobas.1\"\nprotocol = \"astm\"\nlisten = \"0.0.0.0:5001\"\n";
    let errs = SiteConfig::from_toml_str(text, "site.toml").unwrap_err();
    let shown = errs.to_string();
    assert!(
        shown.starts_with("site.toml:4:6: instrument id \"Cobas.1\" has 'C' at position 0"),
        "{shown}"
    );
}

#[test]
fn an_unknown_top_level_key_is_named() {
    assert_one(
        "site = \"site-a\"\nsitte = 1\n",
        2,
        1,
        "unknown key `sitte`",
    );
}

#[test]
fn an_unknown_key_in_a_section_is_named() {
    let text = "site = \"site-a\"\n[nats]\nurl = \"nats://127.0.0.1:4222\"\nusername = \"x\"\n";
    assert_one(text, 4, 1, "unknown field `username`");
}

#[test]
fn an_unknown_key_in_an_instrument_is_named() {
    let text = r#"site = "site-a"

[[instrument]]
id = "c311"
protocol = "astm"
listen = "0.0.0.0:5001"
baudrate = 9600
"#;
    assert_one(text, 7, 1, "unknown field `baudrate`");
}

#[test]
fn bad_site_and_instrument_ids_are_reported_at_the_value() {
    let text = r#"site = "Site A"
[[instrument]]
id = "cobas.1"
protocol = "astm"
listen = "0.0.0.0:5001"
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!((errs[0].0, errs[0].1), (1, 8));
    assert!(errs[0].2.contains("\"Site A\""), "{}", errs[0].2);
    assert_eq!((errs[1].0, errs[1].1), (3, 6));
    assert!(errs[1].2.contains("\"cobas.1\""), "{}", errs[1].2);
}

#[test]
fn a_missing_site_is_reported() {
    assert_one(
        "[nats]\nurl = \"nats://127.0.0.1:4222\"\n",
        1,
        1,
        "missing `site",
    );
}

#[test]
fn duplicate_instrument_ids_point_at_the_second_and_name_the_first() {
    let text = r#"site = "site-a"
[[instrument]]
id = "c311"
protocol = "astm"
listen = "0.0.0.0:5001"
[[instrument]]
id = "c311"
protocol = "hl7"
listen = "0.0.0.0:5002"
"#;
    assert_one(
        text,
        7,
        6,
        "duplicate instrument id \"c311\" (first defined on line 3)",
    );
}

#[test]
fn clashing_listen_addresses_are_reported() {
    let text = r#"site = "site-a"
[[instrument]]
id = "a"
protocol = "astm"
listen = "0.0.0.0:5001"
[[instrument]]
id = "b"
protocol = "hl7"
listen = "10.0.0.5:5001"
[[instrument]]
id = "c"
protocol = "hl7"
listen = "127.0.0.1:9464"
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!((errs[0].0, errs[0].1), (9, 10));
    assert!(
        errs[0]
            .2
            .contains("clashes with 0.0.0.0:5001 of a on line 5"),
        "{}",
        errs[0].2
    );
    assert_eq!(errs[1].0, 13);
    assert!(errs[1].2.contains("metrics endpoint"), "{}", errs[1].2);
}

#[test]
fn an_instrument_needs_exactly_one_transport() {
    let none = "site = \"site-a\"\n[[instrument]]\nid = \"a\"\nprotocol = \"astm\"\n";
    assert_one(none, 2, 1, "no transport");
    let two = "site = \"site-a\"\n[[instrument]]\nid = \"a\"\nprotocol = \"astm\"\nlisten = \"0.0.0.0:5001\"\nserial = \"/dev/ttyS0\"\n";
    assert_one(two, 6, 10, "`serial` given together with `listen`");
}

#[test]
fn protocol_and_transport_must_fit() {
    let text = r#"site = "site-a"
[[instrument]]
id = "ba400"
protocol = "hl7"
serial = "/dev/ttyS0"
[[instrument]]
id = "fridge"
protocol = "modbus"
listen = "0.0.0.0:502"
profile = "fridge-generic"
[[instrument]]
id = "fridge-rtu"
protocol = "modbus"
serial = "/dev/ttyS1"
profile = "fridge-generic"
"#;
    let errs = errors(text);
    assert_eq!(lines(text), [5, 9], "{errs:#?}");
    assert!(errs[0].2.contains("protocol hl7 cannot use `serial`"));
    assert!(errs[1].2.contains("protocol modbus cannot use `listen`"));
}

#[test]
fn serial_settings_on_a_tcp_instrument_are_refused() {
    let text = "site = \"site-a\"\n[[instrument]]\nid = \"a\"\nprotocol = \"astm\"\nlisten = \"0.0.0.0:5001\"\nbaud = 9600\n";
    assert_one(text, 6, 8, "`baud` applies only to `serial` instruments");
    let text = "site = \"site-a\"\n[[instrument]]\nid = \"a\"\nprotocol = \"astm\"\nconnect = \"10.0.0.1:5001\"\nallow_peers = [\"10.0.0.1\"]\n";
    assert_one(
        text,
        6,
        15,
        "`allow_peers` applies only to `listen` instruments",
    );
}

#[test]
fn limits_out_of_range_are_reported_with_the_range() {
    let text = r#"site = "site-a"
[spool]
max_events = 0
[[instrument]]
id = "a"
protocol = "astm"
serial = "/dev/ttyS0"
data_bits = 9
max_frame_bytes = "1GiB"
[instrument.astm]
sender_timer = "10m"
"#;
    let errs = errors(text);
    assert_eq!(lines(text), [3, 8, 9, 9, 11], "{errs:#?}");
    assert!(
        errs[0]
            .2
            .contains("spool.max_events = 0 is out of range; allowed 1 to")
    );
    assert!(
        errs[1]
            .2
            .contains("data_bits = 9 is out of range; allowed 5 to 8")
    );
    assert!(
        errs[2]
            .2
            .contains("max_frame_bytes = 1073741824 (1GiB) is out of range")
    );
    assert!(errs[3].2.contains("smaller than max_frame_bytes"));
    assert!(
        errs[4]
            .2
            .contains("sender_timer = \"10m\" is out of range; allowed 1s to 2m")
    );
}

#[test]
fn a_duration_without_a_unit_is_refused() {
    let text = "site = \"site-a\"\n[ingest]\ndeadline = 5\n";
    assert_one(text, 3, 12, "needs a unit");
    let text = "site = \"site-a\"\n[ingest]\ndeadline = \"5 parsecs\"\n";
    assert_one(text, 3, 12, "unknown unit");
}

#[test]
fn wrong_value_types_and_enum_values_are_reported() {
    let text = r#"site = "site-a"
[[instrument]]
id = "a"
protocol = "astm"
listen = "0.0.0.0:5001"
charset = "latin9"
[[instrument]]
id = "b"
protocol = "dicom"
listen = "0.0.0.0:5002"
[[instrument]]
id = "c"
protocol = "astm"
listen = 5003
"#;
    let errs = errors(text);
    assert_eq!(lines(text), [6, 9, 14], "{errs:#?}");
    assert!(errs[0].2.contains("latin9"), "{}", errs[0].2);
    assert!(errs[1].2.contains("dicom"), "{}", errs[1].2);
}

#[test]
fn every_instrument_is_checked_even_after_an_error() {
    let text = r#"site = "site-a"
[[instrument]]
id = "a"
protocol = "astm"
listen = "0.0.0.0:5001"
colour = "red"
[[instrument]]
id = "B"
protocol = "astm"
listen = "0.0.0.0:5002"
[[instrument]]
id = "c"
protocol = "astm"
listen = "not-an-address"
[[instrument]]
id = "d"
protocol = "hl7"
connect = "10.0.0.9"
[stream]
duplicate_window = "1h"
max_age = "30m"
"#;
    let errs = errors(text);
    assert_eq!(lines(text), [6, 8, 14, 18, 20], "{errs:#?}");
}

#[test]
fn the_ingest_deadline_must_fit_inside_the_astm_sender_timer() {
    let text = r#"site = "site-a"
[ingest]
deadline = "20s"
[[instrument]]
id = "c311"
protocol = "astm"
listen = "0.0.0.0:5001"
"#;
    assert_one(text, 3, 12, "shorter than the 15s ASTM sender timer");
    // Without ASTM instruments a longer deadline is fine.
    let text = text.replace("\"astm\"", "\"hl7\"");
    assert!(SiteConfig::from_toml_str(&text, "site.toml").is_ok());
}

#[test]
fn nats_credentials_must_be_one_method_and_complete() {
    let text = r#"site = "site-a"
[nats]
url = "http://127.0.0.1:4222"
creds_file = "/etc/a.creds"
token = "t"
user = "u"
[nats.tls]
cert_file = "/etc/c.pem"
"#;
    let errs = errors(text);
    assert_eq!(lines(text), [3, 5, 6, 8], "{errs:#?}");
    assert!(errs[0].2.contains("not a NATS URL"));
    assert!(
        errs[1]
            .2
            .contains("`token` given together with `creds_file`")
    );
    assert!(
        errs[2]
            .2
            .contains("nats.user is set but neither nats.password nor nats.password_file is")
    );
    assert!(errs[3].2.contains("cert_file needs nats.tls.key_file"));
}

#[test]
fn protocol_options_for_another_protocol_are_refused() {
    let text = r#"site = "site-a"
[[instrument]]
id = "a"
protocol = "hl7"
listen = "0.0.0.0:2575"
[instrument.astm]
sender_timer = "15s"
"#;
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0]
            .2
            .contains("[instrument.astm] settings given for a hl7 instrument")
    );
    assert!(errs[0].0 == 6 || errs[0].0 == 7, "{errs:?}");
}

#[test]
fn instrument_must_be_an_array_of_tables() {
    let text = "site = \"site-a\"\n[instrument]\nid = \"a\"\n";
    assert_one(text, 2, 2, "write [[instrument]]");
}

#[test]
fn every_truncation_and_byte_flip_of_the_example_is_reported_without_panicking() {
    let example = include_str!("../../deploy/site.example.toml");
    let line_count = example.lines().count() + 1;
    let check = |text: &str| {
        if let Err(errs) = SiteConfig::from_toml_str(text, "cut.toml") {
            assert!(!errs.is_empty());
            for e in &errs {
                assert!(e.line >= 1 && e.line <= line_count, "{e}");
                assert!(e.column >= 1, "{e}");
                assert!(!e.message.is_empty());
            }
        }
    };
    for cut in (0..example.len())
        .step_by(5)
        .filter(|i| example.is_char_boundary(*i))
    {
        check(&example[..cut]);
    }
    // Replace single ASCII bytes with characters that break TOML or the schema.
    for (i, b) in example.bytes().enumerate().step_by(11) {
        if !b.is_ascii() {
            continue;
        }
        for replacement in ["\"", "=", "[", "\n", "x", "9", "."] {
            let mut text = example.to_owned();
            text.replace_range(i..i + 1, replacement);
            check(&text);
        }
    }
}

#[test]
fn a_secret_is_given_inline_or_in_a_file_not_both() {
    let text = r#"site = "site-a"
[nats]
user = "labwire"
password = "pw"
password_file = "/run/secrets/nats-password"
"#;
    assert_one(
        text,
        5,
        17,
        "nats.password_file given together with nats.password (line 4)",
    );
    let text = "site = \"site-a\"\n[nats]\ntoken = \"t\"\ntoken_file = \"/run/secrets/t\"\n";
    assert_one(
        text,
        4,
        14,
        "nats.token_file given together with nats.token (line 3)",
    );
}

#[test]
fn several_mistakes_in_one_instrument_are_all_reported() {
    let text = r#"site = "site-a"
[[instrument]]
id = "c311"
protocl = "astm"
listen = "0.0.0.0:5001"
charset = "latin9"
baudrate = 9600
[instrument.astm]
sender_timer = 15
[nats]
urll = "nats://x:4222"
ping_interval = "fast"
"#;
    let errs = errors(text);
    assert_eq!(lines(text), [4, 6, 7, 9, 11, 12], "{errs:#?}");
    assert!(errs[0].2.contains("unknown field `protocl`"));
    assert!(errs[1].2.contains("latin9"));
    assert!(errs[2].2.contains("unknown field `baudrate`"));
    assert!(errs[4].2.contains("unknown field `urll`"));
    assert!(
        errs[5].2.contains("unknown unit") || errs[5].2.contains("fast"),
        "{}",
        errs[5].2
    );
}

#[test]
fn an_astm_listener_serves_one_session_at_a_time() {
    assert_one(
        "site = \"site-a\"\n[[instrument]]\nid = \"a\"\nprotocol = \"astm\"\nlisten = \"127.0.0.1:5001\"\nmax_connections = 2\n",
        6,
        19,
        "applies only to hl7 listeners",
    );
}
