//! The limit on requests running at once across all transports (`[core]
//! max_concurrent_calls`), with its statistics.

use mi_core::host::Statistic;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Requests running now, the most there ever were, and those refused at the limit.
#[derive(Debug)]
pub struct CallLimit {
    max: usize,
    running: AtomicUsize,
    peak: AtomicU64,
    refused: AtomicU64,
}

/// One running request; dropping it frees its place.
#[derive(Debug)]
pub struct CallSlot<'a> {
    limit: &'a CallLimit,
}

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        self.limit.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallLimit {
    /// At most `max` requests at once (`0`: no limit).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            running: AtomicUsize::new(0),
            peak: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A place for one more request, or `None` (counted) when `max` are running.
    pub fn enter(&self) -> Option<CallSlot<'_>> {
        let before = self.running.fetch_add(1, Ordering::AcqRel);
        let slot = CallSlot { limit: self };
        if self.max > 0 && before >= self.max {
            drop(slot);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.peak.fetch_max(before as u64 + 1, Ordering::Relaxed);
        Some(slot)
    }

    /// The configured limit (`0`: none).
    pub fn max(&self) -> usize {
        self.max
    }

    /// Group `mi`: `calls_running`, `calls_peak`, `calls_refused`.
    pub fn statistics(&self) -> Vec<Statistic> {
        [
            ("calls_running", self.running.load(Ordering::Relaxed) as u64),
            ("calls_peak", self.peak.load(Ordering::Relaxed)),
            ("calls_refused", self.refused.load(Ordering::Relaxed)),
        ]
        .into_iter()
        .map(|(name, value)| Statistic {
            group: "mi".into(),
            name: name.into(),
            value,
            incremental: false,
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_exactly_past_the_limit_and_frees_places() {
        let limit = CallLimit::new(2);
        let first = limit.enter().expect("first place");
        let second = limit.enter().expect("second place");
        assert!(limit.enter().is_none());
        drop(first);
        let third = limit.enter().expect("a freed place");
        assert!(limit.enter().is_none());
        drop((second, third));
        let values: Vec<u64> = limit.statistics().iter().map(|s| s.value).collect();
        assert_eq!(values, [0, 2, 2]);
    }

    #[test]
    fn zero_means_no_limit() {
        let limit = CallLimit::new(0);
        let slots: Vec<_> = (0..1000).map(|_| limit.enter().expect("a place")).collect();
        assert_eq!(slots.len(), 1000);
    }
}
