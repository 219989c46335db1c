//! The `labwire` command line.
fn main() {}
