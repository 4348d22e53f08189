//! The HTTP listener's limits, each at its edge: header count, header bytes, connections,
//! requests per connection, and one client's share of connections, WebSockets and event
//! streams.

use miwa_tests::{exchange, parse_responses, read_until_quiet, Daemon};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const BODY: &str = r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#;

fn post_with(daemon: &Daemon, extra_headers: &str) -> u16 {
    let request = format!(
        "POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n{BODY}",
        BODY.len()
    );
    let raw = exchange(daemon.http, request.as_bytes(), Duration::from_millis(500)).unwrap();
    parse_responses(&raw).first().map_or(0, |r| r.status)
}

/// A bodiless request (nothing left unread when the server refuses the head and closes).
fn get_with(daemon: &Daemon, extra_headers: &str) -> u16 {
    let request = format!(
        "GET /html/core HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra_headers}\r\n"
    );
    let raw = exchange(daemon.http, request.as_bytes(), Duration::from_millis(500)).unwrap();
    parse_responses(&raw).first().map_or(0, |r| r.status)
}

#[test]
fn header_count_and_size_limits() {
    let daemon = Daemon::start("max_headers = 5\nmax_header_bytes = 8192").unwrap();
    assert_eq!(
        get_with(&daemon, "X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n"),
        200,
        "5 fields"
    );
    assert_eq!(
        get_with(&daemon, "X-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-D: 4\r\n"),
        431,
        "6 fields"
    );
    assert_eq!(
        get_with(&daemon, &format!("X-Big: {}\r\n", "a".repeat(6000))),
        200
    );
    assert_eq!(
        get_with(&daemon, &format!("X-Big: {}\r\n", "a".repeat(9000))),
        431
    );
}

