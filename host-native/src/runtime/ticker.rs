//! The epoch ticker: one thread advancing the epoch of the core's engine and of every
//! module engine, the clock that call deadlines are measured against.

use crate::state::processes::ProcessTable;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::{Engine, EngineWeak};

/// Epoch tick period: the granularity of call deadlines.
pub const TICK: Duration = Duration::from_millis(2);

/// The engines to tick. The thread ends when the core's engine is gone.
pub struct EpochTicker {
    modules: Mutex<Vec<EngineWeak>>,
}

impl EpochTicker {
    /// Starts ticking `core` (listed in `processes` as `epoch ticker`).
    pub fn start(core: &Engine, processes: Arc<ProcessTable>) -> std::io::Result<Arc<Self>> {
        let ticker = Arc::new(EpochTicker {
            modules: Mutex::new(Vec::new()),
        });
        let core = core.weak();
        let shared = ticker.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                processes.register_current("epoch ticker");
                while let Some(engine) = core.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    shared.tick_modules();
                    std::thread::sleep(TICK);
                }
                processes.unregister_current();
            })?;
        Ok(ticker)
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
