//! Nothing a module, a client or an accepted configuration does aborts or bloats the
//! daemon: the largest accepted stacks with unbounded recursion, the deepest accepted
//! `mi()` nesting at the largest caps, errors at the reply limit, a stalled subscriber
//! under a flood of the largest events, cache accounting, the HTTP buffer budget, and
//! module limits that no longer fit the daemon's threads. Each case is followed by a
//! request that succeeds.

use miwa_tests::{exchange, module_table, parse_responses, Daemon};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The largest accepted `max_wasm_stack` (core and modules).
const MAX_STACK: usize = 64 << 20;

/// The deepest accepted `mi_depth`.
const MAX_MI_DEPTH: u32 = 8;

fn error_of(reply: &Value) -> (i64, String, String) {
    let error = &reply["error"];
    assert!(error.is_object(), "expected an error: {reply}");
    (
        error["code"].as_i64().unwrap(),
        error["message"].as_str().unwrap_or("").to_string(),
        error["data"].as_str().unwrap_or("").to_string(),
    )
}

/// The daemon still serves: a module call and a core call both succeed.
fn still_serves(daemon: &mut Daemon) {
    assert!(daemon.is_running(), "the daemon died:\n{}", daemon.log());
    assert_eq!(daemon.result("hostile_ok", json!([])), json!("OK"));
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}

fn hostile(keys: &str) -> String {
    module_table(
        "hostile",
        "hostile",
        &format!("grants = [\"mi\"]\nmi_allow = [\"hostile_nest\", \"hostile_ok\"]\n{keys}"),
    )
}

#[test]
fn unbounded_recursion_at_every_accepted_stack_size_fails_one_call() {
    for stack in [2 << 20, 4 << 20, MAX_STACK] {
        let config = format!(
            "\n[core]\nmax_wasm_stack = {MAX_STACK}\n{}",
            hostile(&format!("max_wasm_stack = {stack}\ntimeout_ms = 5000"))
        );
        let mut daemon = Daemon::start(&config).unwrap();
        for transport in ["http", "udp", "fifo"] {
            let (ok, _, stderr) = daemon.miwa_call(transport, &["hostile_stack"]);
            assert!(!ok, "{transport}");
            assert!(
                stderr.contains(&format!(
                    "module 'hostile' exceeded its {stack}-byte stack limit"
                )),
                "{transport} at {stack}: {stderr}"
            );
            still_serves(&mut daemon);
        }
    }
}

#[test]
fn the_deepest_mi_nesting_at_the_largest_caps_fails_cleanly() {
    let config = format!(
        "\n[core]\nmax_wasm_stack = {MAX_STACK}\ncall_timeout_ms = 30000\n{}",
        hostile(&format!(
            "max_wasm_stack = {MAX_STACK}\nmi_depth = {MAX_MI_DEPTH}\nmax_instances = 16\ntimeout_ms = 30000"
        ))
    );
    let mut daemon = Daemon::start(&config).unwrap();
    // A frame of hostile_nest's recursion takes about 48 bytes: every level takes three
    // quarters of its 64 MiB stack before it nests.
    let frames = (MAX_STACK / 64).to_string();
    let deeper = (MAX_MI_DEPTH + 1).to_string();
    let deepest = MAX_MI_DEPTH.to_string();
    for transport in ["http", "udp", "fifo"] {
        // One level more than allowed: all nine levels fit, the tenth mi() is refused.
        let (ok, _, stderr) = daemon.miwa_call(transport, &["hostile_nest", &frames, &deeper]);
        assert!(!ok, "{transport}");
        assert!(
            stderr.contains(&format!("exceeded its mi() depth limit of {MAX_MI_DEPTH}")),
            "{transport}: {stderr}"
        );
        still_serves(&mut daemon);
        // The deepest accepted nesting, whose last level recurses until its cap: nine
        // module levels and nine core levels on one native stack.
        let (ok, _, stderr) = daemon.miwa_call(transport, &["hostile_nest", &frames, &deepest]);
        assert!(!ok, "{transport}");
        assert!(
            stderr.contains(&format!("exceeded its {MAX_STACK}-byte stack limit")),
            "{transport}: {stderr}"
        );
        still_serves(&mut daemon);
    }
}

