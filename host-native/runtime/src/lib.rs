//! Runs the MI core component: one engine, one pre-instantiated component, one warm
//! instance per worker thread, every call under an epoch deadline.
//!
//! # Layout
//! - this file: [`CoreRuntime`], the warm instances and the engine configuration;
//! - `artifact`: the embedded core component and the cache of precompiled artifacts;
//! - `bindings`: the core world's host imports, answered by the daemon's state;
//! - `memory`: the one linear-memory budget of every instance, the core's and modules';
//! - `stack`: native stack plans of the threads that run WebAssembly;
//! - `ticker`: the epoch ticker that interrupts calls past their deadline;
//! - `settings`: `[core]`.

#![deny(unsafe_code)]

pub mod artifact;
mod bindings;
pub mod memory;
pub mod settings;
pub mod stack;
mod ticker;

use artifact::default_cache_dir;
pub use ticker::{EpochTicker, TICK};

use anyhow::Context as _;
use bindings::exports::miwa::mi::engine;
use bindings::{CorePre, MemoryLimiter, StoreData};
use miwa_state::{processes, HostState};
use settings::CoreConfig;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

/// Why a core call produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum CoreFailure {
    /// The call ran past its deadline and was interrupted.
    #[error("core call exceeded its {0} ms time limit")]
    Deadline(u64),
    /// The core trapped (stack overflow, memory cap, a bug).
    #[error("core trapped: {0}")]
    Trap(String),
    /// A fresh instance could not be built.
    #[error("core instance unavailable: {0}")]
    Instantiate(String),
    /// The thread's native stack cannot hold the call at its cap: it was not run.
    #[error("core call not run: {0}")]
    Stack(#[from] stack::StackShortage),
}

impl CoreFailure {
    /// What a caller is told: the kind of failure, never the core's internals (a trap's
    /// backtrace, its frames, the memory it asked for), which go to the daemon's log.
    pub fn public_message(&self) -> String {
        match self {
            CoreFailure::Deadline(ms) => format!("core call exceeded its {ms} ms time limit"),
            CoreFailure::Trap(_) => "core trapped; the daemon's log has the details".into(),
            CoreFailure::Instantiate(_) => "core instance unavailable".into(),
            CoreFailure::Stack(_) => "core call not run: the native stack is too small".into(),
        }
    }
}

impl From<CoreReply> for transports::Reply {
    fn from(reply: CoreReply) -> Self {
        match reply {
            CoreReply::Text(text) => transports::Reply::Text(text),
            CoreReply::ParseError(text) => transports::Reply::ParseError(text),
            CoreReply::Nothing => transports::Reply::Nothing,
            CoreReply::Unprintable => transports::Reply::Unprintable,
        }
    }
}

impl From<engine::CommandInfo> for transports::CommandInfo {
    fn from(command: engine::CommandInfo) -> Self {
        transports::CommandInfo {
            name: command.name,
            module: command.module,
            help: command.help,
            recipes: command.recipes,
        }
    }
}

/// A handled request as the component returns it.
pub type Handled = engine::Handled;
/// The reply of a handled request.
pub type CoreReply = engine::Reply;

struct Warm {
    runtime: u64,
    store: Store<StoreData>,
    core: bindings::Core,
}

thread_local! {
    /// This thread's idle core instances: one in the common case, more while a module's
    /// `mi()` call runs the core again from inside a core call.
    static WARM: RefCell<Vec<Warm>> = const { RefCell::new(Vec::new()) };
}

static NEXT_RUNTIME: AtomicU64 = AtomicU64::new(1);

/// The loaded core component, shared by every worker.
pub struct CoreRuntime {
    id: u64,
    engine: Engine,
    pre: CorePre<StoreData>,
    state: Arc<HostState>,
    memory: Arc<memory::MemoryBudget>,
    ticker: Arc<EpochTicker>,
    cache_dir: Option<PathBuf>,
    deadline_ticks: u64,
    timeout: Duration,
    timeout_ms: u64,
    max_memory: usize,
    max_depth: u32,
    max_wasm_stack: usize,
}

/// A wasmtime configuration with epoch interruption and a WebAssembly stack cap of
/// `max_wasm_stack` bytes (calls are synchronous; the asynchronous stack is sized to match
/// only because wasmtime requires it to be larger than the cap).
pub fn engine_config(max_wasm_stack: usize) -> wasmtime::Config {
    let mut wasm = wasmtime::Config::new();
    wasm.epoch_interruption(true)
        .max_wasm_stack(max_wasm_stack)
        .async_stack_size(max_wasm_stack + stack::HOST_FRAMES);
    wasm
}

