//! Revocation without a restart: a SIGHUP re-reads `[access]`. A user removed, a token's
//! role changed, a role narrowed take effect at once, also for the WebSocket and the event
//! stream opened with the credentials before (closed: policy violation, or the stream
//! ended); what did not change keeps working; an invalid section keeps the rules in use.

use miwa_tests::{hashed_secret, Daemon};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn basic(user: &str, password: &str) -> String {
    let value = miwa_client::credentials::basic(user, Some(password)).unwrap();
    value.to_str().unwrap().to_string()
}

/// The credentials' hashes, made once (a password hashed again is another hash: a
/// changed entry).
struct Hashes {
    ops: String,
    bob: String,
    monitor: String,
}

/// The `[access]` section: users `ops` and (when `with_bob`) `bob`, a token of role
/// `reader`, whose commands are `reader_allows`.
fn access(hashes: &Hashes, with_bob: bool, reader_allows: &str) -> String {
    let bob = match with_bob {
        true => format!(
            "[[access.users]]\nname = \"bob\"\npassword = \"{}\"\nrole = \"full\"\n",
            hashes.bob
        ),
        false => String::new(),
    };
    format!(
        "[access]\nprotect = [\"mi\"]\n[access.roles.reader]\nallow = [{reader_allows}]\n[[access.users]]\nname = \"ops\"\npassword = \"{}\"\nrole = \"full\"\n{bob}[[access.tokens]]\nsha256 = \"{}\"\nrole = \"reader\"\nname = \"monitor\"\n",
        hashes.ops, hashes.monitor,
    )
}

/// The status and reply of `method` over `/mi` with `authorization`.
fn call(daemon: &Daemon, authorization: &str, method: &str) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "method": method, "id": 1}).to_string();
    let raw = format!(
        "POST /mi HTTP/1.1\r\nHost: localhost\r\nAuthorization: {authorization}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let bytes = miwa_tests::exchange(daemon.http, raw.as_bytes(), Duration::from_secs(2)).unwrap();
    let response = miwa_tests::parse_responses(&bytes)
        .into_iter()
        .next()
        .unwrap();
    let reply = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, reply)
}