#[test]
fn limits_that_no_longer_fit_the_threads_are_refused_at_reload() {
    let mut daemon = Daemon::start(&hostile("max_wasm_stack = 262144\nmi_depth = 2")).unwrap();
    let config = std::fs::read_to_string(daemon.config_path()).unwrap();
    let grown = config.replace(
        "max_wasm_stack = 262144\nmi_depth = 2",
        &format!("max_wasm_stack = {MAX_STACK}\nmi_depth = {MAX_MI_DEPTH}"),
    );
    assert_ne!(config, grown);
    std::fs::write(daemon.config_path(), grown).unwrap();
    let (code, message, _) = error_of(&daemon.call("module_reload", json!(["hostile"])));
    assert_eq!(code, 500);
    let file = daemon.config_path().display().to_string();
    assert!(
        message.contains(&file)
            && message.contains("modules.hostile.max_wasm_stack")
            && message.contains("restart"),
        "{message}"
    );
    still_serves(&mut daemon);
}

#[test]
fn errors_are_held_to_the_reply_limit_too() {
    let mut daemon = Daemon::start(&hostile("max_reply = 1048576")).unwrap();
    let half = 1 << 19;
    let at_limit = daemon.call("hostile_error", json!([half, half]));
    let (code, message, data) = error_of(&at_limit);
    assert_eq!((code, message.len(), data.len()), (500, half, half));
    still_serves(&mut daemon);
    let over = daemon.call("hostile_error", json!([half, half + 1]));
    let (code, message, _) = error_of(&over);
    assert_eq!(code, 500);
    assert_eq!(
        message,
        "module 'hostile' returned an error of 1048577 bytes, over its 1048576-byte reply limit"
    );
    still_serves(&mut daemon);
    let (code, message, _) = error_of(&daemon.call("hostile_error", json!([2 << 20, 2 << 20])));
    assert_eq!(code, 500);
    assert!(
        message.contains("over its 1048576-byte reply limit"),
        "{message}"
    );
    still_serves(&mut daemon);
}

#[test]
fn the_core_and_datagram_reply_limits_cover_errors_too() {
    let mut daemon = Daemon::start(&format!(
        "\n[core]\nmax_reply = 1048576\n{}",
        hostile("max_reply = 8388608\nmax_memory = 33554432")
    ))
    .unwrap();
    let half = 1 << 19;
    let (code, message, data) = error_of(&daemon.call("hostile_error", json!([half, half])));
    assert_eq!((code, message.as_str()), (500, "Reply too large"), "{data}");
    assert!(data.contains("over the 1048576-byte limit"), "{data}");
    still_serves(&mut daemon);
    let small = daemon.call("hostile_error", json!([1000, 1000]));
    assert_eq!(
        error_of(&small).1.len(),
        1000,
        "an error under every limit passes"
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 70000];
    for (size, expected) in [(30_000, None), (40_000, Some("500 Internal error"))] {
        let request = json!({"jsonrpc": "2.0", "method": "hostile_error",
                             "params": [size, size], "id": 1});
        socket
            .send_to(request.to_string().as_bytes(), daemon.udp)
            .unwrap();
        let n = socket.recv(&mut buf).expect("a reply datagram");
        let reply = String::from_utf8_lossy(&buf[..n]);
        match expected {
            Some(text) => assert_eq!(reply, text, "an error over max_datagram"),
            None => assert!(reply.contains("\"code\":500"), "{}", &reply[..100]),
        }
    }
    still_serves(&mut daemon);
}

/// One `raise_event` body whose notification is exactly `size` bytes.
fn event_of_size(size: usize) -> String {
    let envelope = r#"{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":[""]}"#.len();
    let payload = "x".repeat(size - envelope);
    json!({"jsonrpc": "2.0", "method": "raise_event",
           "params": ["E_CORE_THRESHOLD", [payload]], "id": 1})
    .to_string()
}

fn statistic(daemon: &Daemon, name: &str) -> u64 {
    let stats = daemon.result("get_statistics", json!([["event_subscribers:"]]));
    stats
        .as_object()
        .unwrap()
        .iter()
        .find(|(key, _)| key.ends_with(name))
        .and_then(|(_, v)| v.as_u64())
        .unwrap_or_else(|| panic!("no statistic {name}: {stats}"))
}

