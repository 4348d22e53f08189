//! The exit codes of `miwa call` and `miwa script`, for scripts that branch on them.

use miwa_client::{Failure, ReplyError};
use std::process::ExitCode;

/// How a client command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the command ran and answered a result.
    Ok = 0,
    /// 1: the command answered an MI error (`-32602`, `404`, …), or a script line did.
    MiError = 1,
    /// 2: the command line is wrong (clap's usage errors; `--user` without
    /// `MIWA_PASSWORD`; an unknown shell).
    Usage = 2,
    /// 3: nothing listens where the request was to go (no daemon, no FIFO, refused
    /// connection).
    Unreachable = 3,
    /// 4: no reply within `--timeout`.
    TimedOut = 4,
    /// 5: the transport refused the request (HTTP 401, 429, 503; a refused WebSocket).
    Refused = 5,
    /// 6: the reply is not a JSON-RPC reply, or another failure on the way.
    Failed = 6,
}

impl Exit {
    /// The exit code of an exchange that failed with `error`.
    pub fn of_failure(error: &anyhow::Error) -> Exit {
        match Failure::of(error) {
            Some(Failure::Unreachable(_)) => Exit::Unreachable,
            Some(Failure::TimedOut(_)) => Exit::TimedOut,
            Some(Failure::Refused(_)) => Exit::Refused,
            None => Exit::Failed,
        }
    }

    /// The exit code of a reply that holds no result.
    pub fn of_reply(error: &ReplyError) -> Exit {
        match error {
            ReplyError::Mi(_) => Exit::MiError,
            ReplyError::Unreadable(_) => Exit::Failed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}
