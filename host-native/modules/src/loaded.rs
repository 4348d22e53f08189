//! One loaded module: its engine (with the module's stack cap), its pre-linked component
//! (of either version of the world), its description, its pool of warm instances and, when
//! granted `tick`, its tick schedule.

use super::bindings::api::{self, Api, ApiPre};
use super::bindings::{self, ModuleStoreData};
use super::describe::{self, Description};
use super::log_rate::LogRate;
use super::schedule::TickSchedule;
use super::shared::{Kind, ModuleShared, ModuleStats};
use super::{refusals, wasi};
use crate::settings::ModuleConfig;
use mi_core::MiError;
use miwa_runtime::{artifact, engine_config, stack, CoreRuntime, EpochTicker, TICK};
use miwa_state::HostState;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, Trap};

/// An instance whose linear memory grew by more than this since it was instantiated is
/// dropped after its call instead of being kept idle, so that one large call does not pin
/// its memory. Measured from the instance's own start, since a language runtime (CPython,
/// StarlingMonkey) starts with more than this.
pub(crate) const MAX_IDLE_GROWTH: usize = 8 << 20;

/// Epoch ticks between two checks of a computing call's host memory, for a module
/// granted I/O (10 ms).
const MEMORY_CHECK_TICKS: u64 = 5;

/// A call slower than this puts its module on probation.
pub(crate) const SLOW_CALL: Duration = Duration::from_millis(20);

/// Quick calls a module on probation must make before it runs inline again; new modules
/// start on probation.
pub(crate) const PROBATION_CALLS: u32 = 256;

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
    /// It was granted `tick` but its world has no `tick`.
    #[error("it was granted tick, but it is built for miwa:module@{version}, which has no tick export (build it for miwa:module@0.2.0)")]
    NoTick {
        /// The version of its world.
        version: &'static str,
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
    api: Api,
    /// Its linear memory once instantiated, bytes.
    started_with: usize,
}

/// What became of a tick that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// The module's tick ran and returned `ok`.
    Ran,
    /// Every instance was busy: the tick was not run.
    Skipped,
}

/// A module ready to serve calls.
pub(crate) struct LoadedModule {
    /// Identity, configuration, statistics, services.
    pub shared: Arc<ModuleShared>,
    /// What `describe` declared, validated.
    pub description: Description,
    /// SHA-256 of the component file, hex.
    pub sha256: String,
    /// The version of `miwa:module` it was built for.
    pub world: &'static str,
    engine: Engine,
    pre: ApiPre,
    idle: Mutex<Vec<Instance>>,
    busy: AtomicU32,
    probation: AtomicU32,
    deadline_ticks: u64,
    ticker: Arc<EpochTicker>,
    schedule: OnceLock<TickSchedule>,
}

/// What a load needs from the daemon.
pub(crate) struct LoadContext<'a> {
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
    /// The modules' I/O runtimes, kept across loads.
    pub io_runtimes: &'a wasi::blocking::IoRuntimes,
}

