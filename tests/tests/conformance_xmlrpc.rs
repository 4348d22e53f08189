//! Replays `conformance/xmlrpc.jsonl` (real OpenSIPS 3.6.8 traffic) against miwa's
//! `/RPC2`, decoding both sides with Python's `xmlrpc.client`; and drives miwa with that
//! client as a user would.

use miwa_tests::{
    parse_responses, read_responses, recording, same_shape, short, workspace, Daemon, HttpResponse,
};
use serde_json::Value;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Documented improvements: untyped values, `<boolean>` and `<double>` are accepted; an
/// unsupported `Content-Type` gets 415 instead of a closed connection.
const DEVIATIONS: &[&str] = &[
    "which_untyped_param",
    "log_level_boolean",
    "log_level_double",
    "content_type_application_xml",
];

/// Results that describe the server: compared by shape.
const SHAPE: &[&str] = &[
    "uptime",
    "version",
    "ps",
    "log_level",
    "get_statistics_array",
    "get_statistics_all",
    "content_type_text_xml_charset",
    "post_rpc2_subpath",
];

fn decode(bodies: &[String]) -> Vec<Value> {
    let mut child = Command::new("python3")
        .arg(workspace().join("tests/xmlrpc_decode.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(bodies).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    serde_json::from_slice(&output.stdout).expect("decoded list")
}

fn send(daemon: &Daemon, request: &str) -> Option<HttpResponse> {
    let mut stream = TcpStream::connect(daemon.http).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let raw = read_responses(&mut stream, 1, Duration::from_millis(500)).unwrap();
    parse_responses(&raw).into_iter().next()
}

/// Replays every case on `daemon`'s `/RPC2`; `our_pid` is the first pid `ps` shows (the
/// daemon's, or its node's). Cases compared, matched, mismatches.
fn replay(daemon: &Daemon, our_pid: &str) -> (usize, usize, Vec<String>) {
    replay_except(daemon, our_pid, &[])
}

/// Path segments after `/RPC2/` name a node in front mode: a recorded request to a
/// sub-path is then an unknown node, not `/RPC2` (docs/compatibility.md, "Front mode").
const FRONT_DEVIATIONS: &[&str] = &["post_rpc2_subpath"];

/// [`replay`] with the cases of `deviations` answered but not scored.
fn replay_except(
    daemon: &Daemon,
    our_pid: &str,
    deviations: &[&str],
) -> (usize, usize, Vec<String>) {
    let cases = recording("xmlrpc.jsonl");
    let mut rows = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or_default().to_string();
        let mut request = case["request"].as_str().unwrap_or_default().to_string();
        if name == "log_level_level_pid" {
            let body = request
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default();
            let recorded = body
                .split("<int>")
                .nth(2)
                .and_then(|s| s.split('<').next())
                .unwrap_or_default()
                .to_string();
            let new_body = body.replace(
                &format!("<int>{recorded}</int>"),
                &format!("<int>{our_pid}</int>"),
            );
            request = request.replace(&body, &new_body).replace(
                &format!("Content-Length: {}", body.len()),
                &format!("Content-Length: {}", new_body.len()),
            );
        }
        let expected = case["response"]
            .as_str()
            .and_then(|r| parse_responses(r.as_bytes()).into_iter().next());
        let got = send(daemon, &request);
        rows.push((name, expected, got));
    }
    let bodies: Vec<String> = rows
        .iter()
        .flat_map(|(_, e, g)| {
            [e, g].map(|r| {
                r.as_ref()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .unwrap_or_default()
            })
        })
        .collect();
    let decoded = decode(&bodies);
    let (mut compared, mut matched, mut mismatches) = (0, 0, Vec::new());
    for (i, (name, expected, got)) in rows.iter().enumerate() {
        if deviations.contains(&name.as_str()) {
            let got = got.as_ref().expect("miwa answers");
            let body = String::from_utf8_lossy(&got.body);
            assert!(body.contains("Unknown node"), "{name}: {body}");
            continue;
        }
        if DEVIATIONS.contains(&name.as_str()) {
            let got = got.as_ref().expect("miwa answers");
            if name.starts_with("content_type") {
                assert_eq!(got.status, 415, "{name}");
            } else {
                assert_eq!(got.status, 200, "{name}");
            }
            continue;
        }
        compared += 1;
        let (want, have) = (&decoded[2 * i], &decoded[2 * i + 1]);
        let outcome = match (expected, got) {
            (None, None) => Ok(()),
            (Some(e), Some(g)) if e.status != g.status => {
                Err(format!("status {} != {}", g.status, e.status))
            }
            (Some(e), Some(g))
                if e.header("Content-Type").map(str::to_ascii_lowercase)
                    != g.header("Content-Type").map(str::to_ascii_lowercase) =>
            {
                Err(format!(
                    "content type {:?} != {:?}",
                    g.header("Content-Type"),
                    e.header("Content-Type")
                ))
            }
            (Some(e), Some(g)) if e.body == g.body => Ok(()),
            (Some(_), Some(_))
                if SHAPE.contains(&name.as_str())
                    && want.get("params").is_some()
                    && same_shape(want, have) =>
            {
                Ok(())
            }
            (Some(_), Some(_))
                if !SHAPE.contains(&name.as_str()) && want == have && !want.is_null() =>
            {
                Ok(())
            }
            _ => Err(format!("{have} != {want}")),
        };
        match outcome {
            Ok(()) => matched += 1,
            Err(why) => mismatches.push(short(format!("{name}: {why}"))),
        }
    }
    println!(
        "xmlrpc conformance: {matched}/{compared} matched; {} documented deviations not scored",
        DEVIATIONS.len()
    );
    for line in &mismatches {
        println!("  mismatch {line}");
    }
    (compared, matched, mismatches)
}

#[test]
fn xmlrpc_recordings_replay() {
    let daemon = Daemon::start("").expect("daemon starts");
    let (compared, matched, _) = replay(&daemon, &daemon.first_pid());
    assert!(
        matched * 100 >= compared * 90,
        "only {matched}/{compared} cases match"
    );
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
