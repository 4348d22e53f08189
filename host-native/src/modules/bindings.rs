//! The `miwa:module` WIT bindings and the capabilities a module may be granted.

use super::shared::ModuleShared;
use mi_core::host::{self as core, CacheError, Host as _};
use mi_core::MiError;
use std::sync::atomic::Ordering;
use std::sync::Arc;

wasmtime::component::bindgen!({
    path: "../mi-core/wit/module",
    world: "module",
});

pub use exports::miwa::module::module_api;
use miwa::module::{cache, diagnostics, events, log, mi, stats, types};

/// Longest panic message kept for the reply.
const MAX_PANIC_MESSAGE: usize = 1024;

/// What a module instance's `Store` holds.
pub struct ModuleStoreData {
    /// The module's name, configuration, statistics and the services capabilities use.
    pub shared: Arc<ModuleShared>,
    /// The memory cap.
    pub limiter: ModuleLimiter,
    /// The panic message the module reported during the current call.
    pub panic: Option<String>,
    /// Its WASI context, resources and I/O budget.
    pub wasi: super::wasi::ModuleWasi,
    /// When the current call started.
    pub call_started: std::time::Instant,
}

impl wasmtime_wasi::WasiView for ModuleStoreData {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.wasi.view()
    }
}

impl wasmtime_wasi_http::WasiHttpView for ModuleStoreData {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        self.wasi.http_view()
    }
}

impl super::wasi::HasWasi for ModuleStoreData {
    fn wasi(&mut self) -> &mut super::wasi::ModuleWasi {
        &mut self.wasi
    }
}

/// Caps a module instance's linear memory and remembers a refusal, so that the trap that
/// follows is reported as exhausted memory.
pub struct ModuleLimiter {
    /// Largest linear memory, bytes.
    pub cap: usize,
    /// A growth was refused during the current call.
    pub refused: bool,
    /// A growth within the cap was refused because the daemon's budget was in use.
    pub over_budget: bool,
    /// The current size of the linear memory, bytes.
    pub size: usize,
    /// What the instance holds of the daemon's linear-memory budget.
    pub reservation: crate::runtime::memory::Reservation,
}

impl ModuleStoreData {
    /// Fresh store data for one instance of `shared`'s module.
    pub fn new(shared: Arc<ModuleShared>) -> anyhow::Result<Self> {
        let cap = shared.config.max_memory;
        let reservation = crate::runtime::memory::Reservation::new(shared.memory.clone());
        let wasi = super::wasi::ModuleWasi::new(&shared.config)?;
        Ok(ModuleStoreData {
            shared,
            limiter: ModuleLimiter {
                cap,
                refused: false,
                over_budget: false,
                size: 0,
                reservation,
            },
            panic: None,
            wasi,
            call_started: std::time::Instant::now(),
        })
    }
}

impl wasmtime::ResourceLimiter for ModuleStoreData {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limiter.cap {
            self.limiter.refused = true;
            return Ok(false);
        }
        if !self.limiter.reservation.grow_to(desired) {
            self.limiter.over_budget = true;
            return Ok(false);
        }
        self.limiter.size = desired;
        self.shared
            .stats
            .memory_peak
            .fetch_max(desired as u64, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 10_000)
    }
}

impl types::Host for ModuleStoreData {}

impl diagnostics::Host for ModuleStoreData {
    fn report_panic(&mut self, message: String) {
        let mut message = message;
        if message.len() > MAX_PANIC_MESSAGE {
            let mut end = MAX_PANIC_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        self.panic = Some(message);
    }
}

impl log::Host for ModuleStoreData {
    fn log(&mut self, level: i32, message: String) {
        let module = self.shared.name.as_str();
        match crate::state::tracing_level(level) {
            Some(tracing::Level::ERROR) => {
                tracing::error!(target: "miwa::module", module, "{message}")
            }
            Some(tracing::Level::WARN) => {
                tracing::warn!(target: "miwa::module", module, "{message}")
            }
            Some(tracing::Level::INFO) => {
                tracing::info!(target: "miwa::module", module, "{message}")
            }
            Some(tracing::Level::DEBUG) => {
                tracing::debug!(target: "miwa::module", module, "{message}")
            }
            Some(_) => tracing::trace!(target: "miwa::module", module, "{message}"),
            None => {}
        }
    }
}

impl stats::Host for ModuleStoreData {
    fn add(&mut self, name: String, delta: i64) -> bool {
        self.shared.stats.add(&name, delta)
    }

    fn set(&mut self, name: String, value: u64) -> bool {
        self.shared.stats.set(&name, value)
    }

    fn get(&mut self, name: String) -> Option<u64> {
        self.shared.stats.get(&name)
    }
}

impl cache::Host for ModuleStoreData {
    fn store(&mut self, key: String, value: String, expire: u32) -> Result<(), cache::CacheError> {
        let Some(state) = self.shared.state.upgrade() else {
            return Err(cache::CacheError::Full);
        };
        state
            .cache_store(
                super::CACHE_SYSTEM,
                &self.shared.cache_key(&key),
                &value,
                expire,
            )
            .map_err(|(CacheError::Full | CacheError::UnknownSystem)| cache::CacheError::Full)
    }

    fn fetch(&mut self, key: String) -> Option<String> {
        let state = self.shared.state.upgrade()?;
        state
            .cache_fetch(super::CACHE_SYSTEM, &self.shared.cache_key(&key))
            .ok()
            .flatten()
    }

    fn remove(&mut self, key: String) {
        if let Some(state) = self.shared.state.upgrade() {
            let _absent_is_fine =
                state.cache_remove(super::CACHE_SYSTEM, &self.shared.cache_key(&key));
        }
    }
}

impl events::Host for ModuleStoreData {
    fn raise(
        &mut self,
        event: String,
        params: Vec<(String, events::EventValue)>,
    ) -> Result<(), events::RaiseError> {
        if !self.shared.events.contains(&event) {
            return Err(events::RaiseError::NotDeclared);
        }
        let state = self
            .shared
            .state
            .upgrade()
            .ok_or(events::RaiseError::Failed)?;
        let params = core::EventParams::Named(
            params
                .into_iter()
                .map(|(name, value)| {
                    let value = match value {
                        events::EventValue::Int(n) => core::EventValue::Int(n),
                        events::EventValue::Text(t) => core::EventValue::Text(t),
                    };
                    (name, value)
                })
                .collect(),
        );
        state.raise_event(&event, &params).map_err(|e| match e {
            core::RaiseError::NoSubscribers => events::RaiseError::NoSubscribers,
            core::RaiseError::NotRegistered
            | core::RaiseError::Failed
            | core::RaiseError::TooLarge => events::RaiseError::Failed,
        })
    }
}

impl mi::Host for ModuleStoreData {
    fn call(&mut self, line: String) -> Result<String, types::MiError> {
        self.shared
            .mi_call(&line)
            .map_err(|e: MiError| types::MiError {
                code: e.code,
                message: e.message,
                data: e.data,
            })
    }
}
