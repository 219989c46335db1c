//! `labwire render` (conventions §9, docs/render.md): strict undefined values with template:line,
//! byte-for-byte determinism, the drift check, and every example site rendered and validated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `labwire render …` run from the repository root, so paths in messages are relative.
fn render(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labwire"))
        .current_dir(repo())
        .arg("render")
        .args(args)
        .output()
        .unwrap()
}

/// `labwire render TEMPLATES VALUES… --out OUT`.
fn render_to(templates: &Path, values: &[&Path], out: &Path) -> Output {
    let mut args: Vec<&str> = vec![templates.to_str().unwrap()];
    args.extend(values.iter().map(|v| v.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    render(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example_sites() -> Vec<String> {
    let mut sites: Vec<String> = std::fs::read_dir(repo().join("deploy/sites"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .map(|n| format!("deploy/sites/{n}"))
        .collect();
    sites.sort();
    sites
}

/// Every file below `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn write(dir: &Path, rel: &str, content: &str) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn a_missing_value_is_an_error_naming_template_line_and_variable_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    write(&templates, "ok.txt", "site {{ site }}\n");
    write(
        &templates,
        "k8s/app.yaml",
        "kind: ConfigMap\n# two\nnamespace: {{ kubernetes.namespace }}\n",
    );
    let values = write(tmp.path(), "lab-1.toml", "site = \"lab-1\"\n[kubernetes]\n");
    let out = tmp.path().join("out");
    let o = render_to(&templates, &[&values], &out);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let place = format!("{}:3:", templates.join("k8s").join("app.yaml").display());
    assert!(stderr.contains(&place), "{stderr}");
    assert!(
        stderr.contains("`kubernetes.namespace` is undefined"),
        "{stderr}"
    );
    assert!(stderr.contains("site lab-1"), "{stderr}");
    assert!(
        !out.exists(),
        "nothing may be written when a template fails"
    );
}

#[test]
fn strict_mode_also_refuses_iterating_or_testing_a_missing_value() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("t");
    write(
        &templates,
        "a",
        "{% for i in instruments %}{{ i }}{% endfor %}\n",
    );
    write(&templates, "b", "x\n{% if verbose %}on{% endif %}\n");
    let values = write(tmp.path(), "v.toml", "site = \"s\"\n");
    let o = render_to(&templates, &[&values], &tmp.path().join("o"));
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:1:", templates.join("a").display())),
        "{stderr}"
    );
    assert!(stderr.contains("`instruments` is undefined"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2:", templates.join("b").display())),
        "{stderr}"
    );
    assert!(stderr.contains("`verbose` is undefined"), "{stderr}");
}

#[test]
fn a_runaway_template_runs_out_of_fuel_instead_of_spinning() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("t");
    write(
        &templates,
        "loop",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}\n",
    );
    let values = write(tmp.path(), "v.toml", "site = \"s\"\n");
    let o = render_to(&templates, &[&values], &tmp.path().join("o"));
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("fuel"), "{stderr}");
}

#[test]
fn a_rendered_site_toml_is_validated_like_check_config() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("t");
    write(
        &templates,
        "site.toml",
        "site = \"{{ site }}\"\n\n[[instrument]]\nid = \"a\"\nprotocol = {{ protocol | toml }}\nlisten = \"0.0.0.0:5001\"\n",
    );
    let values = write(
        tmp.path(),
        "v.toml",
        "site = \"lab-2\"\nprotocol = \"astn\"\n",
    );
    let out = tmp.path().join("o");
    let o = render_to(&templates, &[&values], &out);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    // The rendered file's name and the line of the bad key (line 5 of the output).
    let place = format!("{}:5:", out.join("lab-2").join("site.toml").display());
    assert!(stderr.contains(&place), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn bad_values_files_are_refused_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("t");
    write(&templates, "a", "{{ site }}\n");
    let bad_id = write(tmp.path(), "bad.toml", "# c\nsite = \"Lab 3\"\n");
    let dup_a = write(tmp.path(), "a.toml", "site = \"same\"\n");
    let dup_b = write(tmp.path(), "b.toml", "site = \"same\"\n");
    let o = render_to(
        &templates,
        &[&bad_id, &dup_a, &dup_b],
        &tmp.path().join("o"),
    );
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2: `site`", bad_id.display())),
        "{stderr}"
    );
    assert!(stderr.contains("one values file per site"), "{stderr}");
    let usage = render(&[templates.to_str().unwrap(), dup_a.to_str().unwrap()]);
    assert_eq!(usage.status.code(), Some(2), "neither --out nor --check");
}

