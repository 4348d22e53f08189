//! Opening and writing a client's reply FIFO, with OpenSIPS's safety checks.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{fstat, lstat, open, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a reply FIFO was not used.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// Nobody opened it for reading within the retries.
    #[error("no reader on the reply FIFO")]
    NoReader,
    /// It is not a FIFO, is a symlink, has several links, or changed while opened.
    #[error("the reply path is not a safe FIFO: {0}")]
    Unsafe(&'static str),
    /// The reader did not take the reply in time.
    #[error("the reply reader stalled")]
    Stalled,
    /// Any other system error.
    #[error("reply FIFO: {0}")]
    System(#[from] Errno),
}

/// Opens `path` for writing without blocking, retrying while nobody reads it (`ENXIO`),
/// then checks it is a plain FIFO: not a symlink, one link, the same inode as opened.
pub fn open_reply(path: &Path, retries: u32, pause: Duration) -> Result<OwnedFd, ReplyError> {
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut attempt = 0;
    let fd = loop {
        match open(path, flags, Mode::empty()) {
            Ok(fd) => break fd,
            Err(Errno::NXIO) if attempt < retries => {
                attempt += 1;
                std::thread::sleep(pause);
            }
            Err(Errno::NXIO) => return Err(ReplyError::NoReader),
            Err(Errno::LOOP) => return Err(ReplyError::Unsafe("a symlink")),
            Err(e) => return Err(e.into()),
        }
    };
    let opened = fstat(&fd)?;
    let linked = lstat(path)?;
    if FileType::from_raw_mode(opened.st_mode) != FileType::Fifo {
        return Err(ReplyError::Unsafe("not a FIFO"));
    }
    if FileType::from_raw_mode(linked.st_mode) == FileType::Symlink {
        return Err(ReplyError::Unsafe("a symlink"));
    }
    if opened.st_nlink > 1 {
        return Err(ReplyError::Unsafe("several hard links"));
    }
    if opened.st_dev != linked.st_dev || opened.st_ino != linked.st_ino {
        return Err(ReplyError::Unsafe("replaced while opening"));
    }
    Ok(fd)
}

/// Writes all of `bytes`, waiting for the reader at most `timeout` overall.
pub fn write_reply(fd: &OwnedFd, bytes: &[u8], timeout: Duration) -> Result<(), ReplyError> {
    let deadline = Instant::now() + timeout;
    let mut rest = bytes;
    while !rest.is_empty() {
        match rustix::io::write(fd, rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::AGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ReplyError::Stalled);
                }
                let mut fds = [PollFd::new(fd, PollFlags::OUT)];
                let wait = Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                });
                poll(&mut fds, Some(&wait))?;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
