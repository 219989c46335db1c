//! The command line reads durations with the site config's grammar (`router/src/config/units.rs`):
//! one parser, the same units (`ms`, `s`, `m`/`min`, `h`, `d`, `w`, combined as in `1m30s`), and a
//! bare number refused with the same message a config file gets.

use std::process::{Command, Output};

fn labwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labwire"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `--faults gremlins` is checked after the arguments are parsed: reaching that error proves the
/// duration was accepted, without starting anything.
#[test]
fn config_style_durations_are_accepted_on_the_command_line() {
    for d in ["1m30s", "2min", "1h 30m", "500ms", "1w"] {
        let out = labwire(&["demo", "--duration", d, "--faults", "gremlins"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{d}: {err}");
        assert!(err.contains("gremlins"), "{d} refused: {err}");
    }
}

#[test]
fn a_bare_number_is_refused_as_in_the_config() {
    for args in [
        ["demo", "--duration", "5"],
        ["demo", "--drain-timeout", "60"],
        ["sim", "--verify-timeout", "10"],
    ] {
        let out = labwire(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("add a unit"), "{args:?}: {err}");
    }
}

#[test]
fn unknown_units_and_fractions_name_the_grammar() {
    for d in ["5 parsecs", "1.5s", "-1s"] {
        let out = labwire(&["sim", &format!("--duration={d}")]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{d}: {err}");
        assert!(err.contains("invalid duration"), "{d}: {err}");
    }
}
