//! `miwa.toml`: every key, its default (OpenSIPS's where one exists) and its validation.

use miwa_modules::settings::{valid_name, ModuleConfig};
use miwa_runtime::memory::MAX_MEMORY;
use miwa_runtime::settings::CoreConfig;
use miwa_runtime::stack::{StackPlan, MAX_WASM_STACK};
use miwa_state::settings::{within, CacheConfig, EventsConfig, LogConfig, StateSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod mcp;

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A key has a value outside its range.
    #[error("{path}: key `{key}`: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[core]`: how the MI core component runs.
    pub core: CoreConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[http]`: the HTTP listener (JSON-RPC at `/mi`).
    pub http: HttpConfig,
    /// `[datagram]`: JSON-RPC over UDP and UNIX datagram sockets.
    pub datagram: DatagramConfig,
    /// `[fifo]`: JSON-RPC over a named pipe.
    pub fifo: FifoConfig,
    /// `[cache]`: the `local` key-value store of `cache_*`.
    pub cache: CacheConfig,
    /// `[events]`: the event interface.
    pub events: EventsConfig,
    /// `[modules.<name>]`: third-party command modules, by name.
    pub modules: BTreeMap<String, ModuleConfig>,
    /// `[access]`: credentials, roles and what each transport's callers may run.
    pub access: miwa_dispatch::access::AccessConfig,
    /// `[upstreams.<name>]`: the nodes miwa can stand in front of, in file order.
    pub upstreams: indexmap::IndexMap<String, miwa_front::settings::UpstreamConfig>,
    /// `[discovery.<name>]`: nodes from DNS SRV records, in file order.
    pub discovery: indexmap::IndexMap<String, miwa_front::dns::DiscoveryConfig>,
    /// `[front]`: which node requests without a node name go to.
    pub front: miwa_front::settings::FrontConfig,
    /// `[audit]`: the audit log.
    pub audit: miwa_dispatch::audit::AuditConfig,
    /// `[metrics]`: `GET /metrics`.
    pub metrics: miwa_dispatch::metrics::settings::MetricsConfig,
    /// `[charts]`: the HTML page's charts and the samples behind them.
    pub charts: miwa_dispatch::metrics::settings::ChartsConfig,
    /// `[mcp]`: the MCP server at `/mcp`.
    pub mcp: mcp::McpConfig,
}

/// Deepest accepted `core.max_json_depth` and `http.max_xml_depth`: requests are also
/// parsed and printed natively, by recursion on a thread's stack.
pub const MAX_NESTING: u32 = 1024;

/// Largest accepted single request or reply size (`http.max_body`, `fifo.max_request`,
/// `core.max_reply`): 64 MiB.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Most worker threads a transport may have: each may run WebAssembly and so gets a stack
/// sized for the configuration's deepest nesting.
pub const MAX_WORKERS: usize = 256;

/// Largest accepted `core.max_total_memory`: 64 GiB.
pub const MAX_TOTAL_MEMORY: usize = 64 << 30;

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTP at all (`enabled`, default true).
    pub enabled: bool,
    /// Listen address (`ip`, default `127.0.0.1`: loopback only).
    pub ip: IpAddr,
    /// Listen port (`port`, default 8888; 0 = any free port).
    pub port: u16,
    /// JSON-RPC root (`root`, default `mi`).
    pub root: String,
    /// XML-RPC root (`xmlrpc_root`, default `RPC2`; empty string disables XML-RPC).
    pub xmlrpc_root: String,
    /// HTML interface root (`html_root`, default `html`; empty string disables it).
    pub html_root: String,
    /// Deepest XML nesting in an XML-RPC call (`max_xml_depth`, default 64).
    pub max_xml_depth: usize,
    /// Largest request body, bytes (`max_body`, default 1 MiB); larger → 413.
    pub max_body: usize,
    /// Seconds a connection may stay without receiving a byte (`conn_timeout`, default 30; 0 = never).
    pub conn_timeout: u64,
    /// Pretty-print JSON replies (`pretty_printing`, default false).
    pub pretty_printing: bool,
    /// Worker threads serving HTTP (`workers`, default: the number of cores).
    pub workers: Option<usize>,
    /// The built playground served at `/playground/` (`playground_dir`, default
    /// `../playground` beside the binary, i.e. `target/playground`; empty string disables it).
    pub playground_dir: Option<PathBuf>,
    /// Connections served at once; more get `503` (`max_connections`, default 1024).
    pub max_connections: usize,
    /// Connections one client may hold at once, of `max_connections`; more get `503`
    /// (`max_connections_per_client`, default 256, 1 … 100000).
    pub max_connections_per_client: usize,
    /// Addresses within this IPv4 prefix are one client (`client_prefix_v4`, default 32:
    /// each address, 8 … 32).
    pub client_prefix_v4: u8,
    /// Addresses within this IPv6 prefix are one client (`client_prefix_v6`, default 64,
    /// 16 … 128).
    pub client_prefix_v6: u8,
    /// Header fields per request; more get `431` (`max_headers`, default 100).
    pub max_headers: usize,
    /// Bytes of a request head; more get `431` (`max_header_bytes`, default 16384, at
    /// least 8192).
    pub max_header_bytes: usize,
    /// Requests per connection before it is closed (`max_requests_per_connection`, default
    /// 10000; 0 = no limit).
    pub max_requests_per_connection: u64,
    /// Milliseconds a client may take for a request head once it started arriving, again
    /// for the body, and for a TLS handshake (`request_timeout_ms`, default 10000; 0 = no
    /// limit): a slow head or handshake closes the connection, a slow body gets `408`.
    pub request_timeout_ms: u64,
    /// PEM certificate chain, leaf first; with `tls_key` the listener speaks HTTPS only
    /// (`tls_certificate`, default empty: plain HTTP). Both files are re-read on SIGHUP.
    pub tls_certificate: PathBuf,
    /// PEM private key of `tls_certificate` (`tls_key`).
    pub tls_key: PathBuf,
    /// Bytes of request bodies being read and replies not yet sent, over all connections
    /// (`max_buffered`, default 64 MiB); past it a request is answered `503`.
    pub max_buffered: usize,
    /// Serve JSON-RPC over WebSocket at `/ws` (`ws`, default true).
    pub ws: bool,
    /// Largest WebSocket message, bytes (`ws_max_message`, default 1 MiB, 1024 … 16 MiB);
    /// a larger one closes the connection with code 1009.
    pub ws_max_message: usize,
    /// Milliseconds between the daemon's pings on a WebSocket; a connection silent for two
    /// of them is closed (`ws_ping_ms`, default 30000, 100 … 3600000).
    pub ws_ping_ms: u64,
    /// Open WebSocket connections, at most (`ws_max_connections`, default 1024, 1 … 100000);
    /// more are answered `503`.
    pub ws_max_connections: usize,
    /// Open WebSocket connections of one client (as `client_prefix_v4` / `_v6` group
    /// addresses), at most (`ws_connections_per_client`, default 64, 1 … 100000); more are
    /// answered `503`.
    pub ws_connections_per_client: usize,
    /// Milliseconds a WebSocket ticket (`POST /ws/ticket`) stays good, unused
    /// (`ws_ticket_ms`, default 30000, 1000 … 600000).
    pub ws_ticket_ms: u64,
    /// Outstanding WebSocket tickets, at most; one more forgets the oldest
    /// (`ws_max_tickets`, default 1024, 1 … 100000).
    pub ws_max_tickets: usize,
    /// Outstanding WebSocket tickets of one identity (or one address without credentials),
    /// at most; one more forgets that owner's oldest (`ws_tickets_per_identity`, default
    /// 16, 1 … 100000; `ws_max_tickets` bounds all of them together).
    pub ws_tickets_per_identity: usize,
    /// Names the daemon answers to in a request's `Host`, besides IP addresses and
    /// `localhost` (`hosts`, default none): a request naming any other host is answered
    /// `421`, so a DNS-rebinding page cannot reach the daemon.
    pub hosts: Vec<String>,
    /// Serve event streams (Server-Sent Events) at `GET /events` (`sse`, default true).
    pub sse: bool,
    /// Milliseconds between an event stream's `: ping` comments, at which its
    /// subscriptions are renewed (`sse_ping_ms`, default 15000, 100 … 600000; at most half
    /// of `conn_timeout` is used, so a stream the client reads is never idle).
    pub sse_ping_ms: u64,
    /// Open event streams, at most (`sse_max_streams`, default 256, 1 … 100000; each holds
    /// one of `max_connections` too); more are answered `503`.
    pub sse_max_streams: usize,
    /// Open event streams of one client, at most (`sse_streams_per_client`, default 16,
    /// 1 … 100000); more are answered `503`.
    pub sse_streams_per_client: usize,
}

impl HttpConfig {
    /// The interval of event-stream pings: `sse_ping_ms`, at most half of `conn_timeout`.
    pub fn sse_ping_interval(&self) -> Duration {
        let ping = Duration::from_millis(self.sse_ping_ms);
        match self.conn_timeout {
            0 => ping,
            seconds => ping.min(Duration::from_millis(seconds * 500)),
        }
    }

    /// The certificate and key files when HTTPS is configured.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        (!self.tls_certificate.as_os_str().is_empty())
            .then_some((self.tls_certificate.as_path(), self.tls_key.as_path()))
    }

    /// The playground directory to serve, if any.
    pub fn playground_dir(&self) -> Option<PathBuf> {
        match &self.playground_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => std::env::current_exe()
                .ok()?
                .parent()?
                .parent()
                .map(|dir| dir.join("playground")),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 8888,
            root: "mi".into(),
            xmlrpc_root: "RPC2".into(),
            html_root: "html".into(),
            max_xml_depth: 64,
            max_body: 1 << 20,
            conn_timeout: 30,
            pretty_printing: false,
            workers: None,
            playground_dir: None,
            max_connections: 1024,
            max_connections_per_client: 256,
            client_prefix_v4: 32,
            client_prefix_v6: 64,
            max_headers: 100,
            max_header_bytes: 16384,
            max_requests_per_connection: 10_000,
            request_timeout_ms: 10_000,
            tls_certificate: PathBuf::new(),
            tls_key: PathBuf::new(),
            max_buffered: 64 << 20,
            ws: true,
            ws_max_message: 1 << 20,
            ws_ping_ms: 30_000,
            ws_max_connections: 1024,
            ws_connections_per_client: 64,
            ws_ticket_ms: 30_000,
            ws_max_tickets: 1024,
            ws_tickets_per_identity: 16,
            hosts: Vec::new(),
            sse: true,
            sse_ping_ms: 15_000,
            sse_max_streams: 256,
            sse_streams_per_client: 16,
        }
    }
}

/// `[datagram]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatagramConfig {
    /// UDP sockets, `host:port` or `udp:host:port` (`udp`, default `["127.0.0.1:8080"]`).
    pub udp: Vec<String>,
    /// UNIX datagram socket paths (`unix`, default `["/tmp/miwa_mi.sock"]`).
    pub unix: Vec<PathBuf>,
    /// Permissions of the UNIX socket files (`unix_socket_mode`, default `0o660`).
    pub unix_socket_mode: u32,
    /// Owner of the UNIX socket files, a user name or uid (`unix_socket_user`, default:
    /// the daemon's).
    pub unix_socket_user: Option<String>,
    /// Group of the UNIX socket files, a group name or gid (`unix_socket_group`, default:
    /// the daemon's).
    pub unix_socket_group: Option<String>,
    /// Worker threads per socket (`workers`, default: the number of cores).
    pub workers: Option<usize>,
    /// Largest request read and reply sent, bytes (`max_datagram`, default 65457).
    pub max_datagram: usize,
    /// Pretty-print JSON replies (`pretty_printing`, default false).
    pub pretty_printing: bool,
    /// How long a reply waits for room in a slow peer's queue, ms (`reply_timeout_ms`, 100).
    pub reply_timeout_ms: u64,
}

impl Default for DatagramConfig {
    fn default() -> Self {
        DatagramConfig {
            udp: vec!["127.0.0.1:8080".into()],
            unix: vec![PathBuf::from("/tmp/miwa_mi.sock")],
            unix_socket_mode: 0o660,
            unix_socket_user: None,
            unix_socket_group: None,
            workers: None,
            max_datagram: transports::datagram::MAX_DATAGRAM,
            pretty_printing: false,
            reply_timeout_ms: 100,
        }
    }
}

impl DatagramConfig {
    /// The owner and group ids to set on the UNIX socket files, if any.
    pub fn unix_socket_owner(&self) -> Result<Option<transports::Owner>, String> {
        owner(
            self.unix_socket_user.as_deref(),
            self.unix_socket_group.as_deref(),
        )
    }

    /// The UDP addresses, resolved.
    pub fn udp_addresses(&self) -> Result<Vec<std::net::SocketAddr>, String> {
        use std::net::ToSocketAddrs;
        self.udp
            .iter()
            .map(|entry| {
                let address = entry.strip_prefix("udp:").unwrap_or(entry);
                address
                    .to_socket_addrs()
                    .map_err(|e| format!("`{entry}`: {e}"))?
                    .next()
                    .ok_or_else(|| format!("`{entry}` resolves to no address"))
            })
            .collect()
    }
}

/// `[fifo]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FifoConfig {
    /// Serve the FIFO at all (`enabled`, default true).
    pub enabled: bool,
    /// The request FIFO (`fifo_name`, default `/tmp/opensips_fifo`).
    pub fifo_name: PathBuf,
    /// Its permissions (`fifo_mode`, default `0o660`; 0 means `0o600`).
    pub fifo_mode: u32,
    /// Its owner, a user name or uid (`fifo_user`, default: the daemon's).
    pub fifo_user: Option<String>,
    /// Its group, a group name or gid (`fifo_group`, default: the daemon's).
    pub fifo_group: Option<String>,
    /// Prefix of reply FIFO paths, used as-is (`reply_dir`, default `/tmp/`).
    pub reply_dir: String,
    /// Largest request, framing included, bytes (`max_request`, default 1 MiB).
    pub max_request: usize,
    /// How long a partial request waits for its remaining bytes, ms (`reassembly_timeout_ms`, 1000).
    pub reassembly_timeout_ms: u64,
    /// Extra attempts to open a reply FIFO nobody reads yet (`reply_open_retries`, 4).
    pub reply_open_retries: u32,
    /// Pause between those attempts, ms (`reply_open_pause_ms`, 80).
    pub reply_open_pause_ms: u64,
    /// How long a client may take to read its reply, ms (`reply_timeout_ms`, 5000).
    pub reply_timeout_ms: u64,
    /// Worker threads (`workers`, default: the number of cores).
    pub workers: Option<usize>,
    /// How often the FIFO is checked and recreated if removed or replaced, ms (`check_interval_ms`, 1000).
    pub check_interval_ms: u64,
    /// Pretty-print JSON replies (`pretty_printing`, default false; breaks opensips-cli).
    pub pretty_printing: bool,
    /// Requests waiting for a worker (`max_queued`, default 1024); past it the worker that
    /// read them serves them, and nobody reads while every worker is busy.
    pub max_queued: usize,
    /// Bytes of requests waiting for a worker (`max_queued_bytes`, default 8 MiB).
    pub max_queued_bytes: usize,
}

