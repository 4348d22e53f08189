//! `allowed_tcp` patterns: `host:port`, where the host is an address (`10.0.0.5`,
//! `[::1]`), a network (`10.0.0.0/8`, `[fd00::]/8`), a name (`redis.internal`, resolved by
//! the daemon when a connection is checked) or `*`, and the port a number, a range
//! (`6379-6380`) or `*`.
//!
//! A connection is checked against the address the module is about to connect to, after
//! any name was resolved: a name the module resolved to an address no pattern allows is
//! refused, whatever it was called.

use std::net::{IpAddr, SocketAddr};

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Any,
    Network { base: IpAddr, prefix: u8 },
    Name(String),
}

/// One `host:port` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    host: Host,
    ports: (u16, u16),
}

fn ports(text: &str) -> Option<(u16, u16)> {
    if text == "*" {
        return Some((0, u16::MAX));
    }
    match text.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (low.parse().ok()?, high.parse().ok()?);
            (low <= high).then_some((low, high))
        }
        None => text.parse().ok().map(|port| (port, port)),
    }
}

fn host(text: &str) -> Option<Host> {
    if text == "*" {
        return Some(Host::Any);
    }
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    match bare.parse::<IpAddr>() {
        Ok(base) => {
            let bits = if base.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(bits);
            (prefix <= bits).then_some(Host::Network { base, prefix })
        }
        Err(_) if prefix.is_none() => {
            let name = address.to_ascii_lowercase();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            valid.then_some(Host::Name(name))
        }
        Err(_) => None,
    }
}

impl Pattern {
    /// Parses `host:port`; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Pattern> {
        let (host_text, port_text) = text.rsplit_once(':')?;
        Some(Pattern {
            host: host(host_text)?,
            ports: ports(port_text)?,
        })
    }

    fn port_matches(&self, port: u16) -> bool {
        (self.ports.0..=self.ports.1).contains(&port)
    }

    /// Whether the pattern allows a connection to `address`; a name is resolved now.
    pub(crate) async fn allows(&self, address: SocketAddr) -> bool {
        if !self.port_matches(address.port()) {
            return false;
        }
        let ip = canonical(address.ip());
        match &self.host {
            Host::Any => true,
            Host::Network { base, prefix } => in_network(ip, canonical(*base), *prefix),
            Host::Name(name) => match tokio::net::lookup_host((name.as_str(), 0)).await {
                Ok(mut resolved) => resolved.any(|a| canonical(a.ip()) == ip),
                Err(_) => false,
            },
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, base: IpAddr, prefix: u8) -> bool {
    let (ip, base, bits) = match (ip, base) {
        (IpAddr::V4(ip), IpAddr::V4(base)) => (
            u128::from(u32::from(ip)),
            u128::from(u32::from(base)),
            32u32,
        ),
        (IpAddr::V6(ip), IpAddr::V6(base)) => (u128::from(ip), u128::from(base), 128u32),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
    let keep = if bits == 32 {
        mask & u128::from(u32::MAX)
    } else {
        mask
    };
    ip & keep == base & keep
}

/// Whether any of `patterns` allows `address`.
pub(crate) async fn any_allows(patterns: &[Pattern], address: SocketAddr) -> bool {
    for pattern in patterns {
        if pattern.allows(address).await {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, address: &str) -> bool {
        let pattern = Pattern::parse(pattern).expect(pattern);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(pattern.allows(address.parse().unwrap()))
    }

    #[test]
    fn patterns_parse_and_match_addresses_networks_names_and_ports() {
        for bad in [
            "",
            "host",
            "1.2.3.4",
            "1.2.3.4:",
            "1.2.3.4:99999",
            "1.2.3.0/33:1",
            "a b:1",
            "x:5-4",
            "name/8:1",
        ] {
            assert_eq!(Pattern::parse(bad), None, "{bad}");
        }
        assert!(allows("127.0.0.1:6379", "127.0.0.1:6379"));
        assert!(!allows("127.0.0.1:6379", "127.0.0.1:6380"));
        assert!(!allows("127.0.0.1:6379", "127.0.0.2:6379"));
        assert!(allows("10.0.0.0/8:*", "10.200.3.4:1"));
        assert!(!allows("10.0.0.0/8:*", "11.0.0.1:1"));
        assert!(allows("*:6379-6380", "192.0.2.1:6380"));
        assert!(!allows("*:6379-6380", "192.0.2.1:6381"));
        assert!(allows("[::1]:7000", "[::1]:7000"));
        assert!(allows("[fd00::]/8:*", "[fd12::1]:80"));
        assert!(allows("127.0.0.1:80", "[::ffff:127.0.0.1]:80"));
        assert!(allows("0.0.0.0/0:1", "203.0.113.9:1"));
        assert!(allows("localhost:9", "127.0.0.1:9"));
        assert!(!allows("localhost:9", "192.0.2.1:9"));
    }
}
