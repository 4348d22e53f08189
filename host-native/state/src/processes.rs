//! The process table: the daemon's threads that `ps` and `log_level` show, with their
//! per-process log level, busy time (for `load:`) and core memory (for `pkmem:`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Live figures of one process, shared with the code running on it.
#[derive(Debug)]
pub struct ProcessInfo {
    /// Internal index (0 = main).
    pub id: u32,
    /// OS thread id.
    pub pid: i32,
    /// Description shown by `ps`.
    pub kind: String,
    /// Current log level.
    pub log_level: AtomicI32,
    /// Nanoseconds spent handling MI requests.
    pub busy_ns: AtomicU64,
    /// Current linear memory of this process's core instance, bytes.
    pub core_memory: AtomicU64,
    /// Peak linear memory of this process's core instance, bytes.
    pub core_memory_peak: AtomicU64,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<ProcessInfo>>> = const { RefCell::new(None) };
}

/// The process the calling thread is registered as, if any.
pub fn current() -> Option<Arc<ProcessInfo>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// All registered processes plus the global log level.
#[derive(Debug)]
pub struct ProcessTable {
    entries: Mutex<Vec<Arc<ProcessInfo>>>,
    next_id: AtomicU32,
    global_level: Arc<AtomicI32>,
}

impl ProcessTable {
    /// An empty table with the initial global log level.
    pub fn new(level: i32) -> Self {
        ProcessTable {
            entries: Mutex::new(Vec::new()),
            next_id: AtomicU32::new(0),
            global_level: Arc::new(AtomicI32::new(level)),
        }
    }

    /// The global level, shared with the log filter.
    pub fn global_level(&self) -> Arc<AtomicI32> {
        self.global_level.clone()
    }

    /// Registers the calling thread as a process of the given kind.
    pub fn register_current(&self, kind: impl Into<String>) -> Arc<ProcessInfo> {
        let info = Arc::new(ProcessInfo {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            pid: rustix::thread::gettid().as_raw_nonzero().get(),
            kind: kind.into(),
            log_level: AtomicI32::new(self.global_level.load(Ordering::Relaxed)),
            busy_ns: AtomicU64::new(0),
            core_memory: AtomicU64::new(0),
            core_memory_peak: AtomicU64::new(0),
        });
        self.lock().push(info.clone());
        CURRENT.with(|c| *c.borrow_mut() = Some(info.clone()));
        info
    }

    /// Removes the calling thread from the table (it is ending).
    pub fn unregister_current(&self) {
        if let Some(info) = CURRENT.with(|c| c.borrow_mut().take()) {
            self.lock().retain(|p| !Arc::ptr_eq(p, &info));
        }
    }

    /// A snapshot of the table in `ID` order.
    pub fn snapshot(&self) -> Vec<Arc<ProcessInfo>> {
        self.lock().clone()
    }

    /// Sets every process's level and the global one.
    pub(crate) fn set_all_levels(&self, level: i32) {
        self.global_level.store(level, Ordering::Relaxed);
        for p in self.lock().iter() {
            p.log_level.store(level, Ordering::Relaxed);
        }
    }

    /// Sets the level of the process with OS id `pid`; false if there is none.
    pub(crate) fn set_level(&self, pid: i32, level: i32) -> bool {
        match self.lock().iter().find(|p| p.pid == pid) {
            Some(p) => {
                p.log_level.store(level, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<ProcessInfo>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
