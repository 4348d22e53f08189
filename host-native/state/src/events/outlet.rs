//! One subscriber's delivery: a queue bounded in events and in bytes, and a thread that
//! sends what is queued, in order, over the subscriber's transport. A slow or dead
//! subscriber only fills (and then overflows) its own queue: nothing else waits for it.
//! Events the thread has taken but not yet sent still count against both bounds, so a
//! stalled subscriber holds at most `queue_bytes` of notifications.

use super::target::Target;
use super::EventCounters;
use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

thread_local! {
    /// Set on delivery threads: their own log lines must not raise `E_CORE_LOG`.
    static DELIVERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as a delivery thread.
pub(crate) fn mark_delivery_thread() {
    DELIVERING.set(true);
}

/// Whether the current thread delivers events.
pub(crate) fn on_delivery_thread() -> bool {
    DELIVERING.get()
}

/// How long the fan-out thread keeps polling for raised events before it sleeps: under a
/// steady stream of events it never sleeps, so raising never pays for waking it.
const SPIN: Duration = Duration::from_micros(50);

/// Polls `poll` (yielding the CPU between tries) for up to [`SPIN`].
pub(crate) fn spin_then<T>(mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = poll() {
            return Some(found);
        }
        if started.elapsed() > SPIN {
            return None;
        }
        std::thread::yield_now();
    }
}

/// How deliveries behave; from `[events]`.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Events queued per subscriber, at most; more are dropped (and counted).
    pub queue_depth: usize,
    /// Bytes of notifications queued per subscriber, at most.
    pub queue_bytes: usize,
    /// Raised events waiting for the fan-out thread, at most.
    pub fanout_depth: usize,
    /// Bytes of those, at most.
    pub fanout_bytes: usize,
    /// Longest notification, bytes.
    pub max_event: usize,
    /// Subscriptions at once.
    pub max_subscribers: usize,
    /// Subscriptions of one push channel (a WebSocket, an event stream), at most.
    pub max_per_channel: usize,
    /// Attempts per event before it is dropped.
    pub attempts: u32,
    /// Connect and write timeout of stream and UNIX deliveries.
    pub io_timeout: Duration,
    /// Longest pause between reconnection attempts.
    pub max_backoff: Duration,
}

struct Queue {
    items: VecDeque<Arc<[u8]>>,
    /// Events queued or taken by the delivery thread and not yet sent or dropped.
    pending: usize,
    /// Their bytes.
    pending_bytes: usize,
    closed: bool,
    /// The delivery thread sleeps on the condition variable.
    waiting: bool,
}

/// What happened to one subscriber's events, also added to its event's counters.
pub(crate) struct Tally {
    /// Events delivered.
    pub sent: AtomicU64,
    /// Events dropped: queue overflow or every attempt failed.
    pub dropped: AtomicU64,
    event: Arc<EventCounters>,
}

impl Tally {
    /// A tally adding to `event`'s counters.
    pub fn new(event: Arc<EventCounters>) -> Self {
        Tally {
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            event,
        }
    }

