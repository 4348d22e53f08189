//! One loaded module: its engine (with the module's stack cap), its pre-linked component,
//! its description and its pool of warm instances.

use super::bindings::{module_api, Module, ModulePre, ModuleStoreData};
use super::describe::{self, Description};
use super::shared::{Kind, ModuleShared, ModuleStats};
use super::wasi;
use crate::config::ModuleConfig;
use crate::runtime::{artifact, engine_config, stack, CoreRuntime, EpochTicker, TICK};
use crate::state::HostState;
use mi_core::MiError;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, Trap};

/// An instance whose linear memory grew past this is dropped after its call instead of
/// being kept idle, so that one large call does not pin its memory.
pub const MAX_IDLE_MEMORY: usize = 8 << 20;

/// A call slower than this puts its module on probation.
pub const SLOW_CALL: Duration = Duration::from_millis(20);

/// Quick calls a module on probation must make before it runs inline again; new modules
/// start on probation.
pub const PROBATION_CALLS: u32 = 256;

/// The WIT package version this daemon provides.
const PACKAGE: &str = "miwa:module/";
const VERSION: &str = "@0.1.0";

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a component wasmtime accepts, or it cannot be linked.
    #[error("{0}")]
    Invalid(String),
    /// It imports a capability it was not granted.
    #[error("it imports capability '{capability}' but was not granted it (grants = [{granted}])")]
    Ungranted {
        /// The capability.
        capability: String,
        /// What was granted.
        granted: String,
    },
    /// Its description is unusable.
    #[error("its description {0}")]
    Description(String),
    /// `describe` failed.
    #[error("describe failed: {0}")]
    Describe(String),
    /// Its stack cap or `mi()` nesting does not fit the stacks the daemon's threads have.
    #[error("{file}: keys `modules.{name}.max_wasm_stack` / `mi_depth`: the daemon's threads have {have}-byte stacks, these limits need {needed}; restart the daemon to apply them")]
    Stack {
        /// The configuration file.
        file: String,
        /// The module.
        name: String,
        /// The threads' stack size.
        have: usize,
        /// What the module's limits need.
        needed: usize,
    },
}

fn invalid(error: impl std::fmt::Display) -> LoadError {
    LoadError::Invalid(format!("{error:#}"))
}

/// A warm instance of the module.
struct Instance {
    store: Store<ModuleStoreData>,
    module: Module,
}

/// A module ready to serve calls.
pub struct LoadedModule {
    /// Identity, configuration, statistics, services.
    pub shared: Arc<ModuleShared>,
    /// What `describe` declared, validated.
    pub description: Description,
    /// SHA-256 of the component file, hex.
    pub sha256: String,
    engine: Engine,
    pre: ModulePre<ModuleStoreData>,
    idle: Mutex<Vec<Instance>>,
    busy: AtomicU32,
    probation: AtomicU32,
    deadline_ticks: u64,
    ticker: Arc<EpochTicker>,
}

/// What a load needs from the daemon.
pub struct LoadContext<'a> {
    /// The daemon state.
    pub state: Weak<HostState>,
    /// The core, for `mi`.
    pub core: Weak<CoreRuntime>,
    /// The core's ticker, which also ticks module engines.
    pub ticker: &'a Arc<EpochTicker>,
    /// Precompiled artifacts.
    pub cache_dir: Option<&'a Path>,
    /// Command names taken by the core and by other modules.
    pub taken: &'a dyn Fn(&str) -> Option<String>,
}

