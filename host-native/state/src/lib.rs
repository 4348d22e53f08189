//! The daemon's state: everything mutable the core reaches through its `host` imports.
//!
//! [`HostState`] implements mi-core's `Host` trait; the component's imports and the native
//! benchmark baseline both go through it, so both see the same daemon.
//!
//! # Layout
//! - this file: [`HostState`], its `Host` implementation, and the two seams the rooms
//!   above register through: [`StatisticsSource`] (access, modules, the fleet, the audit
//!   log, the HTTP shares) and [`CommandSource`] (loaded modules, the simulated proxy);
//! - `settings`: `[log]`, `[cache]`, `[events]` and what the composition root hands over;
//! - `cache`, `caller`, `calls`, `events/`, `load`, `processes`, `stats`, `status`, `system`: one
//!   kind of state each;
//! - `simulated`: the simulated OpenSIPS proxy of `miwa serve --simulate`;
//! - `logging`: `tracing` filtered by the OpenSIPS log levels.
//!
//! State never points upward: nothing here names a crate above it.

#![forbid(unsafe_code)]

pub mod cache;
pub mod caller;
pub mod calls;
pub mod events;
pub mod load;
pub mod logging;
pub mod processes;
pub mod settings;
pub mod simulated;
pub mod stats;
pub mod status;
pub mod system;

use crate::logging::LogConsumers;
use chrono::{Local, Offset, TimeZone};
use mi_core::host::{
    self as core, BuildInfo, CacheError, Clock, EventParams, EventValue, Host, LogConsumer,
    MemoryKind, ModuleCommand, ModuleStatus, Process, RaiseError, Statistic, StatusGroup,
    SubscribeError,
};
use mi_core::MiError;
use settings::StateSettings;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Statistics kept outside the state (access, modules, the fleet, the audit log, shares),
/// registered with [`HostState::add_statistics`] and read at every `get_statistics`.
pub trait StatisticsSource: Send + Sync {
    /// The current values.
    fn statistics(&self) -> Vec<Statistic>;
    /// Resets `group:name` if it is one of this source's; false otherwise.
    fn reset_statistic(&self, _group: &str, _name: &str) -> bool {
        false
    }
    /// Resets all of this source's resettable statistics.
    fn reset_all_statistics(&self) {}
}

/// Commands beside the core's (loaded modules, the simulated proxy), registered with
/// [`HostState::add_commands`]; the first source that has a name answers for it.
pub trait CommandSource: Send + Sync {
    /// The command called `name` (its 3.6 or its 4.0 name).
    fn find(&self, name: &str) -> Option<ModuleCommand>;
    /// Every command of this source.
    fn commands(&self) -> Vec<ModuleCommand>;
    /// Their OpenSIPS 4.0 names (`module:command`), only those of `local` if given.
    fn names_4_0(&self, local: Option<&str>) -> Vec<String>;
    /// Whether `module` is one of this source's.
    fn has_module(&self, module: &str) -> bool;
    /// Runs `module`'s `command`; `state` receives what the call raises.
    fn call(
        &self,
        module: &str,
        command: &str,
        params: &str,
        state: &HostState,
    ) -> Result<String, MiError>;
}

/// The module lifecycle behind `module_list`, `module_load`, `module_unload` and
/// `module_reload`, registered with [`HostState::set_module_control`].
pub trait ModuleControl: Send + Sync {
    /// Every configured module and its status.
    fn statuses(&self) -> Vec<ModuleStatus>;
    /// Loads `name`.
    fn load(&self, name: &str) -> Result<(), MiError>;
    /// Unloads `name`.
    fn unload(&self, name: &str) -> Result<(), MiError>;
    /// Reloads `name`, or every module.
    fn reload(&self, name: Option<&str>) -> Result<(), MiError>;
    /// Whether a module called `name` is loaded (its statistics group is a module's).
    fn is_loaded(&self, name: &str) -> bool;
}

/// Status-report statuses of the `core` group.
pub mod readiness {
    /// Starting up.
    pub const INITIALIZING: i32 = -1;
    /// Serving.
    pub const RUNNING: i32 = 1;
    /// Stopping.
    pub(crate) const SHUTTING_DOWN: i32 = -2;
    /// A node of front mode that cannot be reached.
    pub const DOWN: i32 = -3;
}

