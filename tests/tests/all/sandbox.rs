//! What a module reaches through WASI: nothing by default — no environment, arguments,
//! files or network; granted `files`, its `read_only_dirs` read-only, with no way out of
//! them by `..` or a symlink, each open, stat and read bounded by `io_timeout_ms`; granted
//! `tcp`, only the addresses `allowed_tcp` allows, each
//! wait bounded by `io_timeout_ms`.

use miwa_tests::{module_table, Daemon};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

/// A daemon with the sandbox fixture configured by `keys`.
fn sandboxed(keys: &str) -> Daemon {
    Daemon::start(&module_table("sandbox", "sandbox", keys)).expect("daemon starts")
}

#[test]
fn a_module_granted_nothing_sees_no_environment_files_or_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let daemon = sandboxed("");
    assert_eq!(
        daemon.result("sandbox_env", json!([])),
        json!({"vars": 0, "args": 0})
    );
    let hosts = daemon.failure("sandbox_read", json!(["/etc/hostname"]));
    assert!(hosts.contains("No such file"), "{hosts}");
    let address = listener.local_addr().unwrap().to_string();
    let connect = daemon.failure("sandbox_connect", json!([address]));
    assert!(
        connect.to_lowercase().contains("denied") || connect.contains("not permitted"),
        "{connect}"
    );
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}

#[test]
fn granted_files_reads_its_directories_and_nothing_outside_them() {
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("lists");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("carriers.txt"), "gw1\ngw2\n").unwrap();
    std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), shared.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(root.path(), shared.join("up")).unwrap();
    let dir = shared.display().to_string();
    let daemon = sandboxed(&format!(
        "grants = [\"files\"]\nread_only_dirs = [\"{dir}\"]"
    ));
    assert_eq!(
        daemon.result("sandbox_read", json!([format!("{dir}/carriers.txt")])),
        "gw1\ngw2\n"
    );
    assert_eq!(
        daemon.result("sandbox_list", json!([dir.clone()])),
        json!(["carriers.txt", "escape.txt", "up"])
    );
    for outside in [
        format!("{dir}/../secret.txt"),
        format!("{dir}/escape.txt"),
        format!("{dir}/up/secret.txt"),
        root.path().join("secret.txt").display().to_string(),
    ] {
        let message = daemon.failure("sandbox_read", json!([outside]));
        assert!(!message.contains("secret\""), "{outside}: {message}");
    }
    let written = daemon.failure("sandbox_write", json!([format!("{dir}/new.txt")]));
    assert!(!shared.join("new.txt").exists(), "{written}");
    assert_eq!(
        std::fs::read_to_string(shared.join("carriers.txt")).unwrap(),
        "gw1\ngw2\n"
    );
}

#[test]
fn opening_a_fifo_nobody_writes_ends_at_io_timeout_ms_and_the_module_serves_on() {
    let (shared, fifo) = miwa_tests::dir_with_stuck_fifo();
    let dir = shared.path().display().to_string();
    let daemon = sandboxed(&format!(
        "grants = [\"files\"]\nread_only_dirs = [\"{dir}\"]\ntimeout_ms = 50\nio_timeout_ms = 300"
    ));
    let started = Instant::now();
    let message = daemon.failure("sandbox_read", json!([fifo.display().to_string()]));
    let took = started.elapsed();
    assert_eq!(
        message,
        "module 'sandbox' waited on I/O longer than its 300 ms I/O limit (io_timeout_ms)"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        daemon.result("sandbox_read", json!([format!("{dir}/list.txt")])),
        "gw1\n"
    );
    let stats = daemon.result("get_statistics", json!([["sandbox:"]]));
    assert_eq!(stats["sandbox:io_timeouts"], 1, "{stats}");
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}

#[test]
fn read_only_dirs_that_are_not_directories_stop_the_start() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let keys = format!(
        "grants = [\"files\"]\nread_only_dirs = [\"{}\"]",
        file.path().display()
    );
    let error = Daemon::start(&module_table("sandbox", "sandbox", &keys))
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("read_only_dirs"), "{error}");
}

/// A loopback TCP server that runs `handle` on each connection, on a thread of its own.
fn serve(handle: impl Fn(std::net::TcpStream) + Send + Copy + 'static) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || handle(stream));
        }
    });
    address
}

/// A TCP backend on loopback: answers each connection's first line with `reply` after
/// `delay`, then closes; `None` never answers (nor closes).
fn backend(reply: Option<&'static str>, delay: Duration) -> std::net::SocketAddr {
    serve(move |mut stream| {
        let mut line = String::new();
        let _ = BufReader::new(&stream).read_line(&mut line);
        std::thread::sleep(delay);
        match reply {
            Some(reply) => {
                let _ = write!(stream, "{reply} {}", line.trim());
            }
            None => std::thread::sleep(Duration::from_secs(30)),
        }
    })
}

