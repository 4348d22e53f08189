//! Metrics: the daemon's statistics for scrapers (`GET /metrics`) and as charts (the HTML
//! page's statistics view).
//!
//! - `exposition`: metric families and their text (Prometheus text format, OpenMetrics).
//! - `families`: which family, labels and type each statistic becomes.
//! - `sampler`: the thread that samples the charted statistics into a bounded ring buffer.
//! - `settings`: `[metrics]` and `[charts]`.
//!
//! A scrape reads the statistics when it comes, as `get_statistics all` would; nothing is
//! kept between scrapes. Reading them needs what running `get_statistics` needs: a role
//! that may run it.

pub mod exposition;
pub mod families;
pub mod sampler;
pub mod settings;

use exposition::Families;
use mi_core::access::Access;
use mi_core::Host;
use miwa_state::HostState;
use std::sync::Arc;
use std::time::Duration;
use transports::metrics::{ChartsView, ScrapeError};

/// The command whose permission reading the statistics takes.
const STATISTICS_COMMAND: (&str, &str) = ("get_statistics", "statistics");

/// The daemon's metrics: its statistics as families, its nodes', its charts.
pub struct Metrics {
    state: Arc<HostState>,
    sampler: Option<Arc<sampler::Sampler>>,
    node_timeout: Duration,
}

impl Metrics {
    /// Metrics of `state`; with chart settings, the sampler is started.
    pub fn start(
        state: &Arc<HostState>,
        charts: Option<sampler::ChartSettings>,
        node_timeout: Duration,
    ) -> std::io::Result<Metrics> {
        let sampler = match charts {
            Some(settings) => {
                let sampler = Arc::new(sampler::Sampler::new(settings));
                let source = Arc::downgrade(state);
                sampler.start(move || source.upgrade().map(|state| state.statistics()))?;
                Some(sampler)
            }
            None => None,
        };
        Ok(Metrics {
            state: state.clone(),
            sampler,
            node_timeout,
        })
    }

    /// Refuses a role that may not run `get_statistics`.
    pub fn permitted(access: Option<&Access>, node: &str) -> Result<(), ScrapeError> {
        match access {
            Some(access) if !access.permits(STATISTICS_COMMAND.0, node) => {
                Err(ScrapeError::Forbidden(
                    access
                        .refusal(STATISTICS_COMMAND.0)
                        .data
                        .unwrap_or_default(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The daemon's own statistics.
    pub fn own(&self) -> Families {
        self.own_where(|_| true)
    }

    /// The daemon's own statistics that `keep` keeps (a front leaves out the counters of
    /// the nodes a caller's role does not reach).
    pub fn own_where(&self, keep: impl Fn(&mi_core::host::Statistic) -> bool) -> Families {
        let mut stats = self.state.statistics();
        stats.retain(keep);
        let processes = self.state.processes.snapshot();
        let is_module = |group: &str| self.state.is_module(group);
        let process_type = |id: u32| {
            processes
                .iter()
                .find(|p| p.id == id)
                .map(|p| p.kind.clone())
        };
        let context = families::Context {
            is_module: &is_module,
            process_type: &process_type,
        };
        let mut out = Families::default();
        families::add_own(&mut out, &stats, &context);
        out
    }

    /// How long a node may take to answer a scrape's statistics request
    /// (`metrics.node_timeout_ms`).
    pub fn node_timeout(&self) -> Duration {
        self.node_timeout
    }

    /// The charts, with `picks`; `None` when charts are off.
    pub fn charts(&self, picks: &[String]) -> Option<ChartsView> {
        self.sampler.as_ref().map(|sampler| sampler.view(picks))
    }
}
