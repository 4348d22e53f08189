//! JSON-RPC over a named pipe (`mi_fifo`): `:reply_name:{json}` requests written to the
//! server FIFO, replies written to `reply_dir + reply_name`.
//!
//! Better than OpenSIPS: a request whose reply name was readable always gets a reply
//! (-32700 for bad JSON, instead of silence that hangs opensips-cli); requests split across
//! writes are reassembled up to a limit; the FIFO is checked periodically and recreated if
//! it was removed or replaced, and on demand (SIGHUP).
//!
//! The workers take turns reading the FIFO ([`Pool`]): the one that read a request serves
//! it, so a request crosses no thread.

pub mod framing;
mod reply;

pub use framing::{next_frame, Frame};
pub use reply::{open_reply, write_reply, ReplyError};

use crate::{Caller, Dispatcher, Reply, TransportKind};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{fstat, lstat, open, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Written to the reply FIFO when the reply cannot be rendered (an `id` of a bad type).
pub const PRINT_FAILURE: &[u8] = b"failed to print response";

/// Settings of the FIFO transport.
#[derive(Debug, Clone)]
pub struct FifoSettings {
    /// The request FIFO.
    pub path: PathBuf,
    /// Its permissions.
    pub mode: u32,
    /// Its owner and group, when set.
    pub owner: Option<Owner>,
    /// Prefix of reply paths (concatenated as-is: it must end with `/`).
    pub reply_dir: String,
    /// Longest accepted request (framing included), bytes; longer ones are refused.
    pub max_request: usize,
    /// How long a partial request may wait for the rest of its bytes.
    pub reassembly_timeout: Duration,
    /// Extra attempts to open a reply FIFO nobody reads yet, and the pause between them.
    pub reply_open_retries: u32,
    /// Pause between reply-open attempts.
    pub reply_open_pause: Duration,
    /// How long a reader may take to drain a reply.
    pub reply_timeout: Duration,
    /// Worker threads running requests and writing replies.
    pub workers: usize,
    /// How often the FIFO is checked (and recreated if it was removed or replaced).
    pub check_interval: Duration,
    /// Pretty-print JSON replies.
    pub pretty: bool,
    /// Native stack of the worker threads, bytes (the dispatcher may run deep
    /// calls).
    pub stack_size: usize,
    /// Requests waiting for a worker, at most; past it the worker that read them serves
    /// them (and writers wait on the FIFO while every worker is busy).
    pub max_queued: usize,
    /// Bytes of requests waiting for a worker, at most (at least `max_request`).
    pub max_queued_bytes: usize,
}

pub use crate::Owner;

/// One request read from the FIFO, for a worker to serve.
struct Job {
    reply_name: String,
    body: Body,
}

impl Job {
    /// The bytes it holds.
    fn size(&self) -> usize {
        self.reply_name.len()
            + match &self.body {
                Body::Json(json) => json.len(),
                Body::TooLarge => 0,
            }
    }
}

/// What a job carries.
enum Body {
    /// The JSON-RPC text (possibly not JSON: the core answers -32700).
    Json(Vec<u8>),
    /// A request over `max_request`, cut off: answered -32700 without running anything.
    TooLarge,
}

/// The running FIFO transport.
pub struct FifoServer {
    stop: Arc<AtomicBool>,
    recreate: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    path: PathBuf,
}

/// Creates the FIFO at `settings.path` (replacing any file there) and opens it for reading
/// and writing (its own writer, so the reader never sees end-of-file). The new FIFO is made
/// under a temporary name beside the path and renamed over it, so the path never goes
/// missing: a client opening it during a recreation gets the old FIFO or the new one.
fn create(settings: &FifoSettings) -> std::io::Result<(OwnedFd, rustix::fs::Stat)> {
    match std::fs::symlink_metadata(&settings.path) {
        Ok(meta) if meta.is_dir() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} is a directory", settings.path.display()),
            ))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let staging = staging_path(&settings.path);
    let _ = std::fs::remove_file(&staging);
    let made = make_fifo(&staging, settings);
    let renamed = made.and_then(|opened| {
        std::fs::rename(&staging, &settings.path)?;
        Ok(opened)
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    renamed
}

/// The temporary name a new FIFO gets before it is renamed over `path`.
fn staging_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let staged = format!(".{}.{}.new", name.unwrap_or_default(), std::process::id());
    path.with_file_name(staged)
}

