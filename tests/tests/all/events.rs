//! The event interface end to end with real sockets (UDP, UNIX, TCP, flatstore), the
//! `opensips-event` client, miwa's own events, and the cache with its snapshot.

use miwa_tests::{module_table, workspace, Daemon};
use serde_json::{json, Value};
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

fn udp_listener() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let address = format!("udp:{}", socket.local_addr().unwrap());
    (socket, address)
}

fn subscribers(daemon: &Daemon) -> Value {
    daemon.result("subscribers_list", json!([]))
}

/// Waits until `read` yields at least `len` bytes in total.
fn read_exactly(stream: &mut impl Read, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn every_transport_receives_the_exact_notification() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&format!(
        "\n[events]\nthreshold_ms = 0\nflatstore_dir = \"{}\"\n",
        dir.path().display()
    ))
    .unwrap();
    let (udp, udp_socket) = udp_listener();
    let unix_path = dir.path().join("events.sock");
    let unix = UnixDatagram::bind(&unix_path).unwrap();
    unix.set_read_timeout(Some(WAIT)).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let flatstore = dir.path().join("events.log");
    let sockets = [
        udp_socket.clone(),
        format!("unix:{}", unix_path.display()),
        format!("tcp:{}", tcp.local_addr().unwrap()),
        format!("flatstore:{}", flatstore.display()),
    ];
    for socket in &sockets {
        assert_eq!(
            daemon.result("event_subscribe", json!(["E_CORE_THRESHOLD", socket, 60])),
            "OK"
        );
    }
    assert_eq!(
        daemon.call(
            "event_subscribe",
            json!(["E_CORE_THRESHOLD", "flatstore:/etc/passwd", 60])
        )["error"]["message"],
        "Bad parameter value",
        "flatstore files stay in flatstore_dir"
    );
    let listed = subscribers(&daemon);
    assert_eq!(
        listed["Events"][0]["Subscribers"].as_array().unwrap().len(),
        4,
        "{listed}"
    );

    let named =
        r#"{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":{"ip":"10.0.0.1","port":5060}}"#;
    assert_eq!(
        daemon.result(
            "raise_event",
            json!({"event": "E_CORE_THRESHOLD", "params": "{\"ip\":\"10.0.0.1\",\"port\":5060}"})
        ),
        "OK"
    );
    let unnamed = r#"{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["a","5"]}"#;
    assert_eq!(
        daemon.result("raise_event", json!(["E_CORE_THRESHOLD", ["a", 5]])),
        "OK"
    );

    let mut buf = [0u8; 2048];
    for expected in [named, unnamed] {
        let n = udp.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expected, "udp");
        let n = unix.recv(&mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expected, "unix");
    }
    let (mut stream, _) = tcp.accept().unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let streamed = read_exactly(&mut stream, named.len() + unnamed.len());
    assert_eq!(
        String::from_utf8(streamed).unwrap(),
        format!("{named}{unnamed}"),
        "tcp"
    );
    let deadline = Instant::now() + WAIT;
    let expected_file = format!("{named}\n{unnamed}\n");
    while std::fs::read_to_string(&flatstore).unwrap_or_default() != expected_file {
        assert!(
            Instant::now() < deadline,
            "flatstore file never got both lines"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let rotated = dir.path().join("events.log.1");
    std::fs::rename(&flatstore, &rotated).unwrap();
    daemon.result("raise_event", json!(["E_CORE_THRESHOLD"]));
    let bare = r#"{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD"}"#;
    let deadline = Instant::now() + WAIT;
    while std::fs::read_to_string(&flatstore).unwrap_or_default() != format!("{bare}\n") {
        assert!(
            Instant::now() < deadline,
            "flatstore was not reopened after rotation"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&rotated).unwrap(), expected_file);

    let stats = daemon.result("get_statistics", json!([["events:"]]));
    assert_eq!(stats["events:E_CORE_THRESHOLD_raised"], 3, "{stats}");
}

#[test]
fn subscriptions_refresh_expire_and_unsubscribe() {
    let daemon = Daemon::start("").unwrap();
    let (_udp, socket) = udp_listener();
    daemon.result("event_subscribe", json!(["E_CORE_THRESHOLD", socket, 1]));
    daemon.result("event_subscribe", json!(["E_CORE_LOG", socket, 30]));
    let one = daemon.result("subscribers_list", json!(["E_CORE_LOG", socket]));
    assert_eq!(one["Event"]["Subscriber"]["expire"], 30);
    daemon.result("event_subscribe", json!(["E_CORE_LOG", socket, 600]));
    let refreshed = daemon.result("subscribers_list", json!(["E_CORE_LOG", socket]));
    assert_eq!(refreshed["Event"]["Subscriber"]["expire"], 600);
    assert!(refreshed["Event"]["Subscriber"]["ttl"].as_i64().unwrap() > 590);
    std::thread::sleep(Duration::from_millis(2100));
    let after = subscribers(&daemon);
    assert!(
        !after.to_string().contains("E_CORE_THRESHOLD"),
        "the 1 s subscription expired: {after}"
    );
    assert_eq!(
        daemon.call("raise_event", json!(["E_CORE_THRESHOLD"]))["error"]["code"],
        480
    );
    daemon.result("event_subscribe", json!(["E_CORE_LOG", socket, 0]));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        subscribers(&daemon),
        json!({"Events": []}),
        "expire 0 unsubscribes"
    );
}

