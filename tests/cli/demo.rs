//! `labwire demo` end to end: a real nats-server (installed by scripts/install-deps), the
//! router, connectors and simulated instruments in the binary.

use std::process::{Command, Output};

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labwire"))
        .arg("demo")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The numbers of the summary line `sent=N delivered=N lost=N duplicates=N p50_ms=X p99_ms=Y`.
fn summary(out: &Output) -> Vec<(String, f64)> {
    let text = stdout(out);
    let last = text.lines().last().unwrap_or_default().to_owned();
    let fields: Vec<(String, f64)> = last
        .split(' ')
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {kv:?} in {last:?}"));
            (k.to_owned(), v.parse().unwrap())
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "sent",
            "delivered",
            "lost",
            "duplicates",
            "p50_ms",
            "p99_ms"
        ],
        "{last}"
    );
    fields
}

fn field(fields: &[(String, f64)], name: &str) -> f64 {
    fields.iter().find(|(k, _)| k == name).unwrap().1
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn with_every_fault_nothing_is_lost_or_duplicated() {
    let out = demo(&["--duration", "5s", "--faults", "all", "--rate", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let s = summary(&out);
    assert!(field(&s, "sent") > 0.0, "{}", explain(&out));
    assert_eq!(field(&s, "delivered"), field(&s, "sent"));
    assert_eq!(field(&s, "lost"), 0.0);
    assert_eq!(field(&s, "duplicates"), 0.0);
    // The faults really happened: the TOTAL line's FAULTS column.
    let text = stdout(&out);
    let total = text.lines().rfind(|l| l.starts_with("TOTAL")).unwrap();
    let cols: Vec<&str> = total.split_whitespace().collect();
    let faults: u64 = cols[cols.len() - 2].parse().unwrap();
    assert!(faults > 0, "{}", explain(&out));
}

#[test]
fn six_instruments_each_get_a_line_in_the_view() {
    let out = demo(&["--duration", "3s", "--instruments", "6"]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let text = stdout(&out);
    for (id, profile) in [
        ("c111-1", "cobas-c111"),
        ("xn-1", "sysmex-xn"),
        ("ba400-1", "ba400"),
        ("gx-1", "genexpert"),
        ("cl-1", "mindray-cl"),
        ("xl-1", "erba-xl"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no line for {id}: {}", explain(&out)));
        assert!(line.contains(profile), "{line}");
        // Every instrument sent and had acknowledged at least one message.
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(cols[3].parse::<u64>().unwrap() > 0, "{line}");
        assert_eq!(cols[3], cols[4], "sent = acked: {line}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("c111-2")),
        "6 instruments only"
    );
    let s = summary(&out);
    assert_eq!(field(&s, "lost"), 0.0);
}

#[test]
fn without_nats_server_it_says_how_to_get_one() {
    let empty = std::env::temp_dir().join(format!("labwire-demo-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args(["demo", "--duration", "1s"])
        .env("PATH", &empty)
        .env("LABWIRE_NATS_SERVER", "/nonexistent/nats-server")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir(&empty);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nats-server not found"), "{err}");
    assert!(err.contains("scripts/install-deps"), "{err}");
    assert!(err.contains("apt-get install nats-server"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unknown_fault_is_bad_usage() {
    let out = demo(&["--faults", "gremlins"]);
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gremlins"));
}
