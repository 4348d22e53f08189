//! JSON-RPC over WebSocket (`/ws`) with a real client library (Python `websockets`,
//! installed into tests/.venv by `make test`): the replies `/mi` gives, notifications
//! unanswered, the `/mi` credentials and roles, a foreign `Origin` refused, and the
//! message-size limit and binary frames closing the connection.

use miwa_tests::{hashed_secret, Daemon};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running `ws_client.py` connected to `/ws` of a daemon, its output read line by line.
struct WsClient {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl WsClient {
    /// Connects with `options` and sends `frames` (JSON lines for the client).
    fn start(daemon: &Daemon, path: &str, options: &[&str], frames: &[Value]) -> WsClient {
        let mut child = miwa_tests::python_client("ws_client.py")
            .arg(format!("ws://{}{path}", daemon.http))
            .args(options)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for frame in frames {
            writeln!(stdin, "{frame}").unwrap();
        }
        drop(stdin);
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        WsClient { child, lines }
    }

    /// The next thing the client saw.
    fn next(&mut self) -> Value {
        let line = self.lines.next().expect("the client ended early").unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// Everything else the client saw, once it has ended.
    fn finish(mut self) -> Vec<Value> {
        let rest: Vec<Value> = self
            .lines
            .by_ref()
            .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
            .collect();
        assert!(self.child.wait().unwrap().success(), "the client failed");
        rest
    }
}

/// Sends `frames` to `/ws` of `daemon` and returns what the client saw, one value per
/// frame or event.
fn ws(daemon: &Daemon, path: &str, options: &[&str], frames: &[Value]) -> Vec<Value> {
    WsClient::start(daemon, path, options, frames).finish()
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
        ("[events]\nmax_per_channel = 0\n", "events.max_per_channel"),
        (
            "[events]\nmax_per_channel = 4097\n",
            "events.max_per_channel",
        ),
    ] {
        let error = Daemon::start(keys).err().expect("refused").to_string();
        assert!(error.contains(key), "{keys}: {error}");
    }
    let lowest = "ws_max_message = 1024\nws_ping_ms = 100\nws_max_connections = 1\n[events]\nmax_per_channel = 1\n";
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
    held.read_exact(&mut head).unwrap();
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

fn request(id: u64, method: &str, params: Value) -> Value {
    text(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string())
}

#[test]
fn an_event_arrives_on_the_subscribed_connection_as_datagram_subscribers_get_it() {
    let daemon = Daemon::start("\n[events]\nthreshold_ms = 0\n").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let udp_socket = format!("udp:{}", udp.local_addr().unwrap());
    daemon.result(
        "event_subscribe",
        json!(["E_CORE_THRESHOLD", udp_socket, 60]),
    );
    assert_eq!(
        daemon.call("event_subscribe", json!(["E_CORE_THRESHOLD", "ws:", 60]))["error"]["code"],
        400,
        "a request over /mi has no connection to push to"
    );

    let mut client = WsClient::start(
        &daemon,
        "/ws",
        &[],
        &[
            request(1, "event_subscribe", json!(["E_CORE_THRESHOLD", "ws:", 60])),
            request(2, "event_subscribe", json!(["E_CORE_LOG", "ws:999999", 60])),
            request(
                3,
                "raise_event",
                json!(["E_CORE_THRESHOLD", ["from ws", 7]]),
            ),
            request(4, "subscribers_list", json!(["E_CORE_THRESHOLD"])),
        ],
    );
    let mut frames = Vec::new();
    while frames.len() < 5 {
        frames.push(client.next()["text"].as_str().unwrap().to_string());
    }
    let (notifications, replies): (Vec<&String>, Vec<&String>) =
        frames.iter().partition(|f| !f.contains(r#""id""#));
    let mut datagram = [0u8; 2048];
    let n = udp.recv(&mut datagram).unwrap();
    assert_eq!(
        notifications,
        [std::str::from_utf8(&datagram[..n]).unwrap()],
        "the frame is the datagram"
    );
    let replies: Vec<Value> = replies
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    assert_eq!(replies[0]["result"], "OK");
    assert_eq!(
        replies[1]["error"]["code"], 400,
        "another connection's channel is refused"
    );
    assert_eq!(replies[2]["result"], "OK");
    let listed = replies[3]["result"].to_string();
    let own = daemon
        .subscribers("E_CORE_THRESHOLD")
        .into_iter()
        .find(|s| s.starts_with("ws:"))
        .expect("listed over /mi too");
    assert!(
        own[3..].parse::<u64>().is_ok() && listed.contains(&own),
        "{own} in {listed}"
    );

    client.finish();
    let deadline = Instant::now() + Duration::from_secs(5);
    while daemon.subscribers("E_CORE_THRESHOLD") != [udp_socket.clone()] {
        assert!(
            Instant::now() < deadline,
            "the subscription did not end with the connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn subscriptions_past_events_max_per_channel_are_refused_503() {
    let daemon = Daemon::start("\n[events]\nmax_per_channel = 2\n").unwrap();
    let events = ["E_CORE_THRESHOLD", "E_CORE_LOG", "E_MODULE_LOADED"];
    let frames: Vec<Value> = events
        .iter()
        .zip(1..)
        .map(|(event, id)| request(id, "event_subscribe", json!([event, "ws:", 60])))
        .collect();
    let replies = replies(&ws(&daemon, "/ws", &[], &frames));
    assert_eq!(replies[0]["result"], "OK");
    assert_eq!(replies[1]["result"], "OK");
    assert_eq!(replies[2]["error"]["code"], 503, "{replies:?}");
    assert!(replies[2]["error"]["data"]
        .as_str()
        .unwrap()
        .contains("events.max_per_channel"));
}

/// Writes one masked text frame, as a client must (RFC 6455 5.3).
fn send_text_frame(stream: &mut std::net::TcpStream, payload: &[u8]) {
    let mask = [0x1f, 0x2e, 0x3d, 0x4c];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    stream.write_all(&frame).unwrap();
}

/// The `event_subscribers:` statistic `name` of the subscription of `event` on `socket`,
/// if that subscription exists.
fn subscriber_statistic_now(daemon: &Daemon, event: &str, socket: &str, name: &str) -> Option<u64> {
    let stats = daemon.result("get_statistics", json!([["event_subscribers:"]]));
    stats[format!("event_subscribers:{event}/{socket}/{name}")].as_u64()
}

/// The same statistic, which must exist.
fn subscriber_statistic(daemon: &Daemon, event: &str, socket: &str, name: &str) -> u64 {
    subscriber_statistic_now(daemon, event, socket, name)
        .unwrap_or_else(|| panic!("no {event}/{socket}/{name}"))
}

#[test]
fn a_stalled_client_under_an_event_flood_loses_only_its_own_events_in_bounded_memory() {
    const QUEUE_BYTES: u64 = 2 << 20;
    let daemon = Daemon::start(&format!(
        "\n[events]\nthreshold_ms = 0\nqueue_bytes = {QUEUE_BYTES}\n"
    ))
    .unwrap();
    let mut stalled = raw_upgrade(&daemon);
    send_text_frame(
        &mut stalled,
        br#"{"jsonrpc":"2.0","method":"event_subscribe","params":["E_CORE_THRESHOLD","ws:",600],"id":1}"#,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let stalled_socket = loop {
        let sockets = daemon.subscribers("E_CORE_THRESHOLD");
        if let Some(socket) = sockets.first() {
            break socket.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the stalled client never subscribed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    const EVENTS: usize = 10_000;
    const BURST: usize = 250;
    let mut healthy = WsClient::start(
        &daemon,
        "/ws",
        &["--notifications", &EVENTS.to_string(), "--wait", "30"],
        &[request(
            1,
            "event_subscribe",
            json!(["E_CORE_THRESHOLD", "ws:", 600]),
        )],
    );
    assert_eq!(
        serde_json::from_str::<Value>(healthy.next()["text"].as_str().unwrap()).unwrap()["result"],
        "OK"
    );
    let healthy_socket = daemon
        .subscribers("E_CORE_THRESHOLD")
        .into_iter()
        .find(|s| *s != stalled_socket)
        .unwrap();
    let rss_before = daemon.rss();
    let padding = "x".repeat(2000);
    let mut slowest = Duration::ZERO;
    for burst in 0..EVENTS / BURST {
        let batch: Vec<Value> = (0..BURST)
            .map(|i| {
                let n = burst * BURST + i;
                json!({"jsonrpc": "2.0", "method": "raise_event", "params": ["E_CORE_THRESHOLD", [n, padding]], "id": n})
            })
            .collect();
        daemon.post(&Value::Array(batch).to_string()).unwrap();
        let started = Instant::now();
        assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
        slowest = slowest.max(started.elapsed());
        let deadline = Instant::now() + Duration::from_secs(10);
        // Once the healthy client has all it waits for it leaves, and its statistics go.
        while subscriber_statistic_now(&daemon, "E_CORE_THRESHOLD", &healthy_socket, "sent")
            .is_some_and(|sent| sent < ((burst + 1) * BURST) as u64)
        {
            assert!(Instant::now() < deadline, "the healthy client fell behind");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let done = healthy.next();
    assert_eq!(
        done["notifications"], EVENTS,
        "every one, none dropped: {done}"
    );
    let last: Value = serde_json::from_str(done["last"].as_str().unwrap()).unwrap();
    assert_eq!(
        last["params"][0],
        (EVENTS - 1).to_string(),
        "in order, the last one last"
    );
    healthy.finish();

    let stat = |name| subscriber_statistic(&daemon, "E_CORE_THRESHOLD", &stalled_socket, name);
    let (sent, dropped, queued_bytes) = (stat("sent"), stat("dropped"), stat("queued_bytes"));
    assert!(dropped > 0, "the stalled client's overflow is counted");
    assert!(queued_bytes <= QUEUE_BYTES, "{queued_bytes}");
    assert!(sent + dropped + stat("queued") <= EVENTS as u64);
    let grown = daemon.rss().saturating_sub(rss_before);
    assert!(
        grown < 64 << 20,
        "20 MB of events to a stalled client grew the daemon by {grown} bytes"
    );
    println!(
        "stalled client: {sent} written to its socket, {dropped} dropped, {queued_bytes} bytes queued; \
         daemon grew {grown} bytes; slowest uptime over /mi during the flood {slowest:?}"
    );
    drop(stalled);
}

#[test]
fn five_hundred_idle_connections_do_not_starve_mi() {
    let daemon =
        Daemon::start("max_connections_per_client = 1000\nws_connections_per_client = 1000\n")
            .unwrap();
    let idle: Vec<std::net::TcpStream> = (0..500)
        .map(|_| {
            let mut stream = raw_upgrade(&daemon);
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 101");
            stream
        })
        .collect();
    for _ in 0..20 {
        assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
    }
    let over_ws = ws(
        &daemon,
        "/ws",
        &[],
        &[text(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)],
    );
    assert!(over_ws[0]["text"].is_string(), "{over_ws:?}");
    drop(idle);
}

#[test]
fn miwa_events_prints_each_event_as_it_arrives_until_interrupted() {
    let daemon = Daemon::start("\n[events]\nthreshold_ms = 0\n").unwrap();
    let mut events = Command::new(miwa_tests::miwa_bin())
        .args(["events", "--url", &format!("ws://{}/ws", daemon.http)])
        .args(["E_CORE_THRESHOLD", "E_MODULE_LOADED"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while daemon.subscribers("E_MODULE_LOADED").is_empty() {
        assert!(Instant::now() < deadline, "miwa events never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(daemon.subscribers("E_CORE_THRESHOLD").len(), 1);
    for n in 0..3 {
        daemon.result("raise_event", json!(["E_CORE_THRESHOLD", [n]]));
    }
    let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
    for n in 0..3 {
        assert_eq!(
            lines.next().unwrap().unwrap(),
            format!(r#"{{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["{n}"]}}"#)
        );
    }
    events.kill().unwrap();
    events.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.subscribers("E_CORE_THRESHOLD").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the subscriptions outlived miwa events"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let unknown = Command::new(miwa_tests::miwa_bin())
        .args([
            "events",
            "--url",
            &format!("ws://{}/ws", daemon.http),
            "E_NOPE",
        ])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr).trim(),
        "miwa: E_NOPE: 400 Bad parameter value"
    );
}

/// `POST /ws/ticket` with `authorization`: the status and the ticket answer.
fn ticket(daemon: &Daemon, authorization: Option<&str>) -> (u16, Value) {
    let mut command = Command::new("curl");
    command.args([
        "--silent",
        "--request",
        "POST",
        "--write-out",
        "\n%{http_code}",
    ]);
    if let Some(authorization) = authorization {
        command.args(["--header", &format!("Authorization: {authorization}")]);
    }
    let output = command
        .arg(format!("http://{}/ws/ticket", daemon.http))
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn a_ticket_fetched_with_credentials_opens_one_websocket_with_their_role() {
    let daemon = Daemon::start(&format!(
        "ws_ticket_ms = 1000\n[access]\nprotect = [\"mi\"]\n[access.roles.readonly]\nallow = [\"uptime\", \"event_subscribe\"]\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"readonly\"\n",
        hashed_secret("hash-token", "reader-token")
    ))
    .unwrap();
    assert_eq!(ticket(&daemon, None).0, 401, "a ticket needs credentials");
    let (status, issued) = ticket(&daemon, Some("Bearer reader-token"));
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["expires_ms"], 1000);
    let protocol = issued["protocol"].as_str().unwrap().to_string();
    assert_eq!(
        protocol,
        format!("miwa.ticket.{}", issued["ticket"].as_str().unwrap())
    );

    let frames = [
        text(r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#),
        text(r#"{"jsonrpc":"2.0","method":"pwd","id":2}"#),
    ];
    let seen = ws(&daemon, "/ws", &["--subprotocol", &protocol], &frames);
    assert_eq!(
        seen[0],
        json!({"subprotocol": protocol}),
        "the ticket's subprotocol is chosen"
    );
    let replies = replies(&seen);
    assert!(replies[0]["result"]["Up time"].is_string(), "{replies:?}");
    assert_eq!(
        replies[1]["error"]["code"], 403,
        "the ticket carries the role"
    );

    assert_eq!(
        ws(&daemon, "/ws", &["--subprotocol", &protocol], &[]),
        [json!({"refused": 401})],
        "a ticket is good once"
    );
    let (_, late) = ticket(&daemon, Some("Bearer reader-token"));
    std::thread::sleep(Duration::from_millis(1100));
    let late = late["protocol"].as_str().unwrap();
    assert_eq!(
        ws(&daemon, "/ws", &["--subprotocol", late], &[]),
        [json!({"refused": 401})],
        "an expired ticket is refused"
    );
    assert_eq!(
        ws(&daemon, "/ws", &["--subprotocol", "miwa.ticket.00"], &[]),
        [json!({"refused": 401})]
    );

    let (_, for_stream) = ticket(&daemon, Some("Bearer reader-token"));
    let url = format!(
        "http://{}/events?subscribe=E_CORE_LOG&ticket={}",
        daemon.http,
        for_stream["ticket"].as_str().unwrap()
    );
    let mut stream = Command::new("curl")
        .args(["--silent", "--no-buffer", &url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(stream.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(
        first, ": subscribed\n",
        "an event stream redeems a ticket too"
    );
    stream.kill().unwrap();
    stream.wait().unwrap();
}

#[test]
fn websocket_ticket_limits_out_of_range_stop_the_start_naming_the_key() {
    for (keys, key) in [
        ("ws_ticket_ms = 999\n", "http.ws_ticket_ms"),
        ("ws_ticket_ms = 600001\n", "http.ws_ticket_ms"),
        ("ws_max_tickets = 0\n", "http.ws_max_tickets"),
        ("ws_max_tickets = 100001\n", "http.ws_max_tickets"),
        (
            "ws_tickets_per_identity = 0\n",
            "http.ws_tickets_per_identity",
        ),
        (
            "ws_tickets_per_identity = 100001\n",
            "http.ws_tickets_per_identity",
        ),
    ] {
        let error = Daemon::start(keys).err().expect("refused").to_string();
        assert!(error.contains(key), "{keys}: {error}");
    }
    assert!(Daemon::start("ws_ticket_ms = 1000\nws_max_tickets = 1\n").is_ok());
    assert!(Daemon::start("ws_ticket_ms = 600000\nws_max_tickets = 100000\n").is_ok());
    assert!(Daemon::start("ws_tickets_per_identity = 1\n").is_ok());
    assert!(Daemon::start("ws_tickets_per_identity = 100000\n").is_ok());
}

#[test]
fn in_front_mode_a_node_event_arrives_on_the_subscribed_connection() {
    let node = Daemon::start("").unwrap();
    let front = Daemon::start(&format!(
        "\n[upstreams.edge1]\nudp = \"{}\"\n[front]\nupstream = \"edge1\"\n",
        node.udp
    ))
    .unwrap();
    let mut client = WsClient::start(
        &front,
        "/ws",
        &["--notifications", "1", "--wait", "10"],
        &[request(
            1,
            "event_subscribe",
            json!(["E_MODULE_LOADED", "ws:", 60]),
        )],
    );
    let reply: Value = serde_json::from_str(client.next()["text"].as_str().unwrap()).unwrap();
    assert_eq!(reply["result"], "OK", "{reply}");
    let at_node = node.subscribers("E_MODULE_LOADED");
    assert_eq!(at_node.len(), 1, "miwa subscribed itself at the node");
    let own = front.result("miwa:subscribers_list", json!([])).to_string();
    assert!(
        own.contains("\"ws:"),
        "the connection is miwa's subscriber: {own}"
    );

    node.result(
        "raise_event",
        json!({"event": "E_MODULE_LOADED", "params": r#"{"module": "from-node", "version": "1"}"#}),
    );
    let done = client.next();
    assert_eq!(done["notifications"], 1, "{done}");
    let delivered: Value = serde_json::from_str(done["last"].as_str().unwrap()).unwrap();
    assert_eq!(delivered["method"], "E_MODULE_LOADED");
    assert_eq!(delivered["params"]["module"], "from-node", "{delivered}");
    client.finish();

    let deadline = Instant::now() + Duration::from_secs(5);
    while !node.subscribers("E_MODULE_LOADED").is_empty() {
        assert!(
            Instant::now() < deadline,
            "miwa unsubscribes at the node once the connection is gone"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
