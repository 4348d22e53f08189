//! What the front-mode tests share: a front over given upstreams, a POST to a node's path,
//! the PIDs of a `ps` result.

use crate::Daemon;
use serde_json::Value;
use std::time::Duration;

/// A front whose `[upstreams]` are `tables` and whose default node is `default` (none when
/// empty).
pub fn front(tables: &str, default: &str) -> Daemon {
    let front = if default.is_empty() {
        String::new()
    } else {
        format!("\n[front]\nupstream = \"{default}\"\n")
    };
    Daemon::start(&format!("\n{tables}{front}")).expect("front starts")
}

/// POSTs `body` to `path` of `daemon` and parses the reply.
pub fn post_to(daemon: &Daemon, path: &str, body: &str) -> Value {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = crate::exchange(daemon.http, request.as_bytes(), Duration::from_secs(10))
        .expect("exchange");
    let responses = crate::parse_responses(&raw);
    let response = responses.first().expect("a response");
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&response.body)
        )
    })
}

/// The PIDs of a `ps` result.
pub fn pids(ps: &Value) -> Vec<u64> {
    ps["Processes"]
        .as_array()
        .unwrap_or_else(|| panic!("Processes: {ps}"))
        .iter()
        .map(|p| p["PID"].as_u64().expect("PID"))
        .collect()
}