/// Makes a FIFO at `path` with the configured mode and owner and opens it.
fn make_fifo(path: &Path, settings: &FifoSettings) -> std::io::Result<(OwnedFd, rustix::fs::Stat)> {
    let mode = Mode::from_raw_mode(settings.mode);
    rustix::fs::mknodat(rustix::fs::CWD, path, FileType::Fifo, mode, 0)?;
    rustix::fs::chmod(path, mode)?;
    if let Some(owner) = settings.owner {
        owner.apply(path)?;
    }
    let fd = open(
        path,
        OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )?;
    let stat = fstat(&fd)?;
    Ok((fd, stat))
}

/// Whether the FIFO at `path` is still the one `opened` describes.
fn still_ours(path: &Path, opened: &rustix::fs::Stat) -> bool {
    match lstat(path) {
        Ok(now) => {
            FileType::from_raw_mode(now.st_mode) == FileType::Fifo
                && now.st_nlink == 1
                && now.st_dev == opened.st_dev
                && now.st_ino == opened.st_ino
        }
        Err(_) => false,
    }
}

impl FifoServer {
    /// Creates the FIFO and starts the workers, which take turns reading it.
    pub fn start(
        settings: FifoSettings,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> std::io::Result<FifoServer> {
        let (fd, stat) = create(&settings)?;
        let stop = Arc::new(AtomicBool::new(false));
        let recreate = Arc::new(AtomicBool::new(false));
        let pool = Arc::new(Pool::new(Reader::new(fd, stat), &settings));
        let mut threads = Vec::new();
        let mut listing = crate::listing::Listing::new();
        for _ in 0..settings.workers.max(1) {
            let (settings, dispatcher, pool, stop, recreate) = (
                settings.clone(),
                dispatcher.clone(),
                pool.clone(),
                stop.clone(),
                recreate.clone(),
            );
            let listed = listing.signal();
            threads.push(
                std::thread::Builder::new()
                    .name("mi-fifo-worker".into())
                    .stack_size(settings.stack_size)
                    .spawn(move || {
                        dispatcher.thread_started("MI FIFO worker");
                        let _ = listed.send(());
                        work(&settings, dispatcher.as_ref(), &pool, &stop, &recreate);
                        dispatcher.thread_stopped();
                    })?,
            );
        }
        listing.wait();
        Ok(FifoServer {
            stop,
            recreate,
            threads,
            path: settings.path,
        })
    }

    /// Asks the next worker that reads to recreate the FIFO (SIGHUP).
    pub fn recreate(&self) {
        self.recreate.store(true, Ordering::Relaxed);
    }

    /// Stops reading, lets the workers finish the requests in hand, removes the FIFO.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The reading side of the transport: the FIFO, the bytes read but not yet framed, and
/// the FIFO a recreation replaced. Held by one worker at a time (see [`Pool`]).
struct Reader {
    fd: OwnedFd,
    stat: rustix::fs::Stat,
    buffer: Vec<u8>,
    chunk: Vec<u8>,
    pending_since: Option<Instant>,
    last_check: Instant,
    /// The FIFO replaced by the last recreation: still read for a while, so requests that
    /// writers who opened it before were writing are served, not lost.
    retired: Option<(OwnedFd, Instant)>,
}

/// How long a reader waits for the FIFO before it looks at the stop flag and the checks.
const TICK: Duration = Duration::from_millis(100);

impl Reader {
    fn new(fd: OwnedFd, stat: rustix::fs::Stat) -> Self {
        Self {
            fd,
            stat,
            buffer: Vec::new(),
            chunk: vec![0u8; 65536],
            pending_since: None,
            last_check: Instant::now(),
            retired: None,
        }
    }

    /// Waits for the FIFO at most one tick (recreating it first when asked or when it was
    /// removed or replaced), reads what is there, and appends the complete requests to
    /// `jobs`. Requests that want no reply run here, in order.
    fn step(
        &mut self,
        settings: &FifoSettings,
        dispatcher: &dyn Dispatcher,
        recreate: &AtomicBool,
        jobs: &mut Vec<Job>,
    ) {
        let forced = recreate.swap(false, Ordering::Relaxed);
        let due = self.last_check.elapsed() >= settings.check_interval;
        if forced || (due && !still_ours(&settings.path, &self.stat)) {
            match create(settings) {
                Ok((new_fd, new_stat)) => {
                    tracing::info!(path = %settings.path.display(), forced, "request FIFO recreated");
                    if let Some((older, _)) = self.retired.take() {
                        read_available(&older, &mut self.chunk, &mut self.buffer);
                    }
                    let old = std::mem::replace(&mut self.fd, new_fd);
                    self.retired = Some((old, Instant::now()));
                    self.stat = new_stat;
                }
                Err(error) => {
                    tracing::error!(path = %settings.path.display(), %error, "cannot recreate the request FIFO")
                }
            }
        }
        if due {
            self.last_check = Instant::now();
        }
        if let Some((old, since)) = &self.retired {
            if read_available(old, &mut self.chunk, &mut self.buffer) {
                self.pending_since.get_or_insert_with(Instant::now);
            }
            if since.elapsed() >= settings.check_interval.max(TICK) {
                self.retired = None;
            }
        }
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let wait = if self.retired.is_some() {
            Duration::from_millis(10)
        } else {
            TICK
        };
        let wait = Timespec::try_from(wait).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        });
        match poll(&mut fds, Some(&wait)) {
            Ok(0) | Err(Errno::INTR) => {}
            Ok(_) => match rustix::io::read(&self.fd, &mut self.chunk) {
                Ok(n) => {
                    self.buffer.extend_from_slice(&self.chunk[..n]);
                    self.pending_since.get_or_insert_with(Instant::now);
                }
                Err(Errno::AGAIN | Errno::INTR) => {}
                Err(error) => {
                    tracing::warn!(%error, "reading the request FIFO failed");
                    std::thread::sleep(TICK);
                }
            },
            Err(error) => {
                tracing::warn!(%error, "polling the request FIFO failed");
                std::thread::sleep(TICK);
            }
        }
        let timed_out = self
            .pending_since
            .is_some_and(|since| since.elapsed() >= settings.reassembly_timeout);
        drain(&mut self.buffer, settings, dispatcher, jobs, timed_out);
        self.pending_since = if self.buffer.iter().all(u8::is_ascii_whitespace) {
            self.buffer.clear();
            None
        } else if timed_out {
            Some(Instant::now())
        } else {
            self.pending_since
        };
    }
}

