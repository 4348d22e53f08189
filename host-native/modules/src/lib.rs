//! Third-party MI command modules: WebAssembly components of the `miwa:module` world, each
//! in its own sandbox (engine with its stack cap, memory cap, call deadline, concurrency
//! limit, granted capabilities only), loaded, unloaded and reloaded at run time without
//! dropping a call in flight.
//!
//! # Layout
//! - this file: [`Modules`], the lifecycle (`module_load`, `module_unload`,
//!   `module_reload`, SIGHUP) and the seams it registers with the state;
//! - `settings`: `[modules.<name>]`, its limits and grants;
//! - `loaded`: one loaded module: its engine, pre-instantiated component, instances;
//! - `grant`: the typed [`grant::Grant`]; `capability/`: what each grant opens, one
//!   `Capability` each (prepare, link, check), whose imports are refused when ungranted;
//! - `bindings/`: the `miwa:module` worlds (0.1, 0.2, 0.3 side by side) and their host
//!   imports (`log`, `stats`, `cache`, `events`, `mi`);
//! - `wasi/`: the WASI a module granted `files`, `tcp` or `http` sees, and its shares;
//! - `refusals`: what an ungranted import links to;
//! - `describe`: checking what a module says of itself;
//! - `shared`: what every instance of a module shares (counters, limits, the `mi` path);
//! - `log_rate`, `schedule`: the log-rate limit and the `tick` schedule.

#![forbid(unsafe_code)]

mod bindings;
mod capability;
mod describe;
pub mod grant;
mod loaded;
mod log_rate;
mod refusals;
mod schedule;
pub mod settings;
mod shared;
mod wasi;

/// Whether `text` is an `allowed_outbound_hosts` pattern.
pub(crate) fn is_url_pattern(text: &str) -> bool {
    wasi::http::UrlPattern::parse(text).is_some()
}

/// Whether `text` is an `allowed_tcp` pattern.
pub(crate) fn is_tcp_pattern(text: &str) -> bool {
    wasi::allow::Pattern::parse(text).is_some()
}

pub use loaded::LoadError;

use crate::settings::ModuleConfig;
use loaded::{LoadContext, LoadedModule};
use mi_core::host::{no_such_module, ModuleCommand, ModuleLimits, ModuleStatus, Statistic};
use mi_core::MiError;
use miwa_runtime::stack::{self, StackPlan};
use miwa_runtime::CoreRuntime;
use miwa_state::HostState;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Instant;

/// The cache system behind the `cache` capability.
pub(crate) const CACHE_SYSTEM: &str = "local";

/// The status-report group with one identifier per module.
pub(crate) const STATUS_GROUP: &str = "modules";

/// Re-reads the module declarations of a configuration file (`module_load`,
/// `module_reload`, SIGHUP); the error names the file and key.
pub(crate) type Reread = fn(&Path) -> Result<BTreeMap<String, ModuleConfig>, String>;

/// Every module the configuration declares, and those loaded.
pub struct Modules {
    state: Weak<HostState>,
    core: Weak<CoreRuntime>,
    cache_dir: Option<PathBuf>,
    config_path: Option<PathBuf>,
    reread: Reread,
    core_commands: Vec<String>,
    declared: RwLock<BTreeMap<String, ModuleConfig>>,
    loaded: RwLock<Vec<Arc<LoadedModule>>>,
    failures: Mutex<BTreeMap<String, String>>,
    lifecycle: Mutex<()>,
    io_runtimes: wasi::blocking::IoRuntimes,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lifecycle lock for an MI command: never waits, so that a module whose `mi()` runs a
/// module command while a load is in progress gets an answer instead of a deadlock.
fn lifecycle_for_mi(mutex: &Mutex<()>) -> Result<MutexGuard<'_, ()>, MiError> {
    match mutex.try_lock() {
        Ok(guard) => Ok(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => Err(MiError::new(
            503,
            "another module operation is in progress, try again",
        )),
    }
}

impl Modules {
    /// The module manager of a daemon, with the `declared` modules; nothing is loaded until
    /// [`Modules::start`]. `config_path` is re-read with `reread` by `module_load`,
    /// `module_reload` and SIGHUP. It registers with `state` as its modules and their
    /// commands; the caller registers their statistics where they belong in
    /// `get_statistics`.
    pub fn new(
        state: &Arc<HostState>,
        core: &Arc<CoreRuntime>,
        declared: BTreeMap<String, ModuleConfig>,
        config_path: Option<PathBuf>,
        reread: Reread,
    ) -> anyhow::Result<Arc<Modules>> {
        let core_commands = core.commands()?.into_iter().map(|c| c.name).collect();
        let modules = Arc::new(Modules {
            state: Arc::downgrade(state),
            core: Arc::downgrade(core),
            cache_dir: core.cache_dir().map(PathBuf::from),
            config_path,
            reread,
            core_commands,
            declared: RwLock::new(declared),
            loaded: RwLock::new(Vec::new()),
            failures: Mutex::new(BTreeMap::new()),
            lifecycle: Mutex::new(()),
            io_runtimes: wasi::blocking::IoRuntimes::default(),
        });
        state.set_module_control(modules.clone());
        state.add_commands(modules.clone());
        Ok(modules)
    }