fn check_imports(
    engine: &Engine,
    component: &wasmtime::component::Component,
    config: &ModuleConfig,
) -> Result<(), LoadError> {
    for (name, _) in component.component_type().imports(engine) {
        let Some(rest) = name.strip_prefix(PACKAGE) else {
            continue;
        };
        let Some(interface) = rest.strip_suffix(VERSION) else {
            return Err(LoadError::Invalid(format!(
                "it imports {name}, but this daemon provides miwa:module{VERSION}"
            )));
        };
        match interface {
            "types" | "diagnostics" => {}
            capability if config.grants.iter().any(|g| g == capability) => {}
            capability if crate::config::CAPABILITIES.contains(&capability) => {
                return Err(LoadError::Ungranted {
                    capability: capability.to_string(),
                    granted: config.grants.join(", "),
                })
            }
            other => {
                return Err(LoadError::Invalid(format!(
                    "it imports unknown interface miwa:module/{other}"
                )))
            }
        }
    }
    Ok(())
}

fn linker(
    engine: &Engine,
    component: &wasmtime::component::Component,
    config: &ModuleConfig,
) -> wasmtime::Result<Linker<ModuleStoreData>> {
    use super::bindings::miwa::module as caps;
    let mut linker = Linker::<ModuleStoreData>::new(engine);
    caps::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?;
    caps::diagnostics::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?;
    for grant in &config.grants {
        match grant.as_str() {
            "log" => caps::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?,
            "stats" => caps::stats::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?,
            "cache" => caps::cache::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?,
            "events" => caps::events::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?,
            "mi" => caps::mi::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?,
            _ => {}
        }
    }
    wasi::add_to_linker(&mut linker)?;
    let http = config.grants.iter().any(|g| g == "http");
    if http {
        wasi::add_http_to_linker(&mut linker)?;
    }
    wasi::stub_unlinked(&mut linker, engine, component, http)?;
    Ok(linker)
}

