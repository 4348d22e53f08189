//! Replaying the public conformance recordings (`tests/conformance/*.jsonl`, real
//! OpenSIPS 3.6.8 traffic) against any target: miwa, a front, a real node.

use crate::{
    compare_bodies, fifo_write, parse_responses, read_responses, recorded_messages,
    recorded_timer_pid, recording, same_shape, short, HttpResponse, ReplyFifo,
};
use serde_json::Value;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Cases left out of scoring: a JSON-RPC batch (answered per JSON-RPC 2.0), and a 200 KB
/// datagram the client cannot even send.
pub const NOT_SCORED: &[&str] = &["error_batch_two", "size_200k"];

/// How long a case that expects no reply waits for one.
const SILENCE: Duration = Duration::from_millis(300);

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

/// Cases recording OpenSIPS defects miwa fixes (stalled empty replies, dropped bodies):
/// left out of scoring, see docs/compatibility.md.
pub const DEFECTS: &[&str] = &[
    "id_object",
    "id_array",
    "id_bool",
    "notification_uptime",
    "notification_log_level_set",
    "notification_unknown_method",
    "notification_bad_params",
    "empty_body",
    "get_mi",
    "post_content_type_form_urlencoded",
    "post_content_type_form_urlencoded_kv",
    "post_empty_body_content_length_0",
    "post_no_content_length_no_body",
    "pipelined_two_requests_keepalive",
    "size_1025",
    "size_4000",
    "size_5000",
    "size_65457",
    "size_200k",
    "size_200k_with_repeated_pokes",
    "post_body_1551_bytes_in_two_writes",
    "error_batch_two",
];

/// Deliberate deviations: a POST with an unsupported Content-Type gets 415 instead of a
/// silently closed connection.
pub const DEVIATIONS: &[&str] = &[
    "post_content_type_text_html",
    "post_content_type_octet_stream",
    "post_no_content_type",
];

fn media(response: &HttpResponse) -> String {
    response
        .header("Content-Type")
        .unwrap_or("")
        .replace(' ', "")
        .to_ascii_lowercase()
}

/// Compares one expected response with ours: status, content type, body.
fn matches(
    expected: &HttpResponse,
    got: &HttpResponse,
    request_body: &str,
) -> Result<&'static str, String> {
    if expected.status != got.status {
        return Err(format!("status {} != {}", got.status, expected.status));
    }
    if media(expected) != media(got) {
        return Err(format!(
            "content type {:?} != {:?}",
            media(got),
            media(expected)
        ));
    }
    compare_bodies(&expected.body, &got.body, request_body)
}

/// Sends each request on one connection, reading `per_request` responses after each.
fn send(http: SocketAddr, requests: &[String], per_request: usize) -> Vec<HttpResponse> {
    let mut stream = TcpStream::connect(http).expect("connect");
    let mut responses = Vec::new();
    for request in requests {
        stream.write_all(request.as_bytes()).expect("write");
        let raw =
            read_responses(&mut stream, per_request, Duration::from_millis(400)).expect("read");
        responses.extend(parse_responses(&raw));
    }
    responses
}

fn body_of(request: &str) -> &str {
    request.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Puts our pid where the recording has the recording server's `timer` pid.
fn with_pid(request: &str, recorded: &str, ours: &str) -> String {
    let body = body_of(request);
    if !body.contains(recorded) {
        return request.to_string();
    }
    let new_body = body.replace(recorded, ours);
    let head = &request[..request.len() - body.len()];
    let head = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", new_body.len())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{head}{new_body}")
}

/// The score of one replay: cases matched, cases compared, the mismatches.
pub struct Score {
    /// Cases whose responses matched.
    pub matched: usize,
    /// Cases compared.
    pub compared: usize,
    /// `<case>: <why>` of each that did not.
    pub mismatches: Vec<String>,
}

/// The cases whose recorded replies hold OpenSIPS's SIP counters (`core:rcv_requests`,
/// `sl:*`, …), which miwa does not have: it is not a SIP server (docs/compatibility.md,
/// "SIP counters"). Every other case of the HTTP, FIFO and datagram recordings matches.
pub const NO_SIP_COUNTERS: [&str; 4] = [
    "get_statistics_all",
    "get_statistics_positional",
    "get_statistics_shmem_core",
    "reset_statistics",
];

