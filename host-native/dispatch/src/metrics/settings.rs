//! `[metrics]` and `[charts]`: their keys, defaults and ranges.

use super::sampler::ChartSettings;
use miwa_state::settings::within;
use serde::Deserialize;
use std::time::Duration;

/// Longest accepted `metrics.node_timeout_ms`: one minute.
pub(crate) const MAX_NODE_TIMEOUT_MS: u64 = 60_000;

/// Most points the charts may hold, `charts.samples × charts.max_series`: 4 Mi points,
/// 64 MiB.
pub(crate) const MAX_POINTS: usize = 4 << 20;

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `GET /metrics` (`enabled`, default true; route `metrics` of
    /// `access.protect`, and a role that may run `get_statistics`).
    pub enabled: bool,
    /// How long a scrape waits for each node's statistics in front mode, milliseconds
    /// (`node_timeout_ms`, default 2000, 1 … 60000); a node past it is
    /// `miwa_node_up{node} 0`.
    pub node_timeout_ms: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            node_timeout_ms: 2000,
        }
    }
}

/// `[charts]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ChartsConfig {
    /// Sample statistics for the HTML page's charts (`enabled`, default true).
    pub enabled: bool,
    /// Time between samples, milliseconds (`interval_ms`, default 1000, 100 … 3600000).
    pub interval_ms: u64,
    /// Samples kept per statistic (`samples`, default 300 — five minutes at the default
    /// interval; 2 … 100000).
    pub samples: usize,
    /// Statistics sampled at most (`max_series`, default 64, 1 … 4096; `samples ×
    /// max_series` at most 4194304).
    pub max_series: usize,
    /// The charts always shown, each `group:name` globs, comma separated (`show`, default
    /// requests and errors per transport, calls per command, worker load, memory; at most
    /// 64).
    pub show: Vec<String>,
    /// Charts picked on the page remembered at most, oldest forgotten first (`max_picks`,
    /// default 16, 0 … 256).
    pub max_picks: usize,
}

impl Default for ChartsConfig {
    fn default() -> Self {
        ChartsConfig {
            enabled: true,
            interval_ms: 1000,
            samples: 300,
            max_series: 64,
            show: mi_core::chart::DEFAULT_SPECS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_picks: 16,
        }
    }
}

impl MetricsConfig {
    /// The key and problem of a value out of range, if any.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        within(self.node_timeout_ms, 1..=MAX_NODE_TIMEOUT_MS)
            .err()
            .map(|problem| ("metrics.node_timeout_ms", problem))
    }
}

impl ChartsConfig {
    /// The key and problem of a value out of range, if any.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let ranges = [
            (
                "charts.interval_ms",
                within(self.interval_ms, 100..=3_600_000),
            ),
            ("charts.samples", within(self.samples as u64, 2..=100_000)),
            (
                "charts.max_series",
                within(self.max_series as u64, 1..=4096),
            ),
            ("charts.max_picks", within(self.max_picks as u64, 0..=256)),
        ];
        if let Some((key, Err(problem))) = ranges.into_iter().find(|(_, range)| range.is_err()) {
            return Some((key, problem));
        }
        if self.samples * self.max_series > MAX_POINTS {
            return Some((
                "charts.samples / charts.max_series",
                format!("samples × max_series must be at most {MAX_POINTS}"),
            ));
        }
        if self.show.len() > 64 {
            return Some(("charts.show", "at most 64 charts".into()));
        }
        if let Some(problem) = self
            .show
            .iter()
            .find_map(|spec| mi_core::chart::parse_spec(spec).err())
        {
            return Some(("charts.show", problem.to_string()));
        }
        None
    }

    /// The sampler's settings, or `None` when charts are off.
    pub fn sampler(&self) -> Option<ChartSettings> {
        self.enabled.then(|| ChartSettings {
            interval: Duration::from_millis(self.interval_ms),
            samples: self.samples,
            max_series: self.max_series,
            show: self.show.clone(),
            max_picks: self.max_picks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_at_their_edges() {
        let charts = |f: fn(&mut ChartsConfig)| {
            let mut c = ChartsConfig::default();
            f(&mut c);
            c.problem().map(|(key, _)| key)
        };
        assert_eq!(charts(|_| {}), None);
        assert_eq!(charts(|c| c.interval_ms = 100), None);
        assert_eq!(charts(|c| c.interval_ms = 99), Some("charts.interval_ms"));
        assert_eq!(charts(|c| c.samples = 2), None);
        assert_eq!(charts(|c| c.samples = 1), Some("charts.samples"));
        assert_eq!(charts(|c| c.max_series = 0), Some("charts.max_series"));
        assert_eq!(
            charts(|c| {
                c.samples = 1024;
                c.max_series = 4096;
            }),
            None
        );
        assert_eq!(
            charts(|c| {
                c.samples = 1025;
                c.max_series = 4096;
            }),
            Some("charts.samples / charts.max_series")
        );
        assert_eq!(
            charts(|c| c.show = vec!["oops".into()]),
            Some("charts.show")
        );
        assert_eq!(charts(|c| c.show = vec!["a:b".into(); 64]), None);
        assert_eq!(
            charts(|c| c.show = vec!["a:b".into(); 65]),
            Some("charts.show")
        );
        assert_eq!(charts(|c| c.max_picks = 256), None);
        assert_eq!(charts(|c| c.max_picks = 257), Some("charts.max_picks"));
        let metrics = |ms| {
            MetricsConfig {
                node_timeout_ms: ms,
                ..MetricsConfig::default()
            }
            .problem()
            .map(|(key, _)| key)
        };
        assert_eq!(metrics(1), None);
        assert_eq!(metrics(60_000), None);
        assert_eq!(metrics(0), Some("metrics.node_timeout_ms"));
        assert_eq!(metrics(60_001), Some("metrics.node_timeout_ms"));
    }
}