/// Checks that every `miwa:module` interface `component` imports is one this daemon
/// knows, and returns the version of the world it exports.
fn check_interfaces(
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Result<&'static str, LoadError> {
    let known = |interface: &str| {
        refusals::ALWAYS_LINKED.contains(&interface)
            || crate::capability::owner(&format!("miwa:module/{interface}@")).is_some()
    };
    for (name, _) in component.component_type().imports(engine) {
        let Some(rest) = name.strip_prefix("miwa:module/") else {
            continue;
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if !api::VERSIONS.contains(&version) || !known(interface) {
            return Err(LoadError::Invalid(format!(
                "it imports {name}, which this daemon does not provide (it runs miwa:module@{})",
                api::VERSIONS.join(" and @")
            )));
        }
    }
    api::exported_version(engine, component).ok_or_else(|| {
        LoadError::Invalid(format!(
            "it exports no miwa:module/module-api (this daemon runs miwa:module@{})",
            api::VERSIONS.join(" and @")
        ))
    })
}

fn linker(
    engine: &Engine,
    component: &wasmtime::component::Component,
    config: &ModuleConfig,
) -> wasmtime::Result<Linker<ModuleStoreData>> {
    let mut linker = Linker::<ModuleStoreData>::new(engine);
    bindings::link_always(&mut linker)?;
    wasi::add_to_linker(&mut linker)?;
    for grant in &config.grants {
        crate::capability::of(*grant).link(&mut linker)?;
    }
    refusals::link(&mut linker, engine, component, &config.grants)?;
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
        let world = check_interfaces(&engine, &component)?;
        let ungranted = refusals::ungranted(&engine, &component, &config.grants);
        if !ungranted.is_empty() {
            tracing::info!(
                module = name,
                "imports capabilities it was not granted: {} (calls of them fail)",
                ungranted.join(", ")
            );
        }
        let linker = linker(&engine, &component, config).map_err(invalid)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(|pre| ApiPre::new(world, pre))
            .map_err(invalid)?;
        for grant in &config.grants {
            crate::capability::of(*grant).check(&pre, world)?;
        }
        context.ticker.add(&engine);
        let memory = context
            .core
            .upgrade()
            .map(|core| core.memory().clone())
            .ok_or_else(|| LoadError::Invalid("the daemon is shutting down".into()))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let sandbox = Arc::new(
            wasi::Sandbox::new(name, config, context.io_runtimes)
                .map_err(|e| LoadError::Invalid(format!("its I/O threads could not start: {e}")))?,
        );
        let mut loading = LoadedModule {
            shared: Arc::new(ModuleShared {
                name: name.to_string(),
                config: config.clone(),
                stats: ModuleStats::new(Vec::new()),
                events: Vec::new(),
                state: context.state.clone(),
                core: context.core.clone(),
                memory: memory.clone(),
                sandbox: sandbox.clone(),
                log_rate: LogRate::new(config.log_lines_per_second, config.log_bytes_per_second),
            }),
            description: Description::default(),
            sha256,
            world,
            engine,
            pre,
            idle: Mutex::new(Vec::new()),
            busy: AtomicU32::new(0),
            probation: AtomicU32::new(PROBATION_CALLS),
            deadline_ticks: timeout.as_millis().div_ceil(TICK.as_millis()) as u64 + 1,
            ticker: context.ticker.clone(),
            schedule: OnceLock::new(),
        };
        let (info, types) = loading
            .with_instance(|store, api| api.describe(store))
            .map_err(|e| LoadError::Describe(e.message))?;
        let description =
            describe::validate(name, info, types, context.taken).map_err(LoadError::Description)?;
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
            sandbox,
            log_rate: LogRate::new(config.log_lines_per_second, config.log_bytes_per_second),
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
        store.set_epoch_deadline(self.first_deadline());
        let timeout = Duration::from_millis(self.shared.config.timeout_ms);
        let checks_memory = self.does_io();
        store.epoch_deadline_callback(move |mut context| {
            let data = context.data_mut();
            if checks_memory {
                data.wasi.check_memory()?;
            }
            let computing = data
                .call_started
                .elapsed()
                .saturating_sub(data.wasi.budget.waited);
            match timeout.checked_sub(computing) {
                Some(left) if !left.is_zero() => {
                    let ticks = left.as_millis().div_ceil(TICK.as_millis()) as u64;
                    Ok(wasmtime::UpdateDeadline::Continue(if checks_memory {
                        ticks.min(MEMORY_CHECK_TICKS)
                    } else {
                        ticks
                    }))
                }
                _ => Err(Trap::Interrupt.into()),
            }
        });
        let api = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.failure(e, store.data()))?;
        self.shared.stats.instances.fetch_add(1, Ordering::Relaxed);
        let started_with = store.data().limiter.size;
        Ok(Instance {
            store,
            api,
            started_with,
        })
    }

    /// Runs `call` on an idle instance (a new one if none is idle), within the module's
    /// concurrency, time and memory limits. A failed instance is discarded.
    fn with_instance<T>(
        &self,
        call: impl FnOnce(&mut Store<ModuleStoreData>, &Api) -> wasmtime::Result<T>,
    ) -> Result<T, MiError> {
        match self.with_idle_instance(call) {
            Some(outcome) => outcome,
            None => Err(MiError::new(
                503,
                format!(
                    "module '{}' is busy: all {} instances are in use",
                    self.shared.name, self.shared.config.max_instances
                ),
            )),
        }
    }

    /// [`LoadedModule::with_instance`], or `None` without running `call` when all
    /// `max_instances` instances are in use.
    fn with_idle_instance<T>(
        &self,
        call: impl FnOnce(&mut Store<ModuleStoreData>, &Api) -> wasmtime::Result<T>,
    ) -> Option<Result<T, MiError>> {
        if self.busy.fetch_add(1, Ordering::AcqRel) >= self.shared.config.max_instances {
            self.busy.fetch_sub(1, Ordering::AcqRel);
            return None;
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
            let _io = self.shared.sandbox.io.as_ref().map(|io| io.enter());
            let pooled = self.idle_instances().pop();
            let mut instance = match pooled {
                Some(instance) => instance,
                None => self.instantiate()?,
            };
            instance.store.set_epoch_deadline(self.first_deadline());
            instance.store.data_mut().limiter.refused = false;
            instance.store.data_mut().limiter.over_budget = false;
            instance.store.data_mut().panic = None;
            instance.store.data_mut().call_started = std::time::Instant::now();
            instance.store.data_mut().wasi.budget.waited = Duration::ZERO;
            instance.store.data().wasi.stderr.clear();
            let outcome = call(&mut instance.store, &instance.api).and_then(|value| {
                instance.store.data_mut().wasi.check_memory()?;
                Ok(value)
            });
            let waited = instance.store.data().wasi.budget.waited;
            if !waited.is_zero() {
                self.shared
                    .stats
                    .io_wait_us
                    .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
            }
            match outcome {
                Ok(value) => {
                    let grown = instance
                        .store
                        .data()
                        .limiter
                        .size
                        .saturating_sub(instance.started_with);
                    if grown <= MAX_IDLE_GROWTH {
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
        Some(outcome)
    }

    /// The MI error for a call that trapped, counted in the module's statistics; the caller
    /// logs it (a call at once, a tick schedule when its failures change).
    fn failure(&self, error: wasmtime::Error, data: &ModuleStoreData) -> MiError {
        let stats = &self.shared.stats;
        let config = &self.shared.config;
        let trap = error.downcast_ref::<Trap>().copied();
        let problem = if let Some(waited) = error.downcast_ref::<wasi::io::IoTimeout>() {
            stats.io_timeouts.fetch_add(1, Ordering::Relaxed);
            waited.to_string()
        } else if let Some(busy) = error.downcast_ref::<wasi::blocking::BlockingBusy>() {
            let shares = &self.shared.sandbox.shares;
            shares.blocking_refused.fetch_add(1, Ordering::Relaxed);
            busy.to_string()
        } else if let Some(limit) = error.downcast_ref::<wasi::holdings::DescriptorLimit>() {
            limit.to_string()
        } else if let Some(limit) = error.downcast_ref::<wasi::holdings::HostMemoryLimit>() {
            limit.to_string()
        } else if let Some(wasmtime::component::ResourceTableError::Full) =
            error.downcast_ref::<wasmtime::component::ResourceTableError>()
        {
            format!(
                "held {} handles, its limit (max_handles); one more was refused",
                config.max_handles
            )
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
            } else {
                let unexplained = if let Some(trap) = trap {
                    let trap = trap.to_string();
                    let trap = trap.trim_start_matches("wasm trap: ");
                    match innermost_function(&error) {
                        Some(function) => format!("trapped: {trap} (in {function})"),
                        None => format!("trapped: {trap}"),
                    }
                } else {
                    format!(
                        "failed: {}",
                        error.root_cause().to_string().replace('\n', " ")
                    )
                };
                match data.wasi.stderr.quote() {
                    Some(stderr) => format!("{unexplained}; stderr: {stderr}"),
                    None => unexplained,
                }
            }
        };
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
            .with_instance(|store, api| api.call(store, command, params))
            .inspect_err(|failure| {
                tracing::warn!(module = %self.shared.name, command, "{}", failure.message)
            })
            .and_then(|answer| {
                answer.map_err(|e| {
                    let size = e.message.len() + e.data.as_ref().map_or(0, String::len);
                    if size > limit {
                        return over("an error of ", size);
                    }
                    e
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

    /// Runs one tick of a module granted `tick`, counted in `ticks`; when every instance
    /// is busy it is not run and is counted in `ticks_skipped`. A tick that returns an
    /// error or fails is counted in `tick_errors` and its message returned.
    pub fn tick(&self) -> Result<Tick, String> {
        let stats = &self.shared.stats;
        let Some(outcome) =
            self.with_idle_instance(|store, api| api.tick(store).unwrap_or(Ok(Ok(()))))
        else {
            stats.ticks_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(Tick::Skipped);
        };
        stats.ticks.fetch_add(1, Ordering::Relaxed);
        let failure = match outcome {
            Ok(Ok(())) => return Ok(Tick::Ran),
            Ok(Err(message)) => format!(
                "module '{}' tick returned an error: {}",
                self.shared.name,
                cut(&message, MAX_TICK_ERROR).replace('\n', " ")
            ),
            Err(error) => error.message,
        };
        stats.tick_errors.fetch_add(1, Ordering::Relaxed);
        Err(failure)
    }

    /// Starts calling `tick` every `tick_ms` if the module was granted `tick`; the
    /// schedule ends when the module is dropped (unloaded, or replaced by a reload).
    pub(crate) fn start_ticking(self: &Arc<Self>) {
        let config = &self.shared.config;
        if !config.granted(crate::grant::Grant::Tick) {
            return;
        }
        let every = Duration::from_millis(config.tick_ms);
        let stack = miwa_runtime::stack::thread_stack().unwrap_or(
            config
                .add_to(miwa_runtime::stack::StackPlan::core(0))
                .thread_stack(),
        );
        match TickSchedule::start(Arc::downgrade(self), &self.shared.name, every, stack) {
            Ok(schedule) => {
                let _set_once = self.schedule.set(schedule);
            }
            Err(error) => {
                tracing::error!(module = %self.shared.name, "its ticks could not start: {error}")
            }
        }
    }

    /// The epoch deadline a call starts with: its time limit, or sooner for a module
    /// granted I/O, whose host memory is checked every [`MEMORY_CHECK_TICKS`].
    fn first_deadline(&self) -> u64 {
        if self.does_io() {
            self.deadline_ticks.min(MEMORY_CHECK_TICKS)
        } else {
            self.deadline_ticks
        }
    }

    /// Whether the module was granted I/O (`files`, `tcp`, `http`): its calls may block the
    /// thread.
    pub(crate) fn does_io(&self) -> bool {
        self.shared.config.does_io()
    }

    /// Whether the module is new or was slow lately (see [`SLOW_CALL`]).
    pub(crate) fn on_probation(&self) -> bool {
        self.probation.load(Ordering::Relaxed) > 0
    }

    /// Records how long a call took: a slow one restarts the probation, a quick one
    /// shortens it.
    pub(crate) fn record_duration(&self, elapsed: Duration) {
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

/// Longest tick error message kept, bytes.
const MAX_TICK_ERROR: usize = 1024;

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The name of the innermost named function in the WebAssembly backtrace of `error`.
fn innermost_function(error: &wasmtime::Error) -> Option<String> {
    let backtrace = error.downcast_ref::<wasmtime::WasmBacktrace>()?;
    backtrace
        .frames()
        .iter()
        .find_map(|frame| frame.func_name().map(str::to_string))
}