/// Replaces the daemon's `[access]` section with `section`, sends SIGHUP, and waits for
/// the log to say `said` (once more than before).
fn reload(daemon: &Daemon, old: &str, section: &str, said: &str) {
    let before = daemon.log().matches(said).count();
    let config = std::fs::read_to_string(daemon.config_path()).unwrap();
    assert!(config.contains(old));
    std::fs::write(daemon.config_path(), config.replace(old, section)).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while daemon.log().matches(said).count() == before {
        assert!(Instant::now() < deadline, "no `{said}` in the log");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A WebSocket client (Python `websockets`) on `/ws` with `authorization` (none
/// without), sending `uptime` at once; its output lines.
fn websocket(
    daemon: &Daemon,
    authorization: Option<&str>,
) -> (std::process::Child, impl Iterator<Item = Value>) {
    let header = authorization.map(|a| format!("Authorization:{a}"));
    let mut child = miwa_tests::python_client("ws_client.py")
        .arg(format!("ws://{}/ws", daemon.http))
        .args(header.iter().flat_map(|h| ["--header", h.as_str()]))
        .args(["--wait", "30"])
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let uptime = json!({"jsonrpc": "2.0", "method": "uptime", "id": 1}).to_string();
    writeln!(stdin, "{}", json!({ "text": uptime })).unwrap();
    drop(stdin);
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|line| serde_json::from_str(&line.unwrap()).unwrap());
    (child, lines)
}

/// An event stream (curl) on `/events` with `authorization`, once it said it subscribed.
fn event_stream(daemon: &Daemon, authorization: &str) -> std::process::Child {
    let mut child = Command::new("curl")
        .args(["-sN", "-H", &format!("Authorization: {authorization}")])
        .arg(format!(
            "http://{}/events?subscribe=E_CORE_THRESHOLD",
            daemon.http
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 13];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first, b": subscribed\n");
    child
}

/// Whether `child` ends within `limit`.
fn ends_within(child: &mut std::process::Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_sighup_revokes_removed_and_changed_credentials_at_once() {
    let hashes = Hashes {
        ops: hashed_secret("hash-password", "ops-password"),
        bob: hashed_secret("hash-password", "bob-password"),
        monitor: hashed_secret("hash-token", "monitor-token"),
    };
    let first = access(&hashes, true, "\"ps\", \"uptime\"");
    let daemon = Daemon::start(&format!("[events]\n{first}")).unwrap();
    let (bob, ops, monitor) = (
        basic("bob", "bob-password"),
        basic("ops", "ops-password"),
        "Bearer monitor-token",
    );
    assert_eq!(call(&daemon, &bob, "ps").0, 200);
    assert_eq!(call(&daemon, monitor, "ps").0, 200);
    // Connections opened before the reload, by bob and by ops.
    let (mut bob_ws, mut bob_seen) = websocket(&daemon, Some(&bob));
    let (mut ops_ws, mut ops_seen) = websocket(&daemon, Some(&ops));
    for seen in [&mut bob_seen, &mut ops_seen] {
        let reply = seen.next().unwrap();
        assert!(
            reply["text"].as_str().unwrap().contains("Up time"),
            "{reply}"
        );
    }
    let mut bob_stream = event_stream(&daemon, &bob);
    let mut ops_stream = event_stream(&daemon, &ops);

    // bob goes, the token's role narrows to uptime.
    let second = access(&hashes, false, "\"uptime\"");
    reload(&daemon, &first, &second, "access reloaded on SIGHUP");
    assert_eq!(call(&daemon, &bob, "ps").0, 401, "bob is gone at once");
    let (status, refused) = call(&daemon, monitor, "ps");
    assert_eq!(
        (status, refused["error"]["code"].clone()),
        (200, json!(403))
    );
    assert_eq!(call(&daemon, &ops, "ps").0, 200, "ops did not change");
    assert_eq!(
        bob_seen.next(),
        Some(json!({"closed": 1008})),
        "bob's WebSocket is closed"
    );
    assert!(
        ends_within(&mut bob_stream, Duration::from_secs(5)),
        "bob's event stream ends"
    );
    assert!(
        !ends_within(&mut ops_stream, Duration::from_millis(500)),
        "ops's stream goes on: {}",
        daemon.log()
    );
    let _ = bob_ws.wait();
    // Only bob's connections were closed.
    let log = daemon.log();
    assert_eq!(
        log.matches("websocket closed: its credentials").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("event stream closed: its credentials").count(),
        1,
        "{log}"
    );
    assert!(!ends_within(&mut ops_ws, Duration::from_millis(100)));

    // An invalid section (a user of an unknown role) is refused; the rules in use stay.
    let third = second.replace("role = \"full\"", "role = \"nobody\"");
    reload(
        &daemon,
        &second,
        &third,
        "the access rules and nodes in use stay",
    );
    assert_eq!(call(&daemon, &ops, "ps").0, 200);
    assert_eq!(call(&daemon, &bob, "ps").0, 401);
    assert!(!ends_within(&mut ops_stream, Duration::from_millis(200)));
    ops_stream.kill().unwrap();
    ops_ws.kill().unwrap();
}

/// Runs MCP `steps` (tests/python/mcp_client.py, the official SDK, protocol revision with
/// sessions) as `authorization`: one answer per step.
fn mcp(daemon: &Daemon, authorization: &str, steps: &[Value]) -> Vec<Value> {
    let mut child = miwa_tests::python_client("mcp_client.py")
        .args(["--url", &format!("http://{}/mcp", daemon.http)])
        .args(["--header", &format!("Authorization: {authorization}")])
        .args(["--mode", "legacy"])
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for step in steps {
        writeln!(stdin, "{step}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A command line that puts `config` in the daemon's configuration file and sends SIGHUP.
fn reload_trigger(daemon: &Daemon, dir: &std::path::Path, name: &str, config: &str) -> Value {
    let staged = dir.join(name);
    std::fs::write(&staged, config).unwrap();
    json!([
        "sh",
        "-c",
        format!(
            "cp {} {} && kill -HUP {}",
            staged.display(),
            daemon.config_path().display(),
            daemon.pid()
        )
    ])
}

#[test]
fn mcp_sessions_follow_a_reload_of_the_access_rules() {
    let hashes = Hashes {
        ops: hashed_secret("hash-password", "ops-password"),
        bob: hashed_secret("hash-password", "bob-password"),
        monitor: hashed_secret("hash-token", "monitor-token"),
    };
    let first = access(&hashes, true, "\"ps\", \"uptime\"");
    let daemon = Daemon::start(&first).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(daemon.config_path()).unwrap();
    let narrowed = config.replace(&first, &access(&hashes, true, "\"uptime\""));
    let without_bob = config.replace(&first, &access(&hashes, false, "\"uptime\""));
    // The token's role narrows: its session is told the tools changed, and sees one.
    let monitor = mcp(
        &daemon,
        "Bearer monitor-token",
        &[
            json!({"op": "list"}),
            json!({"op": "watch_tools", "trigger": reload_trigger(&daemon, dir.path(), "narrowed.toml", &narrowed), "timeout": 10}),
            json!({"op": "call", "tool": "ps"}),
        ],
    );
    assert_eq!(
        monitor[0]["tools"].as_array().unwrap().len(),
        3,
        "ps, uptime, whoami: {}",
        monitor[0]
    );
    assert_eq!(monitor[1], json!({"changed": true, "tools": 2}));
    assert_eq!(monitor[2]["error"]["code"], -32602, "{}", monitor[2]);
    // bob is removed: his session is closed, and nothing more runs in it.
    let bob = basic("bob", "bob-password");
    let answers = mcp(
        &daemon,
        &bob,
        &[
            json!({"op": "call", "tool": "uptime"}),
            json!({"op": "watch_tools", "trigger": reload_trigger(&daemon, dir.path(), "without-bob.toml", &without_bob), "timeout": 3}),
            json!({"op": "call", "tool": "uptime"}),
        ],
    );
    assert_eq!(answers[0]["is_error"], false, "{}", answers[0]);
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers[2]["error"]["code"].is_i64() && answers[2]["structured"].is_null(),
        "nothing runs for bob after the reload: {answers:?}"
    );
    assert!(daemon.logged("MCP session closed: its credentials are no longer granted"));
}

#[test]
fn a_websocket_without_credentials_is_closed_once_a_reload_protects_its_route() {
    let token = hashed_secret("hash-token", "monitor-token");
    let open = format!(
        "[access]\nprotect = [\"metrics\"]\n[[access.tokens]]\nsha256 = \"{token}\"\nrole = \"full\"\n"
    );
    let daemon = Daemon::start(&open).unwrap();
    let (mut child, mut seen) = websocket(&daemon, None);
    let reply = seen.next().unwrap();
    assert!(
        reply["text"].as_str().unwrap().contains("Up time"),
        "{reply}"
    );
    let protected = open.replace("protect = [\"metrics\"]", "protect = [\"mi\"]");
    reload(&daemon, &open, &protected, "access reloaded on SIGHUP");
    assert_eq!(seen.next(), Some(json!({"closed": 1008})));
    let _ = child.wait();
}
