//! Server-Sent Events (`GET /events?subscribe=…`) read with curl: the notification datagram
//! subscribers get, as a `data:` message; pings; the subscriptions listed while the stream
//! is open and gone with it; the `/mi` credentials and roles; refusals and limits; a client
//! that stops reading let go.

use miwa_tests::{hashed_secret, Daemon};
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `curl --no-buffer` reading a stream, its output read line by line.
struct Curl {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Curl {
    fn start(daemon: &Daemon, query: &str, headers: &[&str]) -> Curl {
        let mut command = Command::new("curl");
        command
            .args(["--silent", "--no-buffer"])
            .arg(format!("http://{}/events?{query}", daemon.http));
        for header in headers {
            command.args(["--header", header]);
        }
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Curl { child, lines }
    }

    /// The next non-empty line of the stream.
    fn line(&mut self) -> String {
        loop {
            let line = self.lines.next().expect("the stream ended").unwrap();
            if !line.is_empty() {
                return line;
            }
        }
    }
}

impl Drop for Curl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status and body of a request that does not open a stream.
fn refused(daemon: &Daemon, query: &str, headers: &[&str]) -> (u16, String) {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--write-out", "\n%{http_code}"])
        .arg(format!("http://{}/events?{query}", daemon.http));
    for header in headers {
        command.args(["--header", header]);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stream_carries_the_datagram_notification_and_ends_its_subscriptions() {
    let daemon =
        Daemon::start("sse_ping_ms = 200\n[events]\nthreshold_ms = 0\nmax_per_channel = 2\n")
            .unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let udp_socket = format!("udp:{}", udp.local_addr().unwrap());
    daemon.result(
        "event_subscribe",
        json!(["E_CORE_THRESHOLD", udp_socket, 60]),
    );

    let mut stream = Curl::start(&daemon, "subscribe=E_CORE_THRESHOLD,E_CORE_LOG", &[]);
    assert_eq!(stream.line(), ": subscribed");
    let own = daemon
        .subscribers("E_CORE_THRESHOLD")
        .into_iter()
        .find(|s| s.starts_with("sse:"))
        .expect("the stream's subscription is listed");
    assert_eq!(daemon.subscribers("E_CORE_LOG"), [own]);

    daemon.result("raise_event", json!(["E_CORE_THRESHOLD", ["over sse", 9]]));
    let mut datagram = [0u8; 2048];
    let n = udp.recv(&mut datagram).unwrap();
    let expected = format!("data: {}", std::str::from_utf8(&datagram[..n]).unwrap());
    let mut seen = stream.line();
    while seen == ": ping" {
        seen = stream.line();
    }
    assert_eq!(seen, expected);
    let mut pings = 0;
    while pings < 2 {
        if stream.line() == ": ping" {
            pings += 1;
        }
    }

    drop(stream);
    wait_until("the subscriptions did not end with the stream", || {
        daemon.subscribers("E_CORE_THRESHOLD") == [udp_socket.clone()]
            && daemon.subscribers("E_CORE_LOG").is_empty()
    });
    assert!(daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)
        .is_ok());
}

#[test]
fn refusals_have_their_status_and_a_json_body() {
    let daemon = Daemon::start(&format!(
        "sse_max_streams = 1\n[events]\nmax_per_channel = 1\n[access]\nprotect = [\"mi\"]\n[access.roles.watcher]\nallow = [\"event_subscribe\", \"subscribers_list\"]\n[access.roles.reader]\nallow = [\"uptime\"]\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"watcher\"\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"reader\"\n",
        hashed_secret("hash-token", "watcher-token"),
        hashed_secret("hash-token", "reader-token")
    ))
    .unwrap();
    let watcher = "Authorization: Bearer watcher-token";
    let reader = "Authorization: Bearer reader-token";
    assert_eq!(refused(&daemon, "subscribe=E_CORE_LOG", &[]).0, 401);
    let (status, body) = refused(&daemon, "subscribe=E_CORE_LOG", &[reader]);
    assert_eq!(status, 403, "a role that may not subscribe: {body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"]["code"],
        403
    );
    assert_eq!(refused(&daemon, "other=1", &[watcher]).0, 400);
    assert_eq!(refused(&daemon, "subscribe=E_NOPE", &[watcher]).0, 400);
    let (status, body) = refused(&daemon, "subscribe=E_CORE_LOG,E_CORE_THRESHOLD", &[watcher]);
    assert_eq!(status, 503, "past events.max_per_channel: {body}");
    let listed = || {
        let output = Command::new("curl")
            .args([
                "--silent",
                "--header",
                watcher,
                "--header",
                "Content-Type: application/json",
            ])
            .args([
                "--data",
                r#"{"jsonrpc":"2.0","method":"subscribers_list","id":1}"#,
            ])
            .arg(daemon.url())
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(listed().contains(r#""result""#), "{}", listed());
    wait_until("the refused stream's channel was not let go", || {
        !listed().contains("sse:")
    });

    let mut open = Curl::start(&daemon, "subscribe=E_CORE_LOG", &[watcher]);
    assert_eq!(open.line(), ": subscribed");
    let (status, _) = refused(&daemon, "subscribe=E_CORE_LOG", &[watcher]);
    assert_eq!(status, 503, "past http.sse_max_streams");
}

#[test]
fn a_client_that_stops_reading_is_let_go_after_conn_timeout() {
    let daemon =
        Daemon::start("conn_timeout = 1\nsse_ping_ms = 200\n[events]\nthreshold_ms = 0\n").unwrap();
    let mut stalled = TcpStream::connect(daemon.http).unwrap();
    write!(
        stalled,
        "GET /events?subscribe=E_CORE_THRESHOLD HTTP/1.1\r\nHost: {}\r\n\r\n",
        daemon.http
    )
    .unwrap();
    let mut head = [0u8; 12];
    stalled.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    wait_until("the stream never subscribed", || {
        !daemon.subscribers("E_CORE_THRESHOLD").is_empty()
    });
    let padding = "x".repeat(2000);
    let batch: Vec<serde_json::Value> = (0..500)
        .map(|n| json!({"jsonrpc": "2.0", "method": "raise_event", "params": ["E_CORE_THRESHOLD", [n, padding]], "id": n}))
        .collect();
    let body = serde_json::Value::Array(batch).to_string();
    let started = Instant::now();
    while !daemon.subscribers("E_CORE_THRESHOLD").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "a stream nobody reads was never let go"
        );
        daemon.post(&body).unwrap();
    }
    let stats = daemon.result("get_statistics", json!([["events:"]]));
    assert!(
        stats["events:E_CORE_THRESHOLD_dropped"].as_u64().unwrap() > 0,
        "{stats}"
    );
    println!(
        "a stalled event stream was closed {:?} after the flood began",
        started.elapsed()
    );
}

#[test]
fn event_stream_limits_out_of_range_stop_the_start_naming_the_key() {
    for (keys, key) in [
        ("sse_ping_ms = 99\n", "http.sse_ping_ms"),
        (
            "sse_ping_ms = 600001\nconn_timeout = 0\n",
            "http.sse_ping_ms",
        ),
        ("sse_max_streams = 0\n", "http.sse_max_streams"),
        ("sse_max_streams = 100001\n", "http.sse_max_streams"),
    ] {
        let error = Daemon::start(keys).err().expect("refused").to_string();
        assert!(error.contains(key), "{keys}: {error}");
    }
    assert!(
        Daemon::start("conn_timeout = 1\nsse_ping_ms = 600000\nsse_max_streams = 100000\n").is_ok()
    );
    assert!(Daemon::start("conn_timeout = 0\nsse_ping_ms = 600000\nsse_max_streams = 1\n").is_ok());
}

#[test]
fn a_stream_the_client_reads_outlives_conn_timeout_whatever_sse_ping_ms() {
    let daemon = Daemon::start("conn_timeout = 1\nsse_ping_ms = 600000\n").unwrap();
    let mut stream = Curl::start(&daemon, "subscribe=E_CORE_LOG", &[]);
    assert_eq!(stream.line(), ": subscribed");
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(stream.line(), ": ping", "pinged at half of conn_timeout");
        pings += 1;
    }
    assert!(pings >= 4, "{pings} pings in {:?}", started.elapsed());
    assert_eq!(
        daemon.subscribers("E_CORE_LOG").len(),
        1,
        "still subscribed"
    );
}

#[test]
fn a_stream_works_with_the_audit_log_on() {
    let audit = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&format!(
        "\n[audit]\nfile = \"{}\"\n",
        audit.path().join("audit.log").display()
    ))
    .unwrap();
    let mut stream = Curl::start(&daemon, "subscribe=E_CORE_THRESHOLD", &[]);
    assert_eq!(stream.line(), ": subscribed");
    daemon.result("raise_event", json!(["E_CORE_THRESHOLD", ["audited"]]));
    let mut seen = stream.line();
    while seen == ": ping" {
        seen = stream.line();
    }
    assert!(seen.contains("\"params\":[\"audited\"]"), "{seen}");
}
