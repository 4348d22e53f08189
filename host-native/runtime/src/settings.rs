//! `[core]` of `miwa.toml`: how the MI core component runs.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[core]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// Wall-clock limit of one core call, milliseconds (`call_timeout_ms`, default 1000).
    pub call_timeout_ms: u64,
    /// Linear-memory cap of one core instance, bytes (`max_memory`, default 64 MiB).
    pub max_memory: usize,
    /// Linear memory of every WebAssembly instance together, the core's and every
    /// module's, bytes (`max_total_memory`, default 1 GiB).
    pub max_total_memory: usize,
    /// WebAssembly stack limit of the core, bytes (`max_wasm_stack`, default 512 KiB).
    pub max_wasm_stack: usize,
    /// Deepest JSON nesting accepted in a request (`max_json_depth`, default 128).
    pub max_json_depth: u32,
    /// Requests running at once over all transports; more are answered `503 Too many
    /// concurrent requests` (`max_concurrent_calls`, default 64; 0 = no limit).
    pub max_concurrent_calls: usize,
    /// Longest reply, bytes, on every transport; a longer one is replaced by
    /// `{"code":500,"message":"Reply too large"}` (`max_reply`, default 16 MiB).
    pub max_reply: usize,
    /// At shutdown (SIGTERM, `kill`), how long requests in progress may take to finish
    /// before the daemon exits anyway, milliseconds (`shutdown_timeout_ms`, default 5000).
    pub shutdown_timeout_ms: u64,
    /// Where precompiled core artifacts are cached (`cache_dir`; default
    /// `$XDG_CACHE_HOME/miwa` or `~/.cache/miwa`; empty string = no cache).
    pub cache_dir: Option<PathBuf>,
    /// Which names `which` lists (`which_names`): `"3.6"` (default, as OpenSIPS 3.6),
    /// `"4.0"`, or `"both"` (what opensips-cli needs to call 4.0 names, as it checks a
    /// command against `which` first).
    pub which_names: WhichNamesConfig,
}

/// The values of `core.which_names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum WhichNamesConfig {
    /// OpenSIPS 3.6's names.
    #[default]
    #[serde(rename = "3.6")]
    V3_6,
    /// OpenSIPS 4.0's names.
    #[serde(rename = "4.0")]
    V4_0,
    /// Both, 3.6's first.
    #[serde(rename = "both")]
    Both,
}

impl From<WhichNamesConfig> for mi_core::host::WhichNames {
    fn from(names: WhichNamesConfig) -> Self {
        match names {
            WhichNamesConfig::V3_6 => mi_core::host::WhichNames::V3_6,
            WhichNamesConfig::V4_0 => mi_core::host::WhichNames::V4_0,
            WhichNamesConfig::Both => mi_core::host::WhichNames::Both,
        }
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            call_timeout_ms: 1000,
            max_memory: 64 << 20,
            max_total_memory: 1 << 30,
            max_wasm_stack: 512 << 10,
            max_json_depth: mi_core::rpc::DEFAULT_MAX_DEPTH,
            max_concurrent_calls: 64,
            max_reply: 16 << 20,
            shutdown_timeout_ms: 5000,
            cache_dir: None,
            which_names: WhichNamesConfig::V3_6,
        }
    }
}

impl CoreConfig {
    /// The call deadline.
    pub(crate) fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
}