impl Default for FifoConfig {
    fn default() -> Self {
        FifoConfig {
            enabled: true,
            fifo_name: PathBuf::from("/tmp/opensips_fifo"),
            fifo_mode: 0o660,
            fifo_user: None,
            fifo_group: None,
            reply_dir: "/tmp/".into(),
            max_request: 1 << 20,
            reassembly_timeout_ms: 1000,
            reply_open_retries: 4,
            reply_open_pause_ms: 80,
            reply_timeout_ms: 5000,
            workers: None,
            check_interval_ms: 1000,
            pretty_printing: false,
            max_queued: 1024,
            max_queued_bytes: 8 << 20,
        }
    }
}

/// Resolves a user or group given by name or number through `/etc/passwd` or `/etc/group`.
fn resolve_id(value: &str, database: &str) -> Result<u32, String> {
    if let Ok(id) = value.parse::<u32>() {
        return Ok(id);
    }
    let text =
        std::fs::read_to_string(database).map_err(|e| format!("cannot read {database}: {e}"))?;
    text.lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&value))
        .and_then(|fields| fields.get(2)?.parse().ok())
        .ok_or_else(|| format!("no such name `{value}` in {database}"))
}

/// The owner and group ids named by a `user` / `group` pair of keys, if any.
fn owner(user: Option<&str>, group: Option<&str>) -> Result<Option<transports::Owner>, String> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let uid = user.map(|u| resolve_id(u, "/etc/passwd")).transpose()?;
    let gid = group.map(|g| resolve_id(g, "/etc/group")).transpose()?;
    Ok(Some(transports::Owner { uid, gid }))
}

