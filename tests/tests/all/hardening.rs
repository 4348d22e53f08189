//! Limits and hostile clients at their edges: concurrent requests, slow clients, UNIX
//! client paths that point elsewhere, XML entities, and the shutdown drain.

use miwa_tests::{
    exchange, module_table, parse_responses, read_until_quiet, udp_exchange, unix_exchange, Daemon,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);
const PWD: &str = r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#;

fn hostile(timeout_ms: u64) -> String {
    module_table(
        "hostile",
        "hostile",
        &format!("grants = [\"mi\"]\ntimeout_ms = {timeout_ms}"),
    )
}

/// One statistic by its group and name (asked for by name, as OpenSIPS takes them).
fn statistic(daemon: &Daemon, group: &str, name: &str) -> Value {
    daemon.result("get_statistics", json!([[name]]))[format!("{group}:{name}")].clone()
}

#[test]
fn requests_beyond_max_concurrent_calls_get_503() {
    let daemon = Daemon::start(&format!(
        "\n[core]\nmax_concurrent_calls = 1\n{}",
        hostile(600)
    ))
    .unwrap();
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| daemon.call("hostile_loop", json!([])));
        std::thread::sleep(Duration::from_millis(200));
        let refused = udp_exchange(daemon.udp, PWD.as_bytes(), WAIT)
            .unwrap()
            .expect("a reply");
        let refused: Value = serde_json::from_slice(&refused).unwrap();
        assert_eq!(
            refused,
            json!({"jsonrpc":"2.0","error":{"code":503,"message":"Too many concurrent requests"},"id":1})
        );
        let slow = slow.join().unwrap();
        assert_eq!(slow["error"]["code"], 500, "{slow}");
    });
    let served = udp_exchange(daemon.udp, PWD.as_bytes(), WAIT)
        .unwrap()
        .expect("a reply");
    assert!(String::from_utf8_lossy(&served).contains("WD"));
    assert_eq!(statistic(&daemon, "mi", "calls_refused"), 1);
    assert_eq!(statistic(&daemon, "mi", "calls_peak"), 1);
    assert_eq!(
        statistic(&daemon, "mi", "calls_running"),
        1,
        "get_statistics itself"
    );
}

/// Whether the server closed `stream` within `limit` (reading anything else fails the test).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected bytes: {}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn slow_clients_are_cut_off_and_patient_ones_are_not() {
    let daemon = Daemon::start("request_timeout_ms = 400\nconn_timeout = 30").unwrap();
    let head = format!(
        "POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        PWD.len()
    );

    let mut slowloris = TcpStream::connect(daemon.http).unwrap();
    slowloris.write_all(b"POST /mi HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut dripping = true;
    while dripping && started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        dripping = slowloris.write_all(b"X-Drip: 1\r\n").is_ok();
        dripping &= !closed_within(&mut slowloris, Duration::from_millis(1));
    }
    assert!(!dripping, "a head dripping for 3 s is cut off");

    let mut slow_body = TcpStream::connect(daemon.http).unwrap();
    slow_body
        .write_all(format!("{head}\r\n{}", &PWD[..10]).as_bytes())
        .unwrap();
    let raw = read_until_quiet(&mut slow_body, Duration::from_secs(2)).unwrap();
    assert_eq!(parse_responses(&raw)[0].status, 408);

    let mut patient = TcpStream::connect(daemon.http).unwrap();
    patient.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    patient.write_all(format!("\r\n{PWD}").as_bytes()).unwrap();
    let raw = read_until_quiet(&mut patient, Duration::from_millis(300)).unwrap();
    assert_eq!(parse_responses(&raw)[0].status, 200, "a head in two parts");
    std::thread::sleep(Duration::from_millis(800));
    patient
        .write_all(format!("{head}\r\n{PWD}").as_bytes())
        .unwrap();
    let raw = read_until_quiet(&mut patient, Duration::from_millis(300)).unwrap();
    assert_eq!(
        parse_responses(&raw)[0].status,
        200,
        "an idle keep-alive connection is governed by conn_timeout, not request_timeout"
    );
}

