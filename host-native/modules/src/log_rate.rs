//! A module's share of the daemon's log: lines and bytes per second, each with a burst of
//! two seconds' worth, so that a module that logs in a loop cannot flood the log for the
//! others. Lines over the rate are dropped, counted in the module's `log_dropped`
//! statistic, and summarised in one warning at most once a second.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often dropped lines are summarised, at most.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);

/// Seconds of rate a bucket holds when full.
const BURST_SECONDS: f64 = 2.0;

struct Buckets {
    lines: f64,
    bytes: f64,
    refilled: Instant,
    dropped_lines: u64,
    dropped_bytes: u64,
    summarised: Instant,
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Log it.
    Logged,
    /// Dropped: over the rate.
    Dropped,
    /// Dropped, and time to summarise what was dropped since the last summary.
    DroppedSummary {
        /// Lines dropped since the last summary, this one included.
        lines: u64,
        /// Their bytes.
        bytes: u64,
    },
}

/// One module's log rate.
pub(crate) struct LogRate {
    lines_per_second: f64,
    bytes_per_second: f64,
    buckets: Mutex<Buckets>,
}

impl LogRate {
    /// At most `lines_per_second` lines and `bytes_per_second` bytes a second.
    pub fn new(lines_per_second: u32, bytes_per_second: u32) -> Self {
        let (lines, bytes) = (f64::from(lines_per_second), f64::from(bytes_per_second));
        let now = Instant::now();
        LogRate {
            lines_per_second: lines,
            bytes_per_second: bytes,
            buckets: Mutex::new(Buckets {
                lines: lines * BURST_SECONDS,
                bytes: bytes * BURST_SECONDS,
                refilled: now,
                dropped_lines: 0,
                dropped_bytes: 0,
                summarised: now,
            }),
        }
    }

    /// Whether a line of `bytes` may be logged now.
    pub(crate) fn admit(&self, bytes: usize) -> Admission {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(buckets.refilled).as_secs_f64();
        buckets.refilled = now;
        buckets.lines = (buckets.lines + elapsed * self.lines_per_second)
            .min(self.lines_per_second * BURST_SECONDS);
        buckets.bytes = (buckets.bytes + elapsed * self.bytes_per_second)
            .min(self.bytes_per_second * BURST_SECONDS);
        let size = bytes as f64;
        if buckets.lines >= 1.0 && buckets.bytes >= size {
            buckets.lines -= 1.0;
            buckets.bytes -= size;
            return Admission::Logged;
        }
        buckets.dropped_lines += 1;
        buckets.dropped_bytes += bytes as u64;
        if now.duration_since(buckets.summarised) < SUMMARY_INTERVAL {
            return Admission::Dropped;
        }
        buckets.summarised = now;
        let summary = Admission::DroppedSummary {
            lines: buckets.dropped_lines,
            bytes: buckets.dropped_bytes,
        };
        buckets.dropped_lines = 0;
        buckets.dropped_bytes = 0;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_drops_are_summarised() {
        let rate = LogRate::new(10, 1_000_000);
        let logged = (0..100)
            .filter(|_| rate.admit(10) == Admission::Logged)
            .count();
        assert_eq!(logged, 20, "two seconds' worth of lines");
        std::thread::sleep(Duration::from_millis(1100));
        let outcomes: Vec<Admission> = (0..100).map(|_| rate.admit(10)).collect();
        let logged = outcomes.iter().filter(|a| **a == Admission::Logged).count();
        assert!((10..=12).contains(&logged), "one second refilled {logged}");
        assert!(
            outcomes.contains(&Admission::DroppedSummary {
                lines: 81,
                bytes: 810
            }),
            "the 80 dropped before and the first dropped now: {outcomes:?}"
        );
        let bytes = LogRate::new(1000, 100);
        assert_eq!(bytes.admit(150), Admission::Logged, "within the burst");
        assert_eq!(bytes.admit(60), Admission::Dropped, "over the bytes");
    }
}