#[test]
fn a_stalled_subscriber_under_a_flood_of_the_largest_events_stays_bounded() {
    let queue_bytes: u64 = 1 << 20;
    let fanout_bytes: u64 = 1 << 20;
    let max_event = 65536;
    let mut daemon = Daemon::start(&format!(
        "max_body = 1048576\n\n[events]\nqueue_bytes = {queue_bytes}\nfanout_bytes = {fanout_bytes}\nmax_event = {max_event}\nmax_subscribers = 3\nio_timeout_ms = 60000\n{}",
        hostile("")
    ))
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let socket = format!("tcp:{}", listener.local_addr().unwrap());
    assert_eq!(
        daemon.result("event_subscribe", json!(["E_CORE_THRESHOLD", socket])),
        json!("OK")
    );
    // The subscriber accepts the daemon's connection (made at the first event) and never
    // reads from it.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let stalled = std::thread::spawn(move || {
        let (_connection, _) = listener.accept_timeout();
        let _ = finished.recv_timeout(Duration::from_secs(120));
    });

    let over = daemon.rpc(&event_of_size(max_event + 1)).unwrap();
    let (code, message, data) = error_of(&over);
    assert_eq!((code, message.as_str()), (500, "Cannot Raise Event"));
    assert!(data.contains("events.max_event"), "{data}");
    let before = daemon.rss();
    let largest = event_of_size(max_event);
    let mut refused = 0;
    for _ in 0..2000 {
        let reply = daemon.rpc(&largest).unwrap();
        if reply.get("error").is_some() {
            refused += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = daemon.rss();
    let queued = statistic(&daemon, "/queued");
    let dropped = statistic(&daemon, "/dropped");
    let queued_bytes = statistic(&daemon, "/queued_bytes");
    assert_eq!(queued_bytes, queued * max_event as u64);
    assert!(queued > 0, "the stalled subscriber holds events");
    assert!(
        queued * max_event as u64 <= queue_bytes,
        "{queued} events of {max_event} bytes exceed queue_bytes"
    );
    assert!(dropped > 1000, "{dropped} dropped, {refused} refused");
    let bound = queue_bytes + fanout_bytes + (16 << 20);
    println!(
        "stalled subscriber: 2000 events of {max_event} bytes, {queued} queued ({queued_bytes} bytes), {dropped} dropped, {refused} refused; RSS {before} -> {after}"
    );
    assert!(
        after.saturating_sub(before) <= bound,
        "resident memory grew from {before} to {after} bytes (bound {bound})"
    );
    still_serves(&mut daemon);

    for n in 0..2 {
        let extra = format!("tcp:127.0.0.1:{}", 9 + n);
        assert_eq!(
            daemon.result("event_subscribe", json!(["E_CORE_THRESHOLD", extra])),
            json!("OK")
        );
    }
    let refused = daemon.call(
        "event_subscribe",
        json!(["E_CORE_THRESHOLD", "tcp:127.0.0.1:20"]),
    );
    let (code, message, _) = error_of(&refused);
    assert_eq!((code, message.as_str()), (503, "Too many subscribers"));
    assert_eq!(
        daemon.result("event_subscribe", json!(["E_CORE_THRESHOLD", socket, 10])),
        json!("OK"),
        "refreshing a subscription needs no new place"
    );
    still_serves(&mut daemon);
    drop(done);
    stalled.join().unwrap();
}

/// Accepting a connection with a deadline.
trait AcceptTimeout {
    fn accept_timeout(&self) -> (TcpStream, std::net::SocketAddr);
}

impl AcceptTimeout for TcpListener {
    fn accept_timeout(&self) -> (TcpStream, std::net::SocketAddr) {
        self.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.accept() {
                Ok((stream, peer)) => return (stream, peer),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("no connection from the daemon: {e}"),
            }
        }
    }
}

