//! The `miwa:mi` WIT bindings and the `host` imports, served by [`HostState`].

use mi_core::host::{self as core, Host as _};
use miwa_state::processes::ProcessInfo;
use miwa_state::HostState;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

wasmtime::component::bindgen!({
    path: "../../mi-core/wit",
    world: "core",
});

use miwa::mi::host as wit;

/// What a core instance's `Store` holds.
pub(crate) struct StoreData {
    /// The daemon state.
    pub state: Arc<HostState>,
    /// The memory cap and the tracking of this instance's linear memory.
    pub limiter: MemoryLimiter,
    /// When the current call began.
    pub call_started: Instant,
    /// Time the current call spent waiting on module calls (they have their own deadline).
    pub in_modules: Duration,
}

/// Caps a core instance's linear memory, within the daemon's budget, and reports its size
/// to the owning process.
pub(crate) struct MemoryLimiter {
    /// Largest linear memory, bytes.
    pub cap: usize,
    /// What the instance holds of the daemon's linear-memory budget.
    pub reservation: super::memory::Reservation,
    /// The process (worker thread) that owns the instance.
    pub process: Option<Arc<ProcessInfo>>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            return Ok(false);
        }
        if !self.reservation.grow_to(desired) {
            tracing::warn!(
                desired,
                limit = self.reservation.budget().limit(),
                "core memory growth refused: core.max_total_memory is in use"
            );
            return Ok(false);
        }
        if let Some(p) = &self.process {
            p.core_memory.store(desired as u64, Ordering::Relaxed);
            p.core_memory_peak
                .fetch_max(desired as u64, Ordering::Relaxed);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

fn cache_error(error: core::CacheError) -> wit::CacheError {
    match error {
        core::CacheError::UnknownSystem => wit::CacheError::UnknownSystem,
        core::CacheError::Full => wit::CacheError::Full,
    }
}

impl wit::Host for StoreData {
    fn clock(&mut self) -> wit::TimeReading {
        let c = self.state.clock();
        wit::TimeReading {
            now: c.now,
            now_offset: c.now_offset,
            started: c.started,
            started_offset: c.started_offset,
        }
    }

    fn build_info(&mut self) -> wit::BuildFacts {
        let b = self.state.build_info();
        wit::BuildFacts {
            name: b.name,
            version: b.version,
            platform: b.platform,
            vcs: b.vcs,
            revision: b.revision,
        }
    }

    fn working_dir(&mut self) -> Option<String> {
        self.state.working_dir()
    }

    fn caller(&mut self) -> Option<wit::CallerFacts> {
        self.state.caller().map(|c| wit::CallerFacts {
            transport: c.transport,
            role: c.role,
            identity: c.identity,
            nodes: c.nodes,
        })
    }

    fn arguments(&mut self) -> Vec<String> {
        self.state.arguments()
    }

    fn processes(&mut self) -> Vec<wit::Process> {
        self.state
            .processes()
            .into_iter()
            .map(|p| wit::Process {
                id: p.id,
                pid: p.pid,
                kind: p.kind,
                log_level: p.log_level,
            })
            .collect()
    }

    fn set_log_level(&mut self, level: i32) {
        self.state.set_log_level(level)
    }

    fn set_process_log_level(&mut self, pid: i32, level: i32) -> bool {
        self.state.set_process_log_level(pid, level)
    }

    fn xlog_level(&mut self) -> i32 {
        self.state.xlog_level()
    }

    fn set_xlog_level(&mut self, level: i32) {
        self.state.set_xlog_level(level)
    }

    fn log_consumer(&mut self, name: String) -> Option<wit::ConsumerState> {
        self.state.log_consumer(&name).map(|c| wit::ConsumerState {
            level_filter: c.level_filter,
            muted: c.muted,
        })
    }

    fn set_log_consumer_filter(&mut self, name: String, level: i32) -> bool {
        self.state.set_log_consumer_filter(&name, level)
    }

    fn set_log_consumer_muted(&mut self, name: String, muted: i32) -> bool {
        self.state.set_log_consumer_muted(&name, muted)
    }

    fn log(&mut self, level: i32, message: String) {
        self.state.log(level, &message)
    }

    fn shutdown(&mut self) {
        self.state.shutdown()
    }

    fn statistics(&mut self) -> wit::StatisticsTable {
        let all = self.state.statistics();
        let bytes = all.iter().map(|s| s.group.len() + s.name.len()).sum();
        let mut names = String::with_capacity(bytes);
        let statistics = all
            .iter()
            .map(|s| {
                names.push_str(&s.group);
                names.push_str(&s.name);
                wit::Statistic {
                    group_len: s.group.len() as u32,
                    name_len: s.name.len() as u32,
                    value: s.value,
                    incremental: s.incremental,
                }
            })
            .collect();
        wit::StatisticsTable { names, statistics }
    }

    fn reset_statistic(&mut self, group: String, name: String) {
        self.state.reset_statistic(&group, &name)
    }

    fn reset_all_statistics(&mut self) {
        self.state.reset_all_statistics()
    }

    fn cache_store(
        &mut self,
        system: String,
        key: String,
        value: String,
        expire: u32,
    ) -> Result<(), wit::CacheError> {
        self.state
            .cache_store(&system, &key, &value, expire)
            .map_err(cache_error)
    }

    fn cache_fetch(
        &mut self,
        system: String,
        key: String,
    ) -> Result<Option<String>, wit::CacheError> {
        self.state.cache_fetch(&system, &key).map_err(cache_error)
    }

    fn cache_remove(&mut self, system: String, key: String) -> Result<(), wit::CacheError> {
        self.state.cache_remove(&system, &key).map_err(cache_error)
    }

    fn cache_fetch_matching(
        &mut self,
        system: String,
        glob: String,
    ) -> Result<Vec<(String, String)>, wit::CacheError> {
        self.state
            .cache_fetch_matching(&system, &glob)
            .map_err(cache_error)
    }

    fn http_roots(&mut self) -> Vec<(String, String)> {
        self.state.http_roots()
    }

    fn events(&mut self) -> Vec<String> {
        self.state.events()
    }

    fn subscribers(&mut self) -> Vec<wit::EventSubscribers> {
        self.state
            .subscribers()
            .into_iter()
            .map(|e| wit::EventSubscribers {
                name: e.name,
                id: e.id,
                subscribers: e
                    .subscribers
                    .into_iter()
                    .map(|s| wit::Subscriber {
                        socket: s.socket,
                        expire: s.expire,
                        ttl: s.ttl,
                    })
                    .collect(),
            })
            .collect()
    }

    fn subscribe(
        &mut self,
        event: String,
        socket: String,
        expire: u32,
    ) -> Result<(), wit::SubscribeError> {
        self.state
            .subscribe(&event, &socket, expire)
            .map_err(|e| match e {
                core::SubscribeError::BadValue => wit::SubscribeError::BadValue,
                core::SubscribeError::TooMany => wit::SubscribeError::TooMany,
            })
    }

    fn raise_event(
        &mut self,
        event: String,
        params: wit::EventParams,
    ) -> Result<(), wit::RaiseError> {
        let params = match params {
            wit::EventParams::None => core::EventParams::None,
            wit::EventParams::Unnamed(items) => core::EventParams::Unnamed(items),
            wit::EventParams::Named(pairs) => core::EventParams::Named(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            wit::EventValue::Int(n) => core::EventValue::Int(n),
                            wit::EventValue::Text(t) => core::EventValue::Text(t),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
        };
        self.state
            .raise_event(&event, &params)
            .map_err(|e| match e {
                core::RaiseError::NotRegistered => wit::RaiseError::NotRegistered,
                core::RaiseError::NoSubscribers => wit::RaiseError::NoSubscribers,
                core::RaiseError::Failed => wit::RaiseError::Failed,
                core::RaiseError::TooLarge => wit::RaiseError::TooLarge,
            })
    }

    fn status_groups(&mut self) -> Vec<wit::StatusGroup> {
        self.state
            .status_groups()
            .into_iter()
            .map(|g| wit::StatusGroup {
                name: g.name,
                identifiers: g
                    .identifiers
                    .into_iter()
                    .map(|i| wit::StatusIdentifier {
                        name: i.name,
                        status: i.status,
                        details: i.details,
                        reports: i
                            .reports
                            .into_iter()
                            .map(|r| wit::StatusReport {
                                timestamp: r.timestamp,
                                offset: r.offset,
                                log: r.log,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    fn memory_dump(&mut self, kind: wit::MemoryKind, pid: Option<i32>, level: Option<i32>) -> bool {
        let kind = match kind {
            wit::MemoryKind::ProcessPrivate => core::MemoryKind::Private,
            wit::MemoryKind::Shared => core::MemoryKind::Shared,
            wit::MemoryKind::RestartPersistent => core::MemoryKind::Persistent,
        };
        self.state.memory_dump(kind, pid, level)
    }

    fn find_module_command(&mut self, name: String) -> Option<wit::ModuleCommand> {
        self.state.module_command(&name).map(module_command)
    }

    fn module_command_names(&mut self, local: Option<String>) -> Vec<String> {
        self.state.module_command_names(local.as_deref())
    }

    fn which_names(&mut self) -> wit::NameForms {
        match self.state.which_names() {
            core::WhichNames::V3_6 => wit::NameForms::V36,
            core::WhichNames::V4_0 => wit::NameForms::V40,
            core::WhichNames::Both => wit::NameForms::Both,
        }
    }

    fn module_commands(&mut self) -> Vec<wit::ModuleCommand> {
        self.state
            .module_commands()
            .into_iter()
            .map(module_command)
            .collect()
    }

    fn call_module(
        &mut self,
        module: String,
        command: String,
        params: String,
    ) -> Result<String, wit::MiError> {
        let started = Instant::now();
        let outcome = self.state.call_module(&module, &command, &params);
        self.in_modules += started.elapsed();
        outcome.map_err(mi_error)
    }

    fn modules(&mut self) -> Vec<wit::ModuleStatus> {
        self.state
            .modules()
            .into_iter()
            .map(|m| wit::ModuleStatus {
                name: m.name,
                state: m.state,
                error: m.error,
                path: m.path,
                sha256: m.sha256,
                version: m.version,
                commands: m.commands,
                grants: m.grants,
                limits: wit::ModuleLimits {
                    timeout_ms: m.limits.timeout_ms,
                    max_memory: m.limits.max_memory,
                    max_wasm_stack: m.limits.max_wasm_stack,
                    max_reply: m.limits.max_reply,
                    max_instances: m.limits.max_instances,
                },
                instances: m.instances,
            })
            .collect()
    }

    fn load_module(&mut self, name: String) -> Result<(), wit::MiError> {
        self.state.load_module(&name).map_err(mi_error)
    }

    fn unload_module(&mut self, name: String) -> Result<(), wit::MiError> {
        self.state.unload_module(&name).map_err(mi_error)
    }

    fn reload_modules(&mut self, name: Option<String>) -> Result<(), wit::MiError> {
        self.state.reload_modules(name.as_deref()).map_err(mi_error)
    }
}

fn module_command(c: core::ModuleCommand) -> wit::ModuleCommand {
    wit::ModuleCommand {
        name: c.name,
        module: c.module,
        help: c.help,
        named_only: c.named_only,
        recipes: c.recipes,
        param_types: c.param_types,
    }
}

fn mi_error(e: mi_core::MiError) -> wit::MiError {
    wit::MiError {
        code: e.code,
        message: e.message,
        data: e.data,
    }
}
