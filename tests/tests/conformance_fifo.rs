//! Replays `conformance/fifo.jsonl` (real OpenSIPS 3.6.8 traffic) against miwa's FIFO, and
//! checks the FIFO behaviours around it: defects fixed, reply-FIFO safety, recreation.

use miwa_tests::{
    compare_bodies, fifo_write, recorded_messages, recorded_timer_pid, recording, short, Daemon,
    ReplyFifo,
};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(3);
const SILENCE: Duration = Duration::from_millis(400);

/// What miwa answers instead of an OpenSIPS defect (conformance README, "must not copy").
fn fixed_expectation(name: &str) -> Option<Option<&'static str>> {
    const INVALID_NULL: &str =
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#;
    const INVALID_1: &str =
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":1}"#;
    const PARSE: &str =
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#;
    Some(match name {
        "error_json_number" | "error_json_true" | "error_batch_empty" | "error_empty_object" => {
            Some(INVALID_NULL)
        }
        "error_missing_method" | "error_method_not_string" => Some(INVALID_1),
        "error_not_json" | "empty_body" | "whitespace_body" | "framing_only_reply_name" => {
            Some(PARSE)
        }
        _ => return None,
    })
}

/// Cases not scored: a batch (answered per JSON-RPC 2.0), an 80 KB reply of a module command
/// miwa does not have, and the 128-byte reply path limit miwa does not keep.
const NOT_SCORED: &[&str] = &[
    "error_batch_two",
    "cache_fetch_chunk_big",
    "reply_name_123_chars",
];

/// The `:name:` reply names framed in a request.
fn reply_names(request: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = request.trim_start();
    while let Some(after) = rest.strip_prefix(':') {
        let Some(end) = after.find(':') else { break };
        names.push(after[..end].to_string());
        let json = &after[end + 1..];
        let next = json.find("}:").map(|i| i + 1).unwrap_or(json.len());
        rest = &json[next..];
    }
    names
}

fn notes(case: &Value) -> String {
    case["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Replays every case on `daemon`'s FIFO; `ps` answers with processes whose first pid is
/// `our_pid` (the daemon's, or its node's). Cases compared, matched, mismatches.
fn replay(daemon: &Daemon, our_pid: &str) -> (usize, usize, Vec<String>) {
    // One replay at a time: the case `reply_name_absolute_path` listens on
    // `/tmp/mi_rpl_abs`, a path both replays would share.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cases = recording("fifo.jsonl");
    let recorded_pid = recorded_timer_pid(&cases);
    let dir = daemon.reply_dir();
    let (mut compared, mut matched, mut fixed, mut mismatches) = (0, 0, 0, Vec::new());
    for case in &cases {
        let name = case["name"].as_str().unwrap_or_default();
        let request = case["request"]
            .as_str()
            .unwrap_or_default()
            .replace(&recorded_pid, our_pid);
        let notes = notes(case);
        let listen = !case["reply_fifo"].is_null()
            && !notes.contains("does not exist")
            && case.get("regular_file_content").is_none();
        let names = if listen {
            reply_names(&request)
        } else {
            Vec::new()
        };
        if case.get("regular_file_content").is_some() {
            std::fs::write(dir.join(&reply_names(&request)[0]), b"").unwrap();
        }
        let late = notes.contains("500 ms after the request");
        let fifos: Vec<ReplyFifo> = if late {
            Vec::new()
        } else {
            names
                .iter()
                .map(|n| ReplyFifo::create(&dir, n).unwrap())
                .collect()
        };
        fifo_write(&daemon.fifo, request.as_bytes()).unwrap();
        let mut got: Vec<Option<Vec<u8>>> = Vec::new();
        if late {
            std::thread::sleep(Duration::from_millis(500));
            let fifo = ReplyFifo::create(&dir, &names[0]).unwrap();
            got.push(fifo.read(SILENCE).unwrap());
        }
        let mut expected = recorded_messages(&case["response"]);
        if expected.is_empty() {
            expected.push(None);
        }
        for (i, fifo) in fifos.iter().enumerate() {
            let want = expected.get(i).cloned().flatten();
            got.push(
                fifo.read(if want.is_some() || fixed_expectation(name).is_some() {
                    WAIT
                } else {
                    SILENCE
                })
                .unwrap(),
            );
        }
        if let Some(content) = case.get("regular_file_content") {
            let now = std::fs::read_to_string(dir.join(&reply_names(&request)[0])).unwrap();
            assert_eq!(
                now,
                content.as_str().unwrap_or(""),
                "{name}: a regular file is never written"
            );
            let _ = std::fs::remove_file(dir.join(&reply_names(&request)[0]));
        }
        if NOT_SCORED.contains(&name) {
            assert!(
                got.iter().all(Option::is_some),
                "{name}: miwa still answers"
            );
            continue;
        }
        if let Some(instead) = fixed_expectation(name) {
            let answer = got
                .first()
                .cloned()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            assert_eq!(answer.as_deref(), instead, "{name}: the fixed behaviour");
            fixed += 1;
            continue;
        }
        let expected: Vec<Option<String>> = if names.is_empty() {
            Vec::new()
        } else {
            expected
        };
        compared += 1;
        let outcome = if name.starts_with("size_") {
            match got.first().cloned().flatten() {
                Some(reply) if String::from_utf8_lossy(&reply).contains("Up time") => Ok("exact"),
                other => Err(format!(
                    "a large request gets its normal reply, got {other:?}"
                )),
            }
        } else {
            expected
                .iter()
                .zip(got.iter().chain(std::iter::repeat(&None)))
                .map(|(want, have)| match (want, have) {
                    (None, None) => Ok("exact"),
                    (Some(w), Some(h)) => compare_bodies(w.as_bytes(), h, &request),
                    (Some(w), None) => Err(format!("no reply, expected {w}")),
                    (None, Some(h)) => {
                        Err(format!("unexpected reply {:?}", String::from_utf8_lossy(h)))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|_| "ok")
        };
        match outcome {
            Ok(_) => matched += 1,
            Err(why) => mismatches.push(short(format!("{name}: {why}"))),
        }
    }
    println!("fifo conformance: {matched}/{compared} matched; {fixed} OpenSIPS defects answered as fixed; {} not scored", NOT_SCORED.len());
    for line in &mismatches {
        println!("  mismatch {line}");
    }
    (compared, matched, mismatches)
}

#[test]
fn fifo_recordings_replay() {
    let daemon = Daemon::start_fifo("reassembly_timeout_ms = 200\n").expect("daemon starts");
    let (compared, matched, _) = replay(&daemon, &daemon.first_pid());
    assert!(
        matched * 100 >= compared * 90,
        "only {matched}/{compared} cases match"
    );
}

/// Through a front's FIFO to a miwa node (UDP, with its FIFO for replies over a
/// datagram), the replay scores at least what it scores against such a node directly.
#[test]
fn fifo_recordings_replay_through_the_front() {
    let direct_node = Daemon::start_fifo("reassembly_timeout_ms = 200\n").expect("node starts");
    let (compared, direct, _) = replay(&direct_node, &direct_node.first_pid());
    let node = Daemon::start("").expect("node starts");
    let front = Daemon::front_of(&node, "reassembly_timeout_ms = 200\n").expect("front starts");
    let (through_compared, through, mismatches) = replay(&front, &node.first_pid());
    assert_eq!(through_compared, compared);
    assert!(through >= direct, "{through} < {direct}: {mismatches:?}");
}
