//! Nodes from DNS SRV records: each `[discovery.<name>]` names an SRV record set
//! (`_opensips-mi._udp.sip.example.com`); its targets become nodes, added and retired as
//! the records change. Consul (`<service>.service.consul`) and a Kubernetes headless
//! Service publish such records too.
//!
//! - A lookup answers the truth: its targets are the nodes, none when the name has no
//!   records (NXDOMAIN, an empty answer, the target `.`). A target whose name has no
//!   address is left out.
//! - A lookup that fails (no answer, a server failure) changes nothing: the nodes known
//!   stay, and the lookup is tried again after `min_ttl`.
//! - Lookups repeat at the records' TTL, held between `min_ttl` and `max_ttl`.
//! - At most `max_nodes` targets are taken (the ones of lowest priority first), so that
//!   a hostile or broken zone cannot grow the fleet without bound.

use super::select;
use super::settings::{Dialect, UpstreamConfig};
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use miwa_state::settings::within;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How the nodes of a discovery are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// JSON-RPC in UDP datagrams to the target's port.
    #[default]
    Udp,
    /// JSON-RPC over HTTP to `http://<target>:<port><path>`.
    Http,
}

/// `[discovery.<name>]`: nodes from an SRV record set.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// The SRV name (`srv`, required), e.g. `_opensips-mi._udp.sip.example.com`.
    pub srv: String,
    /// `udp` (default) or `http` (`transport`).
    pub transport: Transport,
    /// The URL path of `http` nodes (`path`, default `/mi`).
    pub path: String,
    /// `opensips` (default) or `kamailio` (`dialect`).
    pub dialect: Dialect,
    /// Labels every node of the record set carries (`labels`).
    pub labels: BTreeMap<String, String>,
    /// The DNS server to ask, `ip:port` (`nameserver`; default: the system's, from
    /// `/etc/resolv.conf`).
    pub nameserver: Option<String>,
    /// Shortest time between two lookups, seconds, and the wait after a failed one
    /// (`min_ttl`, default 5, 1 … 3600).
    pub min_ttl: u64,
    /// Longest time between two lookups, seconds (`max_ttl`, default 300, `min_ttl` …
    /// 86400).
    pub max_ttl: u64,
    /// Most nodes taken from the record set (`max_nodes`, default 1000, 1 … 10000).
    pub max_nodes: usize,
    /// How long one request may wait for a node, milliseconds (`timeout_ms`, default 5000,
    /// 1 … 600000).
    pub timeout_ms: u64,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            srv: String::new(),
            transport: Transport::Udp,
            path: "/mi".into(),
            dialect: Dialect::Opensips,
            labels: BTreeMap::new(),
            nameserver: None,
            min_ttl: 5,
            max_ttl: 300,
            max_nodes: 1000,
            timeout_ms: 5000,
        }
    }
}

impl DiscoveryConfig {
    /// What is wrong with this section, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.srv.is_empty() || self.srv.len() > 253 {
            return Some("srv: an SRV name is required".into());
        }
        if let Some(nameserver) = &self.nameserver {
            if nameserver.parse::<std::net::SocketAddr>().is_err() {
                return Some(format!("nameserver: `{nameserver}` is not ip:port"));
            }
        }
        if !self.path.starts_with('/') {
            return Some("path: must start with /".into());
        }
        if let Some(problem) = select::problem(&self.labels) {
            return Some(problem);
        }
        let ranges = [
            ("min_ttl", within(self.min_ttl, 1..=3600)),
            ("max_ttl", within(self.max_ttl, self.min_ttl..=86400)),
            ("max_nodes", within(self.max_nodes as u64, 1..=10_000)),
            ("timeout_ms", within(self.timeout_ms, 1..=600_000)),
        ];
        ranges
            .into_iter()
            .find_map(|(key, range)| range.err().map(|problem| format!("{key}: {problem}")))
    }

    /// A node's section for a target at `ip`:`port`.
    fn upstream(&self, ip: std::net::IpAddr, port: u16) -> UpstreamConfig {
        let address = std::net::SocketAddr::new(ip, port);
        let (udp, url) = match self.transport {
            Transport::Udp => (Some(address.to_string()), None),
            Transport::Http => (None, Some(format!("http://{address}{}", self.path))),
        };
        UpstreamConfig {
            udp,
            url,
            dialect: self.dialect,
            labels: self.labels.clone(),
            timeout_ms: self.timeout_ms,
            ..UpstreamConfig::default()
        }
    }
}

