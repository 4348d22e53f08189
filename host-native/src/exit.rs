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
    /// 6: the reply is not a JSON-RPC reply (or answers another request id), or another
    /// failure on the way.
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

/// What each exit code means, as `miwa call --help`, the manual pages and `docs/cli.md`
/// say it (a test holds the document to this table).
pub const MEANINGS: [(Exit, &str); 7] = [
    (Exit::Ok, "the command answered a result"),
    (
        Exit::MiError,
        "the command answered an MI error (`-32602`, `404`, …)",
    ),
    (
        Exit::Usage,
        "usage: a wrong command line, `--user` without `MIWA_PASSWORD`",
    ),
    (
        Exit::Unreachable,
        "unreachable: nothing listens at the URL, socket or FIFO (a FIFO nobody reads included)",
    ),
    (Exit::TimedOut, "timed out: no reply within `--timeout`"),
    (
        Exit::Refused,
        "refused by the transport: HTTP 401, 429, 503, a refused WebSocket",
    ),
    (
        Exit::Failed,
        "the reply is not a JSON-RPC reply (or answers another request id), or another failure on the way",
    ),
];

/// The exit codes as `--help` and the manual pages list them.
pub fn long_help() -> String {
    let mut help = String::from("Exit codes of call and script:\n");
    for (exit, meaning) in MEANINGS {
        help.push_str(&format!("  {}  {meaning}\n", exit as u8));
    }
    help
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::MEANINGS;

    /// `docs/cli.md` has one row per exit code, in order, with the same text.
    #[test]
    fn the_cli_document_lists_the_same_exit_codes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md");
        let document = std::fs::read_to_string(&path).expect("docs/cli.md");
        let rows: Vec<&str> = document
            .lines()
            .filter(|line| {
                line.starts_with("| ") && line.as_bytes().get(2).is_some_and(u8::is_ascii_digit)
            })
            .collect();
        let expected: Vec<String> = MEANINGS
            .iter()
            .map(|(exit, meaning)| format!("| {} | {meaning} |", *exit as u8))
            .collect();
        assert_eq!(rows, expected);
    }
}