#[test]
fn a_unix_client_path_pointing_elsewhere_gets_nothing_sent_there() {
    let daemon = Daemon::start("").unwrap();
    let dir = tempfile::tempdir().unwrap();

    let victim_path = dir.path().join("victim.sock");
    let victim = UnixDatagram::bind(&victim_path).unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let file = dir.path().join("victim.txt");
    std::fs::write(&file, "untouched").unwrap();

    for (name, target) in [
        ("to-daemon", daemon.unix.clone()),
        ("to-victim", victim_path.clone()),
        ("to-file", file.clone()),
    ] {
        let bound = dir.path().join(format!("{name}.sock"));
        let client = UnixDatagram::bind(&bound).unwrap();
        std::fs::rename(&bound, dir.path().join(format!("{name}.moved"))).unwrap();
        std::os::unix::fs::symlink(&target, &bound).unwrap();
        client.send_to(PWD.as_bytes(), &daemon.unix).unwrap();
    }
    let mut buf = [0u8; 1024];
    assert!(
        victim.recv(&mut buf).is_err(),
        "the victim socket got nothing"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "untouched");

    let reply = unix_exchange(&daemon.unix, dir.path(), true, PWD.as_bytes(), WAIT)
        .unwrap()
        .expect("a client at its own path is answered");
    assert!(String::from_utf8_lossy(&reply).contains("WD"));
    assert_eq!(
        statistic(&daemon, "transports", "unix_requests"),
        1,
        "only the honest request ran: no reply loop through the daemon's own socket"
    );
    assert!(daemon.logged("the client path is a symbolic link"));
}

