//! Runs the third-party Python peers (python-hl7, python-astm) that `scripts/install-deps`
//! installs into `.venv-interop/` at the workspace root (pymodbus, also there, is run by the root
//! package's `tests/cli/modbus_interop.rs`).
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The virtualenv's interpreter; fails the test (never skips it) when it is missing.
pub fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv-interop").join("bin").join("python");
    assert!(
        python.is_file(),
        "the interop peers are not installed ({} is missing): run scripts/install-deps",
        python.display()
    );
    python
}

/// A peer script in this directory.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
        .join(name)
}

/// Runs `script` with `args`, feeding it `stdin`; returns its stdout, failing the test with its
/// stderr when it exits non-zero or takes longer than `limit`.
pub async fn run(name: &str, args: &[&str], stdin: &[u8], limit: Duration) -> String {
    let mut child = Command::new(python())
        .arg(script(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Python peer");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {limit:?}"))
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{}\nstdout: {stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// [`run`] for a script that prints one JSON value.
pub async fn run_json(name: &str, args: &[&str], stdin: &[u8], limit: Duration) -> Value {
    let out = run(name, args, stdin, limit).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name} printed no JSON ({e}): {out}"))
}

/// The text of a JSON string value (panics with the whole value otherwise).
pub fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}