/// What one lookup found.
pub(crate) enum Found {
    /// The nodes of the record set now, by name, and when to look again.
    Nodes(Vec<(String, UpstreamConfig)>, Duration),
    /// The lookup failed; try again after this.
    Failed(String, Duration),
}

/// The resolver and the settings of one `[discovery.<name>]`.
pub(crate) struct Discovery {
    name: String,
    config: DiscoveryConfig,
    resolver: TokioResolver,
}

impl Discovery {
    /// A discovery `name` of `config`; its resolver asks `nameserver`, or the system's
    /// servers.
    pub fn new(name: &str, config: &DiscoveryConfig) -> anyhow::Result<Discovery> {
        let mut builder = match &config.nameserver {
            Some(server) => {
                let server: std::net::SocketAddr = server.parse()?;
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), servers),
                    TokioConnectionProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()
                .map_err(|e| anyhow::anyhow!("[discovery.{name}]: the system's DNS: {e}"))?,
        };
        let options = builder.options_mut();
        options.cache_size = 0;
        options.attempts = 2;
        options.timeout = Duration::from_secs(2);
        Ok(Discovery {
            name: name.to_string(),
            config: config.clone(),
            resolver: builder.build(),
        })
    }

    /// The section's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ttl` held between `min_ttl` and `max_ttl`.
    fn interval(&self, ttl: Duration) -> Duration {
        ttl.clamp(
            Duration::from_secs(self.config.min_ttl),
            Duration::from_secs(self.config.max_ttl),
        )
    }

    /// Looks the record set up, and each target's address.
    pub async fn lookup(&self) -> Found {
        let retry = Duration::from_secs(self.config.min_ttl);
        let srv = match self.resolver.srv_lookup(self.config.srv.as_str()).await {
            Ok(srv) => srv,
            Err(error) if error.is_no_records_found() || error.is_nx_domain() => {
                return Found::Nodes(Vec::new(), retry);
            }
            Err(error) => return Found::Failed(error.to_string(), retry),
        };
        let ttl = srv
            .as_lookup()
            .valid_until()
            .saturating_duration_since(Instant::now());
        let mut records: Vec<_> = srv.iter().cloned().collect();
        records.sort_by_key(|r| (r.priority(), std::cmp::Reverse(r.weight())));
        records.truncate(self.config.max_nodes);
        let mut nodes = Vec::new();
        for record in records {
            let target = record.target().to_utf8();
            let target = target.trim_end_matches('.');
            if target.is_empty() {
                continue; // `.`: the service is decidedly not available (RFC 2782)
            }
            let ip = match target.parse::<std::net::IpAddr>() {
                Ok(ip) => ip,
                Err(_) => match self.resolver.lookup_ip(target).await {
                    Ok(ips) => match ips.iter().next() {
                        Some(ip) => ip,
                        None => continue,
                    },
                    Err(error) if error.is_no_records_found() || error.is_nx_domain() => continue,
                    Err(error) => {
                        return Found::Failed(format!("{target}: {error}"), retry);
                    }
                },
            };
            let name = format!("{}-{target}-{}", self.name, record.port());
            if nodes.iter().all(|(known, _)| *known != name) {
                nodes.push((name, self.config.upstream(ip, record.port())));
            }
        }
        Found::Nodes(nodes, self.interval(ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_checked() {
        let good = DiscoveryConfig {
            srv: "_opensips-mi._udp.sip.example.com".into(),
            nameserver: Some("127.0.0.1:5353".into()),
            ..DiscoveryConfig::default()
        };
        assert_eq!(good.problem(), None);
        let bad = |change: fn(&mut DiscoveryConfig)| {
            let mut config = good.clone();
            change(&mut config);
            config.problem().unwrap()
        };
        assert!(bad(|c| c.srv.clear()).starts_with("srv"));
        assert!(bad(|c| c.nameserver = Some("dns".into())).starts_with("nameserver"));
        assert_eq!(
            bad(|c| c.max_ttl = 4),
            "max_ttl: must be between 5 and 86400"
        );
        assert_eq!(
            bad(|c| c.max_nodes = 10_001),
            "max_nodes: must be between 1 and 10000"
        );
        let node = good.upstream("10.0.0.7".parse().unwrap(), 8080);
        assert_eq!(node.udp.as_deref(), Some("10.0.0.7:8080"));
        let http = DiscoveryConfig {
            transport: Transport::Http,
            ..good
        };
        let node = http.upstream("10.0.0.7".parse().unwrap(), 8888);
        assert_eq!(node.url.as_deref(), Some("http://10.0.0.7:8888/mi"));
    }
}