/// The workers' shared state: the [`Reader`], taken by whichever worker is free
/// (leader/followers), and the requests read but not yet taken.
///
/// A worker that reads requests keeps the first for itself and queues the others (up to
/// `max_queued` requests and `max_queued_bytes` bytes; what does not fit it serves
/// itself), then gives the reader back before it runs its request, so that the next
/// request is read meanwhile by another worker. A lone request is served by the worker
/// that read it, with no hand-off between threads. While every worker is busy nobody
/// reads, and writers wait on the FIFO: that is the back-pressure.
struct Pool {
    state: Mutex<PoolState>,
    /// Signalled when the reader is given back or a request is queued.
    changed: Condvar,
    max_queued: usize,
    max_queued_bytes: usize,
}

struct PoolState {
    /// `None` while a worker reads.
    reader: Option<Box<Reader>>,
    queue: std::collections::VecDeque<Job>,
    queued_bytes: usize,
}

/// What a free worker does next.
enum Turn {
    Serve(Job),
    Read(Box<Reader>),
    Stop,
}

impl Pool {
    fn new(reader: Reader, settings: &FifoSettings) -> Self {
        Self {
            state: Mutex::new(PoolState {
                reader: Some(Box::new(reader)),
                queue: std::collections::VecDeque::new(),
                queued_bytes: 0,
            }),
            changed: Condvar::new(),
            max_queued: settings.max_queued.max(1),
            max_queued_bytes: settings.max_queued_bytes.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a queued request or the reader, queued requests first; `Stop` once
    /// `stop` is set and the queue is empty.
    fn next(&self, stop: &AtomicBool) -> Turn {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                state.queued_bytes -= job.size();
                return Turn::Serve(job);
            }
            if stop.load(Ordering::Relaxed) {
                return Turn::Stop;
            }
            if let Some(reader) = state.reader.take() {
                return Turn::Read(reader);
            }
            state = self
                .changed
                .wait_timeout(state, TICK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Gives the reader back and queues what of `jobs` fits; returns what does not, for
    /// the caller to serve. A request larger than `max_queued_bytes` fits an empty queue.
    fn give_back(&self, reader: Box<Reader>, jobs: &mut Vec<Job>) {
        let mut state = self.lock();
        state.reader = Some(reader);
        let mut kept = Vec::new();
        for job in jobs.drain(..) {
            let size = job.size();
            let fits = state.queue.is_empty()
                || (state.queue.len() < self.max_queued
                    && state.queued_bytes + size <= self.max_queued_bytes);
            if fits {
                state.queued_bytes += size;
                state.queue.push_back(job);
            } else {
                kept.push(job);
            }
        }
        *jobs = kept;
        let waiting_work = state.queue.len();
        drop(state);
        if waiting_work == 0 {
            self.changed.notify_one();
        } else {
            self.changed.notify_all();
        }
    }
}

/// Appends what can be read from `fd` without waiting to `buffer`; whether anything was.
fn read_available(fd: &OwnedFd, chunk: &mut [u8], buffer: &mut Vec<u8>) -> bool {
    let mut any = false;
    while let Ok(n @ 1..) = rustix::io::read(fd, &mut *chunk) {
        buffer.extend_from_slice(&chunk[..n]);
        any = true;
    }
    any
}

/// Hands every complete request of `buffer` to the workers and removes it. A request that
/// wants no reply (`::{…}`) runs right here, so it completes before any later request of
/// the stream starts. With `flush` (the reassembly timeout passed), an incomplete tail is
/// handed over as it is, so its client gets the core's parse error instead of waiting.
fn drain(
    buffer: &mut Vec<u8>,
    settings: &FifoSettings,
    dispatcher: &dyn Dispatcher,
    jobs: &mut Vec<Job>,
    flush: bool,
) {
    let mut used_total = 0;
    loop {
        let rest = &buffer[used_total..];
        match next_frame(rest) {
            Frame::Request {
                reply_name, used, ..
            } if request_size(rest, used) > settings.max_request => {
                tracing::warn!(
                    limit = settings.max_request,
                    "FIFO request over the size limit"
                );
                if !reply_name.is_empty() {
                    send(jobs, reply_name, Body::TooLarge);
                }
                used_total += used;
            }
            Frame::Request {
                reply_name: "",
                json,
                used,
            } => {
                dispatcher.dispatch(
                    Caller::anonymous(TransportKind::Fifo),
                    json,
                    settings.pretty,
                );
                used_total += used;
            }
            Frame::Request {
                reply_name,
                json,
                used,
            } => {
                send(jobs, reply_name, Body::Json(json.to_vec()));
                used_total += used;
            }
            Frame::BadJson { reply_name } => {
                let json_start =
                    rest.iter().position(|&b| b == b':').unwrap_or(0) + reply_name.len() + 2;
                send(
                    jobs,
                    reply_name,
                    Body::Json(rest[json_start.min(rest.len())..].to_vec()),
                );
                used_total = buffer.len();
                break;
            }
            Frame::Garbage { used } => {
                tracing::warn!(bytes = used, "dropping FIFO input that is not a request");
                used_total += used.max(1);
            }
            Frame::Incomplete => {
                let tail = &buffer[used_total..];
                let oversized = tail.len() > settings.max_request;
                if (flush || oversized) && !tail.iter().all(u8::is_ascii_whitespace) {
                    flush_tail(tail, settings, jobs, oversized);
                    used_total = buffer.len();
                }
                break;
            }
        }
    }
    buffer.drain(..used_total);
}

/// The size of the request framed in the first `used` bytes, leading whitespace excluded.
fn request_size(bytes: &[u8], used: usize) -> usize {
    used - bytes[..used]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

/// Answers an incomplete or oversized request whose reply name is readable.
fn flush_tail(tail: &[u8], settings: &FifoSettings, jobs: &mut Vec<Job>, oversized: bool) {
    let start = tail
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let named = tail[start..].strip_prefix(b":").and_then(|r| {
        let end = r.iter().position(|&b| b == b':')?;
        let name = std::str::from_utf8(&r[..end]).ok()?;
        (!name.contains(['.', '/', '\\'])).then_some((name, &r[end + 1..]))
    });
    match named {
        Some((name, _)) if oversized => {
            tracing::warn!(
                limit = settings.max_request,
                "FIFO request over the size limit"
            );
            send(jobs, name, Body::TooLarge);
        }
        Some((name, json)) => send(jobs, name, Body::Json(json.to_vec())),
        None => tracing::warn!("dropping an incomplete FIFO request without a reply name"),
    }
}

fn send(jobs: &mut Vec<Job>, reply_name: &str, body: Body) {
    jobs.push(Job {
        reply_name: reply_name.to_string(),
        body,
    });
}

/// A worker: serves queued requests, or reads when nobody does (see [`Pool`]), until
/// `stop` is set and no request is left queued.
fn work(
    settings: &FifoSettings,
    dispatcher: &dyn Dispatcher,
    pool: &Pool,
    stop: &AtomicBool,
    recreate: &AtomicBool,
) {
    let mut jobs = Vec::new();
    loop {
        match pool.next(stop) {
            Turn::Stop => return,
            Turn::Serve(job) => serve_job(settings, dispatcher, job),
            Turn::Read(mut reader) => {
                reader.step(settings, dispatcher, recreate, &mut jobs);
                let first = (!jobs.is_empty()).then(|| jobs.remove(0));
                pool.give_back(reader, &mut jobs);
                for job in first.into_iter().chain(jobs.drain(..)) {
                    serve_job(settings, dispatcher, job);
                }
            }
        }
    }
}

/// The -32700 reply for a request whose JSON was cut off at the size limit.
const TOO_LARGE: &str = r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error","data":"request too large"},"id":null}"#;

fn serve_job(settings: &FifoSettings, dispatcher: &dyn Dispatcher, job: Job) {
    let path = PathBuf::from(format!("{}{}", settings.reply_dir, job.reply_name));
    let fd = match open_reply(
        &path,
        settings.reply_open_retries,
        settings.reply_open_pause,
    ) {
        Ok(fd) => fd,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "request not run: no usable reply FIFO");
            return;
        }
    };
    let bytes = match &job.body {
        Body::TooLarge => TOO_LARGE.as_bytes().to_vec(),
        Body::Json(json) => match dispatcher.dispatch(
            Caller::anonymous(TransportKind::Fifo),
            json,
            settings.pretty,
        ) {
            Reply::Text(text) | Reply::ParseError(text) => text.into_bytes(),
            Reply::Nothing => Vec::new(),
            Reply::Unprintable => PRINT_FAILURE.to_vec(),
        },
    };
    if let Err(error) = write_reply(&fd, &bytes, settings.reply_timeout) {
        tracing::warn!(path = %path.display(), %error, "reply not delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::{create, Body, FifoSettings, Job, Pool, Reader, Turn};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    fn settings(path: std::path::PathBuf) -> FifoSettings {
        FifoSettings {
            path,
            mode: 0o600,
            owner: None,
            reply_dir: "/tmp/".into(),
            max_request: 1024,
            reassembly_timeout: Duration::from_millis(100),
            reply_open_retries: 0,
            reply_open_pause: Duration::from_millis(1),
            reply_timeout: Duration::from_millis(100),
            workers: 1,
            check_interval: Duration::from_secs(1),
            pretty: false,
            stack_size: 1 << 20,
            max_queued: 1,
            max_queued_bytes: 1024,
        }
    }

    #[test]
    fn the_path_never_goes_missing_while_the_fifo_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path().join("miwa_fifo"));
        let (_first, first) = create(&settings).unwrap();
        let done = AtomicBool::new(false);
        let (checks, missing) = std::thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                let (mut checks, mut missing) = (0u64, 0u64);
                while !done.load(Ordering::Relaxed) {
                    checks += 1;
                    if std::fs::symlink_metadata(&settings.path).is_err() {
                        missing += 1;
                    }
                }
                (checks, missing)
            });
            for _ in 0..2000 {
                create(&settings).unwrap();
            }
            done.store(true, Ordering::Relaxed);
            watcher.join().unwrap()
        });
        assert!(checks > 0);
        assert_eq!(
            missing, 0,
            "the FIFO was missing at {missing} of {checks} checks"
        );
        let now = rustix::fs::lstat(&settings.path).unwrap();
        assert_ne!(now.st_ino, first.st_ino, "recreated, not kept");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no staging file left behind");
    }

    fn job(name: &str, bytes: usize) -> Job {
        Job {
            reply_name: name.into(),
            body: Body::Json(vec![b' '; bytes]),
        }
    }

    fn pool_of(max_queued: usize, max_queued_bytes: usize) -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings(dir.path().join("miwa_fifo"));
        settings.max_queued = max_queued;
        settings.max_queued_bytes = max_queued_bytes;
        let (fd, stat) = create(&settings).unwrap();
        let pool = Pool::new(Reader::new(fd, stat), &settings);
        (dir, pool)
    }

    fn take_reader(pool: &Pool) -> Box<Reader> {
        match pool.next(&AtomicBool::new(false)) {
            Turn::Read(reader) => reader,
            _ => panic!("expected the reader"),
        }
    }

    #[test]
    fn what_does_not_fit_the_queue_stays_with_the_reader() {
        let (_dir, pool) = pool_of(2, 1000);
        let reader = take_reader(&pool);
        let mut jobs: Vec<Job> = (0..3).map(|i| job(&format!("r{i}"), 10)).collect();
        pool.give_back(reader, &mut jobs);
        assert_eq!(jobs.len(), 1, "two queued (max_queued = 2), one kept");
        assert_eq!(jobs[0].reply_name, "r2");
        let state = pool.lock();
        assert_eq!(state.queue.len(), 2);
        assert_eq!(state.queued_bytes, 2 * (2 + 10));
        assert!(state.reader.is_some(), "the reader is given back");
    }

    #[test]
    fn the_byte_limit_is_exact_and_a_larger_request_fits_an_empty_queue() {
        let (_dir, pool) = pool_of(100, 24);
        let mut jobs = vec![job("a", 11), job("b", 11), job("c", 0)];
        pool.give_back(take_reader(&pool), &mut jobs);
        assert_eq!(
            jobs.len(),
            1,
            "12 + 12 bytes fit 24 exactly; one more byte does not"
        );
        assert_eq!(pool.lock().queued_bytes, 24);
        let (_dir, pool) = pool_of(100, 24);
        let mut jobs = vec![job("big", 1000)];
        pool.give_back(take_reader(&pool), &mut jobs);
        assert!(
            jobs.is_empty(),
            "over the byte limit, but nothing else is queued"
        );
    }

    #[test]
    fn queued_requests_come_before_reading_and_are_served_after_stop() {
        let (_dir, pool) = pool_of(10, 1000);
        let mut jobs = vec![job("a", 1)];
        pool.give_back(take_reader(&pool), &mut jobs);
        let stop = AtomicBool::new(true);
        assert!(matches!(pool.next(&stop), Turn::Serve(j) if j.reply_name == "a"));
        assert_eq!(pool.lock().queued_bytes, 0);
        assert!(matches!(pool.next(&stop), Turn::Stop));
    }

    #[test]
    fn a_free_worker_waits_while_another_reads() {
        let (_dir, pool) = pool_of(10, 1000);
        let reader = take_reader(&pool);
        let started = Instant::now();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| match pool.next(&AtomicBool::new(false)) {
                Turn::Serve(job) => (job.reply_name, started.elapsed()),
                _ => panic!("expected the queued request"),
            });
            std::thread::sleep(Duration::from_millis(150));
            assert!(
                !waiter.is_finished(),
                "nothing to do while the reader is out"
            );
            pool.give_back(reader, &mut vec![job("x", 1)]);
            let (name, waited) = waiter.join().unwrap();
            assert_eq!(name, "x");
            assert!(waited >= Duration::from_millis(150), "{waited:?}");
        });
    }
}