#[test]
fn a_subscriber_that_stops_reading_slows_nothing() {
    let daemon =
        Daemon::start("\n[events]\nthreshold_ms = 0\nqueue_depth = 64\nio_timeout_ms = 200\n")
            .unwrap();
    let stalled = TcpListener::bind("127.0.0.1:0").unwrap();
    let socket = format!("tcp:{}", stalled.local_addr().unwrap());
    daemon.result("event_subscribe", json!(["E_CORE_THRESHOLD", socket, 600]));
    let (_never_read, _) = {
        let big = "x".repeat(4000);
        let batch: Vec<Value> = (0..200)
            .map(|i| json!({"jsonrpc": "2.0", "method": "raise_event", "params": ["E_CORE_THRESHOLD", [big]], "id": i}))
            .collect();
        let body = Value::Array(batch).to_string();
        for _ in 0..20 {
            daemon.post(&body).unwrap();
        }
        stalled.accept().unwrap()
    };
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let started = Instant::now();
        assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
        slowest = slowest.max(started.elapsed());
    }
    let stats = daemon.result("get_statistics", json!([["events:", "event_subscribers:"]]));
    assert_eq!(stats["events:E_CORE_THRESHOLD_raised"], 4000, "{stats}");
    assert!(
        stats["events:E_CORE_THRESHOLD_dropped"].as_u64().unwrap() > 0,
        "the stalled subscriber's overflow is counted: {stats}"
    );
    println!("uptime beside a stalled TCP subscriber: slowest of 50 calls {slowest:?}");
}

#[test]
fn ten_thousand_events_arrive_in_order() {
    let daemon = Daemon::start("\n[events]\nthreshold_ms = 0\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let socket = format!("tcp:{}", listener.local_addr().unwrap());
    daemon.result("event_subscribe", json!(["E_CORE_THRESHOLD", socket, 600]));
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 65536];
        let expected: usize = (0..10_000)
            .map(|i| {
                format!(r#"{{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["{i}"]}}"#).len()
            })
            .sum();
        while received.len() < expected {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the stream closed early");
            received.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(received).unwrap()
    });
    for burst in 0..20 {
        let batch: Vec<Value> = (0..500)
            .map(|i| {
                let n = burst * 500 + i;
                json!({"jsonrpc": "2.0", "method": "raise_event", "params": ["E_CORE_THRESHOLD", [n]], "id": n})
            })
            .collect();
        let replies: Vec<Value> =
            serde_json::from_slice(&daemon.post(&Value::Array(batch).to_string()).unwrap().body)
                .unwrap();
        assert!(replies.iter().all(|r| r["result"] == "OK"));
    }
    let stream = reader.join().unwrap();
    let expected: String = (0..10_000)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["{i}"]}}"#))
        .collect();
    assert!(
        stream == expected,
        "10,000 notifications, each once, in order"
    );
}

