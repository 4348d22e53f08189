//! `[upstreams.<name>]` and `[front]`: the nodes miwa stands in front of.

use miwa_state::settings::within;
use serde::Deserialize;
use std::path::PathBuf;

/// The MI dialect a node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// OpenSIPS 3.x (`which`, `help`; FIFO requests framed `:reply:`).
    #[default]
    Opensips,
    /// Kamailio's jsonrpcs (`system.listMethods`, `system.methodHelp`; FIFO requests carry
    /// `reply_name`).
    Kamailio,
}

impl Dialect {
    /// `opensips` or `kamailio`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Opensips => "opensips",
            Dialect::Kamailio => "kamailio",
        }
    }
}

/// `[upstreams.<name>]`: one node and how to reach it. One datagram transport (`udp` or
/// `unix`) and one stream transport (`fifo` or `url`) may be given together: requests go
/// over the datagram socket, and a reply that does not fit a datagram is fetched again
/// over the stream.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// The node's request FIFO (`fifo`).
    pub fifo: Option<PathBuf>,
    /// The node's UDP MI socket, `host:port` (`udp`).
    pub udp: Option<String>,
    /// The node's UNIX datagram MI socket (`unix`).
    pub unix: Option<PathBuf>,
    /// The node's JSON-RPC over HTTP URL, `http://…` or `https://…` (`url`).
    pub url: Option<String>,
    /// `opensips` (default) or `kamailio` (`dialect`).
    pub dialect: Dialect,
    /// Where reply FIFOs and reply sockets are created: the node's own reply directory for
    /// FIFOs (OpenSIPS `reply_dir`, Kamailio `fifo_reply_dir`), default `/tmp/`
    /// (`reply_dir`).
    pub reply_dir: PathBuf,
    /// How long one request may wait for the node, milliseconds (`timeout_ms`, default
    /// 5000, 1 … 600000).
    pub timeout_ms: u64,
    /// Most requests waiting on the node at once; more are answered 503 (`max_in_flight`,
    /// default 64, 1 … 4096).
    pub max_in_flight: usize,
    /// Largest reply accepted from the node, bytes (`max_reply`, default 16 MiB, 1024 …
    /// 64 MiB).
    pub max_reply: usize,
    /// Seconds between health probes while the node is up (`probe_interval`, default 10,
    /// 1 … 3600).
    pub probe_interval: u64,
    /// Longest wait between reconnection attempts while the node is down, milliseconds;
    /// the wait starts at 100 ms and doubles (`max_backoff_ms`, default 5000, 100 …
    /// 600000).
    pub max_backoff_ms: u64,
    /// Trust these PEM certificates for an `https://` url (`cacert`, default the public
    /// web roots).
    pub cacert: Option<PathBuf>,
    /// A file whose first line is the password of the `url`'s user, sent with HTTP basic
    /// authentication (`password_file`; a password may also be given in the `url`,
    /// `http://user:password@host:port/mi`). It is never shown: `nodes_list`, metrics, logs
    /// and errors give the URL without credentials.
    pub password_file: Option<PathBuf>,
    /// Largest request body the node's HTTP server takes, bytes (`max_http_request`,
    /// default 1024 for `opensips` — its httpd's `receive_buf_size`, which drops longer
    /// bodies — and no limit for `kamailio`; 64 … 16777216). A longer request goes over
    /// the node's datagram transport, or is refused at once (`413`).
    pub max_http_request: Option<usize>,
    /// Labels that selectors pick the node by (`labels = { site = "eu", role = "edge" }`;
    /// at most 32; names of 1 to 63 of `A-Z a-z 0-9 _ . -`, values of 1 to 128 of those and
    /// `: /`). `version` is read from the node itself.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            fifo: None,
            udp: None,
            unix: None,
            url: None,
            dialect: Dialect::Opensips,
            reply_dir: PathBuf::from("/tmp/"),
            timeout_ms: 5000,
            max_in_flight: 64,
            max_reply: 16 << 20,
            probe_interval: 10,
            max_backoff_ms: 5000,
            cacert: None,
            password_file: None,
            max_http_request: None,
            labels: std::collections::BTreeMap::new(),
        }
    }
}

