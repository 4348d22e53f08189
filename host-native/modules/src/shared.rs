//! What every instance of one loaded module shares: its name, configuration, statistics,
//! declared events, and the daemon services its capabilities reach.

pub use super::wasi::holdings::SHARE_STATISTICS;
use crate::settings::ModuleConfig;
use mi_core::host::Statistic;
use mi_core::json::{self, Value};
use mi_core::MiError;
use miwa_runtime::CoreRuntime;
use miwa_state::HostState;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;

thread_local! {
    /// How many module `mi()` calls are running on this thread, outermost first.
    static MI_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Statistics the daemon keeps for every module.
pub(crate) const BUILT_IN_STATISTICS: [&str; 12] = [
    "calls",
    "errors",
    "timeouts",
    "traps",
    "memory_peak",
    "instances",
    "io_timeouts",
    "io_wait_us",
    "ticks",
    "tick_errors",
    "ticks_skipped",
    "log_dropped",
];

/// Whether a module statistic is a counter or a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reset by `reset_statistics`.
    Counter,
    /// Left alone by `reset_statistics`.
    Gauge,
}

/// A module's statistics group.
#[derive(Debug, Default)]
pub(crate) struct ModuleStats {
    /// Calls answered (successes, MI errors and failures).
    pub calls: AtomicU64,
    /// Calls that ended in an error of any kind.
    pub errors: AtomicU64,
    /// Calls interrupted at the time limit.
    pub timeouts: AtomicU64,
    /// Calls that trapped (panic, stack, memory, any other trap).
    pub traps: AtomicU64,
    /// The largest linear memory any instance grew to, bytes.
    pub memory_peak: AtomicU64,
    /// Instances alive, idle or busy.
    pub instances: AtomicU64,
    /// Calls that waited on I/O longer than `io_timeout_ms`.
    pub io_timeouts: AtomicU64,
    /// Time calls waited on I/O, microseconds.
    pub io_wait_us: AtomicU64,
    /// Ticks run (a module granted `tick`).
    pub ticks: AtomicU64,
    /// Ticks that returned an error or failed (trap, time limit, I/O timeout).
    pub tick_errors: AtomicU64,
    /// Ticks not run because the previous one was still running or every instance was busy.
    pub ticks_skipped: AtomicU64,
    /// Log lines dropped over the module's log rate.
    pub log_dropped: AtomicU64,
    declared: Vec<(String, Kind, AtomicU64)>,
}

impl ModuleStats {
    /// The built-in statistics plus the module's declared ones.
    pub fn new(declared: Vec<(String, Kind)>) -> Self {
        ModuleStats {
            declared: declared
                .into_iter()
                .map(|(name, kind)| (name, kind, AtomicU64::new(0)))
                .collect(),
            ..ModuleStats::default()
        }
    }