#[test]
fn connections_beyond_the_limit_are_refused() {
    let daemon = Daemon::start("max_connections = 2").unwrap();
    let first = TcpStream::connect(daemon.http).unwrap();
    let _second = TcpStream::connect(daemon.http).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut third = TcpStream::connect(daemon.http).unwrap();
    let refused = read_until_quiet(&mut third, Duration::from_millis(500)).unwrap();
    assert!(
        String::from_utf8_lossy(&refused).starts_with("HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while post_with(&daemon, "Connection: close\r\n") != 200 {
        assert!(Instant::now() < deadline, "a freed slot serves again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_connection_closes_after_its_request_limit() {
    let daemon = Daemon::start("max_requests_per_connection = 3").unwrap();
    let mut stream = TcpStream::connect(daemon.http).unwrap();
    let one = format!(
        "POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    stream.write_all(one.repeat(3).as_bytes()).unwrap();
    let raw = read_until_quiet(&mut stream, Duration::from_millis(800)).unwrap();
    let responses = parse_responses(&raw);
    assert_eq!(responses.len(), 3);
    assert!(responses.iter().all(|r| r.status == 200));
    assert_eq!(responses[1].header("connection"), None);
    assert_eq!(responses[2].header("connection"), Some("close"));
    let mut rest = [0u8; 16];
    let after = std::io::Read::read(&mut stream, &mut rest);
    assert!(
        matches!(after, Ok(0) | Err(_)),
        "the connection is closed: {after:?}"
    );
}

/// Opens `count` idle connections to `daemon` from the local address `from`, with Python
/// (the tests' own sockets cannot choose their source address); they stay open while the
/// returned child lives. Prints `ready <accepted> <refused>` once all are open.
fn idle_connections(daemon: &Daemon, from: &str, count: usize) -> std::process::Child {
    let script = format!(
        r#"
import socket, sys, time
held, refused = [], 0
for _ in range({count}):
    s = socket.socket()
    s.bind(("{from}", 0))
    s.connect(("{ip}", {port}))
    s.settimeout(0.3)
    try:
        if s.recv(12).startswith(b"HTTP/1.1 503"):
            refused += 1
            s.close()
            continue
    except socket.timeout:
        pass
    held.append(s)
print("ready", len(held), refused, flush=True)
time.sleep(60)
"#,
        ip = daemon.http.ip(),
        port = daemon.http.port()
    );
    std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs")
}

#[test]
fn one_client_holds_only_its_share_of_connections() {
    let daemon = Daemon::start("max_connections = 16\nmax_connections_per_client = 4\n").unwrap();
    let mut hog = idle_connections(&daemon, "127.0.0.2", 10);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(hog.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        "ready 4 6",
        "the hog holds its 4, the rest are refused 503"
    );
    miwa_tests::uptime_everywhere(&daemon, std::time::Duration::from_millis(100))
        .expect("another client is served at once, on every transport");
    let over_udp = miwa_tests::udp_exchange(
        daemon.udp,
        br#"{"jsonrpc":"2.0","method":"get_statistics","params":[["mi_http:"]],"id":1}"#,
        std::time::Duration::from_secs(5),
    )
    .unwrap()
    .expect("a reply");
    let stats: serde_json::Value = serde_json::from_slice(&over_udp).unwrap();
    assert_eq!(stats["result"]["mi_http:refused_per_client"], 6, "{stats}");
    let _ = hog.kill();
    let _ = hog.wait();
    for (keys, key) in [
        (
            "max_connections_per_client = 0\n",
            "http.max_connections_per_client",
        ),
        (
            "max_connections_per_client = 100001\n",
            "http.max_connections_per_client",
        ),
        ("client_prefix_v4 = 7\n", "http.client_prefix_v4"),
        ("client_prefix_v4 = 33\n", "http.client_prefix_v4"),
        ("client_prefix_v6 = 15\n", "http.client_prefix_v6"),
        ("client_prefix_v6 = 129\n", "http.client_prefix_v6"),
    ] {
        let error = format!("{:#}", Daemon::start(keys).err().expect("refused"));
        assert!(error.contains(key), "{keys}: {error}");
    }
    assert!(Daemon::start(
        "max_connections_per_client = 1\nclient_prefix_v4 = 8\nclient_prefix_v6 = 16\n"
    )
    .is_ok());
}

/// Opens `count` WebSockets and `count` event streams from address `from` (a Python
/// child holding them); its first line lists the status of each, WebSockets first.
fn streams_from(daemon: &Daemon, from: &str, count: usize) -> (std::process::Child, String) {
    let script = format!(
        r#"
import socket, time
held, statuses = [], []
requests = [b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"] * {count}
requests += [b"GET /events?subscribe=E_CORE_THRESHOLD HTTP/1.1\r\nHost: localhost\r\n\r\n"] * {count}
for request in requests:
    s = socket.socket()
    s.bind(("{from}", 0))
    s.connect(("{ip}", {port}))
    s.sendall(request)
    statuses.append(s.recv(12)[9:12].decode())
    held.append(s)
print(" ".join(statuses), flush=True)
time.sleep(60)
"#,
        ip = daemon.http.ip(),
        port = daemon.http.port()
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    (child, line.trim().to_string())
}

#[test]
fn one_client_holds_only_its_share_of_websockets_and_event_streams() {
    let daemon =
        Daemon::start("ws_connections_per_client = 2\nsse_streams_per_client = 2\n").unwrap();
    let (mut hog, statuses) = streams_from(&daemon, "127.0.0.2", 3);
    assert_eq!(statuses, "101 101 503 200 200 503");
    let (mut other, statuses) = streams_from(&daemon, "127.0.0.1", 2);
    assert_eq!(
        statuses, "101 101 200 200",
        "another client gets its own share"
    );
    miwa_tests::uptime_everywhere(&daemon, Duration::from_millis(100))
        .expect("uptime while the hog holds its share");
    for child in [&mut hog, &mut other] {
        let _ = child.kill();
        let _ = child.wait();
    }
    for key in ["ws_connections_per_client", "sse_streams_per_client"] {
        for value in [0, 100_001] {
            let keys = format!("{key} = {value}\n");
            let error = format!("{:#}", Daemon::start(&keys).err().expect("refused"));
            assert!(error.contains(&format!("http.{key}")), "{keys}: {error}");
        }
    }
    assert!(Daemon::start("ws_connections_per_client = 1\nsse_streams_per_client = 1\n").is_ok());
}