/// Checks that the cases that did not match are exactly `known` (each a documented
/// difference), in any order.
pub fn assert_only_known(mismatches: &[String], known: &[&str]) {
    let mut cases: Vec<&str> = mismatches
        .iter()
        .map(|m| m.split(':').next().unwrap_or_default())
        .collect();
    cases.sort_unstable();
    let mut known = known.to_vec();
    known.sort_unstable();
    assert_eq!(cases, known, "mismatches: {mismatches:#?}");
}

impl Score {
    /// The score, after printing `summary` and every mismatch.
    fn printed(self, summary: String) -> Score {
        println!("{summary}");
        for line in &self.mismatches {
            println!("  mismatch {line}");
        }
        self
    }
}

/// Who answers a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answerer {
    /// miwa (or a front): the cases of [`DEFECTS`] and [`DEVIATIONS`] are checked for
    /// miwa's own answers, then left out of the score.
    Miwa,
    /// OpenSIPS itself: those cases are left out of the score unchecked.
    OpenSips,
}

/// Replays every case against the HTTP server at `http`, with the recording's timer PID
/// replaced by `our_pid` (the `timer` of the node that answers `ps`).
pub fn replay_http(http: SocketAddr, our_pid: &str, answerer: Answerer) -> Score {
    let cases = recording("http.jsonl");
    let recorded_timer_pid = recorded_timer_pid(&cases);

    let (mut compared, mut exact, mut shape) = (0, 0, 0);
    let (mut excluded, mut deviations) = (Vec::new(), Vec::new());
    let mut mismatches = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or_default();
        let requests: Vec<String> = recorded_messages(&case["request"])
            .into_iter()
            .flatten()
            .collect();
        if requests.is_empty() {
            continue;
        }
        let requests: Vec<String> = requests
            .iter()
            .map(|r| with_pid(r, &recorded_timer_pid, our_pid))
            .collect();
        let expected: Vec<HttpResponse> = match &case["response"] {
            Value::Array(list) => list
                .iter()
                .filter_map(Value::as_str)
                .flat_map(|r| parse_responses(r.as_bytes()))
                .collect(),
            Value::String(raw) => parse_responses(raw.as_bytes()),
            _ => Vec::new(),
        };
        let per_request = if requests.len() > 1 {
            1
        } else {
            expected.len().max(1)
        };
        let got = send(http, &requests, per_request);
        if DEFECTS.contains(&name) && answerer == Answerer::OpenSips {
            excluded.push(name);
            continue;
        }
        if DEVIATIONS.contains(&name) && answerer == Answerer::OpenSips {
            deviations.push(name);
            continue;
        }
        if DEFECTS.contains(&name) {
            assert!(
                !got.is_empty() && got.iter().all(|r| r.complete),
                "{name}: miwa must answer completely and at once"
            );
            if name.starts_with("size_") || name.starts_with("post_body_") {
                assert_eq!(
                    got[0].status, 200,
                    "{name}: a valid body under the limit is served"
                );
            }
            excluded.push(name);
            continue;
        }
        if DEVIATIONS.contains(&name) {
            assert_eq!(
                got.first().map(|r| r.status),
                Some(415),
                "{name}: unsupported Content-Type must get 415"
            );
            deviations.push(name);
            continue;
        }
        compared += 1;
        let outcome = if expected.len() != got.len() {
            Err(format!(
                "{} responses, expected {}",
                got.len(),
                expected.len()
            ))
        } else {
            expected
                .iter()
                .zip(&got)
                .zip(requests.iter().cycle())
                .map(|((e, g), r)| matches(e, g, r))
                .collect::<Result<Vec<_>, _>>()
                .map(|kinds| {
                    if kinds.contains(&"shape") {
                        "shape"
                    } else {
                        "exact"
                    }
                })
        };
        match outcome {
            Ok("exact") => exact += 1,
            Ok(_) => shape += 1,
            Err(why) => mismatches.push(short(format!("{name}: {why}"))),
        }
    }
    let matched = exact + shape;
    Score {
        matched,
        compared,
        mismatches,
    }
    .printed(format!("http conformance: {matched}/{compared} matched ({exact} exact, {shape} by shape); {} OpenSIPS defects and {} documented deviations not scored", excluded.len(), deviations.len()))
}

