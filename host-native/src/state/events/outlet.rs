//! One subscriber's delivery: a bounded queue and a thread that sends what is queued, in
//! order, over the subscriber's transport. A slow or dead subscriber only fills (and then
//! overflows) its own queue: nothing else waits for it.

use super::target::Target;
use super::EventCounters;
use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

thread_local! {
    /// Set on delivery threads: their own log lines must not raise `E_CORE_LOG`.
    static DELIVERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread delivers events.
pub fn on_delivery_thread() -> bool {
    DELIVERING.get()
}

/// How deliveries behave; from `[events]`.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Events queued per subscriber, at most; more are dropped (and counted).
    pub queue_depth: usize,
    /// Attempts per event before it is dropped.
    pub attempts: u32,
    /// Connect and write timeout of stream and UNIX deliveries.
    pub io_timeout: Duration,
    /// Longest pause between reconnection attempts.
    pub max_backoff: Duration,
}

struct Queue {
    items: VecDeque<Arc<[u8]>>,
    closed: bool,
}

/// A subscriber's queue, counters and delivery thread.
pub struct Outlet {
    queue: Mutex<Queue>,
    ready: Condvar,
    depth: usize,
    /// Events delivered.
    pub sent: AtomicU64,
    /// Events dropped: queue overflow or every attempt failed.
    pub dropped: AtomicU64,
    event: Arc<EventCounters>,
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
                closed: false,
            }),
            ready: Condvar::new(),
            depth: settings.queue_depth,
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            event,
        });
        let worker = outlet.clone();
        std::thread::Builder::new()
            .name("event-outlet".into())
            .spawn(move || {
                DELIVERING.set(true);
                let mut sender = Sender::new(target, settings);
                while let Some(payload) = worker.next() {
                    if sender.deliver(&payload) {
                        worker.sent.fetch_add(1, Ordering::Relaxed);
                        worker.event.sent.fetch_add(1, Ordering::Relaxed);
                    } else {
                        worker.count_dropped(1);
                    }
                }
            })?;
        Ok(outlet)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an event; a full queue drops it (the order of what is delivered is kept).
    pub fn push(&self, payload: Arc<[u8]>) {
        let mut queue = self.lock();
        if queue.closed {
            return;
        }
        if queue.items.len() >= self.depth {
            drop(queue);
            self.count_dropped(1);
            return;
        }
        queue.items.push_back(payload);
        drop(queue);
        self.ready.notify_one();
    }

    /// Stops delivery: what is still queued is dropped, the thread ends.
    pub fn close(&self) {
        let mut queue = self.lock();
        queue.closed = true;
        let pending = queue.items.len() as u64;
        queue.items.clear();
        drop(queue);
        self.count_dropped(pending);
        self.ready.notify_one();
    }

    fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.event.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// The next event to send, `None` once closed.
    fn next(&self) -> Option<Arc<[u8]>> {
        let mut queue = self.lock();
        loop {
            if queue.closed {
                return None;
            }
            if let Some(item) = queue.items.pop_front() {
                return Some(item);
            }
            queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Events waiting.
    pub fn queued(&self) -> usize {
        self.lock().items.len()
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
    udp: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    tcp: Option<TcpStream>,
    file: Option<OpenFile>,
    backoff: Duration,
}

impl Sender {
    fn new(target: Target, settings: DeliverySettings) -> Self {
        Sender {
            target,
            settings,
            udp: None,
            unix: None,
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
            Target::Udp(address) => {
                let socket = match &self.udp {
                    Some(socket) => socket,
                    None => self.udp.insert(udp_socket(address)?),
                };
                socket.send_to(payload, address).map(drop)
            }
            Target::Unix(path) => {
                let socket = match &self.unix {
                    Some(socket) => socket,
                    None => {
                        let socket = UnixDatagram::unbound()?;
                        socket.set_write_timeout(Some(self.settings.io_timeout))?;
                        self.unix.insert(socket)
                    }
                };
                socket.send_to(payload, path).map(drop)
            }
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

fn udp_socket(to: &SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if to.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    UdpSocket::bind(local)
}
