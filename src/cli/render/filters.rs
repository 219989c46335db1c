//! The filters a deployment template needs beyond jinja2's built-ins (docs/render.md):
//!
//! | filter | does |
//! |---|---|
//! | `cidr \| cidr_host(n)` | the n-th address of a network (`"10.20.0.0/24" \| cidr_host(5)` → `10.20.0.5`; negative counts from the end, -1 is the last address) |
//! | `cidr \| cidr_prefix` | the prefix length (`24`) |
//! | `cidr \| cidr_netmask` | the IPv4 netmask (`255.255.255.0`) |
//! | `cidr \| cidr_contains(ip)` | whether the address lies in the network |
//! | `ip \| ip_add(n)` | address arithmetic (`"10.0.0.1" \| ip_add(9)` → `10.0.0.10`) |
//! | `s \| b64encode` | standard base64 of the UTF-8 text (Kubernetes Secret `data`) |
//! | `v \| toml` | the value as a TOML literal: quoted string, number, boolean, array, inline table |
//! | `v \| yaml` | the value as a YAML flow scalar/collection (JSON syntax, double-quoted strings) |
//!
//! Networks must be written with their host bits zero (`10.20.0.0/24`, not `10.20.0.5/24`), so a
//! typo is an error rather than a silently different address. Every out-of-range result is an
//! error naming the filter and its arguments; none of them wraps around.

use base64::Engine as _;
use minijinja::{Environment, Error, ErrorKind, Value};
use std::net::IpAddr;

/// Adds the filters to an environment.
pub fn register(env: &mut Environment<'_>) {
    env.add_filter("cidr_host", cidr_host);
    env.add_filter("cidr_prefix", cidr_prefix);
    env.add_filter("cidr_netmask", cidr_netmask);
    env.add_filter("cidr_contains", cidr_contains);
    env.add_filter("ip_add", ip_add);
    env.add_filter("b64encode", b64encode);
    env.add_filter("toml", toml_literal);
    env.add_filter("yaml", yaml_literal);
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// A network: its first address as a number, the prefix length and the address width (32/128).
struct Network {
    base: u128,
    prefix: u32,
    bits: u32,
    v4: bool,
}

impl Network {
    fn parse(text: &str) -> Result<Self, Error> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| invalid(format!("`{text}` is not a network like 10.20.0.0/24")))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| invalid(format!("`{text}`: `{addr}` is not an IP address")))?;
        let (base, bits, v4) = number(addr);
        let prefix: u32 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| invalid(format!("`{text}`: the prefix must be 0-{bits}")))?;
        let host_bits = bits - prefix;
        let host_mask = if host_bits == 0 {
            0
        } else {
            u128::MAX >> (128 - host_bits)
        };
        if base & host_mask != 0 {
            return Err(invalid(format!(
                "`{text}` has host bits set; write the network address (its first address)"
            )));
        }
        Ok(Self {
            base,
            prefix,
            bits,
            v4,
        })
    }

    /// Number of addresses minus one.
    fn last_offset(&self) -> u128 {
        let host_bits = self.bits - self.prefix;
        if host_bits == 0 {
            0
        } else {
            u128::MAX >> (128 - host_bits)
        }
    }
}

fn number(addr: IpAddr) -> (u128, u32, bool) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32, true),
        IpAddr::V6(a) => (u128::from(a), 128, false),
    }
}

fn address(n: u128, v4: bool) -> Option<IpAddr> {
    if v4 {
        u32::try_from(n).ok().map(|n| IpAddr::from(n.to_be_bytes()))
    } else {
        Some(IpAddr::from(n.to_be_bytes()))
    }
}

fn cidr_host(cidr: &str, n: i64) -> Result<String, Error> {
    let net = Network::parse(cidr)?;
    let last = net.last_offset();
    let offset = if n >= 0 {
        u128::from(n.unsigned_abs())
    } else {
        last.checked_sub(u128::from(n.unsigned_abs()) - 1)
            .ok_or_else(|| invalid(format!("`{cidr}` has no address {n}")))?
    };
    if offset > last {
        return Err(invalid(format!(
            "`{cidr}` has {} addresses; address {n} is outside it",
            last.saturating_add(1)
        )));
    }
    address(net.base + offset, net.v4)
        .map(|a| a.to_string())
        .ok_or_else(|| invalid(format!("`{cidr}`: address {n} is out of range")))
}

fn cidr_prefix(cidr: &str) -> Result<u32, Error> {
    Ok(Network::parse(cidr)?.prefix)
}

fn cidr_netmask(cidr: &str) -> Result<String, Error> {
    let net = Network::parse(cidr)?;
    if !net.v4 {
        return Err(invalid(format!(
            "`{cidr}`: netmasks are for IPv4; use cidr_prefix"
        )));
    }
    let mask = u32::MAX.checked_shl(32 - net.prefix).unwrap_or(0);
    Ok(std::net::Ipv4Addr::from(mask).to_string())
}

fn cidr_contains(cidr: &str, ip: &str) -> Result<bool, Error> {
    let net = Network::parse(cidr)?;
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| invalid(format!("`{ip}` is not an IP address")))?;
    let (n, _, v4) = number(addr);
    Ok(v4 == net.v4 && n >= net.base && n - net.base <= net.last_offset())
}

fn ip_add(ip: &str, n: i64) -> Result<String, Error> {
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| invalid(format!("`{ip}` is not an IP address")))?;
    let (base, _, v4) = number(addr);
    let sum = if n >= 0 {
        base.checked_add(u128::from(n.unsigned_abs()))
    } else {
        base.checked_sub(u128::from(n.unsigned_abs()))
    };
    sum.and_then(|s| address(s, v4))
        .map(|a| a.to_string())
        .ok_or_else(|| invalid(format!("`{ip}` plus {n} is not an address")))
}