/// Stores `count` entries over UDP, many in flight at once; how many were refused.
fn store_over_udp(daemon: &Daemon, count: usize, value: &str) -> usize {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut refused = 0;
    let mut buf = vec![0u8; 70000];
    for start in (0..count).step_by(32) {
        let end = (start + 32).min(count);
        for i in start..end {
            let request = json!({"jsonrpc": "2.0", "method": "cache_store",
                                 "params": ["local", format!("k{i:07}"), value], "id": i});
            socket
                .send_to(request.to_string().as_bytes(), daemon.udp)
                .unwrap();
        }
        for _ in start..end {
            let n = socket.recv(&mut buf).expect("a reply to every store");
            if std::str::from_utf8(&buf[..n])
                .unwrap()
                .contains("\"error\"")
            {
                refused += 1;
            }
        }
    }
    refused
}

#[test]
fn the_cache_limit_bounds_its_real_memory() {
    let max_bytes: u64 = 16 << 20;
    let mut daemon = Daemon::start(&format!(
        "\n[cache]\nmax_bytes = {max_bytes}\n{}",
        hostile("")
    ))
    .unwrap();
    let before = daemon.rss();
    let offered = 200_000;
    let refused = store_over_udp(&daemon, offered, "v");
    let stored = offered - refused;
    let after = daemon.rss();
    assert!(refused > 0, "a 16 MiB cache cannot hold {offered} entries");
    assert!(
        (60_000..150_000).contains(&stored),
        "{stored} tiny entries fit 16 MiB: each must count its overhead"
    );
    let full = daemon.call("cache_store", json!(["local", "one-more", "v"]));
    assert_eq!(error_of(&full).2, "cache 'local' is full");
    let grown = after.saturating_sub(before);
    println!("cache: {stored} tiny entries in {max_bytes} bytes grew RSS by {grown} bytes");
    assert!(
        grown <= max_bytes * 3 / 2,
        "{stored} tiny entries grew the daemon by {grown} bytes, over 1.5 × max_bytes"
    );
    let removed = daemon.result("cache_remove", json!(["local", "k0000000"]));
    assert_eq!(removed, json!("OK"));
    assert_eq!(
        daemon.result("cache_store", json!(["local", "one-more", "v"])),
        json!("OK")
    );
    still_serves(&mut daemon);
}