impl FifoConfig {
    /// The owner and group ids to set on the FIFO, if any.
    pub fn owner(&self) -> Result<Option<transports::Owner>, String> {
        owner(self.fifo_user.as_deref(), self.fifo_group.as_deref())
    }

    /// The permissions to create the FIFO with (0 means 0o600, as in OpenSIPS).
    pub fn mode(&self) -> u32 {
        if self.fifo_mode == 0 {
            0o600
        } else {
            self.fifo_mode
        }
    }
}

impl Config {
    /// What the daemon's state starts with.
    pub fn state_settings(&self) -> StateSettings {
        StateSettings {
            log: self.log.clone(),
            cache: self.cache.clone(),
            events: self.events.clone(),
            max_concurrent_calls: self.core.max_concurrent_calls,
            core_memory_cap: self.core.max_memory as u64,
            which_names: self.core.which_names.into(),
            http_roots: self.http_roots(),
            build: miwa_state::settings::Build {
                version: env!("CARGO_PKG_VERSION").into(),
                vcs: env!("MIWA_VCS").into(),
                revision: env!("MIWA_REVISION").into(),
            },
        }
    }

    /// The native stack plan of the core and every declared module.
    pub fn stack_plan(&self) -> StackPlan {
        miwa_modules::settings::stack_plan(self.core.max_wasm_stack, &self.modules)
    }

