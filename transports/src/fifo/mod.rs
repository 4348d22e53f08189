//! JSON-RPC over a named pipe (`mi_fifo`): `:reply_name:{json}` requests written to the
//! server FIFO, replies written to `reply_dir + reply_name`.
//!
//! Better than OpenSIPS: a request whose reply name was readable always gets a reply
//! (-32700 for bad JSON, instead of silence that hangs opensips-cli); requests split across
//! writes are reassembled up to a limit; the FIFO is checked periodically and recreated if
//! it was removed or replaced, and on demand (SIGHUP).

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
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
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
    /// Native stack of the reader and worker threads, bytes (the dispatcher may run deep
    /// calls).
    pub stack_size: usize,
    /// Requests waiting for a worker, at most; then the reader waits (and so do writers).
    pub max_queued: usize,
    /// Bytes of requests waiting for a worker, at most (at least `max_request`).
    pub max_queued_bytes: usize,
}

pub use crate::Owner;

/// One request handed from the reader to a worker.
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

/// Bytes of requests waiting for a worker: the reader takes room before it hands a job
/// over (waiting while there is none), a worker gives it back once the job is done.
struct Budget {
    used: Mutex<usize>,
    room: Condvar,
    max: usize,
}

impl Budget {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `bytes` fit, then takes them (a job larger than the whole budget takes
    /// all of it, once nothing else is queued).
    fn take(&self, bytes: usize) {
        let bytes = bytes.min(self.max);
        let mut used = self.lock();
        while *used + bytes > self.max {
            used = self
                .room
                .wait_timeout(used, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *used += bytes;
    }

    fn give_back(&self, bytes: usize) {
        let mut used = self.lock();
        *used = used.saturating_sub(bytes.min(self.max));
        drop(used);
        self.room.notify_all();
    }
}

/// The reader's side of the hand-off to the workers, bounded in jobs and in bytes.
struct Jobs {
    sender: SyncSender<Job>,
    budget: Arc<Budget>,
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
    /// Creates the FIFO and starts the reader and the workers.
    pub fn start(
        settings: FifoSettings,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> std::io::Result<FifoServer> {
        let (fd, stat) = create(&settings)?;
        let stop = Arc::new(AtomicBool::new(false));
        let recreate = Arc::new(AtomicBool::new(false));
        let (sender, queue) = sync_channel::<Job>(settings.max_queued.max(1));
        let budget = Arc::new(Budget {
            used: Mutex::new(0),
            room: Condvar::new(),
            max: settings.max_queued_bytes.max(1),
        });
        let jobs = Jobs {
            sender,
            budget: budget.clone(),
        };
        let queue = Arc::new(Mutex::new(queue));
        let mut threads = Vec::new();
        let mut listing = crate::listing::Listing::new();
        for _ in 0..settings.workers.max(1) {
            let (settings, dispatcher, queue, budget) = (
                settings.clone(),
                dispatcher.clone(),
                queue.clone(),
                budget.clone(),
            );
            let listed = listing.signal();
            threads.push(
                std::thread::Builder::new()
                    .name("mi-fifo-worker".into())
                    .stack_size(settings.stack_size)
                    .spawn(move || {
                        dispatcher.thread_started("MI FIFO worker");
                        let _ = listed.send(());
                        work(&settings, dispatcher.as_ref(), &queue, &budget);
                        dispatcher.thread_stopped();
                    })?,
            );
        }
        let reader = {
            let (settings, dispatcher, stop, recreate) = (
                settings.clone(),
                dispatcher.clone(),
                stop.clone(),
                recreate.clone(),
            );
            let listed = listing.signal();
            std::thread::Builder::new()
                .name("mi-fifo".into())
                .stack_size(settings.stack_size)
                .spawn(move || {
                    dispatcher.thread_started(&format!("MI FIFO {}", settings.path.display()));
                    let _ = listed.send(());
                    read_loop(
                        &settings,
                        dispatcher.as_ref(),
                        fd,
                        stat,
                        jobs,
                        &stop,
                        &recreate,
                    );
                    dispatcher.thread_stopped();
                })?
        };
        threads.push(reader);
        listing.wait();
        Ok(FifoServer {
            stop,
            recreate,
            threads,
            path: settings.path,
        })
    }

    /// Asks the reader to recreate the FIFO (SIGHUP).
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

fn read_loop(
    settings: &FifoSettings,
    dispatcher: &dyn Dispatcher,
    mut fd: OwnedFd,
    mut stat: rustix::fs::Stat,
    jobs: Jobs,
    stop: &AtomicBool,
    recreate: &AtomicBool,
) {
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 65536];
    let mut pending_since: Option<Instant> = None;
    let mut last_check = Instant::now();
    let tick = Duration::from_millis(100);
    // The FIFO replaced by the last recreation: still read for a while, so requests that
    // writers who opened it before were writing are served, not lost.
    let mut retired: Option<(OwnedFd, Instant)> = None;
    while !stop.load(Ordering::Relaxed) {
        let forced = recreate.swap(false, Ordering::Relaxed);
        if forced
            || (last_check.elapsed() >= settings.check_interval
                && !still_ours(&settings.path, &stat))
        {
            match create(settings) {
                Ok((new_fd, new_stat)) => {
                    tracing::info!(path = %settings.path.display(), forced, "request FIFO recreated");
                    if let Some((older, _)) = retired.take() {
                        read_available(&older, &mut chunk, &mut buffer);
                    }
                    retired = Some((std::mem::replace(&mut fd, new_fd), Instant::now()));
                    stat = new_stat;
                }
                Err(error) => {
                    tracing::error!(path = %settings.path.display(), %error, "cannot recreate the request FIFO")
                }
            }
        }
        if last_check.elapsed() >= settings.check_interval {
            last_check = Instant::now();
        }
        if let Some((old, since)) = &retired {
            if read_available(old, &mut chunk, &mut buffer) {
                pending_since.get_or_insert_with(Instant::now);
            }
            if since.elapsed() >= settings.check_interval.max(tick) {
                retired = None;
            }
        }
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let wait = if retired.is_some() {
            Duration::from_millis(10)
        } else {
            tick
        };
        let wait = Timespec::try_from(wait).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        });
        match poll(&mut fds, Some(&wait)) {
            Ok(0) | Err(Errno::INTR) => {}
            Ok(_) => match rustix::io::read(&fd, &mut chunk) {
                Ok(n) => {
                    buffer.extend_from_slice(&chunk[..n]);
                    pending_since.get_or_insert_with(Instant::now);
                }
                Err(Errno::AGAIN | Errno::INTR) => {}
                Err(error) => {
                    tracing::warn!(%error, "reading the request FIFO failed");
                    std::thread::sleep(tick);
                }
            },
            Err(error) => {
                tracing::warn!(%error, "polling the request FIFO failed");
                std::thread::sleep(tick);
            }
        }
        let timed_out =
            pending_since.is_some_and(|since| since.elapsed() >= settings.reassembly_timeout);
        drain(&mut buffer, settings, dispatcher, &jobs, timed_out);
        pending_since = if buffer.iter().all(u8::is_ascii_whitespace) {
            buffer.clear();
            None
        } else if timed_out {
            Some(Instant::now())
        } else {
            pending_since
        };
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
    jobs: &Jobs,
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
fn flush_tail(tail: &[u8], settings: &FifoSettings, jobs: &Jobs, oversized: bool) {
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

fn send(jobs: &Jobs, reply_name: &str, body: Body) {
    let job = Job {
        reply_name: reply_name.to_string(),
        body,
    };
    let size = job.size();
    jobs.budget.take(size);
    if jobs.sender.send(job).is_err() {
        jobs.budget.give_back(size);
        tracing::error!("FIFO workers are gone");
    }
}

fn work(
    settings: &FifoSettings,
    dispatcher: &dyn Dispatcher,
    queue: &Mutex<Receiver<Job>>,
    budget: &Budget,
) {
    loop {
        let job = match queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recv_timeout(Duration::from_millis(200))
        {
            Ok(job) => job,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let size = job.size();
        serve_job(settings, dispatcher, job);
        budget.give_back(size);
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
    use super::{create, Budget, FifoSettings};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
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

    fn budget(max: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: Mutex::new(0),
            room: Condvar::new(),
            max,
        })
    }

    #[test]
    fn the_reader_waits_at_the_byte_limit_until_a_worker_gives_back() {
        let budget = budget(100);
        budget.take(60);
        budget.take(40);
        assert_eq!(*budget.lock(), 100, "exactly at the limit");
        let waiting = budget.clone();
        let started = Instant::now();
        let taker = std::thread::spawn(move || {
            waiting.take(1);
            started.elapsed()
        });
        std::thread::sleep(Duration::from_millis(150));
        assert!(!taker.is_finished(), "one byte over the limit waits");
        budget.give_back(60);
        let waited = taker.join().unwrap();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert_eq!(*budget.lock(), 41);
    }

    #[test]
    fn a_job_larger_than_the_budget_takes_all_of_it() {
        let budget = budget(100);
        budget.take(1000);
        assert_eq!(*budget.lock(), 100);
        budget.give_back(1000);
        assert_eq!(*budget.lock(), 0);
    }
}
