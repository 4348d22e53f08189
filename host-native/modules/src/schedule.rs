//! The tick schedule of a module granted `tick`: a thread of its own that calls the
//! module's `tick` every `tick_ms`, under the module's usual limits (time, memory, I/O,
//! instances). Ticks never overlap: one that overruns its period makes the missed ones
//! skipped (counted in `ticks_skipped`), and the schedule resumes on the next period.
//! A failing tick is logged when the failures start, change or stop, not at every tick;
//! the next tick runs regardless.

use super::loaded::{LoadedModule, Tick};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Weak;
use std::time::{Duration, Instant};

/// A running schedule; dropping it ends the thread at once.
pub(crate) struct TickSchedule {
    _stop: mpsc::Sender<()>,
}

impl TickSchedule {
    /// Starts ticking `module` every `every`, on a thread with `stack` bytes of stack.
    pub fn start(
        module: Weak<LoadedModule>,
        name: &str,
        every: Duration,
        stack: usize,
    ) -> std::io::Result<TickSchedule> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(format!("miwa-tick-{name}"))
            .stack_size(stack)
            .spawn(move || run(&module, every, &stopped))?;
        Ok(TickSchedule { _stop: stop })
    }
}

fn run(module: &Weak<LoadedModule>, every: Duration, stopped: &mpsc::Receiver<()>) {
    let mut next = Instant::now() + every;
    let mut failing: Option<(String, u64)> = None;
    loop {
        match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(module) = module.upgrade() else {
            return;
        };
        let outcome = module.tick();
        report(&module, outcome, &mut failing);
        let now = Instant::now();
        next += every;
        if next <= now {
            let missed = (now - next).as_nanos() / every.as_nanos() + 1;
            module
                .shared
                .stats
                .ticks_skipped
                .fetch_add(missed as u64, Ordering::Relaxed);
            next += every * missed as u32;
        }
    }
}

/// Logs a tick's failure when it is the first of a run or differs from the last one, and
/// the end of a run of failures.
fn report(
    module: &LoadedModule,
    outcome: Result<Tick, String>,
    failing: &mut Option<(String, u64)>,
) {
    let name = &module.shared.name;
    match (outcome, failing.as_mut()) {
        (Ok(Tick::Skipped), _) | (Ok(Tick::Ran), None) => {}
        (Ok(Tick::Ran), Some((_, count))) => {
            tracing::info!(module = %name, "tick succeeded again after {count} failed ticks");
            *failing = None;
        }
        (Err(message), Some((last, count))) if *last == message => *count += 1,
        (Err(message), _) => {
            tracing::warn!(module = %name, "tick failed: {message}");
            *failing = Some((message, 1));
        }
    }
}
