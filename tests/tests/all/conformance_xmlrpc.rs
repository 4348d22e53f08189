//! Replays `conformance/xmlrpc.jsonl` (real OpenSIPS 3.6.8 traffic) against miwa's
//! `/RPC2`, decoding both sides with Python's `xmlrpc.client`; and drives miwa with that
//! client as a user would.

use miwa_tests::conformance::{assert_only_known, replay_xmlrpc, Answerer};
use miwa_tests::Daemon;
use serde_json::Value;
use std::process::Command;

/// Path segments after `/RPC2/` name a node in front mode: a recorded request to a
/// sub-path is then an unknown node, not `/RPC2` (docs/compatibility.md, "Front mode").
const FRONT_DEVIATIONS: &[&str] = &["post_rpc2_subpath"];

/// Replays every case on `daemon`'s `/RPC2`; `our_pid` is the first pid `ps` shows (the
/// daemon's, or its node's). Cases compared, matched, mismatches.
fn replay(daemon: &Daemon, our_pid: &str) -> (usize, usize, Vec<String>) {
    replay_except(daemon, our_pid, &[])
}

/// [`replay`] with the cases of `deviations` answered but not scored.
fn replay_except(
    daemon: &Daemon,
    our_pid: &str,
    deviations: &[&str],
) -> (usize, usize, Vec<String>) {
    let score = replay_xmlrpc(daemon.http, our_pid, deviations, Answerer::Miwa);
    (score.compared, score.matched, score.mismatches)
}

#[test]
fn xmlrpc_recordings_replay() {
    let daemon = Daemon::start("").expect("daemon starts");
    let (compared, matched, mismatches) = replay(&daemon, &daemon.first_pid());
    // The statistics cases: the recorded node's SIP counters, which miwa does not have
    // (docs/compatibility.md, "SIP counters").
    let known = ["get_statistics_all", "get_statistics_array"];
    assert_only_known(&mismatches, &known);
    assert_eq!(matched + known.len(), compared);
}

/// Through a front's `/RPC2` to a miwa node over UDP, the replay scores at least what it
/// scores against such a node directly.
#[test]
fn xmlrpc_recordings_replay_through_the_front() {
    let direct_node = Daemon::start("").expect("node starts");
    let (compared, direct, direct_mismatches) =
        replay_except(&direct_node, &direct_node.first_pid(), &[]);
    let deviations_matched = FRONT_DEVIATIONS
        .iter()
        .filter(|d| !direct_mismatches.iter().any(|m| m.starts_with(*d)))
        .count();
    let node = Daemon::start("").expect("node starts");
    let front = Daemon::front_of(&node, "").expect("front starts");
    let (through_compared, through, mismatches) =
        replay_except(&front, &node.first_pid(), FRONT_DEVIATIONS);
    let (compared, direct) = (
        compared - FRONT_DEVIATIONS.len(),
        direct - deviations_matched,
    );
    assert_eq!(through_compared, compared);
    assert!(through >= direct, "{through} < {direct}: {mismatches:?}");
}

#[test]
fn python_xmlrpc_client() {
    let daemon = Daemon::start("").unwrap();
    let script = format!(
        r#"
import json, xmlrpc.client as x
s = x.ServerProxy('http://{}/RPC2')
out = {{}}
out['uptime'] = s.uptime()
out['level'] = s.log_level(4)
out['named'] = s.log_level({{'level': 3}})
out['which'] = s.which('log_level')
out['stats'] = s.get_statistics(['core:'])
out['stats_4_0'] = getattr(s, 'statistics:get')(['core:'])
out['uptime_4_0'] = getattr(s, 'core:uptime')()
try:
    s.no_such_command()
except x.Fault as f:
    out['fault'] = [f.faultCode, f.faultString]
print(json.dumps(out))
"#,
        daemon.http
    );
    let output = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        out["uptime"]["Up time"]
            .as_str()
            .unwrap()
            .ends_with(" [sec]"),
        "{out}"
    );
    assert_eq!(out["level"], serde_json::json!({"New global log level": 4}));
    assert_eq!(out["named"], serde_json::json!({"New global log level": 3}));
    assert_eq!(
        out["which"],
        serde_json::json!([[], ["level"], ["level", "pid"]])
    );
    assert!(out["stats"]["core:timestamp"].is_u64(), "{out}");
    assert!(
        out["stats_4_0"]["core:timestamp"].is_u64(),
        "4.0 names: {out}"
    );
    assert!(
        out["uptime_4_0"]["Up since"].is_string(),
        "4.0 names: {out}"
    );
    assert_eq!(
        out["fault"],
        serde_json::json!([-32601, "server error. requested method not found"])
    );
}
