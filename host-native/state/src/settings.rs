//! `[log]`, `[cache]` and `[events]` of `miwa.toml`, and [`StateSettings`]: what the
//! composition root hands [`crate::HostState::start`].

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `Ok` when `value` is within `range`; otherwise the problem, its bounds those of the
/// range (`must be between 1 and 64`), so that a message never repeats a bound by hand.
pub fn within<T: PartialOrd + std::fmt::Display>(
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "must be between {} and {}",
            range.start(),
            range.end()
        ))
    }
}

/// What the state starts with.
#[derive(Debug, Clone)]
pub struct StateSettings {
    /// `[log]`.
    pub log: LogConfig,
    /// `[cache]`.
    pub cache: CacheConfig,
    /// `[events]`.
    pub events: EventsConfig,
    /// `core.max_concurrent_calls` (0: no limit).
    pub max_concurrent_calls: usize,
    /// `core.max_memory`: the cap of a core instance's linear memory, for `pkmem`.
    pub core_memory_cap: u64,
    /// Which names `which` lists (`core.which_names`).
    pub which_names: mi_core::host::WhichNames,
    /// The HTTP roots served, as (root, module), newest registered first.
    pub http_roots: Vec<(String, String)>,
    /// What `version` says of the build.
    pub build: Build,
}

impl Default for StateSettings {
    /// The sections' defaults, 64 calls at once, no HTTP roots: for tests and benchmarks
    /// (the daemon builds its settings from its configuration).
    fn default() -> Self {
        StateSettings {
            log: LogConfig::default(),
            cache: CacheConfig::default(),
            events: EventsConfig::default(),
            max_concurrent_calls: 64,
            core_memory_cap: 0,
            which_names: mi_core::host::WhichNames::default(),
            http_roots: Vec::new(),
            build: Build::default(),
        }
    }
}

/// The build `version` describes.
#[derive(Debug, Clone)]
pub struct Build {
    /// The release (`0.1.0`).
    pub version: String,
    /// The version control system (`git`, or `unknown`).
    pub vcs: String,
    /// The revision (`unknown` outside a checkout).
    pub revision: String,
}

impl Default for Build {
    /// This crate's release, revision unknown (the `miwa` binary names its revision).
    fn default() -> Self {
        Build {
            version: env!("CARGO_PKG_VERSION").into(),
            vcs: "unknown".into(),
            revision: "unknown".into(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Initial OpenSIPS log level (-3 ALERT … 4 DEBUG; `level`, default 3 = INFO).
    pub level: i32,
    /// Initial `xlog_level` (default 3).
    pub xlog_level: i32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: 3,
            xlog_level: 3,
        }
    }
}

/// `[cache]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache system names accepted by `cache_*` (`systems`, default `["local"]`).
    pub systems: Vec<String>,
    /// Total size limit of keys plus values, bytes (`max_bytes`, default 64 MiB).
    pub max_bytes: usize,
    /// A file the cache is saved to at shutdown and restored from at start (`snapshot`,
    /// default empty: no snapshot).
    pub snapshot: PathBuf,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            systems: vec!["local".into()],
            max_bytes: 64 << 20,
            snapshot: PathBuf::new(),
        }
    }
}

/// `[events]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// An MI command slower than this raises `E_CORE_THRESHOLD`, milliseconds
    /// (`threshold_ms`, default 1000; 0 = never).
    pub threshold_ms: u64,
    /// Events queued per subscriber before new ones are dropped (`queue_depth`, default
    /// 16384).
    pub queue_depth: usize,
    /// Bytes of notifications queued per subscriber before new ones are dropped
    /// (`queue_bytes`, default 1 MiB).
    pub queue_bytes: usize,
    /// Raised events waiting for the fan-out thread, at most (`fanout_depth`, default
    /// 65536); past it `raise_event` fails.
    pub fanout_depth: usize,
    /// Bytes of those events, at most (`fanout_bytes`, default 8 MiB).
    pub fanout_bytes: usize,
    /// Longest notification, bytes: a larger raised event is refused (`max_event`, default
    /// 64 KiB).
    pub max_event: usize,
    /// Subscriptions at once, over all events (`max_subscribers`, default 64).
    pub max_subscribers: usize,
    /// Subscriptions of one push channel, a WebSocket connection or an event stream
    /// (`max_per_channel`, default 16; `max_subscribers` bounds them too).
    pub max_per_channel: usize,
    /// Delivery attempts per event before it is dropped (`attempts`, default 3).
    pub attempts: u32,
    /// Connect and write timeout of `tcp:` and `unix:` deliveries, milliseconds
    /// (`io_timeout_ms`, default 1000).
    pub io_timeout_ms: u64,
    /// Longest pause between delivery retries, milliseconds (`max_backoff_ms`, default 5000).
    pub max_backoff_ms: u64,
    /// The directory `flatstore:` subscribers may write files in (`flatstore_dir`, default
    /// empty: flatstore off).
    pub flatstore_dir: PathBuf,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            threshold_ms: 1000,
            queue_depth: 16384,
            queue_bytes: 1 << 20,
            fanout_depth: 65536,
            fanout_bytes: 8 << 20,
            max_event: 64 << 10,
            max_subscribers: 64,
            max_per_channel: 16,
            attempts: 3,
            io_timeout_ms: 1000,
            max_backoff_ms: 5000,
            flatstore_dir: PathBuf::new(),
        }
    }
}

impl EventsConfig {
    /// The delivery settings.
    pub fn delivery(&self) -> crate::events::DeliverySettings {
        crate::events::DeliverySettings {
            queue_depth: self.queue_depth,
            queue_bytes: self.queue_bytes,
            fanout_depth: self.fanout_depth,
            fanout_bytes: self.fanout_bytes,
            max_event: self.max_event,
            max_subscribers: self.max_subscribers,
            max_per_channel: self.max_per_channel,
            attempts: self.attempts,
            io_timeout: Duration::from_millis(self.io_timeout_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
        }
    }

    /// The flatstore directory, if flatstore is on.
    pub fn flatstore_dir(&self) -> Option<PathBuf> {
        (!self.flatstore_dir.as_os_str().is_empty()).then(|| self.flatstore_dir.clone())
    }
}