/// Epoch ticks covering `span`, plus one for the tick in progress.
fn ticks(span: Duration) -> u64 {
    span.as_millis().div_ceil(TICK.as_millis()) as u64 + 1
}

impl CoreRuntime {
    /// Creates the engine, loads (or compiles and caches) the core and starts the epoch ticker.
    pub fn new(config: &CoreConfig, state: Arc<HostState>) -> anyhow::Result<Arc<Self>> {
        let engine = Engine::new(&engine_config(config.max_wasm_stack))
            .map_err(anyhow::Error::from)
            .context("creating the wasm engine")?;
        let cache_dir = match &config.cache_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => default_cache_dir(),
        };
        let component = artifact::load_core(&engine, cache_dir.as_deref())?;
        let mut linker = Linker::<StoreData>::new(&engine);
        bindings::Core::add_to_linker::<_, HasSelf<_>>(&mut linker, |data| data)?;
        linker.define_unknown_imports_as_traps(&component)?;
        let pre = CorePre::new(linker.instantiate_pre(&component)?)?;
        let ticker = EpochTicker::start(&engine, state.processes.clone())?;
        let timeout = config.call_timeout();
        Ok(Arc::new(CoreRuntime {
            id: NEXT_RUNTIME.fetch_add(1, Ordering::Relaxed),
            engine,
            pre,
            state,
            memory: memory::MemoryBudget::new(config.max_total_memory),
            ticker,
            cache_dir,
            deadline_ticks: ticks(timeout),
            timeout,
            timeout_ms: config.call_timeout_ms,
            max_memory: config.max_memory,
            max_depth: config.max_json_depth,
            max_wasm_stack: config.max_wasm_stack,
        }))
    }

    fn instantiate(&self) -> Result<Warm, CoreFailure> {
        let data = StoreData {
            state: self.state.clone(),
            limiter: MemoryLimiter {
                cap: self.max_memory,
                reservation: memory::Reservation::new(self.memory.clone()),
                process: processes::current(),
            },
            call_started: Instant::now(),
            in_modules: Duration::ZERO,
        };
        let mut store = Store::new(&self.engine, data);
        store.limiter(|data| &mut data.limiter);
        store.set_epoch_deadline(self.deadline_ticks);
        let timeout = self.timeout;
        store.epoch_deadline_callback(move |store| {
            let data = store.data();
            let spent = data.call_started.elapsed().saturating_sub(data.in_modules);
            Ok(match timeout.checked_sub(spent) {
                Some(left) if !left.is_zero() => UpdateDeadline::Continue(ticks(left)),
                _ => UpdateDeadline::Interrupt,
            })
        });
        let core = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| CoreFailure::Instantiate(e.to_string()))?;
        Ok(Warm {
            runtime: self.id,
            store,
            core,
        })
    }

    /// Runs `call` on one of this thread's warm instances (built on first use, dropped
    /// after any trap), under the call deadline. Time spent in module calls does not count
    /// against the core's deadline: modules have their own.
    fn with_instance<T>(
        &self,
        call: impl FnOnce(&mut Warm) -> wasmtime::Result<T>,
    ) -> Result<T, CoreFailure> {
        stack::check(self.max_wasm_stack)?;
        let _running = self.ticker.running();
        let pooled = WARM.with(|cell| {
            let mut idle = cell.borrow_mut();
            idle.retain(|w| w.runtime == self.id);
            idle.pop()
        });
        let mut warm = match pooled {
            Some(warm) => warm,
            None => self.instantiate()?,
        };
        warm.store.set_epoch_deadline(self.deadline_ticks);
        let data = warm.store.data_mut();
        data.call_started = Instant::now();
        data.in_modules = Duration::ZERO;
        match call(&mut warm) {
            Ok(value) => {
                WARM.with(|cell| cell.borrow_mut().push(warm));
                Ok(value)
            }
            Err(error) => Err(match error.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => CoreFailure::Deadline(self.timeout_ms),
                Some(trap) => CoreFailure::Trap(trap.to_string()),
                None => CoreFailure::Trap(format!("{error:#}")),
            }),
        }
    }

    /// The ticker that advances this runtime's epochs (and the modules' engines).
    pub fn ticker(&self) -> &Arc<EpochTicker> {
        &self.ticker
    }

    /// The core's WebAssembly stack cap, bytes.
    pub fn max_wasm_stack(&self) -> usize {
        self.max_wasm_stack
    }

    /// The linear-memory budget of every WebAssembly instance (`core.max_total_memory`),
    /// which module instances share with the core's.
    pub fn memory(&self) -> &Arc<memory::MemoryBudget> {
        &self.memory
    }

    /// Where precompiled artifacts are cached, if anywhere.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Handles one JSON-RPC request.
    pub fn handle(&self, request: &[u8], pretty: bool) -> Result<Handled, CoreFailure> {
        self.handle_as(request, pretty, None)
    }

    /// Handles one JSON-RPC request for a caller limited by `access` (`None`: anything).
    pub fn handle_as(
        &self,
        request: &[u8],
        pretty: bool,
        access: Option<&mi_core::access::Access>,
    ) -> Result<Handled, CoreFailure> {
        let options = engine::HandleOptions {
            pretty,
            max_depth: self.max_depth,
            access: access.map(|a| engine::Access {
                role: a.role.clone(),
                allow: a.allow.clone(),
                deny: a.deny.clone(),
            }),
        };
        self.with_instance(|warm| {
            warm.core
                .miwa_mi_engine()
                .call_handle(&mut warm.store, request, &options)
        })
    }

    /// Every command the core registers, in registration order.
    pub fn commands(&self) -> Result<Vec<engine::CommandInfo>, CoreFailure> {
        self.with_instance(|warm| warm.core.miwa_mi_engine().call_commands(&mut warm.store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mi_core::rpc::HandleOptions;
    use miwa_state::settings::StateSettings;

    fn runtime(config: &CoreConfig) -> (Arc<HostState>, Arc<CoreRuntime>) {
        let state = HostState::start(&StateSettings::default(), vec!["miwa".into()]).unwrap();
        let mut core = config.clone();
        core.cache_dir = Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-cache/miwa"),
        );
        let runtime = CoreRuntime::new(&core, state.clone()).unwrap();
        (state, runtime)
    }

    /// The next request on the same runtime is answered normally.
    fn assert_serves(runtime: &CoreRuntime) {
        let handled = runtime
            .handle(br#"{"jsonrpc":"2.0","method":"pwd","id":1}"#, false)
            .unwrap();
        match transports::Reply::from(handled.reply) {
            transports::Reply::Text(t) => assert!(t.contains(r#""WD":"#), "{t}"),
            other => panic!("expected a reply text, got {other:?}"),
        }
    }

    /// Requests whose replies do not depend on the moment: the component in wasmtime and
    /// mi-core compiled natively must answer them byte for byte alike.
    #[test]
    fn component_answers_like_the_native_core() {
        let (state, runtime) = runtime(&CoreConfig::default());
        let native = mi_core::Core::default();
        let requests = [
            r#"{"jsonrpc":"2.0","method":"which","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"which","params":{"command":"log_level"},"id":"x"}"#,
            r#"{"jsonrpc":"2.0","method":"help","params":["ps"],"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"version","params":["r"],"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"log_level","params":[3],"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"log_level","params":{"level":"x"},"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"get_statistics","params":[[]],"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"cache_fetch","params":["local","none"],"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"sr_list_identifiers","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"events_list","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"list_tcp_conns","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"uptime"}"#,
            r#"{"jsonrpc":"2.0","method":"ps","id":true}"#,
            r#"[{"jsonrpc":"2.0","method":"pwd","id":1},{"jsonrpc":"2.0","method":"nope","id":2}]"#,
            r#"{"jsonrpc":"2.0","method":"ps","id":1"#,
            "[]",
        ];
        for request in requests {
            let wasm =
                transports::Reply::from(runtime.handle(request.as_bytes(), false).unwrap().reply);
            let native = transports::Reply::from(
                native
                    .handle(state.as_ref(), request.as_bytes(), HandleOptions::default())
                    .reply,
            );
            assert_eq!(wasm, native, "{request}");
        }
    }

    #[test]
    fn a_trap_replaces_the_instance() {
        let config = CoreConfig {
            max_json_depth: 1_000_000,
            max_wasm_stack: 64 << 10,
            ..CoreConfig::default()
        };
        let (_state, runtime) = runtime(&config);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            runtime.handle(deep.as_bytes(), false),
            Err(CoreFailure::Trap(_))
        ));
        assert_serves(&runtime);
    }

    #[test]
    fn memory_cap_is_enforced() {
        let config = CoreConfig {
            max_memory: 2 << 20,
            ..CoreConfig::default()
        };
        let (_state, runtime) = runtime(&config);
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"pwd","id":1,"pad":"{}"}}"#,
            "x".repeat(4 << 20)
        );
        assert!(matches!(
            runtime.handle(big.as_bytes(), false),
            Err(CoreFailure::Trap(_))
        ));
        assert_serves(&runtime);
    }
}
