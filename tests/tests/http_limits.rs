//! The HTTP listener's limits, each at its edge: header count, header bytes, connections,
//! requests per connection.

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