/// Asserts that the sandbox may not connect to `address`.
fn assert_denied(daemon: &Daemon, address: &str) {
    let message = daemon.failure("sandbox_ask", json!([address, "PING"]));
    assert!(message.contains("ermission denied"), "{address}: {message}");
}

#[test]
fn granted_tcp_reaches_only_the_addresses_its_patterns_allow() {
    let open = backend(Some("+PONG"), Duration::ZERO);
    let other = backend(Some("+OTHER"), Duration::ZERO);
    let daemon = sandboxed(&format!(
        "grants = [\"tcp\"]\nallowed_tcp = [\"127.0.0.1:{}\", \"10.0.0.0/8:*\"]",
        open.port()
    ));
    assert_eq!(
        daemon.result("sandbox_ask", json!([open.to_string(), "PING"])),
        "+PONG PING"
    );
    assert_denied(&daemon, &other.to_string());
    let elsewhere = Daemon::start(&module_table(
        "sandbox",
        "sandbox",
        &format!(
            "grants = [\"tcp\"]\nallowed_tcp = [\"127.0.0.2:{}\"]",
            open.port()
        ),
    ))
    .unwrap();
    assert_denied(&elsewhere, &format!("localhost:{}", open.port()));
    let error = Daemon::start(&module_table(
        "sandbox",
        "sandbox",
        "grants = [\"tcp\"]\nallowed_tcp = [\"redis\"]",
    ))
    .err()
    .expect("refused")
    .to_string();
    assert!(
        error.contains("allowed_tcp") && error.contains("`redis`"),
        "{error}"
    );
}