impl LoadedModule {
    /// Reads, compiles (or loads the cached artifact), checks and links the module, then
    /// asks it to describe itself and validates the answer.
    pub fn load(
        name: &str,
        config: &ModuleConfig,
        context: &LoadContext<'_>,
    ) -> Result<LoadedModule, LoadError> {
        let bytes = std::fs::read(&config.path).map_err(|source| LoadError::Read {
            path: config.path.display().to_string(),
            source,
        })?;
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let engine = Engine::new(&engine_config(config.max_wasm_stack)).map_err(invalid)?;
        let component = artifact::load_component(&engine, &bytes, context.cache_dir, "module")
            .map_err(invalid)?;
        check_imports(&engine, &component, config)?;
        let linker = linker(&engine, &component, config).map_err(invalid)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ModulePre::new)
            .map_err(invalid)?;
        context.ticker.add(&engine);
        let memory = context
            .state
            .upgrade()
            .map(|state| state.wasm_memory.clone())
            .ok_or_else(|| LoadError::Invalid("the daemon is shutting down".into()))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut loading = LoadedModule {
            shared: Arc::new(ModuleShared {
                name: name.to_string(),
                config: config.clone(),
                stats: ModuleStats::new(Vec::new()),
                events: Vec::new(),
                state: context.state.clone(),
                core: context.core.clone(),
                memory: memory.clone(),
            }),
            description: Description::default(),
            sha256,
            engine,
            pre,
            idle: Mutex::new(Vec::new()),
            busy: AtomicU32::new(0),
            probation: AtomicU32::new(PROBATION_CALLS),
            deadline_ticks: timeout.as_millis().div_ceil(TICK.as_millis()) as u64 + 1,
            ticker: context.ticker.clone(),
        };
        let info = loading
            .with_instance(|store, module| module.miwa_module_module_api().call_describe(store))
            .map_err(|e| LoadError::Describe(e.message))?;
        let description =
            describe::validate(name, info, context.taken).map_err(LoadError::Description)?;
        if description.name != name {
            tracing::info!(
                module = name,
                declared = description.name,
                "module describes itself under another name; the configured one is used"
            );
        }
        loading.shared = Arc::new(ModuleShared {
            name: name.to_string(),
            config: config.clone(),
            stats: ModuleStats::new(
                description
                    .statistics
                    .iter()
                    .map(|(n, k)| (n.clone(), *k))
                    .collect::<Vec<(String, Kind)>>(),
            ),
            events: description.events.clone(),
            state: context.state.clone(),
            core: context.core.clone(),
            memory,
        });
        loading.idle_instances().clear();
        loading.description = description;
        Ok(loading)
    }

    fn idle_instances(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn instantiate(&self) -> Result<Instance, MiError> {
        let data = ModuleStoreData::new(self.shared.clone()).map_err(|e| {
            MiError::new(
                500,
                format!("module '{}' could not start: {e}", self.shared.name),
            )
        })?;
        let mut store = Store::new(&self.engine, data);
        store.limiter(|data| data);
        store.set_epoch_deadline(self.deadline_ticks);
        let timeout = Duration::from_millis(self.shared.config.timeout_ms);
        store.epoch_deadline_callback(move |context| {
            let data = context.data();
            let computing = data
                .call_started
                .elapsed()
                .saturating_sub(data.wasi.budget.waited);
            match timeout.checked_sub(computing) {
                Some(left) if !left.is_zero() => Ok(wasmtime::UpdateDeadline::Continue(
                    left.as_millis().div_ceil(TICK.as_millis()) as u64,
                )),
                _ => Err(Trap::Interrupt.into()),
            }
        });
        let module = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.failure(e, store.data()))?;
        self.shared.stats.instances.fetch_add(1, Ordering::Relaxed);
        Ok(Instance { store, module })
    }

    /// Runs `call` on an idle instance (a new one if none is idle), within the module's
    /// concurrency, time and memory limits. A failed instance is discarded.
    fn with_instance<T>(
        &self,
        call: impl FnOnce(&mut Store<ModuleStoreData>, &Module) -> wasmtime::Result<T>,
    ) -> Result<T, MiError> {
        let limit = self.shared.config.max_instances;
        if self.busy.fetch_add(1, Ordering::AcqRel) >= limit {
            self.busy.fetch_sub(1, Ordering::AcqRel);
            return Err(MiError::new(
                503,
                format!(
                    "module '{}' is busy: all {limit} instances are in use",
                    self.shared.name
                ),
            ));
        }
        let outcome = (|| {
            stack::check(self.shared.config.max_wasm_stack).map_err(|shortage| {
                tracing::warn!(module = %self.shared.name, "call not run: {shortage}");
                MiError::new(
                    500,
                    format!("module '{}' was not run: {shortage}", self.shared.name),
                )
            })?;
            let _running = self.ticker.running();
            let pooled = self.idle_instances().pop();
            let mut instance = match pooled {
                Some(instance) => instance,
                None => self.instantiate()?,
            };
            instance.store.set_epoch_deadline(self.deadline_ticks);
            instance.store.data_mut().limiter.refused = false;
            instance.store.data_mut().limiter.over_budget = false;
            instance.store.data_mut().panic = None;
            instance.store.data_mut().call_started = std::time::Instant::now();
            instance.store.data_mut().wasi.budget.waited = Duration::ZERO;
            let outcome = call(&mut instance.store, &instance.module);
            let waited = instance.store.data().wasi.budget.waited;
            if !waited.is_zero() {
                self.shared
                    .stats
                    .io_wait_us
                    .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
            }
            match outcome {
                Ok(value) => {
                    if instance.store.data().limiter.size <= MAX_IDLE_MEMORY {
                        self.idle_instances().push(instance);
                    } else {
                        self.shared.stats.instances.fetch_sub(1, Ordering::Relaxed);
                    }
                    Ok(value)
                }
                Err(error) => {
                    self.shared.stats.instances.fetch_sub(1, Ordering::Relaxed);
                    Err(self.failure(error, instance.store.data()))
                }
            }
        })();
        self.busy.fetch_sub(1, Ordering::AcqRel);
        outcome
    }

    /// The MI error for a call that trapped, counted in the module's statistics.
    fn failure(&self, error: wasmtime::Error, data: &ModuleStoreData) -> MiError {
        let stats = &self.shared.stats;
        let config = &self.shared.config;
        let trap = error.downcast_ref::<Trap>().copied();
        let problem = if let Some(waited) = error.downcast_ref::<wasi::io::IoTimeout>() {
            stats.io_timeouts.fetch_add(1, Ordering::Relaxed);
            waited.to_string()
        } else if trap == Some(Trap::Interrupt) {
            stats.timeouts.fetch_add(1, Ordering::Relaxed);
            format!("exceeded its {} ms time limit", config.timeout_ms)
        } else {
            stats.traps.fetch_add(1, Ordering::Relaxed);
            if data.limiter.refused {
                format!("exceeded its {}-byte memory limit", config.max_memory)
            } else if data.limiter.over_budget {
                format!(
                    "could not grow its memory: the daemon's {}-byte WebAssembly memory budget (core.max_total_memory) is in use",
                    data.limiter.reservation.budget().limit()
                )
            } else if trap == Some(Trap::StackOverflow) {
                format!("exceeded its {}-byte stack limit", config.max_wasm_stack)
            } else if let Some(message) = &data.panic {
                format!("panicked: {}", message.replace('\n', " "))
            } else if let Some(trap) = trap {
                format!("trapped: {trap}")
            } else {
                format!(
                    "failed: {}",
                    error.root_cause().to_string().replace('\n', " ")
                )
            }
        };
        tracing::warn!(module = %self.shared.name, "{problem}");
        MiError::new(500, format!("module '{}' {problem}", self.shared.name))
    }

    /// Runs one command; `params` is the JSON object of the matched recipe.
    /// The limit applies to errors as to results: an error's message and data together may
    /// not exceed `max_reply` either.
    pub fn call(&self, command: &str, params: &str) -> Result<String, MiError> {
        let stats = &self.shared.stats;
        stats.calls.fetch_add(1, Ordering::Relaxed);
        let limit = self.shared.config.max_reply;
        let over = |what: &str, size: usize| {
            tracing::warn!(module = %self.shared.name, bytes = size, limit, "reply over max_reply refused");
            MiError::new(
                500,
                format!(
                    "module '{}' returned {what}{size} bytes, over its {limit}-byte reply limit",
                    self.shared.name
                ),
            )
        };
        let outcome = self
            .with_instance(|store, module| {
                module
                    .miwa_module_module_api()
                    .call_call(store, command, params)
            })
            .and_then(|answer| {
                answer.map_err(|e| {
                    let size = e.message.len() + e.data.as_ref().map_or(0, String::len);
                    if size > limit {
                        return over("an error of ", size);
                    }
                    MiError {
                        code: e.code,
                        message: e.message,
                        data: e.data,
                    }
                })
            })
            .and_then(|result| {
                if result.len() > limit {
                    return Err(over("", result.len()));
                }
                Ok(result)
            });
        if outcome.is_err() {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// Whether the module was granted I/O (`files`, `tcp`, `http`): its calls may block the
    /// thread.
    pub fn does_io(&self) -> bool {
        self.shared
            .config
            .grants
            .iter()
            .any(|g| crate::config::WASI_GRANTS.contains(&g.as_str()))
    }

    /// Whether the module is new or was slow lately (see [`SLOW_CALL`]).
    pub fn on_probation(&self) -> bool {
        self.probation.load(Ordering::Relaxed) > 0
    }

    /// Records how long a call took: a slow one restarts the probation, a quick one
    /// shortens it.
    pub fn record_duration(&self, elapsed: Duration) {
        if elapsed > SLOW_CALL {
            self.probation.store(PROBATION_CALLS, Ordering::Relaxed);
        } else if self.on_probation() {
            let _at_zero_already =
                self.probation
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Instances alive (idle plus busy).
    pub fn instances(&self) -> u32 {
        self.shared.stats.instances.load(Ordering::Relaxed) as u32
    }
}

/// The module-api types, for the description check.
pub type ModuleInfo = module_api::ModuleInfo;