#[test]
fn xml_entities_are_never_expanded() {
    let daemon = Daemon::start("").unwrap();
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<methodCall><methodName>cache_store</methodName><params><param><value><string>local</string></value></param><param><value><string>k</string></value></param><param><value><string>&lol9;</string></value></param></params></methodCall>"#;
    let external = r#"<?xml version="1.0"?>
<!DOCTYPE call [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>cache_store</methodName><params><param><value><string>local</string></value></param><param><value><string>k</string></value></param><param><value><string>&xxe;</string></value></param></params></methodCall>"#;
    let undeclared = r#"<?xml version="1.0"?>
<methodCall><methodName>cache_store</methodName><params><param><value><string>local</string></value></param><param><value><string>k</string></value></param><param><value><string>&xxe;</string></value></param></params></methodCall>"#;
    for body in [laughs, external, undeclared] {
        let request = format!(
            "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let raw = exchange(daemon.http, request.as_bytes(), WAIT).unwrap();
        let response = &parse_responses(&raw)[0];
        let text = String::from_utf8_lossy(&response.body);
        assert!(text.contains("<fault>"), "{text}");
        assert!(!text.contains("root:"), "{text}");
    }
    let fetched = daemon.call("cache_fetch", json!(["local", "k"]));
    assert_eq!(
        fetched["error"]["message"], "Value not found",
        "nothing was stored: {fetched}"
    );
}

#[test]
fn sigterm_drains_requests_in_progress_and_removes_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("cache.snapshot");
    let mut daemon = Daemon::start(&format!(
        "\n[cache]\nsnapshot = \"{}\"\n{}",
        snapshot.display(),
        hostile(800)
    ))
    .unwrap();
    daemon.result("cache_store", json!(["local", "kept", "value"]));
    let reply = std::thread::scope(|scope| {
        let slow =
            scope.spawn(|| daemon.post(r#"{"jsonrpc":"2.0","method":"hostile_loop","id":9}"#));
        std::thread::sleep(Duration::from_millis(200));
        let status = Command::new("kill")
            .args(["-TERM", &daemon.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            TcpStream::connect(daemon.http).is_err(),
            "no new connections once stopping"
        );
        slow.join()
            .unwrap()
            .expect("the request in progress is answered")
    });
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["id"], 9);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|d| d.contains("800 ms time limit")),
        "{body}"
    );
    let status = daemon.wait_exit(WAIT).expect("the daemon exits");
    assert!(status.success(), "{status:?}");
    assert!(!daemon.unix.exists(), "the UNIX socket is removed");
    assert!(!daemon.fifo.exists(), "the FIFO is removed");
    let saved = std::fs::read_to_string(&snapshot).unwrap();
    assert!(saved.contains("kept"), "{saved}");
}

#[test]
fn the_shutdown_drain_has_a_deadline() {
    let mut daemon = Daemon::start(&format!(
        "\n[core]\nshutdown_timeout_ms = 100\n{}",
        hostile(1500)
    ))
    .unwrap();
    std::thread::scope(|scope| {
        let slow =
            scope.spawn(|| daemon.post(r#"{"jsonrpc":"2.0","method":"hostile_loop","id":9}"#));
        std::thread::sleep(Duration::from_millis(200));
        Command::new("kill")
            .args(["-TERM", &daemon.pid().to_string()])
            .status()
            .unwrap();
        let _ = slow.join();
    });
    let status = daemon.wait_exit(WAIT).expect("the daemon exits");
    assert!(status.success(), "{status:?}");
    assert!(
        daemon.log().contains("did not finish within 100 ms"),
        "{}",
        daemon.log()
    );
}

#[test]
fn the_fifo_and_unix_sockets_get_their_mode_owner_and_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = if rustix::process::getuid().is_root() {
        65534
    } else {
        rustix::process::getuid().as_raw()
    };
    let gid = rustix::process::getgid().as_raw();
    let daemon = Daemon::start_datagram(&format!(
        "unix_socket_mode = 0o600\nunix_socket_user = \"{uid}\"\nunix_socket_group = \"{gid}\""
    ))
    .unwrap();
    let socket = std::fs::metadata(&daemon.unix).unwrap();
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);
    assert_eq!((socket.uid(), socket.gid()), (uid, gid));

    let daemon = Daemon::start_fifo(&format!(
        "fifo_mode = 0o640\nfifo_user = \"{uid}\"\nfifo_group = \"{gid}\""
    ))
    .unwrap();
    let fifo = std::fs::metadata(&daemon.fifo).unwrap();
    assert_eq!(fifo.permissions().mode() & 0o777, 0o640);
    assert_eq!((fifo.uid(), fifo.gid()), (uid, gid));
}

#[test]
fn html_paths_never_reach_files() {
    let daemon = Daemon::start("").unwrap();
    for hostile in [
        "/html/../../../../etc/passwd",
        "/html/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/html/core/..%2f..%2f..%2fetc%2fpasswd",
        "/html/..%5c..%5cetc%5cpasswd",
        "/html//etc/passwd",
    ] {
        let request =
            format!("GET {hostile} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let raw = exchange(daemon.http, request.as_bytes(), WAIT).unwrap();
        let response = &parse_responses(&raw)[0];
        let body = String::from_utf8_lossy(&response.body);
        assert!(
            [400, 406].contains(&response.status),
            "{hostile}: {}",
            response.status
        );
        assert!(!body.contains("root:"), "{hostile}: {body}");
    }
}

#[test]
fn replies_over_max_reply_are_refused_at_the_edge() {
    let daemon = Daemon::start("\n[core]\nmax_reply = 1024").unwrap();
    let fetch = |value: &str| {
        daemon.result("cache_store", json!(["local", "k", value]));
        daemon.call("cache_fetch", json!(["local", "k"]))
    };
    let fitting = fetch(&"x".repeat(968));
    assert_eq!(fitting.to_string().len(), 1024, "{fitting}");
    assert_eq!(fitting["result"]["value"].as_str().map(str::len), Some(968));
    let over = fetch(&"x".repeat(969));
    assert_eq!(
        over,
        json!({"jsonrpc":"2.0","error":{"code":500,"message":"Reply too large","data":"the reply is 1025 bytes, over the 1024-byte limit"},"id":1})
    );
}

/// Context switches of the daemon's thread named `name`.
fn thread_switches(pid: u32, name: &str) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == name)
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[test]
fn an_idle_daemon_sleeps_and_still_enforces_deadlines() {
    let daemon = Daemon::start(&hostile(300)).unwrap();
    daemon.result("uptime", json!([]));
    std::thread::sleep(Duration::from_millis(400));
    let before = thread_switches(daemon.pid(), "epoch-ticker");
    std::thread::sleep(Duration::from_secs(2));
    let idle = thread_switches(daemon.pid(), "epoch-ticker") - before;
    assert!(
        idle <= 6,
        "the deadline ticker woke {idle} times in 2 idle seconds"
    );
    let looping = daemon.call("hostile_loop", json!([]));
    assert_eq!(
        looping["error"]["message"], "module 'hostile' exceeded its 300 ms time limit",
        "{looping}"
    );
}
