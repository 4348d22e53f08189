//! The audit log: the exact lines of local and forwarded calls, redaction, reopening on
//! SIGHUP, and a stalled file that drops lines without holding a request up.

use miwa_tests::{hashed_secret, Daemon};
use serde_json::{json, Value};
use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

/// The audit lines written so far, waiting up to 5 s for at least `count`.
fn lines(path: &std::path::Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The lines of the audit file once one of them satisfies `wanted`, or
/// all of them after five seconds: lines are written by a background
/// writer, so a reply can come before its line.
fn lines_with(path: &std::path::Path, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = lines(path, 0);
        if found.iter().any(&wanted) || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A line without its time and duration, after checking their form.
fn stable(mut line: Value) -> Value {
    let time = line["time"].as_str().expect("time").to_string();
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    assert!(line["duration_us"].is_u64(), "{line}");
    let object = line.as_object_mut().unwrap();
    object.remove("time");
    object.remove("duration_us");
    line
}

fn post(daemon: &Daemon, path: &str, token: Option<&str>, body: &str) -> Value {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw =
        miwa_tests::exchange(daemon.http, request.as_bytes(), Duration::from_secs(5)).unwrap();
    let response = miwa_tests::parse_responses(&raw).remove(0);
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

#[test]
fn each_call_is_one_exact_line_with_redacted_values() {
    let node = Daemon::start("").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let front = Daemon::start(&format!(
        r#"
[upstreams.edge1]
udp = "{}"
[front]
upstream = "edge1"
[audit]
file = "{}"
redact = ["cache_store:2", "cache_*:password"]
[[access.tokens]]
sha256 = "{}"
role = "full"
name = "monitor"
[access]
protect = ["mi"]
"#,
        node.udp,
        audit.display(),
        hashed_secret("hash-token", "t0ken")
    ))
    .unwrap();
    let token = Some("t0ken");
    let stored = post(
        &front,
        "/mi",
        token,
        r#"{"jsonrpc":"2.0","method":"cache_store","params":["local","k","secret"],"id":1}"#,
    );
    assert_eq!(stored["result"], "OK", "{stored}");
    post(
        &front,
        "/mi/edge1",
        token,
        r#"{"jsonrpc":"2.0","method":"no_such","id":2}"#,
    );
    post(
        &front,
        "/mi",
        token,
        r#"[{"jsonrpc":"2.0","method":"miwa:uptime","id":3},{"jsonrpc":"2.0","method":"log_level","params":{"level":3}}]"#,
    );
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
        .send_to(
            br#"{"jsonrpc":"2.0","method":"cache_fetch","params":{"system":"local","attr":"k","password":"x"},"id":4}"#,
            front.udp,
        )
        .unwrap();
    let mut buffer = [0u8; 4096];
    socket.recv(&mut buffer).unwrap();
    let peer = socket.local_addr().unwrap().to_string();
    let got: Vec<Value> = lines(&audit, 5).into_iter().map(stable).collect();
    let expected = [
        json!({"transport":"http","peer":null,"identity":"token:monitor","role":"full","node":"edge1","command":"cache_store","params":["local","k","***"],"code":200}),
        json!({"transport":"http","peer":null,"identity":"token:monitor","role":"full","node":"edge1","command":"no_such","params":null,"code":-32601}),
        json!({"transport":"http","peer":null,"identity":"token:monitor","role":"full","node":null,"command":"uptime","params":null,"code":200}),
        json!({"transport":"http","peer":null,"identity":"token:monitor","role":"full","node":"edge1","command":"log_level","params":{"level":3},"code":202}),
        json!({"transport":"udp","peer":peer,"identity":null,"role":"full","node":"edge1","command":"cache_fetch","params":{"system":"local","attr":"k","password":"***"},"code":-32602}),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (line, want) in got.iter().zip(&expected) {
        let mut line = line.clone();
        let peer = line["peer"].take();
        if want["transport"] == "http" {
            assert!(
                peer.as_str().is_some_and(|p| p.starts_with("127.0.0.1:")),
                "{peer}"
            );
        } else {
            line["peer"] = peer;
        }
        let mut want = want.clone();
        if want["transport"] == "http" {
            want["peer"] = Value::Null;
        }
        assert_eq!(line, want);
    }
    let stats = post(
        &front,
        "/mi",
        token,
        r#"{"jsonrpc":"2.0","method":"miwa:get_statistics","params":[["audit:"]],"id":5}"#,
    )["result"]
        .clone();
    assert_eq!(stats["audit:lines"], 5, "{stats}");
    assert_eq!(stats["audit:dropped"], 0, "{stats}");
}

#[test]
fn sighup_reopens_the_file_for_logrotate() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let daemon = Daemon::start(&format!("\n[audit]\nfile = \"{}\"\n", audit.display())).unwrap();
    daemon.result("uptime", json!([]));
    assert_eq!(lines(&audit, 1).len(), 1);
    let rotated = dir.path().join("audit.log.1");
    std::fs::rename(&audit, &rotated).unwrap();
    Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !audit.exists() && Instant::now() < deadline {
        daemon.result("uptime", json!([]));
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.result("ps", json!([]));
    let fresh = lines_with(&audit, |l| l["command"] == "ps");
    assert!(
        fresh.iter().any(|l| l["command"] == "ps"),
        "new calls go to the new file: {fresh:?}"
    );
    assert!(lines(&rotated, 1).iter().all(|l| l["command"] != "ps"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_stalled_file_drops_lines_counts_them_and_holds_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::File::open(reader_path).unwrap());
    let daemon = Daemon::start(&format!(
        "\n[audit]\nfile = \"{}\"\nqueue = 1\n",
        fifo.display()
    ))
    .unwrap();
    let mut stalled = reader.join().unwrap();
    let padding = "x".repeat(2000);
    for i in 0..200 {
        let reply = daemon.call("cache_store", json!(["local", format!("k{i}"), padding]));
        assert_eq!(reply["result"], "OK");
    }
    let stats = daemon.result("get_statistics", json!({"statistics": ["audit:"]}));
    assert!(stats["audit:dropped"].as_u64().unwrap() > 0, "{stats}");
    assert!(daemon.logged("audit queue full"));
    let mut drained = vec![0u8; 1 << 20];
    let read = stalled.read(&mut drained).unwrap();
    assert!(read > 0);
    assert!(daemon.result("uptime", json!([])).is_object());
}

#[test]
fn parameters_of_exactly_max_params_bytes_are_logged_and_one_more_only_sized() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let daemon = Daemon::start(&format!(
        "\n[audit]\nfile = \"{}\"\nmax_params = 64\n",
        audit.display()
    ))
    .unwrap();
    let fits = json!(["a".repeat(60)]);
    let over = json!(["a".repeat(61)]);
    assert_eq!((fits.to_string().len(), over.to_string().len()), (64, 65));
    for params in [&fits, &over] {
        daemon.call("which", params.clone());
    }
    let got = lines(&audit, 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0]["params"], fits, "{}", got[0]);
    assert_eq!(
        got[1]["params"], "<65 bytes, over audit.max_params>",
        "{}",
        got[1]
    );
}