    /// The modules `path` declares now (`module_load`, `module_reload`, SIGHUP).
    pub fn reread_modules(path: &Path) -> Result<BTreeMap<String, ModuleConfig>, String> {
        Config::load(path)
            .map(|config| config.modules)
            .map_err(|error| error.to_string())
    }

    /// The HTTP roots served, as (root, module), newest registered first as OpenSIPS's
    /// `httpd_list_root_path` lists them.
    fn http_roots(&self) -> Vec<(String, String)> {
        if !self.http.enabled {
            return Vec::new();
        }
        let http = &self.http;
        let playground = http.playground_dir().map(|_| "playground".to_string());
        let mut roots: Vec<(String, String)> = [
            (Some(http.root.clone()), "mi_http"),
            (Some(http.xmlrpc_root.clone()), "mi_xmlrpc_ng"),
            (Some(http.html_root.clone()), "mi_html"),
            (playground, "miwa_playground"),
        ]
        .into_iter()
        .filter_map(|(root, module)| {
            root.filter(|r| !r.is_empty())
                .map(|r| (r, module.to_string()))
        })
        .collect();
        roots.reverse();
        roots
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                problem: problem.to_string(),
            })
        };
        let check = |key: &'static str, outcome: Result<(), String>| {
            outcome.map_err(|problem| ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                problem,
            })
        };
        if self.core.call_timeout_ms == 0 {
            return invalid("core.call_timeout_ms", "must be at least 1");
        }
        check(
            "core.max_memory",
            within(self.core.max_memory, 1 << 20..=MAX_MEMORY),
        )?;
        let largest_cap = self
            .modules
            .values()
            .map(|m| m.max_memory)
            .fold(self.core.max_memory, usize::max);
        if !(largest_cap..=MAX_TOTAL_MEMORY).contains(&self.core.max_total_memory) {
            return invalid(
                "core.max_total_memory",
                "must be at least the largest max_memory (core and modules) and at most 68719476736 (64 GiB)",
            );
        }
        check(
            "core.max_wasm_stack",
            within(self.core.max_wasm_stack, 16 << 10..=MAX_WASM_STACK),
        )?;
        check(
            "core.max_reply",
            within(self.core.max_reply, 1024..=MAX_MESSAGE),
        )?;
        check(
            "core.max_json_depth",
            within(self.core.max_json_depth, 1..=MAX_NESTING),
        )?;
        if self.http.root.is_empty()
            || !self
                .http
                .root
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return invalid("http.root", "must be letters, digits and '_' only");
        }
        if !self
            .http
            .xmlrpc_root
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || self.http.xmlrpc_root == self.http.root
        {
            return invalid(
                "http.xmlrpc_root",
                "must be letters, digits and '_' only, and differ from http.root",
            );
        }
        let html = &self.http.html_root;
        if !html.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || *html == self.http.root
            || (!html.is_empty() && *html == self.http.xmlrpc_root)
        {
            return invalid(
                "http.html_root",
                "must be letters, digits and '_' only, and differ from the other roots",
            );
        }
        check(
            "http.max_xml_depth",
            within(self.http.max_xml_depth, 4..=MAX_NESTING as usize),
        )?;
        check("http.max_body", within(self.http.max_body, 1..=MAX_MESSAGE))?;
        if self.http.tls_certificate.as_os_str().is_empty()
            != self.http.tls_key.as_os_str().is_empty()
        {
            return invalid(
                "http.tls_certificate / http.tls_key",
                "give both (HTTPS) or neither (plain HTTP)",
            );
        }
        if let Err(problem) = self.datagram.udp_addresses() {
            return invalid("datagram.udp", &problem);
        }
        if self
            .datagram
            .unix
            .iter()
            .any(|p| p.as_os_str().is_empty() || p.as_os_str().len() > 107)
        {
            return invalid("datagram.unix", "paths must be 1 to 107 bytes long");
        }
        if self.datagram.unix_socket_mode > 0o777 {
            return invalid(
                "datagram.unix_socket_mode",
                "must be a permission mode (0o000 to 0o777)",
            );
        }
        if self.datagram.reply_timeout_ms == 0 {
            return invalid("datagram.reply_timeout_ms", "must be at least 1");
        }
        check(
            "datagram.max_datagram",
            within(
                self.datagram.max_datagram,
                64..=transports::datagram::MAX_DATAGRAM,
            ),
        )?;
        if self.fifo.enabled {
            let reply_dir = Path::new(&self.fifo.reply_dir);
            if !self.fifo.reply_dir.ends_with('/') || !reply_dir.is_dir() {
                return invalid(
                    "fifo.reply_dir",
                    "must be an existing directory, ending with '/'",
                );
            }
            if self.fifo.fifo_name.as_os_str().is_empty() {
                return invalid("fifo.fifo_name", "must not be empty");
            }
        }
        if self.fifo.fifo_mode > 0o777 {
            return invalid(
                "fifo.fifo_mode",
                "must be a permission mode (0o000 to 0o777)",
            );
        }
        if let Err(problem) = self.datagram.unix_socket_owner() {
            return invalid(
                "datagram.unix_socket_user / datagram.unix_socket_group",
                &problem,
            );
        }
        if let Err(problem) = self.fifo.owner() {
            return invalid("fifo.fifo_user / fifo.fifo_group", &problem);
        }
        check(
            "fifo.max_request",
            within(self.fifo.max_request, 64..=MAX_MESSAGE),
        )?;
        check("fifo.max_queued", within(self.fifo.max_queued, 1..=65536))?;
        if !(self.fifo.max_request..=1 << 30).contains(&self.fifo.max_queued_bytes) {
            return invalid(
                "fifo.max_queued_bytes",
                "must be at least fifo.max_request and at most 1073741824",
            );
        }
        if self.fifo.reassembly_timeout_ms == 0
            || self.fifo.reply_timeout_ms == 0
            || self.fifo.check_interval_ms == 0
        {
            return invalid("fifo.*_ms", "timeouts and intervals must be at least 1 ms");
        }
        for (key, workers) in [
            ("http.workers", self.http.workers),
            ("datagram.workers", self.datagram.workers),
            ("fifo.workers", self.fifo.workers),
        ] {
            if let Some(workers) = workers {
                check(key, within(workers, 1..=MAX_WORKERS))?;
            }
        }
        check(
            "http.max_header_bytes",
            within(self.http.max_header_bytes, 8192..=1 << 20),
        )?;
        let largest = self.http.max_body.max(self.core.max_reply);
        if !(largest..=4 << 30).contains(&self.http.max_buffered) {
            return invalid(
                "http.max_buffered",
                "must be at least http.max_body and core.max_reply, and at most 4294967296",
            );
        }
        check(
            "http.ws_max_message",
            within(self.http.ws_max_message, 1024..=16 << 20),
        )?;
        check(
            "http.ws_ping_ms",
            within(self.http.ws_ping_ms, 100..=3_600_000),
        )?;
        check(
            "http.ws_max_connections",
            within(self.http.ws_max_connections, 1..=100_000),
        )?;
        check(
            "http.max_connections_per_client",
            within(self.http.max_connections_per_client, 1..=100_000),
        )?;
        check(
            "http.client_prefix_v4",
            within(self.http.client_prefix_v4, 8..=32),
        )?;
        check(
            "http.client_prefix_v6",
            within(self.http.client_prefix_v6, 16..=128),
        )?;
        check(
            "http.max_connections",
            within(self.http.max_connections, 1..=100_000),
        )?;
        check(
            "http.ws_ticket_ms",
            within(self.http.ws_ticket_ms, 1000..=600_000),
        )?;
        check(
            "http.ws_max_tickets",
            within(self.http.ws_max_tickets, 1..=100_000),
        )?;
        check(
            "http.ws_tickets_per_identity",
            within(self.http.ws_tickets_per_identity, 1..=100_000),
        )?;
        if let Some(name) = self
            .http
            .hosts
            .iter()
            .find(|n| !transports::browser::HostNames::valid(n))
        {
            return invalid(
                "http.hosts",
                &format!("`{name}` is not a DNS name (letters, digits, `-` and `.`; no port, no wildcard)"),
            );
        }
        check(
            "http.sse_ping_ms",
            within(self.http.sse_ping_ms, 100..=600_000),
        )?;
        check(
            "http.sse_max_streams",
            within(self.http.sse_max_streams, 1..=100_000),
        )?;
        check(
            "http.ws_connections_per_client",
            within(self.http.ws_connections_per_client, 1..=100_000),
        )?;
        check(
            "http.sse_streams_per_client",
            within(self.http.sse_streams_per_client, 1..=100_000),
        )?;
        check("http.max_headers", within(self.http.max_headers, 1..=1024))?;
        check(
            "cache.max_bytes",
            within(self.cache.max_bytes, 1024..=MAX_TOTAL_MEMORY),
        )?;
        if self.cache.systems.len() > 256 {
            return invalid("cache.systems", "at most 256 systems");
        }
        if self.cache.systems.iter().any(|s| s.is_empty()) {
            return invalid("cache.systems", "names must not be empty");
        }
        check(
            "events.queue_depth",
            within(self.events.queue_depth, 1..=1 << 20),
        )?;
        check(
            "events.max_event",
            within(self.events.max_event, 1024..=1 << 30),
        )?;
        if !(self.events.max_event..=1 << 30).contains(&self.events.queue_bytes) {
            return invalid(
                "events.queue_bytes",
                "must be at least events.max_event and at most 1073741824",
            );
        }
        check(
            "events.fanout_depth",
            within(self.events.fanout_depth, 1..=1 << 20),
        )?;
        if !(self.events.max_event..=1 << 30).contains(&self.events.fanout_bytes) {
            return invalid(
                "events.fanout_bytes",
                "must be at least events.max_event and at most 1073741824",
            );
        }
        check(
            "events.max_subscribers",
            within(self.events.max_subscribers, 1..=4096),
        )?;
        check(
            "events.max_per_channel",
            within(self.events.max_per_channel, 1..=4096),
        )?;
        if self.events.attempts == 0 {
            return invalid("events.attempts", "must be at least 1");
        }
        if self.events.io_timeout_ms == 0 || self.events.max_backoff_ms == 0 {
            return invalid("events.*_ms", "timeouts must be at least 1 ms");
        }
        let flatstore = &self.events.flatstore_dir;
        if !flatstore.as_os_str().is_empty() && !flatstore.is_absolute() {
            return invalid("events.flatstore_dir", "must be an absolute path");
        }
        if let Some(problem) = self.access.problem() {
            return invalid("access", &problem);
        }
        for (name, module) in &self.modules {
            if !valid_name(name) {
                return invalid(
                    "modules",
                    &format!("bad module name `{name}`: use 1-64 letters, digits, `_`, `-`, `.`"),
                );
            }
            if let Some(problem) = module.problem() {
                return invalid("modules", &format!("[modules.{name}]: {problem}"));
            }
        }
        for (name, upstream) in &self.upstreams {
            if !miwa_front::settings::valid_name(name) {
                return invalid(
                    "upstreams",
                    &format!("bad node name `{name}`: use 1-64 letters, digits, `_`, `-`, `.` (not `miwa`)"),
                );
            }
            if let Some(problem) = upstream.problem() {
                return invalid("upstreams", &format!("[upstreams.{name}] {problem}"));
            }
        }
        for (name, role) in &self.access.roles {
            if let Some(Err(problem)) = role
                .nodes
                .as_deref()
                .map(miwa_front::select::Selector::parse)
            {
                return invalid("access", &format!("[access.roles.{name}] nodes: {problem}"));
            }
        }
        for (name, discovery) in &self.discovery {
            if !miwa_front::settings::valid_name(name) {
                return invalid(
                    "discovery",
                    &format!("bad discovery name `{name}`: use 1-64 letters, digits, `_`, `-`, `.` (not `miwa`)"),
                );
            }
            if let Some(problem) = discovery.problem() {
                return invalid("discovery", &format!("[discovery.{name}] {problem}"));
            }
        }
        if let Some(problem) = self.front.problem() {
            return invalid("front", &problem);
        }
        if let Some(problem) = self.audit.problem() {
            return invalid("audit", &problem);
        }
        let later = self
            .modules
            .keys()
            .chain(self.upstreams.keys())
            .cloned()
            .collect();
        if let Some(problem) =
            miwa_dispatch::access::KnownCommands::new(later, &miwa_front::added_commands())
                .unmatched(&self.access, &self.audit.redact)
        {
            return invalid("access", &problem);
        }
        if let Some((key, problem)) = self.metrics.problem().or_else(|| self.charts.problem()) {
            return invalid(key, &problem);
        }
        if let Some((key, problem)) = self.mcp.problem(self.access.roles.keys()) {
            return invalid(key, &problem);
        }
        for (enabled, reserved, section) in [
            (self.mcp.enabled, transports::mcp::MCP_ROOT, "mcp"),
            (
                self.metrics.enabled,
                transports::metrics::METRICS_ROOT,
                "metrics",
            ),
        ] {
            let roots = [
                &self.http.root,
                &self.http.xmlrpc_root,
                &self.http.html_root,
            ];
            if enabled && roots.iter().any(|root| root.as_str() == reserved) {
                return invalid(
                    "http.root / http.xmlrpc_root / http.html_root",
                    &format!(
                        "`{reserved}` is the root of /{reserved} (turn {section}.enabled off to use it)"
                    ),
                );
            }
        }
        let upstream = &self.front.upstream;
        if !upstream.is_empty() && !self.upstreams.contains_key(upstream) {
            return invalid(
                "front.upstream",
                &format!("no [upstreams.{upstream}] section"),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("miwa.toml"))
    }

    #[test]
    fn empty_file_gives_opensips_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.http.port, 8888);
        assert_eq!(config.http.ip, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(config.http.root, "mi");
        assert_eq!(config.log.level, 3);
        assert_eq!(config.cache.systems, vec!["local".to_string()]);
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let unknown = parse("[http]\nprot = 1\n").unwrap_err().to_string();
        assert!(
            unknown.contains("miwa.toml") && unknown.contains("prot"),
            "{unknown}"
        );
        let mistyped = parse("[http]\nport = \"x\"\n").unwrap_err().to_string();
        assert!(mistyped.contains("port"), "{mistyped}");
        let invalid = parse("[http]\nroot = \"a/b\"\n").unwrap_err().to_string();
        assert!(invalid.contains("http.root"), "{invalid}");
        let zero = parse("[core]\ncall_timeout_ms = 0\n")
            .unwrap_err()
            .to_string();
        assert!(zero.contains("core.call_timeout_ms"), "{zero}");
    }

    #[test]
    fn example_file_lists_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../miwa.example.toml");
        let example = Config::load(&path).unwrap();
        let defaults = Config::default();
        assert_eq!(
            format!("{:?}", example.http),
            format!("{:?}", defaults.http)
        );
        assert_eq!(
            format!("{:?}", example.core),
            format!("{:?}", defaults.core)
        );
        assert_eq!(
            format!("{:?}", example.cache),
            format!("{:?}", defaults.cache)
        );
        assert_eq!(example.log.level, defaults.log.level);
        assert_eq!(
            format!("{:?}", example.events),
            format!("{:?}", defaults.events)
        );
        assert_eq!(
            format!("{:?}", example.datagram),
            format!("{:?}", defaults.datagram)
        );
        assert_eq!(
            format!("{:?}", example.fifo),
            format!("{:?}", defaults.fifo)
        );
        assert_eq!(example.front, defaults.front);
        assert_eq!(example.audit, defaults.audit);
        assert_eq!(example.mcp, defaults.mcp);
    }

    #[test]
    fn mcp_values_are_checked() {
        for (text, key) in [
            ("[mcp]\nmax_result_bytes = 100\n", "mcp.max_result_bytes"),
            ("[mcp]\nmax_sessions = 0\n", "mcp.max_sessions"),
            (
                "[mcp]\nmax_sessions = 4\nmax_sessions_per_client = 5\n",
                "mcp.max_sessions_per_client",
            ),
            ("[mcp]\nsession_idle = 0\n", "mcp.session_idle"),
            (
                "[mcp]\ndestructive_roles = [\"ops\"]\n",
                "mcp.destructive_roles",
            ),
            ("[http]\nroot = \"mcp\"\n", "http.root"),
        ] {
            let refused = parse(text).unwrap_err().to_string();
            assert!(refused.contains(key), "{text}: {refused}");
        }
        let ok = parse("[mcp]\nmax_result_bytes = 256\ndestructive_roles = [\"full\", \"ops\"]\n[access.roles.ops]\nallow = [\"*\"]\n");
        assert!(ok.is_ok(), "{ok:?}");
        assert!(parse("[mcp]\nenabled = false\n[http]\nroot = \"mcp\"\n").is_ok());
    }

    #[test]
    fn fifo_owner_names_resolve() {
        let config = parse("[fifo]\nfifo_user = \"root\"\nfifo_group = \"0\"\n").unwrap();
        assert_eq!(
            config.fifo.owner(),
            Ok(Some(transports::Owner {
                uid: Some(0),
                gid: Some(0)
            }))
        );
        let bad = parse("[fifo]\nfifo_user = \"no-such-user-here\"\n")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("fifo.fifo_user"), "{bad}");
        let dir = parse("[fifo]\nreply_dir = \"/tmp\"\n")
            .unwrap_err()
            .to_string();
        assert!(dir.contains("fifo.reply_dir"), "{dir}");
    }

    #[test]
    fn upstream_sections_are_validated() {
        let config = parse(
            "[upstreams.edge1]\nfifo = \"/tmp/opensips_fifo\"\n[upstreams.kam1]\nudp = \"127.0.0.1:8090\"\ndialect = \"kamailio\"\n[upstreams.a0]\nurl = \"http://10.0.0.5:8888/mi\"\n[front]\nupstream = \"edge1\"\n",
        )
        .unwrap();
        let names: Vec<&str> = config.upstreams.keys().map(String::as_str).collect();
        assert_eq!(names, ["edge1", "kam1", "a0"], "file order is kept");
        assert_eq!(config.upstreams["edge1"].timeout_ms, 5000);
        let refused = [
            ("[upstreams.e]\n", "needs one of"),
            (
                "[upstreams.e]\nudp = \"h:1\"\nunix = \"/s\"\n",
                "at most one",
            ),
            ("[upstreams.e]\nudp = \"nohost\"\n", "host:port"),
            ("[upstreams.e]\nurl = \"ftp://x/\"\n", "http://"),
            (
                "[upstreams.e]\nfifo = \"/f\"\ntimeout_ms = 0\n",
                "timeout_ms",
            ),
            (
                "[upstreams.e]\nfifo = \"/f\"\ntimeout_ms = 600001\n",
                "timeout_ms",
            ),
            (
                "[upstreams.e]\nfifo = \"/f\"\nmax_in_flight = 4097\n",
                "max_in_flight",
            ),
            (
                "[upstreams.e]\nfifo = \"/f\"\nmax_reply = 1023\n",
                "max_reply",
            ),
            (
                "[upstreams.e]\nfifo = \"/f\"\nreply_dir = \"tmp\"\n",
                "reply_dir",
            ),
            ("[upstreams.miwa]\nfifo = \"/f\"\n", "bad node name"),
            (
                "[upstreams.e]\nfifo = \"/f\"\n[front]\nupstream = \"x\"\n",
                "front.upstream",
            ),
            ("[front]\nmax_parallel = 0\n", "max_parallel"),
            (
                "[upstreams.e]\nurl = \"http://h/mi\"\nmax_http_request = 63\n",
                "max_http_request",
            ),
            (
                "[upstreams.e]\nurl = \"http://h/mi\"\nmax_http_request = 16777217\n",
                "max_http_request",
            ),
            (
                "[upstreams.e]\nudp = \"127.0.0.1:1\"\npassword_file = \"/p\"\n",
                "password_file",
            ),
            ("[front]\nevent_expire = 3\n", "event_expire"),
            ("[front]\nevent_socket = \"nowhere\"\n", "event_socket"),
        ];
        for (text, expected) in refused {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        assert!(parse("[upstreams.e]\nfifo = \"/f\"\ntimeout_ms = 600000\nmax_in_flight = 4096\nmax_reply = 1024\n").is_ok());
        for limit in [64, 16 << 20] {
            let text =
                format!("[upstreams.e]\nurl = \"http://h/mi\"\nmax_http_request = {limit}\n");
            assert!(parse(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn module_sections_are_validated() {
        let config = parse("[modules.ds]\npath = \"/m/ds.wasm\"\ngrants = [\"cache\"]\n").unwrap();
        let ds = &config.modules["ds"];
        assert_eq!(ds.grants, vec![miwa_modules::grant::Grant::Cache]);
        assert_eq!(ds.timeout_ms, 100);
        let no_path = parse("[modules.ds]\n").unwrap_err().to_string();
        assert!(
            no_path.contains("[modules.ds]") && no_path.contains("path"),
            "{no_path}"
        );
        let grant = parse("[modules.ds]\npath = \"x\"\ngrants = [\"sockets\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            grant.contains("unknown capability `sockets` in `grants`")
                && grant.contains("files")
                && grant.contains("line 3"),
            "{grant}"
        );
        let dirs = parse("[modules.ds]\npath = \"x\"\nread_only_dirs = [\"relative\"]\n")
            .unwrap_err()
            .to_string();
        assert!(dirs.contains("read_only_dirs"), "{dirs}");
        let tmp = std::env::temp_dir();
        let dir = format!("[modules.ds]\npath = \"x\"\nread_only_dirs = [{:?}]\n", tmp);
        assert!(parse(&dir).is_ok(), "{dir}");
        for (value, accepted) in [(0, false), (1, true), (600_000, true), (600_001, false)] {
            let text = format!("[modules.ds]\npath = \"x\"\nio_timeout_ms = {value}\n");
            assert_eq!(parse(&text).is_ok(), accepted, "{text}");
        }
        for (value, accepted) in [
            (9, false),
            (10, true),
            (86_400_000, true),
            (86_400_001, false),
        ] {
            let text = format!("[modules.ds]\npath = \"x\"\ntick_ms = {value}\n");
            assert_eq!(parse(&text).is_ok(), accepted, "{text}");
        }
        for (key, low, high) in [
            ("max_blocking", 1i64, 64i64),
            ("max_descriptors", 1, 65_536),
            ("max_host_memory", 65_536, 1 << 32),
            ("max_handles", 64, 1_000_000),
        ] {
            for (value, accepted) in [
                (low - 1, false),
                (low, true),
                (high, true),
                (high + 1, false),
            ] {
                let text = format!("[modules.ds]\npath = \"x\"\n{key} = {value}\n");
                let parsed = parse(&text);
                assert_eq!(parsed.is_ok(), accepted, "{text}");
                if let Err(error) = parsed {
                    assert!(error.to_string().contains(key), "{error}");
                }
            }
        }
        assert!(parse("[modules.ds]\npath = \"x\"\ngrants = [\"tick\"]\n").is_ok());
        let name = parse("[modules.\"a b\"]\npath = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(name.contains("a b"), "{name}");
        assert!(parse("[modules.ds]\npath = \"x\"\nmax_wasm_stack = 16384\n").is_ok());
        assert!(parse("[modules.ds]\npath = \"x\"\nmax_wasm_stack = 16383\n").is_err());
        assert!(parse("[modules.ds]\npath = \"x\"\nmax_memory = 1048575\n").is_err());
        assert!(parse("[modules.ds]\npath = \"x\"\nmax_instances = 0\n").is_err());
        assert!(parse("[modules.ds]\npath = \"x\"\ntimeout_ms = 0\n").is_err());
    }

    #[test]
    fn stack_limit_edges() {
        assert!(parse("[core]\nmax_wasm_stack = 16384\n").is_ok());
        assert!(parse("[core]\nmax_wasm_stack = 16383\n").is_err());
        assert!(parse("[core]\nmax_wasm_stack = 67108864\n").is_ok());
        let over = parse("[core]\nmax_wasm_stack = 67108865\n")
            .unwrap_err()
            .to_string();
        assert!(over.contains("core.max_wasm_stack"), "{over}");
        assert!(parse("[modules.m]\npath = \"x\"\nmax_wasm_stack = 67108864\n").is_ok());
        assert!(parse("[modules.m]\npath = \"x\"\nmax_wasm_stack = 67108865\n").is_err());
        assert!(parse("[modules.m]\npath = \"x\"\nmi_depth = 8\n").is_ok());
        let deep = parse("[modules.m]\npath = \"x\"\nmi_depth = 9\n")
            .unwrap_err()
            .to_string();
        assert!(deep.contains("mi_depth"), "{deep}");
    }

    #[test]
    fn nesting_and_memory_limit_edges() {
        assert!(parse("[core]\nmax_json_depth = 1024\n").is_ok());
        assert!(parse("[core]\nmax_json_depth = 1025\n").is_err());
        assert!(parse("[http]\nmax_xml_depth = 1024\n").is_ok());
        assert!(parse("[http]\nmax_xml_depth = 1025\n").is_err());
        let total = "max_total_memory = 4294967296\n";
        assert!(parse(&format!("[core]\n{total}max_memory = 4294967296\n")).is_ok());
        assert!(parse(&format!("[core]\n{total}max_memory = 4294967297\n")).is_err());
        assert!(parse(&format!(
            "[core]\n{total}[modules.m]\npath = \"x\"\nmax_memory = 4294967296\n"
        ))
        .is_ok());
        assert!(parse(&format!(
            "[core]\n{total}[modules.m]\npath = \"x\"\nmax_memory = 4294967297\n"
        ))
        .is_err());
        let budget = parse("[modules.m]\npath = \"x\"\nmax_memory = 2147483648\n")
            .unwrap_err()
            .to_string();
        assert!(budget.contains("core.max_total_memory"), "{budget}");
        assert!(parse("[core]\nmax_total_memory = 67108864\n").is_ok());
        assert!(parse("[core]\nmax_total_memory = 67108863\n").is_err());
    }
}