    /// Loads every enabled module; a module that fails is logged and reported by
    /// `module_list` and its status identifier, and the others load regardless.
    pub fn start(&self) {
        let _lifecycle = lock(&self.lifecycle);
        let enabled: Vec<(String, ModuleConfig)> = self
            .declared()
            .iter()
            .filter(|(_, c)| c.enabled)
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect();
        for (name, config) in enabled {
            let _reported = self.load_declared(&name, &config);
        }
    }

    fn declared(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, ModuleConfig>> {
        self.declared.read().unwrap_or_else(|e| e.into_inner())
    }

    fn loaded(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<LoadedModule>>> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    fn loaded_mut(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<LoadedModule>>> {
        self.loaded.write().unwrap_or_else(|e| e.into_inner())
    }

    fn module(&self, name: &str) -> Option<Arc<LoadedModule>> {
        self.loaded()
            .iter()
            .find(|m| m.shared.name == name)
            .cloned()
    }

    fn set_status(&self, name: &str, status: i32, details: &str) {
        if let Some(state) = self.state.upgrade() {
            state.set_status(STATUS_GROUP, name, status, details);
        }
    }

    /// Re-reads the configuration file, if the daemon was started with one.
    fn refresh_declarations(&self) -> Result<(), MiError> {
        let Some(path) = &self.config_path else {
            return Ok(());
        };
        let declared = (self.reread)(path)
            .map_err(|e| MiError::new(500, format!("cannot re-read the configuration: {e}")))?;
        *self.declared.write().unwrap_or_else(|e| e.into_inner()) = declared;
        Ok(())
    }

    fn declaration(&self, name: &str) -> Result<ModuleConfig, MiError> {
        self.declared()
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_module(name))
    }

    /// Builds a module, checking its commands against the core's and the other modules'
    /// (`replacing` is the module a reload replaces, whose names are free).
    fn build(&self, name: &str, config: &ModuleConfig) -> Result<LoadedModule, LoadError> {
        let core = self.core.upgrade();
        if let Some(core) = &core {
            let plan = self
                .loaded()
                .iter()
                .filter(|m| m.shared.name != name)
                .fold(StackPlan::core(core.max_wasm_stack()), |plan, m| {
                    m.shared.config.add_to(plan)
                });
            let plan = config.add_to(plan);
            if let Err(needed) = stack::fits(&plan) {
                return Err(LoadError::Stack {
                    file: self
                        .config_path
                        .as_ref()
                        .map_or("the configuration".into(), |p| p.display().to_string()),
                    name: name.to_string(),
                    have: stack::thread_stack().unwrap_or(0),
                    needed,
                });
            }
        }
        let ticker = core
            .as_ref()
            .map(|c| c.ticker())
            .ok_or_else(|| LoadError::Invalid("the core is shutting down".into()))?;
        let others: Vec<(String, String)> = self
            .loaded()
            .iter()
            .filter(|m| m.shared.name != name)
            .flat_map(|m| {
                m.description
                    .commands
                    .iter()
                    .map(|c| (c.name.clone(), m.shared.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let taken = |command: &str| -> Option<String> {
            if self.core_commands.iter().any(|c| c == command) {
                return Some("the core".into());
            }
            others
                .iter()
                .find(|(c, _)| c == command)
                .map(|(_, owner)| format!("module '{owner}'"))
        };
        LoadedModule::load(
            name,
            config,
            &LoadContext {
                state: self.state.clone(),
                core: self.core.clone(),
                ticker,
                cache_dir: self.cache_dir.as_deref(),
                taken: &taken,
                io_runtimes: &self.io_runtimes,
            },
        )
    }

    fn loaded_ok(&self, module: &LoadedModule) {
        if let Some(state) = self.state.upgrade() {
            for event in &module.description.events {
                state.events.declare(event);
            }
            state.raise_module_loaded(
                &module.shared.name,
                &module.description.version,
                &module.sha256,
            );
        }
        lock(&self.failures).remove(&module.shared.name);
        self.set_status(
            &module.shared.name,
            1,
            &format!(
                "loaded {} (sha256 {}, miwa:module@{})",
                module.shared.config.path.display(),
                module.sha256,
                module.world
            ),
        );
        tracing::info!(
            module = %module.shared.name,
            commands = module.description.commands.len(),
            world = module.world,
            "module loaded"
        );
    }

    fn load_failed(&self, name: &str, error: &LoadError) -> MiError {
        let reason = error.to_string();
        tracing::error!(module = name, "module not loaded: {reason}");
        lock(&self.failures).insert(name.to_string(), reason.clone());
        self.set_status(name, -1, &format!("not loaded: {reason}"));
        MiError::new(500, format!("module '{name}' was not loaded: {reason}"))
    }

    fn load_declared(&self, name: &str, config: &ModuleConfig) -> Result<(), MiError> {
        if self.module(name).is_some() {
            return Err(MiError::new(
                400,
                format!("module '{name}' is already loaded"),
            ));
        }
        let module = self
            .build(name, config)
            .map_err(|e| self.load_failed(name, &e))?;
        self.loaded_ok(&module);
        let module = Arc::new(module);
        module.start_ticking();
        self.loaded_mut().push(module);
        Ok(())
    }

    /// `module_load`: loads a declared module (enabled or not).
    fn load(&self, name: &str) -> Result<(), MiError> {
        let _lifecycle = lifecycle_for_mi(&self.lifecycle)?;
        self.refresh_declarations()?;
        let config = self.declaration(name)?;
        self.load_declared(name, &config)
    }

    /// `module_unload`: removes a module's commands; calls in flight finish on it.
    fn unload(&self, name: &str) -> Result<(), MiError> {
        let _lifecycle = lifecycle_for_mi(&self.lifecycle)?;
        self.unload_locked(name)
    }

    fn unload_locked(&self, name: &str) -> Result<(), MiError> {
        let removed = {
            let mut loaded = self.loaded_mut();
            let index = loaded
                .iter()
                .position(|m| m.shared.name == name)
                .ok_or_else(|| MiError::new(404, format!("module '{name}' is not loaded")))?;
            loaded.remove(index)
        };
        self.set_status(name, -2, "unloaded");
        if let Some(state) = self.state.upgrade() {
            state.raise_module_unloaded(name);
        }
        tracing::info!(module = name, "module unloaded");
        drop(removed);
        Ok(())
    }

    fn reload_locked(&self, name: &str) -> Result<(), MiError> {
        if self.module(name).is_none() {
            return Err(MiError::new(404, format!("module '{name}' is not loaded")));
        }
        let config = self.declaration(name)?;
        let fresh = self.build(name, &config).map_err(|e| {
            let reason = e.to_string();
            tracing::error!(module = name, "module not reloaded: {reason}");
            lock(&self.failures).insert(name.to_string(), reason.clone());
            MiError::new(
                500,
                format!(
                    "module '{name}' was not reloaded (the loaded version keeps serving): {reason}"
                ),
            )
        })?;
        self.loaded_ok(&fresh);
        let fresh = Arc::new(fresh);
        fresh.start_ticking();
        {
            let mut loaded = self.loaded_mut();
            match loaded.iter_mut().find(|m| m.shared.name == name) {
                Some(slot) => *slot = fresh,
                None => loaded.push(fresh),
            }
        }
        Ok(())
    }

    /// `module_reload`: rebuilds one loaded module (or all) from its file and the
    /// configuration; a module that fails to rebuild keeps its loaded version.
    fn reload(&self, name: Option<&str>) -> Result<(), MiError> {
        let _lifecycle = lifecycle_for_mi(&self.lifecycle)?;
        self.refresh_declarations()?;
        match name {
            Some(name) => self.reload_locked(name),
            None => {
                let names: Vec<String> = self
                    .loaded()
                    .iter()
                    .map(|m| m.shared.name.clone())
                    .collect();
                let mut first_error = None;
                for name in names {
                    if let Err(error) = self.reload_locked(&name) {
                        first_error.get_or_insert(error);
                    }
                }
                first_error.map_or(Ok(()), Err)
            }
        }
    }

    /// SIGHUP: re-reads the configuration, unloads modules no longer declared (or
    /// disabled), reloads the loaded ones and loads newly enabled ones.
    pub fn reconcile(&self) -> Result<(), MiError> {
        let _lifecycle = lock(&self.lifecycle);
        self.refresh_declarations()?;
        let declared = self.declared().clone();
        let loaded: Vec<String> = self
            .loaded()
            .iter()
            .map(|m| m.shared.name.clone())
            .collect();
        for name in &loaded {
            let keep = declared.get(name).is_some_and(|c| c.enabled);
            let outcome = if keep {
                self.reload_locked(name)
            } else {
                self.unload_locked(name)
            };
            if let Err(error) = outcome {
                tracing::error!(module = %name, "{}", error.message);
            }
        }
        for (name, config) in declared.iter().filter(|(_, c)| c.enabled) {
            if !loaded.contains(name) {
                let _reported = self.load_declared(name, config);
            }
        }
        Ok(())
    }

    /// The command `name` (or `module:name`) of a loaded module.
    fn find(&self, name: &str) -> Option<ModuleCommand> {
        let loaded = self.loaded();
        let exact = loaded
            .iter()
            .flat_map(|m| m.description.commands.iter())
            .find(|c| c.name == name);
        if let Some(command) = exact {
            return Some(command.clone());
        }
        let (module, bare) = name.split_once(':')?;
        loaded
            .iter()
            .filter(|m| m.shared.name == module)
            .flat_map(|m| m.description.commands.iter())
            .find(|c| c.name == bare)
            .cloned()
    }

    /// Every module command, modules in load order.
    fn commands(&self) -> Vec<ModuleCommand> {
        self.loaded()
            .iter()
            .flat_map(|m| m.description.commands.iter().cloned())
            .collect()
    }

    /// Runs a module command. A module call may last until its deadline: on a worker of
    /// the HTTP runtime, a module that is new or was recently slow runs with the worker's
    /// other tasks moved to another thread meanwhile (`block_in_place`), so connections
    /// queued behind it are not held up; a module with a record of quick calls runs inline,
    /// like core commands, which is several times cheaper. A module granted I/O always
    /// runs with the worker's tasks moved away: its waits block the thread.
    fn call(&self, module: &str, command: &str, params: &str) -> Result<String, MiError> {
        let module = self
            .module(module)
            .ok_or_else(|| MiError::new(404, format!("module '{module}' is not loaded")))?;
        let on_shared_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let started = Instant::now();
        let outcome = if on_shared_worker && (module.on_probation() || module.does_io()) {
            tokio::task::block_in_place(|| module.call(command, params))
        } else {
            module.call(command, params)
        };
        module.record_duration(started.elapsed());
        outcome
    }

    /// `module_list`: every declared module, and loaded ones no longer declared.
    fn statuses(&self) -> Vec<ModuleStatus> {
        let declared = self.declared().clone();
        let failures = lock(&self.failures).clone();
        let loaded = self.loaded().clone();
        let mut names: Vec<String> = declared.keys().cloned().collect();
        for module in &loaded {
            if !names.contains(&module.shared.name) {
                names.push(module.shared.name.clone());
            }
        }
        names
            .into_iter()
            .filter_map(|name| {
                let module = loaded.iter().find(|m| m.shared.name == name);
                let config = module
                    .map(|m| m.shared.config.clone())
                    .or_else(|| declared.get(&name).cloned())?;
                let state = match (module, failures.get(&name)) {
                    (Some(_), _) => "loaded",
                    (None, Some(_)) => "failed",
                    (None, None) => "unloaded",
                };
                Some(ModuleStatus {
                    state: state.to_string(),
                    error: failures.get(&name).cloned(),
                    path: config.path.display().to_string(),
                    sha256: module.map(|m| m.sha256.clone()),
                    version: module.map(|m| m.description.version.clone()),
                    commands: module
                        .map(|m| {
                            m.description
                                .commands
                                .iter()
                                .map(|c| c.name.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                    grants: config.grants.iter().map(|g| g.to_string()).collect(),
                    limits: ModuleLimits {
                        timeout_ms: config.timeout_ms,
                        max_memory: config.max_memory as u64,
                        max_wasm_stack: config.max_wasm_stack as u64,
                        max_reply: config.max_reply as u64,
                        max_instances: config.max_instances,
                    },
                    instances: module.map_or(0, |m| m.instances()),
                    name,
                })
            })
            .collect()
    }

    /// Whether a module named `name` is loaded (its statistics group is `name`).
    fn is_loaded(&self, name: &str) -> bool {
        self.module(name).is_some()
    }

    /// Every loaded module's statistics group.
    fn statistics(&self) -> Vec<Statistic> {
        self.loaded()
            .iter()
            .flat_map(|m| m.shared.statistics())
            .collect()
    }

    /// Resets one module counter; false if `group` is no loaded module or `name` no counter.
    fn reset_statistic(&self, group: &str, name: &str) -> bool {
        self.module(group)
            .is_some_and(|m| m.shared.reset_statistic(name))
    }

    /// Resets every module counter.
    fn reset_all_statistics(&self) {
        for module in self.loaded().iter() {
            module.shared.reset_all_statistics();
        }
    }
}

impl miwa_state::ModuleControl for Modules {
    fn statuses(&self) -> Vec<ModuleStatus> {
        Modules::statuses(self)
    }

    fn load(&self, name: &str) -> Result<(), MiError> {
        Modules::load(self, name)
    }

    fn unload(&self, name: &str) -> Result<(), MiError> {
        Modules::unload(self, name)
    }

    fn reload(&self, name: Option<&str>) -> Result<(), MiError> {
        Modules::reload(self, name)
    }

    fn is_loaded(&self, name: &str) -> bool {
        Modules::is_loaded(self, name)
    }
}

impl miwa_state::CommandSource for Modules {
    fn find(&self, name: &str) -> Option<ModuleCommand> {
        Modules::find(self, name)
    }

    fn commands(&self) -> Vec<ModuleCommand> {
        Modules::commands(self)
    }

    fn names_4_0(&self, local: Option<&str>) -> Vec<String> {
        Modules::commands(self)
            .into_iter()
            .filter(|c| local.is_none_or(|local| c.name == local))
            .map(|c| format!("{}:{}", c.module, c.name))
            .collect()
    }

    fn has_module(&self, module: &str) -> bool {
        Modules::is_loaded(self, module)
    }

    fn call(
        &self,
        module: &str,
        command: &str,
        params: &str,
        _state: &HostState,
    ) -> Result<String, MiError> {
        Modules::call(self, module, command, params)
    }
}

impl miwa_state::StatisticsSource for Modules {
    fn statistics(&self) -> Vec<Statistic> {
        Modules::statistics(self)
    }

    fn reset_statistic(&self, group: &str, name: &str) -> bool {
        Modules::reset_statistic(self, group, name)
    }

    fn reset_all_statistics(&self) {
        Modules::reset_all_statistics(self)
    }
}
