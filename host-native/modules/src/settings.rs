//! `[modules.<name>]` of `miwa.toml`: one module's file, limits, grants and allow-lists.

use crate::grant::Grant;
use miwa_runtime::memory::MAX_MEMORY;
use miwa_runtime::stack::{StackPlan, MAX_MI_DEPTH, MAX_WASM_STACK};
use miwa_state::settings::within;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Shortest accepted module `tick_ms`.
pub(crate) const MIN_TICK_MS: u64 = 10;

/// Longest accepted module `tick_ms`: one day.
pub(crate) const MAX_TICK_MS: u64 = 86_400_000;

/// Largest accepted module `max_http_response`.
pub(crate) const MAX_HTTP_RESPONSE: usize = 64 << 20;

/// Longest accepted module `io_timeout_ms`.
pub(crate) const MAX_IO_TIMEOUT_MS: u64 = 600_000;

/// `[modules.<name>]`: one third-party command module and the sandbox it runs in.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ModuleConfig {
    /// The component file (`path`, required).
    pub path: PathBuf,
    /// Loaded at start and on reload (`enabled`, default true); `module_load` loads a
    /// disabled one.
    pub enabled: bool,
    /// Wall-clock limit of one call, host calls included, milliseconds (`timeout_ms`,
    /// default 100).
    pub timeout_ms: u64,
    /// Linear-memory cap of one instance, bytes (`max_memory`, default 16 MiB).
    pub max_memory: usize,
    /// WebAssembly stack cap, bytes (`max_wasm_stack`, default 256 KiB).
    pub max_wasm_stack: usize,
    /// Largest result of one call, bytes (`max_reply`, default 1 MiB).
    pub max_reply: usize,
    /// Most instances running at once; more concurrent calls are refused
    /// (`max_instances`, default 8).
    pub max_instances: u32,
    /// Capabilities granted: `log`, `stats`, `cache`, `events`, `mi`, `files` (the
    /// `read_only_dirs`), `tcp` (the `allowed_tcp` addresses), `http` (the
    /// `allowed_outbound_hosts`) and `tick` (its `tick` export is called every `tick_ms`)
    /// (`grants`, default none).
    pub grants: Vec<Grant>,
    /// Directories a module granted `files` may read, each at the same path inside the
    /// module; nothing outside them, nothing written (`read_only_dirs`, default none).
    pub read_only_dirs: Vec<PathBuf>,
    /// `host:port` patterns a module granted `tcp` may connect to (`allowed_tcp`, default
    /// none: every connection refused).
    pub allowed_tcp: Vec<String>,
    /// `scheme://host:port` patterns a module granted `http` may send requests to
    /// (`allowed_outbound_hosts`, default none: every request refused).
    pub allowed_outbound_hosts: Vec<String>,
    /// Largest HTTP response body a module may read, bytes (`max_http_response`, default
    /// 1 MiB, 1 … 64 MiB).
    pub max_http_response: usize,
    /// Most time one call may wait on I/O, milliseconds, besides its `timeout_ms` of
    /// computing (`io_timeout_ms`, default 1000, 1 … 600000).
    pub io_timeout_ms: u64,
    /// How often a module granted `tick` is ticked, milliseconds (`tick_ms`, default
    /// 1000, 10 … 86400000).
    pub tick_ms: u64,
    /// Commands the `mi` capability may call (`mi_allow`, default none; `"*"` = all).
    pub mi_allow: Vec<String>,
    /// Deepest nesting of `mi` calls made by modules (`mi_depth`, default 2).
    pub mi_depth: u32,
    /// Log lines a second the module may write, with a burst of two seconds' worth; more
    /// are dropped and counted (`log_lines_per_second`, default 100, 1 … 100000).
    pub log_lines_per_second: u32,
    /// Log bytes a second, likewise (`log_bytes_per_second`, default 65536, 1024 …
    /// 16777216).
    pub log_bytes_per_second: u32,
    /// Threads that run the blocking work of a module granted I/O — file operations, name
    /// lookups — at most; while all are busy a file operation fails at once
    /// (`max_blocking`, default 4, 1 … 64).
    pub max_blocking: usize,
    /// Files, directory listings, file streams, TCP sockets and HTTP connections the
    /// module's instances hold open at once, across calls (`max_descriptors`, default 64,
    /// 1 … 65536).
    pub max_descriptors: usize,
    /// Host memory its instances' WASI resources (wasi:http fields and bodies, handles)
    /// may take, bytes (`max_host_memory`, default 16 MiB, 65536 … 4294967296).
    pub max_host_memory: usize,
    /// Handles (resources of any kind) one instance may hold at once
    /// (`max_handles`, default 1024, 64 … 1000000).
    pub max_handles: usize,
}