/// The shared daemon state.
pub struct HostState {
    started: i64,
    arguments: Vec<String>,
    /// The process table.
    pub processes: Arc<processes::ProcessTable>,
    xlog_level: AtomicI32,
    /// Log consumers (`stderror`, `syslog`, `event`).
    pub consumers: Arc<LogConsumers>,
    /// Transport and command counters.
    pub counters: stats::Counters,
    load: Arc<load::LoadTracker>,
    cache: cache::Cache,
    /// The event registry.
    pub events: events::Events,
    status: status::StatusBoard,
    /// The limit on requests running at once.
    pub calls: calls::CallLimit,
    statistics_sources: Sources<dyn StatisticsSource>,
    command_sources: Sources<dyn CommandSource>,
    module_control: OnceLock<Arc<dyn ModuleControl>>,
    simulated_label: OnceLock<String>,
    build: settings::Build,
    shutdown: watch::Sender<bool>,
    /// Counts the changes of the commands callers can reach (modules loaded or unloaded,
    /// a node's command list).
    catalogue: watch::Sender<u64>,
    http_roots: Vec<(String, String)>,
    which_names: core::WhichNames,
    core_memory_cap: u64,
    started_offset: i32,
    now_offset: Arc<AtomicI32>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The local UTC offset at `secs`, from the time-zone database (a few microseconds: read
/// once a second by the load sampler, not per request).
fn utc_offset(secs: i64) -> i32 {
    Local
        .timestamp_opt(secs, 0)
        .single()
        .map_or(0, |t| t.offset().fix().local_minus_utc())
}

/// Maps an OpenSIPS log level to a `tracing` level (`None` = below ALERT: silent).
pub fn tracing_level(level: i32) -> Option<tracing::Level> {
    Some(match level {
        i32::MIN..=-4 => return None,
        -3..=-1 => tracing::Level::ERROR,
        0 | 1 => tracing::Level::WARN,
        2 | 3 => tracing::Level::INFO,
        4 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    })
}

impl HostState {
    /// Builds the state from the configuration, registers the calling thread as process 0
    /// (`main`) and starts the helper threads.
    pub fn start(config: &StateSettings, arguments: Vec<String>) -> std::io::Result<Arc<Self>> {
        let (shutdown, _) = watch::channel(false);
        let (catalogue, _) = watch::channel(0);
        let processes = Arc::new(processes::ProcessTable::new(config.log.level));
        processes.register_current("main");
        let started = unix_now();
        let now_offset = Arc::new(AtomicI32::new(utc_offset(started)));
        let state = Arc::new(HostState {
            started,
            started_offset: utc_offset(started),
            now_offset: now_offset.clone(),
            arguments,
            processes: processes.clone(),
            xlog_level: AtomicI32::new(config.log.xlog_level),
            consumers: Arc::new(LogConsumers::new(LogConsumers::DEFAULT_FILTER)),
            counters: stats::Counters::default(),
            load: Arc::new(load::LoadTracker::default()),
            cache: cache::Cache::new(config.cache.systems.clone(), config.cache.max_bytes),
            events: events::Events::start(config.events.delivery(), config.events.flatstore_dir())?,
            status: status::StatusBoard::default(),
            calls: calls::CallLimit::new(config.max_concurrent_calls),
            statistics_sources: Sources::default(),
            command_sources: Sources::default(),
            module_control: OnceLock::new(),
            simulated_label: OnceLock::new(),
            build: config.build.clone(),
            shutdown,
            catalogue,
            http_roots: config.http_roots.clone(),
            which_names: config.which_names,
            core_memory_cap: config.core_memory_cap,
        });
        state.set_status("core", "main", readiness::INITIALIZING, "initializing");
        state.load.start(state.processes.clone(), move || {
            now_offset.store(utc_offset(unix_now()), Ordering::Relaxed)
        })?;
        Ok(state)
    }

    /// Removes the status report `group`/`identifier` (a node no longer served).
    pub fn remove_status(&self, group: &str, identifier: &str) {
        self.status.remove(group, identifier);
    }

    /// Sets a status-report identifier, raising `E_CORE_SR_STATUS_CHANGED` when it moves.
    pub fn set_status(&self, group: &str, identifier: &str, status: i32, details: &str) {
        let now = unix_now();
        if let Some(change) =
            self.status
                .set(group, identifier, status, details, now, utc_offset(now))
        {
            let params = EventParams::Named(vec![
                ("group".into(), EventValue::Text(change.group)),
                ("identifier".into(), EventValue::Text(change.identifier)),
                ("status".into(), EventValue::Int(change.status)),
                ("details".into(), EventValue::Text(change.details)),
                ("old_status".into(), EventValue::Int(change.old_status)),
            ]);
            let _ = self.events.raise(events::CORE_EVENTS[0], &params);
        }
    }

    /// Raises `E_CORE_THRESHOLD` for a slow command (ignored when nobody listens).
    pub fn raise_threshold(&self, command: &str, transport: &str, duration_us: u64) {
        let params = EventParams::Named(vec![
            ("command".into(), EventValue::Text(command.into())),
            ("transport".into(), EventValue::Text(transport.into())),
            (
                "duration_us".into(),
                EventValue::Text(duration_us.to_string()),
            ),
        ]);
        let _ = self.events.raise(events::CORE_EVENTS[1], &params);
    }

    /// Restores the cache from a snapshot file (a missing file is an empty snapshot).
    pub fn restore_cache(&self, path: &std::path::Path) {
        match self.cache.load(path) {
            Ok((restored, skipped)) => {
                tracing::info!(path = %path.display(), restored, skipped, "cache restored")
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot restore the cache")
            }
        }
    }

    /// Saves the cache to a snapshot file.
    pub fn save_cache(&self, path: &std::path::Path) {
        match self.cache.save(path) {
            Ok(saved) => tracing::info!(path = %path.display(), saved, "cache saved"),
            Err(error) => tracing::error!(path = %path.display(), %error, "cannot save the cache"),
        }
    }

    /// Whether anybody listens to `E_CORE_LOG`: log lines are only formatted for it then.
    pub(crate) fn log_events_wanted(&self) -> bool {
        self.events.subscribed(events::CORE_EVENTS[2])
    }

    /// Raises `E_CORE_LOG` for a log line (ignored when nobody listens).
    pub(crate) fn raise_log(&self, level: i32, message: &str) {
        let params = EventParams::Named(vec![
            ("level".into(), EventValue::Int(level)),
            ("message".into(), EventValue::Text(message.into())),
        ]);
        let _ = self.events.raise(events::CORE_EVENTS[2], &params);
    }

    /// Runs the simulated OpenSIPS proxy seeded with `seed` behind the module-command seam
    /// (`miwa serve --simulate`): its events are declared, its clock starts now, its
    /// commands are registered. The caller registers its statistics
    /// ([`HostState::add_statistics`]) where their group belongs in `get_statistics`.
    pub fn simulate(
        self: &Arc<Self>,
        seed: u32,
    ) -> std::io::Result<Arc<simulated::SimulatedProxy>> {
        for event in mi_sim::EVENTS {
            self.events.declare(event);
        }
        let proxy = Arc::new(simulated::SimulatedProxy::new(seed, unix_now()));
        proxy.start(Arc::downgrade(self), unix_now)?;
        let _first_only = self.simulated_label.set(proxy.label());
        self.add_commands(proxy.clone());
        Ok(proxy)
    }

    /// Adds a source of statistics: `get_statistics` reads it after the ones before.
    pub fn add_statistics(&self, source: Arc<dyn StatisticsSource>) {
        self.statistics_sources.add(source);
    }

    /// Adds a source of commands: a name is looked up in the ones before it first.
    pub fn add_commands(&self, source: Arc<dyn CommandSource>) {
        self.command_sources.add(source);
    }

    /// Sets what `module_load` and its kin drive (the first call wins).
    pub fn set_module_control(&self, control: Arc<dyn ModuleControl>) {
        let _first_only = self.module_control.set(control);
    }

    /// Whether `name` is a loaded module.
    pub fn is_module(&self, name: &str) -> bool {
        self.module_control
            .get()
            .is_some_and(|control| control.is_loaded(name))
    }

    fn command_sources(&self) -> Arc<[Arc<dyn CommandSource>]> {
        self.command_sources.now()
    }

    fn statistics_sources(&self) -> Arc<[Arc<dyn StatisticsSource>]> {
        self.statistics_sources.now()
    }

    /// Says that the commands callers can reach changed.
    pub fn catalogue_changed(&self) {
        self.catalogue.send_modify(|changes| *changes += 1);
    }

    /// A receiver that changes whenever the commands callers can reach do.
    pub fn catalogue_changes(&self) -> watch::Receiver<u64> {
        self.catalogue.subscribe()
    }

    /// Raises `E_MODULE_LOADED` (ignored when nobody listens); the commands changed.
    pub fn raise_module_loaded(&self, module: &str, version: &str, sha256: &str) {
        self.catalogue_changed();
        let params = EventParams::Named(vec![
            ("module".into(), EventValue::Text(module.into())),
            ("version".into(), EventValue::Text(version.into())),
            ("sha256".into(), EventValue::Text(sha256.into())),
        ]);
        let _ = self.events.raise(events::CORE_EVENTS[3], &params);
    }

    /// Raises `E_MODULE_UNLOADED` (ignored when nobody listens); the commands changed.
    pub fn raise_module_unloaded(&self, module: &str) {
        self.catalogue_changed();
        let params = EventParams::Named(vec![("module".into(), EventValue::Text(module.into()))]);
        let _ = self.events.raise(events::CORE_EVENTS[4], &params);
    }

    /// A receiver that turns true when a shutdown was requested (`kill`, signals).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Requests a graceful shutdown.
    pub fn request_shutdown(&self) {
        self.set_status("core", "main", readiness::SHUTTING_DOWN, "shutting down");
        self.shutdown.send_replace(true);
    }

    fn computed_statistics(&self) -> Vec<Statistic> {
        let stat = |group: &str, name: String, value: u64| Statistic {
            group: group.into(),
            name,
            value,
            incremental: false,
        };
        let memory = system::memory();
        let mut out = vec![
            stat("shmem", "total_size".into(), memory.total),
            stat("shmem", "max_used_size".into(), memory.resident_peak),
            stat("shmem", "free_size".into(), memory.available),
            stat("shmem", "used_size".into(), memory.data),
            stat("shmem", "real_used_size".into(), memory.resident),
            stat(
                "core",
                "timestamp".into(),
                (unix_now() - self.started).max(0) as u64,
            ),
        ];
        let workers: Vec<_> = self
            .processes
            .snapshot()
            .into_iter()
            .filter(|p| p.core_memory.load(Ordering::Relaxed) > 0)
            .collect();
        let loads: Vec<_> = workers
            .iter()
            .map(|p| (p.id, self.load.load(p.id)))
            .collect();
        let average = |pick: fn(&load::Load) -> u64| {
            if loads.is_empty() {
                0
            } else {
                loads.iter().map(|(_, l)| pick(l)).sum::<u64>() / loads.len() as u64
            }
        };
        out.push(stat("load", "load".into(), average(|l| l.last)));
        out.push(stat("load", "load1m".into(), average(|l| l.minute)));
        out.push(stat("load", "load10m".into(), average(|l| l.ten_minutes)));
        out.push(stat(
            "load",
            "processes_number".into(),
            self.processes.snapshot().len() as u64,
        ));
        for (id, l) in &loads {
            out.push(stat("load", format!("load-proc-{id}"), l.last));
            out.push(stat("load", format!("load1m-proc-{id}"), l.minute));
            out.push(stat("load", format!("load10m-proc-{id}"), l.ten_minutes));
        }
        for p in &workers {
            let used = p.core_memory.load(Ordering::Relaxed);
            out.push(stat(
                "pkmem",
                format!("{}-total_size", p.id),
                self.core_memory_cap,
            ));
            out.push(stat("pkmem", format!("{}-used_size", p.id), used));
            out.push(stat("pkmem", format!("{}-real_used_size", p.id), used));
            out.push(stat(
                "pkmem",
                format!("{}-max_used_size", p.id),
                p.core_memory_peak.load(Ordering::Relaxed),
            ));
            out.push(stat(
                "pkmem",
                format!("{}-free_size", p.id),
                self.core_memory_cap.saturating_sub(used),
            ));
        }
        out
    }
}

impl Host for HostState {
    fn clock(&self) -> Clock {
        Clock {
            now: unix_now(),
            now_offset: self.now_offset.load(Ordering::Relaxed),
            started: self.started,
            started_offset: self.started_offset,
        }
    }

    fn build_info(&self) -> BuildInfo {
        BuildInfo {
            name: match self.simulated_label.get() {
                Some(label) => format!("miwa, {label}"),
                None => "miwa".into(),
            },
            version: self.build.version.clone(),
            platform: format!("{}/{}", std::env::consts::ARCH, std::env::consts::OS),
            vcs: self.build.vcs.clone(),
            revision: self.build.revision.clone(),
        }
    }

    fn caller(&self) -> Option<core::CallerFacts> {
        caller::current()
    }

    fn working_dir(&self) -> Option<String> {
        std::env::current_dir()
            .ok()
            .map(|p| p.display().to_string())
    }

    fn arguments(&self) -> Vec<String> {
        self.arguments.clone()
    }

    fn processes(&self) -> Vec<Process> {
        self.processes
            .snapshot()
            .iter()
            .map(|p| Process {
                id: p.id,
                pid: p.pid,
                kind: p.kind.clone(),
                log_level: p.log_level.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn set_log_level(&self, level: i32) {
        self.processes.set_all_levels(level);
    }

    fn set_process_log_level(&self, pid: i32, level: i32) -> bool {
        self.processes.set_level(pid, level)
    }

    fn xlog_level(&self) -> i32 {
        self.xlog_level.load(Ordering::Relaxed)
    }

    fn set_xlog_level(&self, level: i32) {
        self.xlog_level.store(level, Ordering::Relaxed);
    }

    fn log_consumer(&self, name: &str) -> Option<LogConsumer> {
        self.consumers.get(name)
    }

    fn set_log_consumer_filter(&self, name: &str, level: i32) -> bool {
        self.consumers.set_filter(name, level)
    }

    fn set_log_consumer_muted(&self, name: &str, muted: i32) -> bool {
        self.consumers.set_muted(name, muted)
    }

    fn log(&self, level: i32, message: &str) {
        match tracing_level(level) {
            Some(tracing::Level::ERROR) => tracing::error!(target: "miwa::core", "{message}"),
            Some(tracing::Level::WARN) => tracing::warn!(target: "miwa::core", "{message}"),
            Some(tracing::Level::INFO) => tracing::info!(target: "miwa::core", "{message}"),
            Some(tracing::Level::DEBUG) => tracing::debug!(target: "miwa::core", "{message}"),
            Some(_) => tracing::trace!(target: "miwa::core", "{message}"),
            None => {}
        }
    }

    fn shutdown(&self) {
        self.request_shutdown();
    }

    fn statistics(&self) -> Vec<Statistic> {
        let mut out = self.computed_statistics();
        out.extend(self.counters.values().into_iter().map(|c| Statistic {
            group: c.group.into(),
            name: c.name,
            value: c.value,
            incremental: true,
        }));
        out.extend(self.events.statistics());
        out.extend(self.calls.statistics());
        for source in self.statistics_sources().iter() {
            out.extend(source.statistics());
        }
        out
    }

    fn reset_statistic(&self, group: &str, name: &str) {
        let _ = self.counters.reset(group, name)
            || (group == "events" && self.events.reset_statistic(name))
            || self
                .statistics_sources()
                .iter()
                .any(|source| source.reset_statistic(group, name));
    }

    fn reset_all_statistics(&self) {
        self.counters.reset_all();
        self.events.reset_all_statistics();
        for source in self.statistics_sources().iter() {
            source.reset_all_statistics();
        }
    }

    fn cache_store(
        &self,
        system: &str,
        key: &str,
        value: &str,
        expire: u32,
    ) -> Result<(), CacheError> {
        self.cache.store(system, key, value, expire)
    }

    fn cache_fetch(&self, system: &str, key: &str) -> Result<Option<String>, CacheError> {
        self.cache.fetch(system, key)
    }

    fn cache_remove(&self, system: &str, key: &str) -> Result<(), CacheError> {
        self.cache.remove(system, key)
    }

    fn cache_fetch_matching(
        &self,
        system: &str,
        glob: &str,
    ) -> Result<Vec<(String, String)>, CacheError> {
        self.cache.fetch_matching(system, glob)
    }

    fn http_roots(&self) -> Vec<(String, String)> {
        self.http_roots.clone()
    }

    fn events(&self) -> Vec<String> {
        self.events.names()
    }

    fn subscribers(&self) -> Vec<core::EventSubscribers> {
        self.events.subscribers()
    }

    fn subscribe(&self, event: &str, socket: &str, expire: u32) -> Result<(), SubscribeError> {
        self.events.subscribe(event, socket, expire)
    }

    fn raise_event(&self, event: &str, params: &EventParams) -> Result<(), RaiseError> {
        self.events.raise(event, params)
    }

    fn status_groups(&self) -> Vec<StatusGroup> {
        self.status.groups()
    }

    fn memory_dump(&self, kind: MemoryKind, pid: Option<i32>, level: Option<i32>) -> bool {
        let level = level.unwrap_or(3);
        let summary = match kind {
            MemoryKind::Private => {
                let Some(p) = self
                    .processes
                    .snapshot()
                    .into_iter()
                    .find(|p| Some(p.pid) == pid)
                else {
                    return false;
                };
                format!(
                    "memory of process {} ({}): core instance {} bytes of {} (peak {})",
                    p.id,
                    p.kind,
                    p.core_memory.load(Ordering::Relaxed),
                    self.core_memory_cap,
                    p.core_memory_peak.load(Ordering::Relaxed)
                )
            }
            MemoryKind::Shared | MemoryKind::Persistent => {
                let m = system::memory();
                format!(
                    "daemon memory: resident {} bytes (peak {}), data {} bytes; machine total {}, available {}",
                    m.resident, m.resident_peak, m.data, m.total, m.available
                )
            }
        };
        self.log(level, &summary);
        true
    }

    fn module_command(&self, name: &str) -> Option<core::ModuleCommand> {
        self.command_sources()
            .iter()
            .find_map(|source| source.find(name))
    }

    fn module_commands(&self) -> Vec<core::ModuleCommand> {
        self.command_sources()
            .iter()
            .flat_map(|source| source.commands())
            .collect()
    }

    fn which_names(&self) -> core::WhichNames {
        self.which_names
    }

    fn module_command_names(&self, local: Option<&str>) -> Vec<String> {
        self.command_sources()
            .iter()
            .flat_map(|source| source.names_4_0(local))
            .collect()
    }

    fn call_module(&self, module: &str, command: &str, params: &str) -> Result<String, MiError> {
        let sources = self.command_sources();
        match sources.iter().find(|source| source.has_module(module)) {
            Some(source) => source.call(module, command, params, self),
            None if self.module_control.get().is_some() => Err(MiError::new(
                404,
                format!("module '{module}' is not loaded"),
            )),
            None => Err(MiError::method_not_found()),
        }
    }

    fn modules(&self) -> Vec<core::ModuleStatus> {
        self.module_control
            .get()
            .map(|m| m.statuses())
            .unwrap_or_default()
    }

    fn load_module(&self, name: &str) -> Result<(), MiError> {
        match self.module_control.get() {
            Some(modules) => modules.load(name),
            None => Err(core::no_such_module(name)),
        }
    }

    fn unload_module(&self, name: &str) -> Result<(), MiError> {
        match self.module_control.get() {
            Some(modules) => modules.unload(name),
            None => Err(core::no_such_module(name)),
        }
    }

    fn reload_modules(&self, name: Option<&str>) -> Result<(), MiError> {
        match self.module_control.get() {
            Some(modules) => modules.reload(name),
            None => Ok(()),
        }
    }
}

/// Sources registered with the state, read as snapshots: a lookup takes the current list
/// (one `Arc`) and holds no lock while it calls into a source, which may enter the state
/// again; adding one (at start, rarely after) makes a new list.
struct Sources<T: ?Sized> {
    list: RwLock<Arc<[Arc<T>]>>,
}

impl<T: ?Sized> Default for Sources<T> {
    fn default() -> Self {
        Sources {
            list: RwLock::new(Arc::from(Vec::new())),
        }
    }
}

impl<T: ?Sized> Sources<T> {
    /// The list now. A lock a panicking writer left behind still holds a whole list: the
    /// list is replaced in one step.
    fn now(&self) -> Arc<[Arc<T>]> {
        self.list
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Adds `source` after the others.
    fn add(&self, source: Arc<T>) {
        let mut list = self
            .list
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut grown: Vec<Arc<T>> = list.iter().cloned().collect();
        grown.push(source);
        *list = Arc::from(grown);
    }
}

/// The HTTP listener's per-client connection shares.
impl StatisticsSource for transports::share::ClientShares {
    fn statistics(&self) -> Vec<Statistic> {
        vec![
            Statistic {
                group: "mi_http".into(),
                name: "clients".into(),
                value: self.clients() as u64,
                incremental: false,
            },
            Statistic {
                group: "mi_http".into(),
                name: "refused_per_client".into(),
                value: self.refused(),
                incremental: true,
            },
        ]
    }
}

impl simulated::Raise for HostState {
    fn raise(&self, event: &str, params: &EventParams) -> Result<(), RaiseError> {
        self.events.raise(event, params)
    }

    fn register_thread(&self, kind: &str) {
        self.processes.register_current(kind);
    }
}
