//! JSON-RPC over WebSocket (`/ws`) with a real client library (Python `websockets`,
//! installed into tests/.venv by `make test`): the replies `/mi` gives, notifications
//! unanswered, the `/mi` credentials and roles, a foreign `Origin` refused, and the
//! message-size limit and binary frames closing the connection.

use miwa_tests::{hashed_secret, workspace, Daemon};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// Sends `frames` (JSON lines for the client) to `/ws` of `daemon` and returns what the
/// client saw, one value per frame or event.
fn ws(daemon: &Daemon, path: &str, options: &[&str], frames: &[Value]) -> Vec<Value> {
    let python = workspace().join("tests/.venv/bin/python");
    assert!(
        python.exists(),
        "`make test` installs websockets into tests/.venv"
    );
    let mut child = Command::new(python)
        .arg(workspace().join("tests/python/ws_client.py"))
        .arg(format!("ws://{}{path}", daemon.http))
        .args(options)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for frame in frames {
        writeln!(stdin, "{frame}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Opens `/ws` by hand with the RFC 6455 sample key and returns the stream, its `101`
/// head not read yet.
fn raw_upgrade(daemon: &Daemon) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(daemon.http).unwrap();
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        daemon.http
    )
    .unwrap();
    stream
}

fn text(request: &str) -> Value {
    json!({ "text": request })
}

fn replies(seen: &[Value]) -> Vec<Value> {
    seen.iter()
        .filter_map(|frame| frame["text"].as_str())
        .map(|reply| serde_json::from_str(reply).unwrap())
        .collect()
}

#[test]
fn requests_batches_and_errors_get_the_replies_of_mi_and_notifications_none() {
    let daemon = Daemon::start("").unwrap();
    let requests = [
        r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#,
        r#"{"jsonrpc":"2.0","method":"pwd"}"#,
        r#"[{"jsonrpc":"2.0","method":"pwd","id":2},{"jsonrpc":"2.0","method":"nope","id":3}]"#,
        r#"{"jsonrpc":"2.0","method":"nope","id":4}"#,
        r#"{"jsonrpc":"2.0","method""#,
    ];
    let seen = ws(
        &daemon,
        "/ws",
        &[],
        &requests.iter().map(|r| text(r)).collect::<Vec<_>>(),
    );
    assert_eq!(seen.last(), Some(&json!({"open": true})), "{seen:?}");
    let expected: Vec<Value> = requests.iter().filter_map(|r| daemon.rpc(r).ok()).collect();
    assert_eq!(
        expected.len(),
        4,
        "the notification has no reply over /mi either"
    );
    assert_eq!(replies(&seen), expected);
    assert_eq!(replies(&seen)[3]["error"]["code"], -32700);
}

#[test]
fn binary_frames_and_messages_over_ws_max_message_close_the_connection() {
    let daemon = Daemon::start("ws_max_message = 1024\n").unwrap();
    let padded = |size: usize| {
        let head = r#"{"jsonrpc":"2.0","method":"pwd","id":1,"pad":""#;
        let tail = r#""}"#;
        format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()))
    };
    let at_limit = ws(&daemon, "/ws", &[], &[text(&padded(1024))]);
    assert!(
        at_limit[0]["text"].as_str().unwrap().contains("WD"),
        "{at_limit:?}"
    );
    let over = ws(&daemon, "/ws", &[], &[text(&padded(1025))]);
    assert_eq!(over, [json!({"closed": 1009})]);
    let binary = ws(&daemon, "/ws", &[], &[json!({"binary": "{}"})]);
    assert_eq!(binary, [json!({"closed": 1003})]);
    assert!(daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)
        .is_ok());
}

#[test]
fn a_page_of_another_origin_is_refused() {
    let daemon = Daemon::start("").unwrap();
    let foreign = ws(&daemon, "/ws", &["--origin", "http://evil.example"], &[]);
    assert_eq!(foreign, [json!({"refused": 403})]);
    let own = format!("http://{}", daemon.http);
    let same = ws(
        &daemon,
        "/ws",
        &["--origin", &own],
        &[text(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)],
    );
    assert!(same[0]["text"].is_string(), "{same:?}");
}

#[test]
fn the_credentials_and_roles_of_mi_apply() {
    let daemon = Daemon::start(&format!(
        "[access]\nprotect = [\"mi\"]\n[access.roles.readonly]\nallow = [\"uptime\"]\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"readonly\"\n",
        hashed_secret("hash-token", "reader-token")
    ))
    .unwrap();
    let uptime = text(r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#);
    let pwd = text(r#"{"jsonrpc":"2.0","method":"pwd","id":2}"#);
    assert_eq!(ws(&daemon, "/ws", &[], &[]), [json!({"refused": 401})]);
    assert_eq!(
        ws(
            &daemon,
            "/ws",
            &["--header", "Authorization:Bearer wrong"],
            &[]
        ),
        [json!({"refused": 401})]
    );
    let seen = ws(
        &daemon,
        "/ws",
        &["--header", "Authorization:Bearer reader-token"],
        &[uptime, pwd],
    );
    let replies = replies(&seen);
    assert!(replies[0]["result"]["Up time"].is_string(), "{replies:?}");
    assert_eq!(replies[1]["error"]["code"], 403, "{replies:?}");
}

#[test]
fn a_silent_connection_is_pinged_then_closed_after_two_ws_ping_ms() {
    use std::io::Read;
    let daemon = Daemon::start("ws_ping_ms = 100\n").unwrap();
    let mut stream = raw_upgrade(&daemon);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(e) => panic!("the daemon did not close a silent connection: {e}"),
        }
    }
    let took = started.elapsed();
    let head = String::from_utf8_lossy(&seen);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "the RFC 6455 accept key: {head}"
    );
    assert!(
        seen.windows(2).any(|w| w == [0x89, 0x00]),
        "pinged before being closed"
    );
    assert!(
        took >= std::time::Duration::from_millis(200) && took < std::time::Duration::from_secs(2),
        "{took:?}"
    );
    assert!(daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)
        .is_ok());
}

#[test]
fn websocket_limits_out_of_range_stop_the_start_naming_the_key() {
    for (keys, key) in [
        ("ws_max_message = 1023\n", "http.ws_max_message"),
        ("ws_ping_ms = 99\n", "http.ws_ping_ms"),
        ("ws_max_connections = 0\n", "http.ws_max_connections"),
    ] {
        let error = Daemon::start(keys).err().expect("refused").to_string();
        assert!(error.contains(key), "{keys}: {error}");
    }
    let lowest = "ws_max_message = 1024\nws_ping_ms = 100\nws_max_connections = 1\n";
    assert!(
        Daemon::start(lowest).is_ok(),
        "the lowest accepted values start"
    );
}

#[test]
fn connections_past_ws_max_connections_are_refused_503() {
    let daemon = Daemon::start("ws_max_connections = 1\n").unwrap();
    let mut held = raw_upgrade(&daemon);
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut held, &mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    let second = ws(&daemon, "/ws", &[], &[]);
    assert_eq!(second, [json!({"refused": 503})]);
    drop(held);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let third = ws(
        &daemon,
        "/ws",
        &[],
        &[text(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)],
    );
    assert!(third[0]["text"].is_string(), "{third:?}");
}