fn b64encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// Through the `toml` crate's own serializer, so quoting and escaping follow the TOML spec.
fn toml_literal(value: &Value) -> Result<String, Error> {
    if value.is_none() {
        return Err(invalid("TOML has no null value".into()));
    }
    let v = toml::Value::try_from(value)
        .map_err(|e| invalid(format!("cannot write this value as TOML: {e}")))?;
    Ok(v.to_string())
}

/// JSON is valid YAML (1.2, and the subset Kubernetes' YAML reader accepts): strings come out
/// double-quoted with every special character escaped, so `yes`, `0755` or `a: b` stay strings.
fn yaml_literal(value: &Value) -> Result<String, Error> {
    serde_json::to_string(value)
        .map_err(|e| invalid(format!("cannot write this value as YAML: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn render(template: &str, ctx: Value) -> Result<String, Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        register(&mut env);
        env.render_str(template, ctx)
    }

    fn ok(template: &str) -> String {
        render(template, Value::UNDEFINED).unwrap()
    }

    fn err(template: &str) -> String {
        render(template, Value::UNDEFINED).unwrap_err().to_string()
    }

    #[test]
    fn cidr_arithmetic_counts_from_the_network_address_and_from_the_end() {
        assert_eq!(ok("{{ '10.20.0.0/24' | cidr_host(5) }}"), "10.20.0.5");
        assert_eq!(ok("{{ '10.20.0.0/24' | cidr_host(-1) }}"), "10.20.0.255");
        assert_eq!(ok("{{ '10.20.0.0/24' | cidr_host(-2) }}"), "10.20.0.254");
        assert_eq!(ok("{{ '10.20.0.0/30' | cidr_host(3) }}"), "10.20.0.3");
        assert_eq!(ok("{{ 'fd00::/64' | cidr_host(10) }}"), "fd00::a");
        assert_eq!(ok("{{ '10.20.0.0/22' | cidr_prefix }}"), "22");
        assert_eq!(ok("{{ '10.20.0.0/22' | cidr_netmask }}"), "255.255.252.0");
        assert_eq!(ok("{{ '0.0.0.0/0' | cidr_netmask }}"), "0.0.0.0");
        assert_eq!(
            ok("{{ '10.20.0.0/24' | cidr_contains('10.20.0.99') | toml }}"),
            "true"
        );
        assert_eq!(
            ok("{{ '10.20.0.0/24' | cidr_contains('10.20.1.0') | toml }}"),
            "false"
        );
        assert_eq!(ok("{{ '10.0.0.250' | ip_add(10) }}"), "10.0.1.4");
        assert_eq!(ok("{{ '10.0.1.4' | ip_add(-10) }}"), "10.0.0.250");
    }

    #[test]
    fn cidr_mistakes_are_errors_not_wrapped_addresses() {
        assert!(err("{{ '10.20.0.0/30' | cidr_host(4) }}").contains("outside"));
        assert!(err("{{ '10.20.0.0/30' | cidr_host(-5) }}").contains("no address -5"));
        assert!(err("{{ '10.20.0.5/24' | cidr_host(1) }}").contains("host bits"));
        assert!(err("{{ '10.20.0.0' | cidr_host(1) }}").contains("not a network"));
        assert!(err("{{ '10.20.0.0/33' | cidr_prefix }}").contains("prefix must be 0-32"));
        assert!(err("{{ '255.255.255.255' | ip_add(1) }}").contains("not an address"));
        assert!(err("{{ 'fd00::/64' | cidr_netmask }}").contains("IPv4"));
    }

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        // RFC 4648 §10.
        assert_eq!(ok("{{ 'foobar' | b64encode }}"), "Zm9vYmFy");
        assert_eq!(ok("{{ 'fo' | b64encode }}"), "Zm8=");
        assert_eq!(ok("{{ '' | b64encode }}"), "");
    }

    #[test]
    fn toml_quoting_round_trips_through_a_toml_parser() {
        let ctx = Value::from(minijinja::value::Serde(serde_json::json!({
            "s": "a \"quoted\" \\ path\nwith a newline",
            "n": 42, "b": true, "l": ["x", "y"], "t": {"k": 1, "with space": "v"}
        })));
        let out = render(
            "s = {{ s | toml }}\nn = {{ n | toml }}\nb = {{ b | toml }}\nl = {{ l | toml }}\nt = {{ t | toml }}\n",
            ctx,
        )
        .unwrap();
        let back: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(
            back["s"].as_str(),
            Some("a \"quoted\" \\ path\nwith a newline")
        );
        assert_eq!(back["n"].as_integer(), Some(42));
        assert_eq!(back["b"].as_bool(), Some(true));
        assert_eq!(back["l"].as_array().unwrap().len(), 2);
        assert_eq!(back["t"]["with space"].as_str(), Some("v"));
        assert!(render("{{ none | toml }}", Value::UNDEFINED).is_err());
    }

    #[test]
    fn yaml_quoting_keeps_strings_strings() {
        let ctx = Value::from(minijinja::value::Serde(
            serde_json::json!({"s": "yes", "o": "0755", "c": "a: b # c"}),
        ));
        let out = render("[{{ s | yaml }}, {{ o | yaml }}, {{ c | yaml }}]", ctx).unwrap();
        assert_eq!(out, r#"["yes", "0755", "a: b # c"]"#);
        // The oracle is a JSON parser, independent of the filter's serializer.
        let back: Vec<String> = serde_json::from_str(&out).unwrap();
        assert_eq!(back, ["yes", "0755", "a: b # c"]);
    }
}