const FIFO_WAIT: Duration = Duration::from_secs(3);
const FIFO_SILENCE: Duration = Duration::from_millis(400);

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
const FIFO_NOT_SCORED: &[&str] = &[
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

/// Replays every case on the FIFO `fifo`, whose replies go to `dir`; `ps` answers with
/// processes whose pid `our_pid` the recording's requests name. With
/// [`Answerer::OpenSips`] the cases where miwa fixes an OpenSIPS defect, and those not
/// scored, are left out unchecked.
pub fn replay_fifo(fifo: &Path, dir: &Path, our_pid: &str, answerer: Answerer) -> Score {
    // One replay at a time: the case `reply_name_absolute_path` listens on
    // `/tmp/mi_rpl_abs`, a path both replays would share.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cases = recording("fifo.jsonl");
    let recorded_pid = recorded_timer_pid(&cases);
    let (mut compared, mut matched, mut fixed, mut mismatches) = (0, 0, 0, Vec::new());
    for case in &cases {
        let name = case["name"].as_str().unwrap_or_default();
        // Never sent to OpenSIPS itself: several of these crash it (the recordings' notes).
        let unchecked = answerer == Answerer::OpenSips
            && (FIFO_NOT_SCORED.contains(&name) || fixed_expectation(name).is_some());
        if unchecked {
            continue;
        }
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
                .map(|n| ReplyFifo::create(dir, n).unwrap())
                .collect()
        };
        fifo_write(fifo, request.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got: Vec<Option<Vec<u8>>> = Vec::new();
        if late {
            std::thread::sleep(Duration::from_millis(500));
            let fifo = ReplyFifo::create(dir, &names[0]).unwrap();
            got.push(fifo.read(FIFO_SILENCE).unwrap());
        }
        let mut expected = recorded_messages(&case["response"]);
        if expected.is_empty() {
            expected.push(None);
        }
        for (i, fifo) in fifos.iter().enumerate() {
            let want = expected.get(i).cloned().flatten();
            got.push(
                fifo.read(if want.is_some() || fixed_expectation(name).is_some() {
                    FIFO_WAIT
                } else {
                    FIFO_SILENCE
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
        if FIFO_NOT_SCORED.contains(&name) {
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
    Score {
        matched,
        compared,
        mismatches,
    }
    .printed(format!("fifo conformance: {matched}/{compared} matched; {fixed} OpenSIPS defects answered as fixed; {} not scored", FIFO_NOT_SCORED.len()))
}

/// Documented improvements: untyped values, `<boolean>` and `<double>` are accepted; an
/// unsupported `Content-Type` gets 415 instead of a closed connection.
const XMLRPC_DEVIATIONS: &[&str] = &[
    "which_untyped_param",
    "log_level_boolean",
    "log_level_double",
    "content_type_application_xml",
];

/// Results that describe the server: compared by shape.
const XMLRPC_SHAPE: &[&str] = &[
    "uptime",
    "version",
    "ps",
    "log_level",
    "get_statistics_array",
    "get_statistics_all",
    "content_type_text_xml_charset",
    "post_rpc2_subpath",
];

fn decode_xmlrpc(bodies: &[String]) -> Vec<Value> {
    let mut child = Command::new("python3")
        .arg(crate::workspace().join("tests/xmlrpc_decode.py"))
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

fn send_one(http: SocketAddr, request: &str) -> Option<HttpResponse> {
    let mut stream = TcpStream::connect(http).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let raw = read_responses(&mut stream, 1, Duration::from_millis(500)).unwrap();
    parse_responses(&raw).into_iter().next()
}

/// Replays every case on the `/RPC2` of the HTTP server at `http` (`our_pid` is the first
/// pid its `ps` shows), the cases of `deviations` answered `Unknown node` but not scored;
/// with [`Answerer::OpenSips`] miwa's documented deviations are left out unchecked.
pub fn replay_xmlrpc(
    http: SocketAddr,
    our_pid: &str,
    deviations: &[&str],
    answerer: Answerer,
) -> Score {
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
        let got = send_one(http, &request);
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
    let decoded = decode_xmlrpc(&bodies);
    let (mut compared, mut matched, mut mismatches) = (0, 0, Vec::new());
    for (i, (name, expected, got)) in rows.iter().enumerate() {
        if answerer == Answerer::OpenSips && XMLRPC_DEVIATIONS.contains(&name.as_str()) {
            continue;
        }
        if deviations.contains(&name.as_str()) {
            let got = got.as_ref().expect("miwa answers");
            let body = String::from_utf8_lossy(&got.body);
            assert!(body.contains("Unknown node"), "{name}: {body}");
            continue;
        }
        if XMLRPC_DEVIATIONS.contains(&name.as_str()) {
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
                if XMLRPC_SHAPE.contains(&name.as_str())
                    && want.get("params").is_some()
                    && same_shape(want, have) =>
            {
                Ok(())
            }
            (Some(_), Some(_))
                if !XMLRPC_SHAPE.contains(&name.as_str()) && want == have && !want.is_null() =>
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
    Score {
        matched,
        compared,
        mismatches,
    }
    .printed(format!(
        "xmlrpc conformance: {matched}/{compared} matched; {} documented deviations not scored",
        XMLRPC_DEVIATIONS.len()
    ))
}

/// The error texts a recorded result cell shows, if any.
fn error_texts(page: &str) -> Vec<&'static str> {
    [
        "Invalid params",
        "Too few or too many parameters",
        "Bad type for parameter",
        "unknown MI command",
    ]
    .into_iter()
    .filter(|t| page.contains(t))
    .collect()
}

/// Recorded cases miwa answers differently on purpose (docs/compatibility.md): a `GET`
/// that would run a command that changes state is answered "Not run" (`403`).
pub const NOT_RUN_ON_GET: [&str; 2] = ["cmd_log_level_bad_type", "cmd_log_level_not_json_arg"];

/// Replays every case on the HTML pages of the HTTP server at `http`; with `node`, each
/// path `/html…` becomes `/html/<node>…` (a front's page of that node), where the node's
/// commands are grouped under its name: `/html/core/ps` is `/html/<node>/<node>/ps`. With
/// [`Answerer::Miwa`] the cases of [`NOT_RUN_ON_GET`] must get miwa's refusal; with
/// [`Answerer::OpenSips`] they are compared like the others.
pub fn replay_html(http: SocketAddr, node: Option<&str>, answerer: Answerer) -> Score {
    let (mut compared, mut matched, mut mismatches) = (0, 0, Vec::new());
    for case in recording("html.jsonl") {
        let name = case["name"].as_str().unwrap_or_default();
        let mut request = case["request"]
            .as_str()
            .unwrap_or_default()
            .replace("Connection: keep-alive", "Connection: close");
        if let Some(node) = node {
            let (line, rest) = request.split_once("\r\n").unwrap_or((&request, ""));
            let mut line = line.to_string();
            for module in ["core", "statistics"] {
                line = line.replacen(&format!(" /html/{module}"), &format!(" /html/{node}"), 1);
            }
            let line = line.replacen(" /html", &format!(" /html/{node}"), 1);
            request = format!("{line}\r\n{rest}");
        }
        let raw = crate::exchange(http, request.as_bytes(), Duration::from_millis(500)).unwrap();
        let got = parse_responses(&raw).into_iter().next();
        compared += 1;
        let want_status = case["http_status"].as_u64().unwrap_or(0) as u16;
        let recorded = case["response_body"].as_str().unwrap_or_default();
        let refused_on_get = answerer == Answerer::Miwa && NOT_RUN_ON_GET.contains(&name);
        let outcome = match &got {
            None => Err("no response".to_string()),
            Some(g) if refused_on_get => {
                match g.status == 403 && String::from_utf8_lossy(&g.body).contains("Not run") {
                    true => Ok(()),
                    false => Err(format!("status {}: not the documented refusal", g.status)),
                }
            }
            Some(g) if g.status != want_status => {
                Err(format!("status {} != {want_status}", g.status))
            }
            Some(g) => {
                let page = String::from_utf8_lossy(&g.body).replace("&#39;", "'");
                let missing: Vec<&str> = error_texts(recorded)
                    .into_iter()
                    .filter(|t| !page.contains(t))
                    .collect();
                let result_expected = name.ends_with("_result")
                    || name == "cmd_get_statistics"
                    || name == "post_form_ps";
                let shown = match answerer {
                    Answerer::Miwa => page.contains("<h3>Result</h3>"),
                    Answerer::OpenSips => !page.is_empty(),
                };
                if !missing.is_empty() {
                    Err(format!("the page does not show {missing:?}"))
                } else if result_expected && !shown {
                    Err("no result shown".into())
                } else {
                    Ok(())
                }
            }
        };
        match outcome {
            Ok(()) => matched += 1,
            Err(why) => mismatches.push(short(format!("{name}: {why}"))),
        }
    }
    Score {
        matched,
        compared,
        mismatches,
    }
}
