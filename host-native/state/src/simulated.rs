//! `miwa serve --simulate`: the simulated OpenSIPS proxy's modules (`mi_sim`) behind the
//! daemon's module-command seam, moved each second by a thread that shows in `ps` as
//! `simulated OpenSIPS proxy (seed N)`. Their events go to the daemon's real subscribers.
//! Nothing of it is a real proxy: `version`, `ps` and the HTML page say so.

use mi_core::host::{EventParams, ModuleCommand, RaiseError, Statistic};
use mi_core::MiError;
use mi_sim::Proxy;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// The simulated proxy of a daemon.
pub struct SimulatedProxy {
    seed: u32,
    proxy: Mutex<Proxy>,
    commands: Vec<ModuleCommand>,
}

/// Where the proxy's events go.
pub(crate) trait Raise: Send + Sync + 'static {
    /// Raises `event` to its subscribers.
    fn raise(&self, event: &str, params: &EventParams) -> Result<(), RaiseError>;
    /// Lists the calling thread as a process of type `kind`.
    fn register_thread(&self, kind: &str);
}

impl SimulatedProxy {
    /// A proxy seeded with `seed`, its clock at `now`.
    pub(crate) fn new(seed: u32, now: i64) -> SimulatedProxy {
        SimulatedProxy {
            seed,
            proxy: Mutex::new(Proxy::new(seed, now)),
            commands: Proxy::commands(),
        }
    }

    /// What `ps` and `version` call it.
    pub(crate) fn label(&self) -> String {
        format!("simulated OpenSIPS proxy (seed {})", self.seed)
    }

    fn lock(&self) -> MutexGuard<'_, Proxy> {
        self.proxy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the thread that moves the clock each second to `now()`, raising the modules'
    /// events through `sink`, until `sink` is gone.
    pub(crate) fn start<S: Raise>(
        self: &Arc<Self>,
        sink: Weak<S>,
        now: fn() -> i64,
    ) -> std::io::Result<()> {
        let proxy = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("miwa-simulated-proxy".into())
            .spawn(move || {
                let label = match (proxy.upgrade(), sink.upgrade()) {
                    (Some(proxy), Some(sink)) => {
                        let label = proxy.label();
                        sink.register_thread(&label);
                        label
                    }
                    _ => return,
                };
                tracing::info!("{label}: running");
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let (Some(proxy), Some(sink)) = (proxy.upgrade(), sink.upgrade()) else {
                        return;
                    };
                    let raised = proxy.lock().advance_to(now());
                    for (event, params) in raised {
                        let _ = sink.raise(event, &params);
                    }
                }
            })
            .map(drop)
    }

    /// Runs a simulated module's command; its events go through `sink`.
    pub(crate) fn call(
        &self,
        module: &str,
        command: &str,
        params: &str,
        sink: &dyn Raise,
    ) -> Result<String, MiError> {
        let (result, raised) = self.lock().call(module, command, params)?;
        for (event, params) in raised {
            let _ = sink.raise(event, &params);
        }
        Ok(result)
    }
}

impl crate::StatisticsSource for SimulatedProxy {
    fn statistics(&self) -> Vec<Statistic> {
        self.lock().statistics()
    }

    fn reset_statistic(&self, group: &str, name: &str) -> bool {
        self.lock().reset_statistic(group, name)
    }

    fn reset_all_statistics(&self) {
        self.lock().reset_all_statistics();
    }
}

impl crate::CommandSource for SimulatedProxy {
    fn find(&self, name: &str) -> Option<ModuleCommand> {
        mi_sim::find_command(&self.commands, name).cloned()
    }

    fn commands(&self) -> Vec<ModuleCommand> {
        self.commands.clone()
    }

    fn names_4_0(&self, local: Option<&str>) -> Vec<String> {
        mi_sim::names_4_0(&self.commands, local)
    }

    fn has_module(&self, module: &str) -> bool {
        self.commands.iter().any(|c| c.module == module)
    }

    fn call(
        &self,
        module: &str,
        command: &str,
        params: &str,
        state: &crate::HostState,
    ) -> Result<String, MiError> {
        SimulatedProxy::call(self, module, command, params, state)
    }
}