    fn declared(&self, name: &str) -> Option<&AtomicU64> {
        self.declared
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, value)| value)
    }

    /// Adds `delta` to a declared statistic, saturating at 0 and at `u64::MAX`.
    pub fn add(&self, name: &str, delta: i64) -> bool {
        let Some(value) = self.declared(name) else {
            return false;
        };
        let _always_some = value.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_add_signed(delta))
        });
        true
    }

    /// Sets a declared statistic.
    pub fn set(&self, name: &str, new: u64) -> bool {
        self.declared(name)
            .map(|value| value.store(new, Ordering::Relaxed))
            .is_some()
    }

    /// A declared statistic's value.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.declared(name).map(|v| v.load(Ordering::Relaxed))
    }

    /// The group's statistics: built-in first, then `shares`, then the declared ones.
    pub fn values(&self, group: &str, shares: Vec<Statistic>) -> Vec<Statistic> {
        let built_in = [
            (&self.calls, true),
            (&self.errors, true),
            (&self.timeouts, true),
            (&self.traps, true),
            (&self.memory_peak, false),
            (&self.instances, false),
            (&self.io_timeouts, true),
            (&self.io_wait_us, true),
            (&self.ticks, true),
            (&self.tick_errors, true),
            (&self.ticks_skipped, true),
            (&self.log_dropped, true),
        ];
        let stat = |name: &str, value: &AtomicU64, incremental| Statistic {
            group: group.to_string(),
            name: name.to_string(),
            value: value.load(Ordering::Relaxed),
            incremental,
        };
        BUILT_IN_STATISTICS
            .iter()
            .zip(built_in)
            .map(|(name, (value, incremental))| stat(name, value, incremental))
            .chain(shares)
            .chain(
                self.declared
                    .iter()
                    .map(|(name, kind, value)| stat(name, value, *kind == Kind::Counter)),
            )
            .collect()
    }

    /// Resets one counter; `false` if `name` is not a counter of this group.
    pub fn reset(&self, name: &str) -> bool {
        let built_in = match name {
            "calls" => Some(&self.calls),
            "errors" => Some(&self.errors),
            "timeouts" => Some(&self.timeouts),
            "traps" => Some(&self.traps),
            "io_timeouts" => Some(&self.io_timeouts),
            "io_wait_us" => Some(&self.io_wait_us),
            "ticks" => Some(&self.ticks),
            "tick_errors" => Some(&self.tick_errors),
            "ticks_skipped" => Some(&self.ticks_skipped),
            "log_dropped" => Some(&self.log_dropped),
            _ => None,
        };
        let counter = built_in.or_else(|| {
            self.declared
                .iter()
                .find(|(n, kind, _)| n == name && *kind == Kind::Counter)
                .map(|(_, _, value)| value)
        });
        counter.map(|c| c.store(0, Ordering::Relaxed)).is_some()
    }

    /// Resets every counter.
    pub fn reset_all(&self) {
        for name in BUILT_IN_STATISTICS {
            self.reset(name);
        }
        for (_, kind, value) in &self.declared {
            if *kind == Kind::Counter {
                value.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// One loaded module's identity, configuration and services.
pub(crate) struct ModuleShared {
    /// The configured name.
    pub name: String,
    /// Its configuration at load time.
    pub config: ModuleConfig,
    /// Its statistics group.
    pub stats: ModuleStats,
    /// Events it declared.
    pub events: Vec<String>,
    /// The daemon state (cache, events, statistics).
    pub state: Weak<HostState>,
    /// The core, for the `mi` capability.
    pub core: Weak<CoreRuntime>,
    /// The daemon's linear-memory budget its instances draw on.
    pub memory: std::sync::Arc<miwa_runtime::memory::MemoryBudget>,
    /// What its instances reach through WASI.
    pub sandbox: std::sync::Arc<super::wasi::Sandbox>,
    /// Its share of the daemon's log.
    pub log_rate: super::log_rate::LogRate,
}

impl ModuleShared {
    /// The module's statistics group: [`ModuleStats::values`] with what it holds of the
    /// daemon's shares ([`SHARE_STATISTICS`]).
    pub fn statistics(&self) -> Vec<Statistic> {
        let sandbox = &self.sandbox;
        let shares = &sandbox.shares;
        let blocking = sandbox.io.as_ref().map_or(0, |io| io.blocking_threads());
        let values = [
            (blocking as u64, false),
            (shares.descriptors() as u64, false),
            (shares.host_memory() as u64, false),
            (shares.blocking_refused.load(Ordering::Relaxed), true),
            (shares.descriptors_refused.load(Ordering::Relaxed), true),
            (shares.host_memory_refused.load(Ordering::Relaxed), true),
        ];
        let held = SHARE_STATISTICS
            .iter()
            .zip(values)
            .map(|(name, (value, incremental))| Statistic {
                group: self.name.clone(),
                name: name.to_string(),
                value,
                incremental,
            })
            .collect();
        self.stats.values(&self.name, held)
    }

    /// Resets one counter; `false` if `name` is not a counter of this module.
    pub fn reset_statistic(&self, name: &str) -> bool {
        self.sandbox.shares.reset(name) || self.stats.reset(name)
    }

    /// Resets every counter.
    pub fn reset_all_statistics(&self) {
        for name in SHARE_STATISTICS {
            self.sandbox.shares.reset(name);
        }
        self.stats.reset_all();
    }

    /// The module's key in the shared cache.
    pub(crate) fn cache_key(&self, key: &str) -> String {
        format!("{}:{key}", self.name)
    }

    fn limit_error(&self, message: String) -> MiError {
        MiError::new(500, format!("module '{}' {message}", self.name))
    }

    /// The `mi` capability: runs a `miwa script` line through the core, within the module's
    /// allow-list and the nesting limit; the result as JSON text.
    pub(crate) fn mi_call(&self, line: &str) -> Result<String, MiError> {
        let call = mi_core::script::parse_line(line)
            .ok_or_else(|| MiError::new(400, "mi() needs a command"))?;
        let allowed = self
            .config
            .mi_allow
            .iter()
            .any(|a| a == "*" || *a == call.command);
        if !allowed {
            return Err(MiError::new(
                403,
                format!(
                    "module '{}' may not call '{}' (not in its mi_allow list)",
                    self.name, call.command
                ),
            ));
        }
        let depth = MI_DEPTH.get();
        if depth >= self.config.mi_depth {
            return Err(self.limit_error(format!(
                "exceeded its mi() depth limit of {}",
                self.config.mi_depth
            )));
        }
        let core = self
            .core
            .upgrade()
            .ok_or_else(|| MiError::new(503, "the core is shutting down"))?;
        MI_DEPTH.set(depth + 1);
        let reply = core.handle(call.request(1).as_bytes(), false);
        MI_DEPTH.set(depth);
        let text = match reply.map(|handled| handled.reply) {
            Ok(miwa_runtime::CoreReply::Text(text)) => text,
            Ok(_) => return Err(MiError::server_error("mi() got no reply")),
            Err(failure) => {
                tracing::error!(%failure, "mi() failed inside the core");
                return Err(MiError::server_error(failure.public_message()));
            }
        };
        outcome(&text)
    }
}

/// The `result` of a JSON-RPC reply as JSON text, or its `error` as an [`MiError`].
fn outcome(reply: &str) -> Result<String, MiError> {
    let Ok((Value::Object(members), _)) = json::parse(reply.as_bytes(), 512) else {
        return Err(MiError::server_error("mi() got an unreadable reply"));
    };
    for (key, value) in &members {
        match (key.as_str(), value) {
            ("result", result) => return Ok(json::to_compact(result)),
            ("error", error) => {
                let code = match error.get_ci("code") {
                    Some(Value::Number(n)) => Value::int_view(*n),
                    _ => -32000,
                };
                let text = |name| match error.get_ci(name) {
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => None,
                };
                return Err(MiError {
                    code,
                    message: text("message").unwrap_or_default(),
                    data: text("data"),
                });
            }
            _ => {}
        }
    }
    Err(MiError::server_error("mi() got a reply without result"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_statistics_saturate_and_reset_by_kind() {
        let stats = ModuleStats::new(vec![
            ("hits".into(), Kind::Counter),
            ("level".into(), Kind::Gauge),
        ]);
        assert!(stats.add("hits", 5));
        assert!(stats.add("hits", -9));
        assert_eq!(stats.get("hits"), Some(0));
        assert!(stats.add("hits", 2));
        assert!(stats.set("level", 7));
        assert!(!stats.add("nope", 1));
        stats.reset_all();
        assert_eq!(stats.get("hits"), Some(0));
        assert_eq!(stats.get("level"), Some(7));
        assert!(!stats.reset("level"));
        let share = Statistic {
            group: "m".into(),
            name: "descriptors".into(),
            value: 3,
            incremental: false,
        };
        let names: Vec<String> = stats
            .values("m", vec![share])
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            names,
            [
                "calls",
                "errors",
                "timeouts",
                "traps",
                "memory_peak",
                "instances",
                "io_timeouts",
                "io_wait_us",
                "ticks",
                "tick_errors",
                "ticks_skipped",
                "log_dropped",
                "descriptors",
                "hits",
                "level"
            ]
        );
    }

    /// The host code between two nesting levels parses and reprints the inner reply; at
    /// the deepest nesting `outcome` accepts it must fit well inside the stack the
    /// threads keep for host frames at each level.
    #[test]
    fn the_deepest_reply_fits_half_the_host_frames() {
        let deep = format!(
            r#"{{"jsonrpc":"2.0","result":{}1{},"id":1}}"#,
            "[".repeat(510),
            "]".repeat(510)
        );
        let half = miwa_runtime::stack::HOST_FRAMES / 2;
        let result = std::thread::Builder::new()
            .stack_size(half)
            .spawn(move || outcome(&deep).map(|text| text.len()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(result, Ok(1021));
    }

    #[test]
    fn replies_become_results_or_errors() {
        assert_eq!(
            outcome(r#"{"jsonrpc":"2.0","result":{"a":[1]},"id":1}"#),
            Ok(r#"{"a":[1]}"#.to_string())
        );
        let error = outcome(
            r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"x"},"id":1}"#,
        )
        .unwrap_err();
        assert_eq!(
            (error.code, error.message.as_str(), error.data.as_deref()),
            (-32602, "Invalid params", Some("x"))
        );
        assert!(outcome("nope").is_err());
    }
}
