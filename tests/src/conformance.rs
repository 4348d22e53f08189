//! Replaying the public conformance recordings (`tests/conformance/*.jsonl`, real
//! OpenSIPS 3.6.8 traffic) against any datagram target: miwa, a front, a real node.

use crate::{compare_bodies, recorded_messages, recorded_timer_pid, recording, short};
use serde_json::Value;
use std::time::Duration;

/// Cases left out of scoring: a JSON-RPC batch (answered per JSON-RPC 2.0), and a 200 KB
/// datagram the client cannot even send.
pub const NOT_SCORED: &[&str] = &["error_batch_two", "size_200k"];

/// How long a case that expects no reply waits for one.
const SILENCE: Duration = Duration::from_millis(300);

/// What a datagram replay scored.
#[derive(Debug)]
pub struct Score {
    /// Cases compared.
    pub compared: usize,
    /// Cases whose replies matched.
    pub matched: usize,
    /// `<case>: <why>` of each that did not.
    pub mismatches: Vec<String>,
}

/// Replays `file`'s cases through `exchange` (a case, a request, how long to wait; the
/// reply, if any), with the recorded timer PID replaced by `our_pid`.
pub fn replay_datagrams(
    file: &str,
    our_pid: &str,
    exchange: impl Fn(&Value, &[u8], Duration) -> Option<Vec<u8>>,
) -> Score {
    let cases = recording(file);
    let recorded_pid = recorded_timer_pid(&cases);
    let (mut compared, mut matched, mut mismatches) = (0, 0, Vec::new());
    for case in &cases {
        let name = case["name"].as_str().unwrap_or_default();
        if NOT_SCORED.contains(&name) {
            continue;
        }
        let requests: Vec<String> = recorded_messages(&case["request"])
            .into_iter()
            .flatten()
            .collect();
        if requests.is_empty() {
            continue;
        }
        let mut expected = recorded_messages(&case["response"]);
        if expected.is_empty() {
            expected.push(None);
        }
        compared += 1;
        let mut outcome = Ok("exact");
        for (i, request) in requests.iter().enumerate() {
            let request = request.replace(&recorded_pid, our_pid);
            let want = expected.get(i).cloned().flatten();
            let wait = if want.is_some() {
                Duration::from_secs(3)
            } else {
                SILENCE
            };
            let got = exchange(case, request.as_bytes(), wait);
            outcome = match (&want, &got) {
                (None, None) => Ok("exact"),
                (Some(w), Some(g)) => compare_bodies(w.as_bytes(), g, &request),
                (None, Some(g)) => {
                    Err(format!("unexpected reply {:?}", String::from_utf8_lossy(g)))
                }
                (Some(w), None) => Err(format!("no reply, expected {w}")),
            };
            if outcome.is_err() {
                break;
            }
        }
        match outcome {
            Ok(_) => matched += 1,
            Err(why) => mismatches.push(short(format!("{name}: {why}"))),
        }
    }
    Score {
        compared,
        matched,
        mismatches,
    }
}