    /// Counts one delivered event.
    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.event.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` dropped events.
    pub(crate) fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.event.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

impl transports::push::Receipt for Tally {
    fn sent(&self) {
        self.count_sent();
    }

    fn dropped(&self) {
        self.count_dropped(1);
    }
}

/// A stream or file subscriber's queue, counters and delivery thread.
pub(crate) struct Outlet {
    queue: Mutex<Queue>,
    ready: Condvar,
    depth: usize,
    max_bytes: usize,
    /// What happened to its events.
    pub tally: Tally,
}

impl Outlet {
    /// Starts delivering to `target`.
    /// `event` collects the counts of every subscriber of the same event.
    pub fn start(
        target: Target,
        settings: DeliverySettings,
        event: Arc<EventCounters>,
    ) -> std::io::Result<Arc<Outlet>> {
        let outlet = Arc::new(Outlet {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                pending: 0,
                pending_bytes: 0,
                closed: false,
                waiting: false,
            }),
            ready: Condvar::new(),
            depth: settings.queue_depth,
            max_bytes: settings.queue_bytes,
            tally: Tally::new(event),
        });
        let worker = outlet.clone();
        std::thread::Builder::new()
            .name("event-outlet".into())
            .spawn(move || {
                mark_delivery_thread();
                let mut sender = Sender::new(target, settings);
                let mut batch = VecDeque::new();
                while worker.next_batch(&mut batch) {
                    while let Some(payload) = batch.pop_front() {
                        if sender.deliver(&payload) {
                            worker.tally.count_sent();
                        } else {
                            worker.tally.count_dropped(1);
                        }
                        worker.settle(payload.len());
                    }
                }
            })?;
        Ok(outlet)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues events; what does not fit in the queue (in events or in bytes) is dropped
    /// (the order of what is delivered is kept).
    pub fn push(&self, payloads: &[Arc<[u8]>]) {
        let mut queue = self.lock();
        if queue.closed {
            return;
        }
        let mut taken = 0;
        for payload in payloads {
            if queue.pending >= self.depth || queue.pending_bytes + payload.len() > self.max_bytes {
                continue;
            }
            queue.pending += 1;
            queue.pending_bytes += payload.len();
            queue.items.push_back(payload.clone());
            taken += 1;
        }
        let wake = queue.waiting && taken > 0;
        drop(queue);
        if taken < payloads.len() {
            self.tally.count_dropped((payloads.len() - taken) as u64);
        }
        if wake {
            self.ready.notify_one();
        }
    }

    /// One taken event of `bytes` was sent or dropped: it no longer counts as pending.
    fn settle(&self, bytes: usize) {
        let mut queue = self.lock();
        queue.pending = queue.pending.saturating_sub(1);
        queue.pending_bytes = queue.pending_bytes.saturating_sub(bytes);
    }

    /// Stops delivery: what is still queued is dropped, the thread ends.
    pub fn close(&self) {
        let mut queue = self.lock();
        queue.closed = true;
        queue.waiting = false;
        let pending = queue.items.len() as u64;
        queue.items.clear();
        queue.pending = 0;
        queue.pending_bytes = 0;
        drop(queue);
        self.tally.count_dropped(pending);
        self.ready.notify_one();
    }

    /// Moves every queued event into `batch` (waiting for one if none is queued); false
    /// once closed.
    fn next_batch(&self, batch: &mut VecDeque<Arc<[u8]>>) -> bool {
        let mut queue = self.lock();
        loop {
            if queue.closed {
                return false;
            }
            if !queue.items.is_empty() {
                std::mem::swap(&mut queue.items, batch);
                return true;
            }
            queue.waiting = true;
            queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            queue.waiting = false;
        }
    }

    /// Events waiting, those the delivery thread is sending included.
    pub fn queued(&self) -> usize {
        self.lock().pending
    }

    /// Bytes of the events waiting, those being sent included.
    pub fn queued_bytes(&self) -> usize {
        self.lock().pending_bytes
    }
}

/// The open file of a flatstore subscriber, with the identity it was opened under.
struct OpenFile {
    file: std::fs::File,
    identity: (u64, u64),
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

fn open_flatstore(path: &Path) -> std::io::Result<OpenFile> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(OpenFile {
        identity: identity(&meta),
        file,
    })
}

/// Per-transport sending state.
struct Sender {
    target: Target,
    settings: DeliverySettings,
    tcp: Option<TcpStream>,
    file: Option<OpenFile>,
    backoff: Duration,
}

impl Sender {
    fn new(target: Target, settings: DeliverySettings) -> Self {
        Sender {
            target,
            settings,
            tcp: None,
            file: None,
            backoff: Duration::ZERO,
        }
    }

    /// Sends one event, with up to `attempts` tries; false if it was dropped.
    fn deliver(&mut self, payload: &[u8]) -> bool {
        for attempt in 0..self.settings.attempts.max(1) {
            if attempt > 0 {
                self.backoff =
                    (self.backoff * 2).clamp(Duration::from_millis(20), self.settings.max_backoff);
                std::thread::sleep(self.backoff);
            }
            match self.try_send(payload) {
                Ok(()) => {
                    self.backoff = Duration::ZERO;
                    return true;
                }
                Err(error) => {
                    tracing::debug!(target = ?self.target, %error, attempt, "event delivery failed")
                }
            }
        }
        false
    }

    fn try_send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        match &self.target {
            Target::Udp(_) | Target::Unix(_) | Target::Channel(_) => Err(std::io::Error::other(
                "datagram and channel subscribers are served by the fan-out thread",
            )),
            Target::Tcp(address) => {
                if self.tcp.is_none() {
                    let stream = TcpStream::connect_timeout(address, self.settings.io_timeout)?;
                    stream.set_write_timeout(Some(self.settings.io_timeout))?;
                    stream.set_nodelay(true)?;
                    self.tcp = Some(stream);
                }
                let outcome = self.tcp.as_mut().map_or(Ok(()), |s| s.write_all(payload));
                if outcome.is_err() {
                    self.tcp = None;
                }
                outcome
            }
            Target::Flatstore(path) => {
                let rotated = match (&self.file, std::fs::symlink_metadata(path)) {
                    (Some(open), Ok(meta)) => identity(&meta) != open.identity,
                    _ => true,
                };
                if rotated {
                    self.file = Some(open_flatstore(path)?);
                }
                let Some(open) = self.file.as_mut() else {
                    return Err(std::io::Error::other("no file"));
                };
                let mut line = Vec::with_capacity(payload.len() + 1);
                line.extend_from_slice(payload);
                line.push(b'\n');
                let outcome = open.file.write_all(&line);
                if outcome.is_err() {
                    self.file = None;
                }
                outcome
            }
        }
    }
}
