//! The epoch ticker: one thread advancing the epoch of the core's engine and of every
//! module engine, the clock that call deadlines are measured against. It ticks while
//! WebAssembly calls run ([`EpochTicker::running`]) and for [`LINGER`] after the last one,
//! then sleeps until the next: an idle daemon does not wake up every tick, and requests a
//! few milliseconds apart do not each have to wake the ticker.

use miwa_state::processes::ProcessTable;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wasmtime::{Engine, EngineWeak};

/// Epoch tick period: the granularity of call deadlines.
pub const TICK: Duration = Duration::from_millis(2);

/// How long an idle ticker sleeps before it looks whether the core's engine is gone.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How long the ticker keeps ticking after the last call before it sleeps.
pub(crate) const LINGER: Duration = Duration::from_millis(100);

/// The engines to tick. The thread ends when the core's engine is gone.
pub struct EpochTicker {
    modules: Mutex<Vec<EngineWeak>>,
    /// WebAssembly calls running now, on any engine ticked here.
    calls: AtomicUsize,
    /// Calls ever started: the ticker sees activity between two of its ticks.
    started: AtomicU64,
    /// The ticker is (about to be) waiting for a call: the first call must wake it.
    sleeping: AtomicBool,
    idle: Mutex<()>,
    wake: Condvar,
}

/// A WebAssembly call in progress: the ticker ticks while one exists.
pub struct Running<'a> {
    ticker: &'a EpochTicker,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.ticker.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EpochTicker {
    /// Starts ticking `core` (listed in `processes` as `epoch ticker`).
    pub fn start(core: &Engine, processes: Arc<ProcessTable>) -> std::io::Result<Arc<Self>> {
        let ticker = Arc::new(EpochTicker {
            modules: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            idle: Mutex::new(()),
            wake: Condvar::new(),
        });
        let core = core.weak();
        let shared = ticker.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                processes.register_current("epoch ticker");
                let linger = (LINGER.as_millis() / TICK.as_millis()) as u32;
                let mut quiet_ticks = 0;
                let mut seen = shared.started.load(Ordering::Relaxed);
                while let Some(engine) = core.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    shared.tick_modules();
                    std::thread::sleep(TICK);
                    let started = shared.started.load(Ordering::Relaxed);
                    if started != seen || shared.calls.load(Ordering::SeqCst) > 0 {
                        seen = started;
                        quiet_ticks = 0;
                    } else {
                        quiet_ticks += 1;
                    }
                    if quiet_ticks >= linger {
                        if shared.wait_for_a_call() {
                            quiet_ticks = 0;
                        }
                        seen = shared.started.load(Ordering::Relaxed);
                    }
                }
                processes.unregister_current();
            })?;
        Ok(ticker)
    }

    /// Marks a WebAssembly call as running until the returned guard is dropped; the
    /// ticker resumes at once if it was idle. Every call into the core or a module —
    /// instantiation included — runs under one, or its deadline would not advance.
    pub fn running(&self) -> Running<'_> {
        // Counting the call, then reading `sleeping` (the ticker does the converse): one
        // of the two sees the other, so a ticker about to sleep is always woken.
        self.started.fetch_add(1, Ordering::Relaxed);
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 && self.sleeping.load(Ordering::SeqCst) {
            let _idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_one();
        }
        Running { ticker: self }
    }

    /// Sleeps while no call runs, at most [`IDLE_CHECK`]; whether a call came.
    fn wait_for_a_call(&self) -> bool {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        self.sleeping.store(true, Ordering::SeqCst);
        while self.calls.load(Ordering::SeqCst) == 0 {
            let (guard, waited) = self
                .wake
                .wait_timeout(idle, IDLE_CHECK)
                .unwrap_or_else(|e| e.into_inner());
            idle = guard;
            if waited.timed_out() {
                break;
            }
        }
        self.sleeping.store(false, Ordering::SeqCst);
        self.calls.load(Ordering::SeqCst) > 0
    }

    fn tick_modules(&self) {
        let mut engines = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        engines.retain(|weak| match weak.upgrade() {
            Some(engine) => {
                engine.increment_epoch();
                true
            }
            None => false,
        });
    }

    /// Ticks a module's engine too, for as long as it exists.
    pub fn add(&self, engine: &Engine) {
        self.modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(engine.weak());
    }
}
