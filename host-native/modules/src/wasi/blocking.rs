//! The I/O runtime of one module granted `files`, `tcp` or `http`: a tokio runtime of its
//! own, so that what the module starts never runs on a thread the daemon's transports
//! need.
//!
//! - One worker thread drives the module's sockets, timers and HTTP connections.
//! - At most `max_blocking` threads run its blocking work: file opens, stats, reads and
//!   directory listings, and name lookups. An operation that never returns (an `open()` of
//!   a FIFO nobody writes, a hung network mount) keeps one of them, and only one of them.
//! - While all of them are busy, a file operation is refused at once with
//!   [`BlockingBusy`] rather than queued behind them; a name lookup queues, and its wait
//!   ends at the call's `io_timeout_ms` like any other.
//!
//! Every call of the module runs with this runtime entered ([`ModuleIo::enter`]), so
//! wasmtime-wasi's `spawn` and `spawn_blocking` land here.
//!
//! A blocking thread that has finished its work waits [`KEEP_ALIVE`] for more before it
//! ends. The pool counts as busy when all `max_blocking` threads exist and none of them
//! takes a no-op probe within [`PROBE_WAIT`].
//!
//! A thread stuck in an operation cannot be stopped, only abandoned, so a module's runtime
//! outlives its loads ([`IoRuntimes`]): a reload, or an unload and a load, takes the same
//! runtime again, its stuck threads still counted against its `max_blocking`, instead of
//! leaving them behind uncounted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// How long a blocking thread with nothing to do waits for more before it ends.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_millis(20);

/// How long a probe may wait for a blocking thread before the pool counts as busy.
pub(crate) const PROBE_WAIT: Duration = Duration::from_millis(5);

/// Worker threads of a module's runtime.
const WORKERS: usize = 1;

/// A file operation was refused: every blocking thread of the module was busy.
#[derive(Debug, thiserror::Error)]
#[error("had all {0} of its blocking threads busy (max_blocking) with file or name operations that have not returned; a file operation was refused")]
pub(crate) struct BlockingBusy(pub usize);

/// One module's I/O runtime.
pub(crate) struct ModuleIo {
    runtime: Option<Runtime>,
    /// Threads alive, the worker included.
    threads: Arc<AtomicUsize>,
    max_blocking: usize,
}

impl std::fmt::Debug for ModuleIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleIo")
            .field("blocking_threads", &self.blocking_threads())
            .field("max_blocking", &self.max_blocking)
            .finish()
    }
}

impl ModuleIo {
    /// The runtime of module `name`, with at most `max_blocking` blocking threads.
    pub fn new(name: &str, max_blocking: usize) -> std::io::Result<ModuleIo> {
        let threads = Arc::new(AtomicUsize::new(0));
        let (started, stopped) = (threads.clone(), threads.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .max_blocking_threads(max_blocking)
            .thread_keep_alive(KEEP_ALIVE)
            .thread_name(format!("miwa-io-{}", short(name)))
            .on_thread_start(move || {
                started.fetch_add(1, Ordering::AcqRel);
            })
            .on_thread_stop(move || {
                stopped.fetch_sub(1, Ordering::AcqRel);
            })
            .enable_all()
            .build()?;
        Ok(ModuleIo {
            runtime: Some(runtime),
            threads,
            max_blocking,
        })
    }

    fn handle(&self) -> &Handle {
        self.runtime
            .as_ref()
            .expect("the runtime is only taken when dropped")
            .handle()
    }

    /// Makes this runtime the current one until the guard is dropped.
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.handle().enter()
    }

    /// Blocking threads alive: busy, or waiting [`KEEP_ALIVE`] for more work.
    pub(crate) fn blocking_threads(&self) -> usize {
        self.threads.load(Ordering::Acquire).saturating_sub(WORKERS)
    }

