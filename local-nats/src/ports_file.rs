//! The ports file nats-server writes with `--ports_file_dir`: `<executable>_<pid>.ports`, JSON
//! such as `{"nats":["nats://127.0.0.1:36861"],"monitoring":[…]}` (`"nats"` holds the client
//! URLs).

use std::path::Path;

/// The client port in a ports file's text, or `None` when the text is not (yet) a complete
/// ports file: the server writes it non-atomically, so a half-written file is read again later.
pub fn parse_client_port(text: &str) -> Option<u16> {
    let after_key = text.split_once("\"nats\"")?.1;
    let list = after_key.trim_start().strip_prefix(':')?.trim_start();
    let list = list.strip_prefix('[')?;
    let (list, _) = list.split_once(']')?;
    let first = list.split(',').next()?.trim().strip_prefix('"')?;
    let url = first.strip_suffix('"')?;
    let (_, port) = url.rsplit_once(':')?;
    port.parse().ok().filter(|p| *p != 0)
}

/// The client port reported by the server with process id `pid` in `dir`, once its ports file
/// is complete.
pub(crate) fn read_client_port(dir: &Path, pid: u32) -> Option<u16> {
    let suffix = format!("_{pid}.ports");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))
        .and_then(|e| std::fs::read_to_string(e.path()).ok())
        .and_then(|text| parse_client_port(&text))
}

#[cfg(test)]
mod tests {
    use super::parse_client_port;

    #[test]
    fn reads_the_client_port_of_a_complete_file() {
        assert_eq!(
            parse_client_port(r#"{"nats":["nats://127.0.0.1:36861"]}"#),
            Some(36861)
        );
        assert_eq!(
            parse_client_port(
                r#"{"nats": ["nats://127.0.0.1:4333", "nats://[::1]:4333"], "monitoring": ["http://127.0.0.1:8222"]}"#
            ),
            Some(4333)
        );
    }

    #[test]
    fn a_partial_or_foreign_file_has_no_port() {
        for text in [
            "",
            "{",
            r#"{"nats":["nats://127.0.0.1:368"#,
            r#"{"nats":[]}"#,
            r#"{"monitoring":["http://127.0.0.1:8222"]}"#,
            r#"{"nats":["nats://127.0.0.1:0"]}"#,
            r#"{"nats":["nats://127.0.0.1:99999"]}"#,
        ] {
            assert_eq!(parse_client_port(text), None, "{text:?}");
        }
    }
}