impl UpstreamConfig {
    /// What is wrong with this section, if anything (a key and the problem).
    pub fn problem(&self) -> Option<String> {
        let datagrams = usize::from(self.udp.is_some()) + usize::from(self.unix.is_some());
        let streams = usize::from(self.fifo.is_some()) + usize::from(self.url.is_some());
        if datagrams + streams == 0 {
            return Some("needs one of fifo, udp, unix or url".into());
        }
        if datagrams > 1 || streams > 1 {
            return Some(
                "takes at most one datagram transport (udp or unix) and one stream transport (fifo or url)"
                    .into(),
            );
        }
        if let Some(udp) = &self.udp {
            if udp
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                return Some(format!("udp: `{udp}` is not host:port"));
            }
        }
        if let Some(url) = &self.url {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.parse::<hyper::Uri>().is_err()
            {
                let shown = if url.contains('@') {
                    "(given with credentials, not shown)"
                } else {
                    url.as_str()
                };
                return Some(format!("url: `{shown}` is not an http:// or https:// URL"));
            }
        }
        if let Some(problem) = crate::select::problem(&self.labels) {
            return Some(problem);
        }
        if self.password_file.is_some() && self.url.is_none() {
            return Some("password_file: needs a url".into());
        }
        if let Some(limit) = self.max_http_request {
            if let Err(problem) = within(limit, 64..=16 << 20) {
                return Some(format!("max_http_request: {problem}"));
            }
        }
        if let Some(unix) = &self.unix {
            if unix.as_os_str().len() > 107 {
                return Some("unix: the path is longer than 107 bytes".into());
            }
        }
        if !self.reply_dir.is_absolute() {
            return Some("reply_dir: must be an absolute directory".into());
        }
        let ranges = [
            ("timeout_ms", within(self.timeout_ms, 1..=600_000)),
            ("max_in_flight", within(self.max_in_flight as u64, 1..=4096)),
            ("max_reply", within(self.max_reply as u64, 1024..=64 << 20)),
            ("probe_interval", within(self.probe_interval, 1..=3600)),
            ("max_backoff_ms", within(self.max_backoff_ms, 100..=600_000)),
        ];
        ranges
            .into_iter()
            .find_map(|(key, range)| range.err().map(|problem| format!("{key}: {problem}")))
    }
}

/// Default `max_http_request` of an OpenSIPS node: its httpd's `receive_buf_size`.
pub(crate) const OPENSIPS_HTTP_REQUEST: usize = 1024;

impl UpstreamConfig {
    /// The largest request body the node's HTTP server takes.
    pub(crate) fn http_request_limit(&self) -> usize {
        self.max_http_request.unwrap_or(match self.dialect {
            Dialect::Opensips => OPENSIPS_HTTP_REQUEST,
            Dialect::Kamailio => usize::MAX,
        })
    }
}

/// `[front]`: which node miwa's transports serve.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FrontConfig {
    /// The node that requests without a node name go to (`upstream`); empty: miwa itself.
    pub upstream: String,
    /// Most nodes `nodes_run` contacts at once (`max_parallel`, default 64, 1 … 1024).
    pub max_parallel: usize,
    /// The UDP address nodes send event notifications to, `host:port`
    /// (`event_socket`, default `127.0.0.1:0`: any free port on the loopback; a remote
    /// node needs an address it can reach).
    pub event_socket: String,
    /// How long miwa's subscriptions at nodes last, seconds; renewed at half of it
    /// (`event_expire`, default 120, 4 … 86400).
    pub event_expire: u32,
    /// Bytes of node replies being read at once over FIFOs and HTTP, all nodes together;
    /// past it a request gets `503 Node busy` (`max_buffered`, default 64 MiB, 1 MiB …
    /// 4 GiB).
    pub max_buffered: usize,
    /// Globs of the reload commands guarded per node (`reload_commands`, default
    /// `["*_reload", "reload_*", "*.reload"]`; see [`crate::reload`]).
    pub reload_commands: Vec<String>,
    /// Shortest time between two reloads of one command on one node, milliseconds
    /// (`reload_interval_ms`, default 1000, 0 … 3600000; 0: identical reloads in flight
    /// still share one call).
    pub reload_interval_ms: u64,
}

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig {
            upstream: String::new(),
            max_parallel: 64,
            event_socket: "127.0.0.1:0".into(),
            event_expire: 120,
            max_buffered: 64 << 20,
            reload_commands: crate::reload::default_commands(),
            reload_interval_ms: 1000,
        }
    }
}

impl FrontConfig {
    /// How reload commands reach the nodes.
    pub fn reload_policy(&self) -> crate::reload::ReloadPolicy {
        crate::reload::ReloadPolicy {
            commands: self.reload_commands.clone(),
            interval: std::time::Duration::from_millis(self.reload_interval_ms),
        }
    }

    /// What is wrong with this section, if anything.
    pub fn problem(&self) -> Option<String> {
        let ranges = [
            ("max_parallel", within(self.max_parallel as u64, 1..=1024)),
            (
                "max_buffered",
                within(self.max_buffered as u64, 1 << 20..=4 << 30),
            ),
            (
                "event_expire",
                within(u64::from(self.event_expire), 4..=86400),
            ),
        ];
        if let Some(problem) = ranges
            .into_iter()
            .find_map(|(key, range)| range.err().map(|problem| format!("{key}: {problem}")))
        {
            return Some(problem);
        }
        self.event_socket
            .parse::<std::net::SocketAddr>()
            .is_err()
            .then(|| format!("event_socket: `{}` is not ip:port", self.event_socket))
    }
}

/// A node name as it may appear in a URL path and a role pattern.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && name != "miwa"
}