#[test]
fn rendering_is_deterministic_byte_for_byte_whatever_the_order_of_values_files() {
    let tmp = tempfile::tempdir().unwrap();
    let sites = example_sites();
    let mut reversed = sites.clone();
    reversed.reverse();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (dir, order) in [(&a, &sites), (&b, &reversed)] {
        let mut args = vec!["deploy/templates"];
        args.extend(order.iter().map(String::as_str));
        args.extend(["--out", dir.to_str().unwrap()]);
        let o = render(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    let (ta, tb) = (tree(&a), tree(&b));
    assert!(ta.len() >= 10, "{:?}", ta.keys());
    assert_eq!(ta, tb);
    // Rendering again over an existing tree replaces it with identical bytes.
    let mut args = vec!["deploy/templates"];
    args.extend(sites.iter().map(String::as_str));
    args.extend(["--out", a.to_str().unwrap()]);
    assert_eq!(render(&args).status.code(), Some(0));
    assert_eq!(tree(&a), tb);
}

#[test]
fn check_reports_changed_missing_and_extra_files_and_exits_1_on_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rendered");
    let site = "deploy/sites/hospital-west.toml";
    let run = |flag: &str| render(&["deploy/templates", site, flag, out.to_str().unwrap()]);
    assert_eq!(run("--out").status.code(), Some(0));
    let clean = run("--check");
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout));
    assert!(text(&clean.stdout).contains("up to date"));

    let site_dir = out.join("hospital-west");
    let toml = site_dir.join("site.toml");
    let original = std::fs::read_to_string(&toml).unwrap();
    let line = original
        .lines()
        .position(|l| l.starts_with("max_age"))
        .unwrap()
        + 1;
    std::fs::write(
        &toml,
        original.replace("max_age = \"30d\"", "max_age = \"7d\""),
    )
    .unwrap();
    std::fs::remove_file(site_dir.join("talos/node-patch.yaml")).unwrap();
    std::fs::write(site_dir.join("kubernetes/hand-edit.yaml"), "x: 1\n").unwrap();

    let drift = run("--check");
    let stdout = text(&drift.stdout);
    assert_eq!(drift.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("{}:{line}: differs", toml.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}: missing",
            site_dir.join("talos").join("node-patch.yaml").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}: not produced by the templates",
            site_dir.join("kubernetes").join("hand-edit.yaml").display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("drift in 3 files"), "{stdout}");
    // --check wrote nothing.
    assert!(std::fs::read_to_string(&toml).unwrap().contains("7d"));
}

#[test]
fn every_example_site_renders_validates_and_matches_the_committed_tree() {
    let sites = example_sites();
    assert!(sites.len() >= 3, "{sites:?}");
    let mut args = vec!["deploy/templates"];
    args.extend(sites.iter().map(String::as_str));
    args.extend(["--check", "deploy/rendered"]);
    let o = render(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "deploy/rendered is out of date; run labwire render deploy/templates deploy/sites/*.toml --out deploy/rendered\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    // Each committed site.toml passes check-config, run as its own process.
    for values in &sites {
        let site = Path::new(values).file_stem().unwrap().to_str().unwrap();
        let file = repo().join("deploy/rendered").join(site).join("site.toml");
        let check = Command::new(env!("CARGO_BIN_EXE_labwire"))
            .args(["check-config", "--quiet"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    }
}

/// The hardening directives of a unit: every `Key=` of [Service] that restricts the process.
fn hardening(unit: &str) -> BTreeSet<String> {
    const KEYS: &[&str] = &[
        "DynamicUser",
        "StateDirectory",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "ProtectProc",
        "ProcSubset",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "RemoveIPC",
        "RestrictAddressFamilies",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "SystemCallErrorNumber",
        "UMask",
        "Restart",
        "RestartSec",
        "ExecStart",
        "ExecStartPre",
    ];
    unit.lines()
        .filter(|l| KEYS.iter().any(|k| l.starts_with(&format!("{k}="))))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_packaged_unit_and_every_rendered_unit_carry_the_same_hardening() {
    let packaged = std::fs::read_to_string(repo().join("deploy/debian/labwire.service")).unwrap();
    let expected = hardening(&packaged);
    assert!(expected.contains("DynamicUser=yes"), "{expected:?}");
    assert!(expected.contains("ProtectSystem=strict"), "{expected:?}");
    let mut rendered = 0;
    for e in std::fs::read_dir(repo().join("deploy/rendered")).unwrap() {
        let unit = e.unwrap().path().join("systemd/labwire.service");
        if let Ok(text) = std::fs::read_to_string(&unit) {
            assert_eq!(hardening(&text), expected, "{}", unit.display());
            rendered += 1;
        }
    }
    assert!(rendered >= 1, "no example site renders a systemd unit");
}
