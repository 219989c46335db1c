//! Coalescing plans and profile errors with line and column.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use labwire_modbus_map::limits::{DEFAULT_MAX_GAP, MAX_READ_REGISTERS};
use labwire_modbus_map::{ProfileErrors, Table, parse_profile, plan_reads};
use std::time::Duration;

fn dur(s: &str) -> Result<Duration, String> {
    s.strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .map(Duration::from_secs)
        .ok_or_else(|| format!("bad duration {s:?}"))
}

fn errors(text: &str) -> Vec<(usize, usize, String)> {
    match parse_profile(text, "p.toml", dur) {
        Err(ProfileErrors::Invalid(e)) => e
            .into_iter()
            .map(|e| (e.line, e.column, e.message))
            .collect(),
        other => panic!("expected errors, got {other:?}"),
    }
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_column() {
    let e = errors(
        "name = \"x\"\n[[point]]\nname = \"t\"\ntable = \"holding\"\naddress = 0\n  scael = 0.1\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].0, e[0].1), (6, 3));
    assert!(e[0].2.contains("unknown field `scael`"), "{}", e[0].2);
}

#[test]
fn semantic_errors_name_the_point_and_position() {
    let text = "name = \"x\"\n\
[[point]]\nname = \"a\"\ntable = \"coil\"\naddress = 0\ntype = \"f32\"\n\
[[point]]\nname = \"b\"\ntable = \"holding\"\naddress = 65535\ntype = \"u32\"\n\
[[point]]\nname = \"c\"\ntable = \"input\"\naddress = 3\nwritable = true\n\
[[point]]\nname = \"d\"\ntable = \"holding\"\naddress = 7\ntype = \"i16\"\ndeadband = -1.0\n";
    let e = errors(text);
    let lines: Vec<usize> = e.iter().map(|e| e.0).collect();
    assert_eq!(lines, vec![6, 10, 16, 22], "{e:?}");
    assert!(e[0].2.contains("type f32 does not fit table coil"));
    assert!(e[1].2.contains("address 65535"));
    assert!(e[2].2.contains("read-only"));
    assert!(e[3].2.contains("deadband"));
}

#[test]
fn overlapping_and_duplicate_points_are_refused() {
    let text = "name = \"x\"\n\
[[point]]\nname = \"a\"\ntable = \"holding\"\naddress = 0\ntype = \"u32\"\n\
[[point]]\nname = \"a\"\ntable = \"holding\"\naddress = 1\n";
    let e = errors(text);
    assert!(e.iter().any(|e| e.2.contains("defined twice")), "{e:?}");
    assert!(e.iter().any(|e| e.2.contains("overlaps")), "{e:?}");
}

fn profile_with(addresses: &[(&str, u32, &str)]) -> labwire_modbus_map::DeviceProfile {
    let mut text = String::from("name = \"x\"\n");
    for (i, (table, address, t)) in addresses.iter().enumerate() {
        text.push_str(&format!(
            "[[point]]\nname = \"p{i}\"\ntable = \"{table}\"\naddress = {address}\ntype = \"{t}\"\n"
        ));
    }
    parse_profile(&text, "p.toml", dur).unwrap()
}

#[test]
fn neighbours_coalesce_and_far_points_and_other_tables_do_not() {
    let p = profile_with(&[
        ("holding", 10, "u16"),
        ("holding", 0, "u16"),
        ("holding", 1, "u32"),
        ("holding", 100, "u16"),
        ("input", 2, "u16"),
        ("coil", 0, "bool"),
        ("coil", 5, "bool"),
    ]);
    let all: Vec<usize> = (0..p.points.len()).collect();
    let blocks = plan_reads(&p.points, &all, DEFAULT_MAX_GAP);
    let shape: Vec<(Table, u16, u16, Vec<usize>)> = blocks
        .iter()
        .map(|b| (b.table, b.start, b.count, b.points.clone()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (Table::Coil, 0, 6, vec![5, 6]),
            (Table::Input, 2, 1, vec![4]),
            (Table::Holding, 0, 11, vec![1, 2, 0]),
            (Table::Holding, 100, 1, vec![3]),
        ]
    );
    // Split after "illegal data address": one read per point.
    let split = blocks[2].split(&p.points);
    assert_eq!(
        split.iter().map(|b| (b.start, b.count)).collect::<Vec<_>>(),
        vec![(0, 1), (1, 2), (10, 1)]
    );
}

#[test]
fn a_read_never_exceeds_125_registers() {
    let addrs: Vec<(&str, u32, &str)> = (0..200).map(|i| ("holding", i * 2, "u32")).collect();
    let p = profile_with(&addrs);
    let all: Vec<usize> = (0..p.points.len()).collect();
    let blocks = plan_reads(&p.points, &all, DEFAULT_MAX_GAP);
    assert!(blocks.iter().all(|b| b.count <= MAX_READ_REGISTERS));
    assert_eq!(blocks.iter().map(|b| b.points.len()).sum::<usize>(), 200);
    // 400 registers in blocks of at most 125 whole u32 points (124 registers): 4 reads.
    assert_eq!(blocks.len(), 4);
}
