//! `load:` statistics: the share of wall-clock time each worker spent handling requests,
//! over the last second, minute and ten minutes, sampled once a second.

use super::processes::ProcessTable;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Samples kept: ten minutes plus one.
const WINDOW: usize = 601;

/// Load percentages of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Load {
    /// Last second.
    pub last: u64,
    /// Last minute.
    pub minute: u64,
    /// Last ten minutes.
    pub ten_minutes: u64,
}

/// Busy-time samples per process id.
#[derive(Debug, Default)]
pub(crate) struct LoadTracker {
    samples: Mutex<HashMap<u32, VecDeque<(Instant, u64)>>>,
}

fn percent(samples: &VecDeque<(Instant, u64)>, back: usize) -> u64 {
    let (Some(&(t1, b1)), Some(&(t0, b0))) = (
        samples.back(),
        samples.get(samples.len().saturating_sub(back + 1)),
    ) else {
        return 0;
    };
    let wall = t1.duration_since(t0).as_nanos() as u64;
    if wall == 0 {
        return 0;
    }
    ((b1 - b0) * 100 / wall).min(100)
}

impl LoadTracker {
    /// Records one sample of every process's busy time.
    pub fn sample(&self, processes: &ProcessTable) {
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let live = processes.snapshot();
        samples.retain(|id, _| live.iter().any(|p| p.id == *id));
        for p in live {
            let ring = samples.entry(p.id).or_default();
            ring.push_back((now, p.busy_ns.load(Ordering::Relaxed)));
            if ring.len() > WINDOW {
                ring.pop_front();
            }
        }
    }

    /// The load of process `id`.
    pub fn load(&self, id: u32) -> Load {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.get(&id).map_or_else(Load::default, |ring| Load {
            last: percent(ring, 1),
            minute: percent(ring, 60),
            ten_minutes: percent(ring, 600),
        })
    }

    /// Starts the once-a-second sampler thread; `every_second` runs on it after each sample
    /// (the host refreshes slow-moving readings there).
    pub fn start(
        self: &Arc<Self>,
        processes: Arc<ProcessTable>,
        every_second: impl Fn() + Send + 'static,
    ) -> std::io::Result<()> {
        let tracker = self.clone();
        std::thread::Builder::new()
            .name("load-sampler".into())
            .spawn(move || {
                processes.register_current("load sampler");
                loop {
                    tracker.sample(&processes);
                    every_second();
                    std::thread::sleep(Duration::from_secs(1));
                }
            })?;
        Ok(())
    }
}
