//! The `miwa:module` WIT bindings, one module per version of the world side by side
//! ([`v0_1`], [`v0_2`], [`v0_3`]), the store data every instance has, and the capabilities a module
//! may be granted, implemented once ([`ModuleStoreData`]'s methods) and bound to each
//! version's generated traits by [`capabilities!`].

pub(crate) mod api;
pub(crate) mod v0_1;
pub(crate) mod v0_2;
pub(crate) mod v0_3;

use super::shared::ModuleShared;
use mi_core::host::{self as core, CacheError, Host as _};
use mi_core::MiError;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Longest panic message kept for the reply.
const MAX_PANIC_MESSAGE: usize = 1024;

/// What a module instance's `Store` holds.
pub(crate) struct ModuleStoreData {
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

/// Why a module's event was not raised, whatever the version of its world.
pub(crate) enum RaiseRefusal {
    /// Not declared in `describe`.
    NotDeclared,
    /// Nobody is subscribed.
    NoSubscribers,
    /// Delivery could not be queued.
    Failed,
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
pub(crate) struct ModuleLimiter {
    /// Largest linear memory, bytes.
    pub cap: usize,
    /// A growth was refused during the current call.
    pub refused: bool,
    /// A growth within the cap was refused because the daemon's budget was in use.
    pub over_budget: bool,
    /// The current size of the linear memory, bytes.
    pub size: usize,
    /// What the instance holds of the daemon's linear-memory budget.
    pub reservation: miwa_runtime::memory::Reservation,
}

impl ModuleStoreData {
    /// Fresh store data for one instance of `shared`'s module.
    pub fn new(shared: Arc<ModuleShared>) -> anyhow::Result<Self> {
        let cap = shared.config.max_memory;
        let reservation = miwa_runtime::memory::Reservation::new(shared.memory.clone());
        let wasi = super::wasi::ModuleWasi::new(&shared.sandbox)?;
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

impl ModuleStoreData {
    /// `diagnostics.report-panic`: keeps the message (cut to [`MAX_PANIC_MESSAGE`]).
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

    /// `log.log`: a line in the daemon's log, tagged with the module's name, within the
    /// module's log rate (lines over it are counted in `log_dropped` and summarised).
    fn log_line(&self, level: i32, message: &str) {
        let module = self.shared.name.as_str();
        let Some(level) = miwa_state::tracing_level(level) else {
            return;
        };
        let written = match level {
            tracing::Level::ERROR => {
                tracing::enabled!(target: "miwa::module", tracing::Level::ERROR)
            }
            tracing::Level::WARN => tracing::enabled!(target: "miwa::module", tracing::Level::WARN),
            tracing::Level::INFO => tracing::enabled!(target: "miwa::module", tracing::Level::INFO),
            tracing::Level::DEBUG => {
                tracing::enabled!(target: "miwa::module", tracing::Level::DEBUG)
            }
            _ => tracing::enabled!(target: "miwa::module", tracing::Level::TRACE),
        };
        if !written {
            return;
        }
        match self.shared.log_rate.admit(message.len()) {
            super::log_rate::Admission::Logged => {}
            super::log_rate::Admission::Dropped => {
                self.shared
                    .stats
                    .log_dropped
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            super::log_rate::Admission::DroppedSummary { lines, bytes } => {
                self.shared
                    .stats
                    .log_dropped
                    .fetch_add(1, Ordering::Relaxed);
                let (per_second, bytes_per_second) = (
                    self.shared.config.log_lines_per_second,
                    self.shared.config.log_bytes_per_second,
                );
                tracing::warn!(
                    target: "miwa::module",
                    module,
                    lines,
                    bytes,
                    "module log lines over its log rate ({per_second} lines, {bytes_per_second} bytes a second) dropped"
                );
                return;
            }
        }
        match level {
            tracing::Level::ERROR => tracing::error!(target: "miwa::module", module, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "miwa::module", module, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "miwa::module", module, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: "miwa::module", module, "{message}"),
            _ => tracing::trace!(target: "miwa::module", module, "{message}"),
        }
    }

    /// `cache.store`; false when the store is full (or the daemon is going away).
    fn cache_store(&self, key: &str, value: &str, expire: u32) -> bool {
        let Some(state) = self.shared.state.upgrade() else {
            return false;
        };
        state
            .cache_store(
                super::CACHE_SYSTEM,
                &self.shared.cache_key(key),
                value,
                expire,
            )
            .map_err(|(CacheError::Full | CacheError::UnknownSystem)| ())
            .is_ok()
    }

    /// `cache.fetch`.
    fn cache_fetch(&self, key: &str) -> Option<String> {
        let state = self.shared.state.upgrade()?;
        state
            .cache_fetch(super::CACHE_SYSTEM, &self.shared.cache_key(key))
            .ok()
            .flatten()
    }

    /// `cache.remove`.
    fn cache_remove(&self, key: &str) {
        if let Some(state) = self.shared.state.upgrade() {
            let _absent_is_fine =
                state.cache_remove(super::CACHE_SYSTEM, &self.shared.cache_key(key));
        }
    }

    /// `events.raise`, with the parameters already converted.
    fn raise(&self, event: &str, params: core::EventParams) -> Result<(), RaiseRefusal> {
        if !self.shared.events.iter().any(|e| e == event) {
            return Err(RaiseRefusal::NotDeclared);
        }
        let state = self.shared.state.upgrade().ok_or(RaiseRefusal::Failed)?;
        state.raise_event(event, &params).map_err(|e| match e {
            core::RaiseError::NoSubscribers => RaiseRefusal::NoSubscribers,
            core::RaiseError::NotRegistered
            | core::RaiseError::Failed
            | core::RaiseError::TooLarge => RaiseRefusal::Failed,
        })
    }

    /// `mi.call`.
    fn mi_call(&self, line: &str) -> Result<String, MiError> {
        self.shared.mi_call(line)
    }
}

/// Implements one version's generated capability traits (`types`, `diagnostics`, `log`,
/// `stats`, `cache`, `events`, `mi`) for [`ModuleStoreData`] by its methods; invoked in
/// each version's module, next to its `bindgen!`.
macro_rules! capabilities {
    () => {
        use super::{ModuleStoreData, RaiseRefusal};
        use miwa::module::{cache, diagnostics, events, log, mi, stats, types};

        impl types::Host for ModuleStoreData {}

        impl diagnostics::Host for ModuleStoreData {
            fn report_panic(&mut self, message: String) {
                ModuleStoreData::report_panic(self, message);
            }
        }

        impl log::Host for ModuleStoreData {
            fn log(&mut self, level: i32, message: String) {
                self.log_line(level, &message);
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
            fn store(
                &mut self,
                key: String,
                value: String,
                expire: u32,
            ) -> Result<(), cache::CacheError> {
                if self.cache_store(&key, &value, expire) {
                    Ok(())
                } else {
                    Err(cache::CacheError::Full)
                }
            }

            fn fetch(&mut self, key: String) -> Option<String> {
                self.cache_fetch(&key)
            }

            fn remove(&mut self, key: String) {
                self.cache_remove(&key);
            }
        }

        impl events::Host for ModuleStoreData {
            fn raise(
                &mut self,
                event: String,
                params: Vec<(String, events::EventValue)>,
            ) -> Result<(), events::RaiseError> {
                let params = mi_core::host::EventParams::Named(
                    params
                        .into_iter()
                        .map(|(name, value)| {
                            let value = match value {
                                events::EventValue::Int(n) => mi_core::host::EventValue::Int(n),
                                events::EventValue::Text(t) => mi_core::host::EventValue::Text(t),
                            };
                            (name, value)
                        })
                        .collect(),
                );
                ModuleStoreData::raise(self, &event, params).map_err(|refusal| match refusal {
                    RaiseRefusal::NotDeclared => events::RaiseError::NotDeclared,
                    RaiseRefusal::NoSubscribers => events::RaiseError::NoSubscribers,
                    RaiseRefusal::Failed => events::RaiseError::Failed,
                })
            }
        }

        impl mi::Host for ModuleStoreData {
            fn call(&mut self, line: String) -> Result<String, types::MiError> {
                self.mi_call(&line).map_err(|e| types::MiError {
                    code: e.code,
                    message: e.message,
                    data: e.data,
                })
            }
        }

        /// Links `types` and `diagnostics` of this version, which every module has.
        pub(crate) fn link_always(
            linker: &mut wasmtime::component::Linker<ModuleStoreData>,
        ) -> wasmtime::Result<()> {
            use wasmtime::component::HasSelf;
            types::add_to_linker::<_, HasSelf<_>>(linker, |d| d)?;
            diagnostics::add_to_linker::<_, HasSelf<_>>(linker, |d| d)
        }

        /// Links the `miwa:module` interface of this version that `grant` opens.
        pub fn link(
            linker: &mut wasmtime::component::Linker<ModuleStoreData>,
            grant: crate::grant::Grant,
        ) -> wasmtime::Result<()> {
            use crate::grant::Grant;
            use wasmtime::component::HasSelf;
            match grant {
                Grant::Log => log::add_to_linker::<_, HasSelf<_>>(linker, |d| d),
                Grant::Stats => stats::add_to_linker::<_, HasSelf<_>>(linker, |d| d),
                Grant::Cache => cache::add_to_linker::<_, HasSelf<_>>(linker, |d| d),
                Grant::Events => events::add_to_linker::<_, HasSelf<_>>(linker, |d| d),
                Grant::Mi => mi::add_to_linker::<_, HasSelf<_>>(linker, |d| d),
                Grant::Files | Grant::Tcp | Grant::Http | Grant::Tick => Ok(()),
            }
        }
    };
}

use capabilities;

/// Links `types` and `diagnostics` of every version of the world.
pub(crate) fn link_always(
    linker: &mut wasmtime::component::Linker<ModuleStoreData>,
) -> wasmtime::Result<()> {
    v0_1::link_always(linker)?;
    v0_2::link_always(linker)?;
    v0_3::link_always(linker)
}

/// Links the `miwa:module` interface `grant` opens, in every version of the world.
pub fn link(
    linker: &mut wasmtime::component::Linker<ModuleStoreData>,
    grant: crate::grant::Grant,
) -> wasmtime::Result<()> {
    v0_1::link(linker, grant)?;
    v0_2::link(linker, grant)?;
    v0_3::link(linker, grant)
}