#[test]
fn opensips_event_subscribes_and_receives() {
    let daemon = Daemon::start("\n[events]\nthreshold_ms = 0\n").unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listener = Command::new(workspace().join("tests/.venv/bin/opensips-event"))
        .args([
            "-t",
            "http",
            "-i",
            "127.0.0.1",
            "-p",
            &daemon.http.port().to_string(),
        ])
        .args([
            "-li",
            "127.0.0.1",
            "-lp",
            &port.to_string(),
            "E_CORE_THRESHOLD",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("make test installs opensips-event into tests/.venv");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !subscribers(&daemon)
        .to_string()
        .contains(&format!("udp:127.0.0.1:{port}"))
    {
        assert!(Instant::now() < deadline, "opensips-event never subscribed");
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.result("raise_event", json!(["E_CORE_THRESHOLD", ["from miwa"]]));
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &listener.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while listener.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = listener.kill();
    let mut out = String::new();
    listener
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains("from miwa"), "opensips-event printed: {out:?}");
}

#[test]
fn miwa_raises_log_and_module_events() {
    let health = module_table("health", "health", "grants = [\"mi\", \"stats\", \"log\"]");
    let daemon = Daemon::start(&health).unwrap();
    let (udp, socket) = udp_listener();
    daemon.result("event_subscribe", json!(["E_MODULE_LOADED", socket, 60]));
    daemon.result("event_subscribe", json!(["E_MODULE_UNLOADED", socket, 60]));
    daemon.result("event_subscribe", json!(["E_CORE_LOG", socket, 60]));
    daemon.result("log_level_filter", json!(["event", 1]));
    daemon.result("module_unload", json!(["health"]));
    daemon.result("module_load", json!(["health"]));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.len() < 2 {
        let n = udp.recv(&mut buf).expect("module events arrive");
        let event: Value = serde_json::from_slice(&buf[..n]).unwrap();
        if event["method"] != "E_CORE_LOG" {
            seen.push(event);
        }
    }
    assert_eq!(
        seen[0],
        json!({"jsonrpc": "2.0", "method": "E_MODULE_UNLOADED", "params": {"module": "health"}})
    );
    assert_eq!(seen[1]["method"], "E_MODULE_LOADED");
    assert_eq!(seen[1]["params"]["module"], "health");
    assert_eq!(seen[1]["params"]["sha256"].as_str().unwrap().len(), 64);

    daemon.result("log_level_filter", json!(["event", 4]));
    daemon.result("mem_shm_dump", json!([]));
    let deadline = Instant::now() + WAIT;
    loop {
        let n = udp.recv(&mut buf).expect("E_CORE_LOG arrives");
        let event: Value = serde_json::from_slice(&buf[..n]).unwrap();
        if event["method"] == "E_CORE_LOG"
            && event["params"]["message"]
                .as_str()
                .unwrap()
                .contains("daemon memory")
        {
            assert_eq!(event["params"]["level"], 3);
            break;
        }
        assert!(Instant::now() < deadline);
    }
}

#[test]
fn the_cache_expires_fills_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("cache.snapshot");
    let config = format!(
        "\n[cache]\nmax_bytes = 1024\nsnapshot = \"{}\"\n",
        snapshot.display()
    );
    let mut daemon = Daemon::start(&config).unwrap();
    let error = |reply: Value| {
        (
            reply["error"]["code"].clone(),
            reply["error"]["message"].clone(),
            reply["error"]["data"].clone(),
        )
    };
    assert_eq!(
        error(daemon.call("cache_store", json!(["", "k", "v"]))),
        (
            json!(-32602),
            json!("Invalid params"),
            json!("Empty memory cache id")
        )
    );
    assert_eq!(
        error(daemon.call("cache_store", json!(["local", "", "v"]))),
        (
            json!(-32602),
            json!("Invalid params"),
            json!("Empty attribute name")
        )
    );
    assert_eq!(
        error(daemon.call("cache_store", json!(["local", "k", ""]))),
        (json!(-32602), json!("Invalid params"), json!("Empty value"))
    );
    assert_eq!(
        error(daemon.call("cache_store", json!(["local", "k", "v", -1]))),
        (
            json!(-32602),
            json!("Invalid params"),
            json!("Negative expire value")
        )
    );
    assert_eq!(
        daemon.call("cache_store", json!(["redis", "k", "v"]))["error"]["message"],
        "Cache store command failed"
    );
    assert_eq!(
        daemon.call("cache_fetch", json!(["redis", "k"]))["error"]["message"],
        "Cache fetch command failed"
    );
    assert_eq!(
        daemon.call("cache_remove", json!(["redis", "k"]))["error"]["message"],
        "Cache remove command failed"
    );
    assert_eq!(
        daemon.call("cache_fetch", json!(["local", "none"]))["error"]["message"],
        "Value not found"
    );

    daemon.result("cache_store", json!(["local", "short", "lived", 1]));
    daemon.result("cache_store", json!(["local", "kept", "forever"]));
    daemon.result("cache_store", json!(["local", "hour", "later", 3600]));
    let full = daemon.call("cache_store", json!(["local", "big", "x".repeat(100)]));
    assert_eq!(full["error"]["message"], "Cache store command failed");
    assert_eq!(full["error"]["data"], "cache 'local' is full");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        daemon.call("cache_fetch", json!(["local", "short"]))["error"]["message"],
        "Value not found"
    );

    daemon.result("kill", json!([]));
    assert!(
        daemon.wait_exit(Duration::from_secs(10)).is_some(),
        "kill stops the daemon"
    );
    let saved = std::fs::read_to_string(&snapshot).unwrap();
    assert_eq!(saved.lines().count(), 2, "{saved}");

    let again = Daemon::start(&config).unwrap();
    assert_eq!(
        again.result("cache_fetch", json!(["local", "kept"]))["value"],
        "forever"
    );
    assert_eq!(
        again.result("cache_fetch", json!(["local", "hour"]))["value"],
        "later"
    );
    assert_eq!(
        again.call("cache_fetch", json!(["local", "short"]))["error"]["message"],
        "Value not found"
    );
}