#[test]
fn large_cache_entries_are_bounded_by_the_limit_too() {
    let max_bytes: u64 = 8 << 20;
    let mut daemon = Daemon::start(&format!(
        "max_body = 2097152\n\n[cache]\nmax_bytes = {max_bytes}\n{}",
        hostile("")
    ))
    .unwrap();
    let value = "v".repeat(512 << 10);
    // The path of a 512 KiB value (the HTTP body, the core instances' memory) grows once,
    // whichever worker serves it: warmed first, so that what is measured is the cache.
    for _ in 0..8 {
        daemon.call("cache_store", json!(["local", "warm", value]));
        daemon.call("cache_remove", json!(["local", "warm"]));
    }
    let before = daemon.rss();
    let mut stored = 0;
    for i in 0..32 {
        let reply = daemon.call("cache_store", json!(["local", format!("big{i}"), value]));
        if reply.get("error").is_none() {
            stored += 1;
        }
    }
    assert_eq!(stored, 15, "16 × 512 KiB plus overhead is over 8 MiB");
    let grown = daemon.rss().saturating_sub(before);
    println!("cache: {stored} entries of 512 KiB in {max_bytes} bytes grew RSS by {grown} bytes");
    assert!(grown <= max_bytes * 2, "grew by {grown} bytes");
    let chunk = daemon.result("cache_fetch_chunk", json!(["big1*"]));
    let keys: Vec<&str> = chunk["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["big1", "big10", "big11", "big12", "big13", "big14"]);
    still_serves(&mut daemon);
}

/// A raw POST to `/mi` with `content_type`; the status and body.
fn post_with(daemon: &Daemon, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = exchange(daemon.http, request.as_bytes(), Duration::from_secs(5)).unwrap();
    let response = parse_responses(&raw)
        .into_iter()
        .next()
        .expect("a response");
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

#[test]
fn content_types_follow_opensips() {
    let daemon = Daemon::start("").unwrap();
    let uptime = r#"{"jsonrpc":"2.0","method":"uptime","id":7}"#;
    for content_type in [
        "application/json-rpc",
        "APPLICATION/JSON",
        "application/json ; charset=utf-8",
        " application/jsonrequest",
    ] {
        let (status, body) = post_with(&daemon, "/mi", content_type, uptime);
        assert_eq!(status, 200, "{content_type}");
        assert!(body.contains("\"Up time\""), "{content_type}: {body}");
    }
    let call = "<?xml version=\"1.0\"?><methodCall><methodName>uptime</methodName></methodCall>";
    let (status, body) = post_with(&daemon, "/RPC2", "Text/XML ; charset=utf-8", call);
    assert_eq!(status, 200);
    assert!(body.contains("Up time"), "{body}");
    for refused in ["text/xml-rpc", "application/jso", "text/plain"] {
        assert_eq!(
            post_with(&daemon, "/mi", refused, uptime).0,
            415,
            "{refused}"
        );
    }
}

#[test]
fn httpd_list_root_path_lists_the_roots_served() {
    let daemon = Daemon::start("").unwrap();
    assert_eq!(
        daemon.result("httpd_list_root_path", json!([])),
        json!([
            {"http_root": "playground", "module": "miwa_playground"},
            {"http_root": "html", "module": "mi_html"},
            {"http_root": "RPC2", "module": "mi_xmlrpc_ng"},
            {"http_root": "mi", "module": "mi_http"}
        ])
    );
    assert_eq!(
        daemon.result("help", json!(["httpd_list_root_path"]))["Exported by"],
        "httpd"
    );
    let bare =
        Daemon::start("xmlrpc_root = \"\"\nhtml_root = \"\"\nplayground_dir = \"\"").unwrap();
    assert_eq!(
        bare.result("httpd_list_root_path", json!([])),
        json!([{"http_root": "mi", "module": "mi_http"}])
    );
}

#[test]
fn cache_fetch_chunk_answers_in_the_recorded_format() {
    let daemon = Daemon::start("").unwrap();
    for (key, value) in [("k2", "v2"), ("k1", "v1"), ("other", "x")] {
        daemon.result("cache_store", json!(["local", key, value]));
    }
    daemon.result("cache_store", json!(["local", "k3", "gone", 1]));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        daemon.result("cache_fetch_chunk", json!({"glob": "k*"})),
        json!({"keys": [{"name": "k1", "value": "v1"}, {"name": "k2", "value": "v2"}]})
    );
    assert_eq!(
        daemon.result("cache_fetch_chunk", json!(["nothing*"])),
        json!({"keys": []})
    );
    assert_eq!(
        daemon.result("help", json!(["cache_fetch_chunk"]))["Exported by"],
        "cachedb_local"
    );
}

/// Sends a request head announcing a `length`-byte body and `sent` bytes of it.
fn partial_body(daemon: &Daemon, length: usize, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(daemon.http).unwrap();
    let head = format!(
        "POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![b' '; sent]).unwrap();
    stream
}

#[test]
fn bodies_in_flight_are_bounded_by_max_buffered() {
    let daemon =
        Daemon::start("max_body = 4096\nmax_buffered = 8192\n\n[core]\nmax_reply = 4096").unwrap();
    let mut first = partial_body(&daemon, 4096, 4000);
    let _second = partial_body(&daemon, 4096, 4000);
    std::thread::sleep(Duration::from_millis(300));
    let mut third = partial_body(&daemon, 4096, 400);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = [0u8; 64];
    let n = third.read(&mut head).unwrap();
    let refused = String::from_utf8_lossy(&head[..n]);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let uptime = r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
    let rest = 4096 - 4000 - uptime.len();
    first.write_all(&vec![b' '; rest]).unwrap();
    first.write_all(uptime.as_bytes()).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = first.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Up time"), "{answer}");
    drop(first);
    std::thread::sleep(Duration::from_millis(100));
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}

#[test]
fn a_reply_that_does_not_fit_max_buffered_is_refused() {
    let daemon =
        Daemon::start("max_body = 4096\nmax_buffered = 8192\n\n[core]\nmax_reply = 4096").unwrap();
    let _first = partial_body(&daemon, 4096, 4000);
    let _second = partial_body(&daemon, 4096, 4000);
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = post_with(
        &daemon,
        "/mi",
        "application/json",
        r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#,
    );
    assert_eq!(status, 200, "a reply that fits the 192 bytes left is sent");
    let (status, _) = post_with(
        &daemon,
        "/mi",
        "application/json",
        r#"{"jsonrpc":"2.0","method":"which","id":1}"#,
    );
    assert_eq!(
        status, 503,
        "which's reply is larger than the 192 bytes left"
    );
    assert!(daemon.logged("reply refused: http.max_buffered"));
    drop((_first, _second));
    std::thread::sleep(Duration::from_millis(200));
    assert!(daemon.result("which", json!([])).is_array());
}

#[test]
fn the_total_memory_budget_bounds_every_instance_together() {
    let budget = 24 << 20;
    // The time limit is set out of the way (2 s, not 100 ms): the bomb must meet the
    // memory budget even when the other tests of this binary hold both cores.
    let mut daemon = Daemon::start(&format!(
        "\n[core]\nmax_memory = 16777216\nmax_total_memory = {budget}\n{}",
        hostile(&format!("max_memory = {budget}\ntimeout_ms = 2000"))
    ))
    .unwrap();
    let (code, message, _) = error_of(&daemon.call("hostile_bomb", json!([])));
    assert_eq!(code, 500);
    assert_eq!(
        message,
        format!(
            "module 'hostile' could not grow its memory: the daemon's {budget}-byte WebAssembly memory budget (core.max_total_memory) is in use"
        ),
        "the core's instances hold part of the budget, so the module reaches it before its own cap"
    );
    still_serves(&mut daemon);
}

#[test]
fn unsafe_limits_are_refused_at_start_naming_the_key() {
    for (keys, key) in [
        ("\n[core]\nmax_wasm_stack = 67108865", "core.max_wasm_stack"),
        (
            "\n[core]\nmax_total_memory = 1048576",
            "core.max_total_memory",
        ),
        ("\n[core]\nmax_json_depth = 1025", "core.max_json_depth"),
        ("max_buffered = 1024", "http.max_buffered"),
        ("\n[events]\nqueue_bytes = 1000", "events.queue_bytes"),
        ("\n[events]\nfanout_bytes = 1000", "events.fanout_bytes"),
        ("\n[cache]\nmax_bytes = 1000", "cache.max_bytes"),
        ("\n[fifo]\nmax_queued_bytes = 10", "fifo.max_queued_bytes"),
        (&hostile("mi_depth = 9"), "mi_depth"),
    ] {
        let refused = Daemon::start(keys).err().expect(key).to_string();
        assert!(
            refused.contains("miwa.toml") && refused.contains(key),
            "{key}: {refused}"
        );
    }
}

/// A value one past either end of a range is refused with that range's own bounds in the
/// message, and the bound itself is taken.
#[test]
fn range_messages_give_the_ranges_bounds() {
    let upstream = "\n[upstreams.a]\nudp = \"127.0.0.1:1\"\n";
    for (past, bound, key, message) in [
        (
            "workers = 257".to_string(),
            "workers = 256".to_string(),
            "http.workers",
            "must be between 1 and 256",
        ),
        (
            "client_prefix_v4 = 7".into(),
            "client_prefix_v4 = 8".into(),
            "http.client_prefix_v4",
            "must be between 8 and 32",
        ),
        (
            "\n[charts]\ninterval_ms = 99".into(),
            "\n[charts]\ninterval_ms = 100".into(),
            "charts.interval_ms",
            "must be between 100 and 3600000",
        ),
        (
            "\n[access]\nmax_concurrent_hashes = 65".into(),
            "\n[access]\nmax_concurrent_hashes = 64".into(),
            "max_concurrent_hashes",
            "must be between 1 and 64",
        ),
        (
            format!("{upstream}timeout_ms = 0"),
            format!("{upstream}timeout_ms = 1"),
            "timeout_ms",
            "must be between 1 and 600000",
        ),
        (
            format!("{upstream}\n[front]\nmax_parallel = 1025"),
            format!("{upstream}\n[front]\nmax_parallel = 1024"),
            "max_parallel",
            "must be between 1 and 1024",
        ),
    ] {
        let refused = Daemon::start(&past).err().expect(key).to_string();
        assert!(
            refused.contains("miwa.toml") && refused.contains(key) && refused.contains(message),
            "{key}: {refused}"
        );
        if let Err(error) = Daemon::start(&bound) {
            panic!("{key} at its bound: {error}");
        }
    }
}
