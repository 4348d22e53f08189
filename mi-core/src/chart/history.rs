//! The ring buffer behind the charts: per statistic, its last `samples` values with their
//! times. Bounded twice: `samples` points per series and `max_series` series, so at most
//! `samples × max_series` points (16 bytes each) are ever held.

use crate::host::Statistic;
use std::collections::{HashMap, VecDeque};

/// One statistic's samples, oldest first.
#[derive(Debug)]
struct Series {
    group: String,
    name: String,
    counter: bool,
    points: VecDeque<(i64, u64)>,
    last_round: u64,
}

/// The samples of the statistics the charts watch.
#[derive(Debug)]
pub struct History {
    samples: usize,
    max_series: usize,
    series: Vec<Series>,
    index: HashMap<String, usize>,
    round: u64,
    refused: u64,
}

/// A chart's line: a statistic's points, counters turned into rates per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// `group:name`.
    pub label: String,
    /// (time in Unix milliseconds, value), oldest first.
    pub points: Vec<(i64, f64)>,
    /// Whether the points are a counter's rate per second (else a gauge's values).
    pub rate: bool,
}

impl History {
    /// An empty history keeping `samples` points (at least 2) of at most `max_series`
    /// statistics (at least 1).
    pub fn new(samples: usize, max_series: usize) -> History {
        History {
            samples: samples.max(2),
            max_series: max_series.max(1),
            series: Vec::new(),
            index: HashMap::new(),
            round: 0,
            refused: 0,
        }
    }

    /// Points kept per series.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Series held now.
    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// Samples of statistics not kept because `max_series` series were already held.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Records one sample, at `at_ms`, of every statistic in `stats` that `wanted` selects
    /// (by group and name). A series that got no point for `samples` rounds (a process or
    /// subscriber gone, a chart no longer shown) is let go.
    pub fn record(&mut self, at_ms: i64, stats: &[Statistic], wanted: impl Fn(&str, &str) -> bool) {
        self.round += 1;
        for stat in stats.iter().filter(|s| wanted(&s.group, &s.name)) {
            let key = format!("{}:{}", stat.group, stat.name);
            let i = match self.index.get(&key) {
                Some(&i) => i,
                None if self.series.len() < self.max_series => {
                    self.series.push(Series {
                        group: stat.group.clone(),
                        name: stat.name.clone(),
                        counter: stat.incremental,
                        points: VecDeque::new(),
                        last_round: 0,
                    });
                    self.index.insert(key, self.series.len() - 1);
                    self.series.len() - 1
                }
                None => {
                    self.refused += 1;
                    continue;
                }
            };
            let series = &mut self.series[i];
            if series.points.len() == self.samples {
                series.points.pop_front();
            }
            series.points.push_back((at_ms, stat.value));
            series.last_round = self.round;
        }
        let (round, samples) = (self.round, self.samples as u64);
        let before = self.series.len();
        self.series.retain(|s| round - s.last_round < samples);
        if self.series.len() != before {
            self.index = self
                .series
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{}:{}", s.group, s.name), i))
                .collect();
        }
    }

    /// The lines of the series `globs` selects, in the order they were first seen.
    pub fn lines(&self, globs: &[(String, String)]) -> Vec<Line> {
        self.series
            .iter()
            .filter(|s| super::selects(globs, &s.group, &s.name))
            .map(|s| Line {
                label: format!("{}:{}", s.group, s.name),
                points: if s.counter {
                    rates(&s.points)
                } else {
                    s.points.iter().map(|&(t, v)| (t, v as f64)).collect()
                },
                rate: s.counter,
            })
            .collect()
    }
}

/// A counter's rate per second between consecutive samples; a value below the one before
/// is a reset, counted from zero (as Prometheus's `rate()` does).
fn rates(points: &VecDeque<(i64, u64)>) -> Vec<(i64, f64)> {
    points
        .iter()
        .zip(points.iter().skip(1))
        .filter(|((t0, _), (t1, _))| t1 > t0)
        .map(|(&(t0, v0), &(t1, v1))| {
            let delta = if v1 >= v0 { v1 - v0 } else { v1 };
            (t1, delta as f64 * 1000.0 / (t1 - t0) as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_samples_points_and_max_series_series() {
        let mut history = History::new(3, 2);
        for round in 0..5u64 {
            let stats = [
                Statistic::new("t", "a", round * 10, true),
                Statistic::new("t", "b", round, false),
                Statistic::new("t", "c", round, false),
            ];
            history.record(round as i64 * 1000, &stats, |_, _| true);
        }
        assert_eq!(history.series(), 2);
        assert_eq!(history.refused(), 5);
        let globs = vec![("t".to_string(), "*".to_string())];
        let lines = history.lines(&globs);
        assert_eq!(lines[0].label, "t:a");
        assert_eq!(lines[0].points, vec![(3000, 10.0), (4000, 10.0)]);
        assert!(lines[0].rate);
        assert_eq!(lines[1].points, vec![(2000, 2.0), (3000, 3.0), (4000, 4.0)]);
    }

    #[test]
    fn a_reset_counts_from_zero_and_gone_series_are_let_go() {
        let mut history = History::new(2, 8);
        history.record(0, &[Statistic::new("c", "x", 50, true)], |_, _| true);
        history.record(2000, &[Statistic::new("c", "x", 4, true)], |_, _| true);
        let globs = vec![("c".to_string(), "x".to_string())];
        assert_eq!(history.lines(&globs)[0].points, vec![(2000, 2.0)]);
        history.record(4000, &[], |_, _| true);
        assert_eq!(history.series(), 1);
        history.record(6000, &[], |_, _| true);
        assert_eq!(history.series(), 0);
    }
}
