//! The chart sampler: a thread that, every `charts.interval_ms`, reads the daemon's
//! statistics and keeps those a chart shows in a bounded [`History`].
//!
//! The charts are the configured ones (`charts.show`) and those users picked on the HTML
//! page; at most `charts.max_picks` picks are remembered, the oldest forgotten first.

use mi_core::chart::{self, BadSpec, History};
use mi_core::host::Statistic;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use transports::metrics::{Chart, ChartsView};

/// `[charts]` as the sampler uses it.
#[derive(Debug, Clone)]
pub struct ChartSettings {
    /// Time between samples.
    pub interval: Duration,
    /// Samples kept per statistic.
    pub samples: usize,
    /// Statistics sampled at most.
    pub max_series: usize,
    /// The charts always shown, as specs.
    pub show: Vec<String>,
    /// Picked charts remembered at most.
    pub max_picks: usize,
}

type Globs = Vec<(String, String)>;

/// The sampled history and the charts drawn from it.
pub struct Sampler {
    settings: ChartSettings,
    history: Mutex<History>,
    shown: Vec<(String, Globs)>,
    picks: Mutex<VecDeque<(String, Globs)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Sampler {
    /// A sampler for `settings`; the specs in `show` were validated with the configuration.
    pub fn new(settings: ChartSettings) -> Sampler {
        let shown = settings
            .show
            .iter()
            .filter_map(|spec| Some((spec.clone(), chart::parse_spec(spec).ok()?)))
            .collect();
        Sampler {
            history: Mutex::new(History::new(settings.samples, settings.max_series)),
            settings,
            shown,
            picks: Mutex::new(VecDeque::new()),
        }
    }

    /// Starts the sampling thread, which reads `statistics` each interval (on a fixed
    /// grid, so that samples do not drift; a late one moves the grid) until the sampler is
    /// dropped.
    pub fn start(
        self: &Arc<Self>,
        statistics: impl Fn() -> Option<Vec<Statistic>> + Send + 'static,
    ) -> std::io::Result<()> {
        let sampler: Weak<Sampler> = Arc::downgrade(self);
        let interval = self.settings.interval;
        std::thread::Builder::new()
            .name("miwa-charts".into())
            .spawn(move || {
                let mut next = std::time::Instant::now();
                loop {
                    next += interval;
                    let now = std::time::Instant::now();
                    match next.checked_duration_since(now) {
                        Some(wait) => std::thread::sleep(wait),
                        None => next = now,
                    }
                    let Some(sampler) = sampler.upgrade() else {
                        return;
                    };
                    let Some(stats) = statistics() else {
                        return;
                    };
                    sampler.sample(&stats, now_ms());
                }
            })
            .map(drop)
    }

    /// Records one sample of the statistics some chart shows.
    pub fn sample(&self, stats: &[Statistic], at_ms: i64) {
        let picks = lock(&self.picks).clone();
        let wanted = |group: &str, name: &str| {
            self.shown
                .iter()
                .chain(picks.iter())
                .any(|(_, globs)| chart::selects(globs, group, name))
        };
        lock(&self.history).record(at_ms, stats, wanted);
    }

    /// Remembers a picked chart, so that it is sampled from now on.
    fn pick(&self, spec: &str) -> Result<Globs, BadSpec> {
        let globs = chart::parse_spec(spec)?;
        if let Some((_, shown)) = self.shown.iter().find(|(s, _)| s == spec) {
            return Ok(shown.clone());
        }
        let mut picks = lock(&self.picks);
        if let Some(at) = picks.iter().position(|(s, _)| s == spec) {
            let again = picks.remove(at).expect("the position is in the queue");
            picks.push_back(again);
        } else {
            if picks.len() == self.settings.max_picks {
                picks.pop_front();
            }
            picks.push_back((spec.to_string(), globs.clone()));
        }
        Ok(globs)
    }

    /// The configured charts, then `picks` (remembered from now on), drawn from the
    /// samples; a pick that is not a chart spec is listed as refused with the reason.
    pub fn view(&self, picks: &[String]) -> ChartsView {
        let mut charts = Vec::new();
        let mut refused = Vec::new();
        let mut wanted: Vec<(String, Globs)> = self.shown.clone();
        for spec in picks.iter().take(self.settings.max_picks) {
            if wanted.iter().any(|(s, _)| s == spec) {
                continue;
            }
            match self.pick(spec) {
                Ok(globs) => wanted.push((spec.clone(), globs)),
                Err(problem) => refused.push((spec.clone(), problem.to_string())),
            }
        }
        let window_ms = self.settings.interval.as_millis() as i64 * self.settings.samples as i64;
        let now = now_ms();
        let history = lock(&self.history);
        for (i, (spec, globs)) in wanted.iter().enumerate() {
            let lines = history.lines(globs);
            charts.push(Chart {
                spec: spec.clone(),
                picked: i >= self.shown.len(),
                svg: chart::render(&format!("chart-{i}"), spec, &lines, window_ms, now),
            });
        }
        ChartsView {
            interval_ms: self.settings.interval.as_millis() as u64,
            charts,
            refused,
        }
    }

    /// Statistics sampled now, and samples refused for want of room (`max_series`).
    pub fn counts(&self) -> (usize, u64) {
        let history = lock(&self.history);
        (history.series(), history.refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_picks: usize) -> ChartSettings {
        ChartSettings {
            interval: Duration::from_millis(1000),
            samples: 10,
            max_series: 16,
            show: vec!["t:*_requests".into()],
            max_picks,
        }
    }

    #[test]
    fn only_charted_statistics_are_sampled_and_picks_are_bounded() {
        let sampler = Sampler::new(settings(2));
        let stats = [
            Statistic::new("t", "http_requests", 1, false),
            Statistic::new("x", "a", 1, false),
            Statistic::new("x", "b", 2, false),
        ];
        sampler.sample(&stats, now_ms());
        assert_eq!(sampler.counts().0, 1);
        let view = sampler.view(&["x:a".into(), "x:b".into(), "nonsense".into()]);
        assert_eq!(view.charts.len(), 3);
        assert!(view.charts[1].picked);
        assert!(view.refused.is_empty(), "a third pick is past max_picks");
        sampler.view(&["x:*".into()]);
        sampler.sample(&stats, now_ms());
        assert_eq!(sampler.counts().0, 3);
        assert_eq!(
            lock(&sampler.picks)
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>(),
            ["x:b", "x:*"]
        );
        let view = sampler.view(&["nonsense".into()]);
        assert_eq!(view.refused.len(), 1);
    }
}