impl Default for ModuleConfig {
    fn default() -> Self {
        ModuleConfig {
            path: PathBuf::new(),
            enabled: true,
            timeout_ms: 100,
            max_memory: 16 << 20,
            max_wasm_stack: 256 << 10,
            max_reply: 1 << 20,
            max_instances: 8,
            grants: Vec::new(),
            read_only_dirs: Vec::new(),
            allowed_tcp: Vec::new(),
            allowed_outbound_hosts: Vec::new(),
            max_http_response: 1 << 20,
            io_timeout_ms: 1000,
            tick_ms: 1000,
            mi_allow: Vec::new(),
            mi_depth: 2,
            log_lines_per_second: 100,
            log_bytes_per_second: 64 << 10,
            max_blocking: 4,
            max_descriptors: 64,
            max_host_memory: 16 << 20,
            max_handles: 1024,
        }
    }
}

/// A module or command name: letters, digits, `_`, `-`, `.`; 1 to 64 bytes.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl ModuleConfig {
    /// Whether the module is granted `grant`.
    pub fn granted(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// Whether the module is granted I/O (`files`, `tcp`, `http`).
    pub(crate) fn does_io(&self) -> bool {
        self.grants.iter().any(|grant| grant.does_io())
    }

    /// `plan` with this module in it: its `max_wasm_stack`, and its `mi_depth` if it is
    /// granted `mi`.
    pub(crate) fn add_to(&self, plan: StackPlan) -> StackPlan {
        let mi = self.granted(Grant::Mi);
        plan.with(self.max_wasm_stack, mi.then_some(self.mi_depth))
    }

    /// What is wrong with this declaration, naming the key; `None` when it can be used.
    pub fn problem(&self) -> Option<String> {
        if self.path.as_os_str().is_empty() {
            return Some("`path` is required".into());
        }
        if self.timeout_ms == 0 {
            return Some("`timeout_ms` must be at least 1".into());
        }
        if let Err(problem) = within(self.max_memory, 1 << 20..=MAX_MEMORY) {
            return Some(format!("`max_memory` {problem}"));
        }
        if let Err(problem) = within(self.max_wasm_stack, 16 << 10..=MAX_WASM_STACK) {
            return Some(format!("`max_wasm_stack` {problem}"));
        }
        if self.mi_depth > MAX_MI_DEPTH {
            return Some(format!("`mi_depth` must be at most {MAX_MI_DEPTH}"));
        }
        if self.max_reply == 0 {
            return Some("`max_reply` must be at least 1".into());
        }
        if let Err(problem) = within(self.max_instances, 1..=1024) {
            return Some(format!("`max_instances` {problem}"));
        }
        if let Err(problem) = within(self.io_timeout_ms, 1..=MAX_IO_TIMEOUT_MS) {
            return Some(format!("`io_timeout_ms` {problem}"));
        }
        if let Err(problem) = within(self.log_lines_per_second, 1..=100_000) {
            return Some(format!("`log_lines_per_second` {problem}"));
        }
        if let Err(problem) = within(self.log_bytes_per_second, 1024..=16 << 20) {
            return Some(format!("`log_bytes_per_second` {problem}"));
        }
        if let Err(problem) = within(self.max_blocking, 1..=64) {
            return Some(format!("`max_blocking` {problem}"));
        }
        if let Err(problem) = within(self.max_descriptors, 1..=65_536) {
            return Some(format!("`max_descriptors` {problem}"));
        }
        if let Err(problem) = within(self.max_host_memory, 64 << 10..=1 << 32) {
            return Some(format!("`max_host_memory` {problem}"));
        }
        if let Err(problem) = within(self.max_handles, 64..=1_000_000) {
            return Some(format!("`max_handles` {problem}"));
        }
        if let Err(problem) = within(self.tick_ms, MIN_TICK_MS..=MAX_TICK_MS) {
            return Some(format!("`tick_ms` {problem}"));
        }
        if let Some(bad) = self.allowed_tcp.iter().find(|p| !crate::is_tcp_pattern(p)) {
            return Some(format!(
                "`allowed_tcp`: `{bad}` is not a host:port pattern (host: address, network, name or *; port: number, range or *)"
            ));
        }
        if let Some(bad) = self
            .allowed_outbound_hosts
            .iter()
            .find(|p| !crate::is_url_pattern(p))
        {
            return Some(format!(
                "`allowed_outbound_hosts`: `{bad}` is not a scheme://host:port pattern (scheme: http, https or *; the port may be left out for http and https)"
            ));
        }
        if let Err(problem) = within(self.max_http_response, 1..=MAX_HTTP_RESPONSE) {
            return Some(format!("`max_http_response` {problem}"));
        }
        if let Some(dir) = self
            .read_only_dirs
            .iter()
            .find(|d| !d.is_absolute() || !d.is_dir())
        {
            return Some(format!(
                "`read_only_dirs`: {} is not an absolute path to a directory",
                dir.display()
            ));
        }
        None
    }
}

/// The stack plan of a core with a `max_wasm_stack` of `core` bytes and `modules` (enabled
/// or not: `module_load` may load a disabled one).
pub fn stack_plan(core: usize, modules: &BTreeMap<String, ModuleConfig>) -> StackPlan {
    modules
        .values()
        .fold(StackPlan::core(core), |plan, module| module.add_to(plan))
}