    /// Whether a blocking operation could start now; [`BlockingBusy`] if every blocking
    /// thread is taken. While fewer than `max_blocking` threads exist, one can start; when
    /// all exist, a no-op probe tells whether one of them is free: if it has not run
    /// within [`PROBE_WAIT`], none is.
    pub fn slot(&self) -> Result<(), BlockingBusy> {
        if self.blocking_threads() < self.max_blocking {
            return Ok(());
        }
        let (ran, probed) = std::sync::mpsc::sync_channel(1);
        let probe = self.handle().spawn_blocking(move || {
            let _ = ran.send(());
        });
        match probed.recv_timeout(PROBE_WAIT) {
            Ok(()) => Ok(()),
            Err(_) => {
                probe.abort();
                Err(BlockingBusy(self.max_blocking))
            }
        }
    }
}

/// The I/O runtimes of a daemon's modules, kept across their loads.
///
/// A module loaded again with the same `max_blocking` takes its runtime again. A runtime
/// no loaded module uses is dropped once none of its blocking threads is left; one with
/// threads still stuck is kept (their work may yet return), so that they stay counted and
/// visible. The runtimes kept are thus at most one per module name and `max_blocking`
/// value the configuration has held.
#[derive(Debug, Default)]
pub(crate) struct IoRuntimes {
    kept: Mutex<Vec<(String, Arc<ModuleIo>)>>,
}

impl IoRuntimes {
    /// The runtime of module `name` with `max_blocking` blocking threads: the one it had,
    /// or a new one.
    pub fn get(&self, name: &str, max_blocking: usize) -> std::io::Result<Arc<ModuleIo>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let wanted =
            |module: &str, io: &ModuleIo| module == name && io.max_blocking == max_blocking;
        kept.retain(|(module, io)| {
            Arc::strong_count(io) > 1 || io.blocking_threads() > 0 || wanted(module, io)
        });
        if let Some((_, io)) = kept.iter().find(|(module, io)| wanted(module, io)) {
            return Ok(io.clone());
        }
        let io = Arc::new(ModuleIo::new(name, max_blocking)?);
        kept.push((name.to_string(), io.clone()));
        Ok(io)
    }
}

impl Drop for ModuleIo {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// At most 6 bytes of `name` (thread names are cut at 15), at a character boundary.
fn short(name: &str) -> &str {
    let mut end = name.len().min(6);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_can_take_only_its_own_blocking_threads() {
        let io = ModuleIo::new("stuck", 2).unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let _entered = io.enter();
        for _ in 0..2 {
            let held = held.clone();
            drop(tokio::task::spawn_blocking(move || {
                let _ = held.lock().unwrap().recv();
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while io.blocking_threads() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(matches!(io.slot(), Err(BlockingBusy(2))));
        let daemon = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(
            daemon
                .block_on(async { tokio::task::spawn_blocking(|| 7).await })
                .unwrap(),
            7,
            "another runtime's pool is untouched"
        );
        release.send(()).unwrap();
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while io.slot().is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(io.slot().is_ok(), "its threads end once their work returns");
    }

    #[test]
    fn a_module_loaded_again_finds_its_stuck_threads_still_counted() {
        let runtimes = IoRuntimes::default();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let first = runtimes.get("stuck", 2).unwrap();
        {
            let _entered = first.enter();
            for _ in 0..2 {
                let held = held.clone();
                drop(tokio::task::spawn_blocking(move || {
                    let _ = held.lock().unwrap().recv();
                }));
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while first.blocking_threads() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(first);
        let again = runtimes.get("stuck", 2).unwrap();
        assert_eq!(again.blocking_threads(), 2, "the same runtime, its threads");
        assert!(matches!(again.slot(), Err(BlockingBusy(2))));
        let other = runtimes.get("other", 2).unwrap();
        assert_eq!(other.blocking_threads(), 0);
        drop(other);

        let wider = runtimes.get("stuck", 3).unwrap();
        assert_eq!(
            wider.blocking_threads(),
            0,
            "another max_blocking, a new runtime"
        );
        drop(again);
        assert_eq!(
            runtimes.kept.lock().unwrap().len(),
            2,
            "the stuck runtime is kept; the unused idle one went"
        );
        release.send(()).unwrap();
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while runtimes.kept.lock().unwrap()[0].1.blocking_threads() > 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(runtimes.get("stuck", 3).unwrap());
        assert_eq!(
            runtimes.kept.lock().unwrap().len(),
            1,
            "once its threads end, the unused runtime goes"
        );
        drop(wider);
    }
}