/// A TCP backend that sends one byte every 50 ms and never ends.
fn trickle() -> std::net::SocketAddr {
    serve(move |mut stream| {
        while stream.write_all(b".").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

#[test]
fn waits_on_a_silent_slow_or_trickling_backend_end_at_io_timeout_ms() {
    let slow = backend(Some("+LATE"), Duration::from_millis(150));
    let silent = backend(None, Duration::ZERO);
    let trickling = trickle();
    let daemon = sandboxed(
        "grants = [\"tcp\"]\nallowed_tcp = [\"127.0.0.1:*\"]\ntimeout_ms = 50\nio_timeout_ms = 400",
    );
    assert_eq!(
        daemon.result("sandbox_ask", json!([slow.to_string(), "x"])),
        "+LATE x",
        "150 ms of waiting is within 400 ms of I/O, though over 50 ms of computing"
    );
    let started = Instant::now();
    let message = daemon.failure("sandbox_ask", json!([silent.to_string(), "x"]));
    let took = started.elapsed();
    assert_eq!(
        message,
        "module 'sandbox' waited on I/O longer than its 400 ms I/O limit (io_timeout_ms)"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let started = Instant::now();
    let message = daemon.failure("sandbox_ask", json!([trickling.to_string(), "x"]));
    assert!(message.contains("400 ms I/O limit"), "{message}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "bounded over all its reads: {took:?}"
    );
    let stats = daemon.result("get_statistics", json!([["sandbox:"]]));
    assert_eq!(stats["sandbox:io_timeouts"], 2, "{stats}");
    assert!(
        stats["sandbox:io_wait_us"].as_u64().unwrap() >= 950_000,
        "{stats}"
    );
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}

/// Calls `method` over UDP and parses the reply datagram.
fn over_udp(daemon: &Daemon, method: &str, params: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let reply = miwa_tests::udp_exchange(
        daemon.udp,
        request.to_string().as_bytes(),
        Duration::from_secs(5),
    )
    .unwrap()
    .expect("a reply datagram");
    serde_json::from_slice(&reply).unwrap()
}

#[test]
fn in_front_mode_module_waits_and_panics_are_served_to_datagram_clients() {
    let node = Daemon::start("").unwrap();
    let open = backend(Some("+PONG"), Duration::ZERO);
    let lists = tempfile::tempdir().unwrap();
    std::fs::write(lists.path().join("list.txt"), "gw1\n").unwrap();
    let dir = lists.path().display();
    let front = Daemon::start(&format!(
        "\n[upstreams.edge]\nudp = \"{}\"\n[front]\nupstream = \"edge\"\n{}{}",
        node.udp,
        module_table(
            "sandbox",
            "sandbox",
            &format!(
                "grants = [\"tcp\", \"files\"]\nallowed_tcp = [\"{open}\"]\nread_only_dirs = [\"{dir}\"]"
            )
        ),
        module_table("hostile", "hostile", "grants = [\"mi\"]")
    ))
    .unwrap();
    for _ in 0..3 {
        let reply = over_udp(&front, "sandbox_ask", json!([open.to_string(), "PING"]));
        assert_eq!(reply["result"], "+PONG PING", "{reply}");
        let read = over_udp(&front, "sandbox_read", json!([format!("{dir}/list.txt")]));
        assert_eq!(read["result"], "gw1\n", "{read}");
        let panicked = over_udp(&front, "hostile_panic", json!([]));
        assert_eq!(panicked["error"]["code"], 500, "{panicked}");
    }
    let ps = over_udp(&front, "ps", json!([]));
    assert!(
        ps["result"]["Processes"].is_array(),
        "the node answers: {ps}"
    );
}

/// A plain HTTP server on loopback: `/ok` answers `hello`, `/big` 2 MiB, `/bytes/<n>`
/// `n` bytes, `/to/<url>` a `302` to `<url>`, `/silent` nothing at all.
fn web() -> std::net::SocketAddr {
    serve(move |mut stream| {
        let mut head = String::new();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let _ = reader.read_line(&mut head);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let answer = |stream: &mut std::net::TcpStream, status: &str, extra: &str, body: &[u8]| {
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        };
        if path == "/ok" {
            answer(&mut stream, "200 OK", "", b"hello");
        } else if path == "/big" {
            answer(&mut stream, "200 OK", "", &vec![b'x'; 2 << 20]);
        } else if let Some(size) = path.strip_prefix("/bytes/") {
            let size: usize = size.parse().unwrap_or(0);
            answer(&mut stream, "200 OK", "", &vec![b'x'; size]);
        } else if let Some(target) = path.strip_prefix("/to/") {
            answer(
                &mut stream,
                "302 Found",
                &format!("Location: {target}\r\n"),
                b"",
            );
        } else {
            std::thread::sleep(Duration::from_secs(30));
        }
    })
}

#[test]
fn granted_http_reaches_only_allowed_hosts_with_bounded_responses_and_waits() {
    let site = web();
    let other = web();
    let daemon = sandboxed(&format!(
        "grants = [\"http\"]\nallowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\nmax_http_response = 1048576\nio_timeout_ms = 400",
        site.port()
    ));
    let get = |url: String| daemon.call("sandbox_get", json!([url]));
    let ok = get(format!("http://{site}/ok"));
    assert_eq!(
        ok["result"],
        json!({"status": 200, "body": "hello"}),
        "{ok}"
    );
    let followed = get(format!("http://{site}/to/http://{site}/ok"));
    assert_eq!(
        followed["result"]["body"], "hello",
        "an allowed redirect: {followed}"
    );
    for (what, url) in [
        ("a denied port", format!("http://{other}/ok")),
        (
            "a redirect to a denied host",
            format!("http://{site}/to/http://{other}/ok"),
        ),
        (
            "a name resolving to a denied address",
            format!("http://localhost:{}/ok", other.port()),
        ),
        (
            "https where only http is allowed",
            format!("https://{site}/ok"),
        ),
    ] {
        let refused = get(url);
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("HttpRequestDenied"), "{what}: {refused}");
    }
    let big = get(format!("http://{site}/big"));
    let message = big["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("reading the body failed"),
        "over max_http_response: {big}"
    );
    let started = Instant::now();
    let silent = get(format!("http://{site}/silent"));
    assert_eq!(
        silent["error"]["message"],
        "module 'sandbox' waited on I/O longer than its 400 ms I/O limit (io_timeout_ms)",
        "{silent}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(get(format!("http://{site}/ok"))["result"]["body"], "hello");
}

#[test]
fn without_the_http_grant_wasi_http_fails_the_call_naming_itself() {
    let site = web();
    let daemon = sandboxed("");
    let message = daemon.failure("sandbox_get", json!([format!("http://{site}/ok")]));
    assert!(
        message.starts_with("module 'sandbox' failed: wasi:http/")
            && message.ends_with("needs the http grant"),
        "{message}"
    );
    let error = Daemon::start(&module_table(
        "sandbox",
        "sandbox",
        "grants = [\"http\"]\nallowed_outbound_hosts = [\"ftp://example.com\"]",
    ))
    .err()
    .expect("refused")
    .to_string();
    assert!(error.contains("allowed_outbound_hosts"), "{error}");
}

#[test]
fn a_response_of_exactly_max_http_response_bytes_is_read_and_one_more_is_not() {
    let site = web();
    let daemon = sandboxed(&format!(
        "grants = [\"http\"]\nallowed_outbound_hosts = [\"http://{site}\"]\nmax_http_response = 4096"
    ));
    let fits = daemon.call("sandbox_get", json!([format!("http://{site}/bytes/4096")]));
    assert_eq!(
        fits["result"]["body"].as_str().map(str::len),
        Some(4096),
        "{fits}"
    );
    let over = daemon.call("sandbox_get", json!([format!("http://{site}/bytes/4097")]));
    let message = over["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("reading the body failed"), "{over}");
    for (value, accepted) in [
        (0, false),
        (1, true),
        (64 << 20, true),
        ((64 << 20) + 1, false),
    ] {
        let keys = format!(
            "grants = [\"http\"]\nallowed_outbound_hosts = [\"http://{site}\"]\nmax_http_response = {value}"
        );
        let started = Daemon::start(&module_table("sandbox", "sandbox", &keys));
        assert_eq!(started.is_ok(), accepted, "max_http_response = {value}");
    }
}
