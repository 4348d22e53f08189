//! The daemon's life cycle and its HTTP edges: configuration errors, limits, `kill`.

use miwa_tests::{exchange, miwa_bin, parse_responses, Daemon};
use std::process::Command;
use std::time::Duration;

fn post(daemon: &Daemon, content_type: &str, body: &str) -> miwa_tests::HttpResponse {
    let request = format!(
        "POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let raw = exchange(daemon.http, request.as_bytes(), Duration::from_millis(500)).unwrap();
    parse_responses(&raw)
        .into_iter()
        .next()
        .expect("a response")
}

#[test]
fn invalid_configuration_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let serve = |config: &str| {
        std::fs::write(&path, config).unwrap();
        let output = Command::new(miwa_bin())
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{config:?} must be refused");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = serve("[http]\nroot = \"a/b\"\n");
    assert!(
        stderr.contains("bad.toml") && stderr.contains("http.root"),
        "{stderr}"
    );
    assert!(serve("[htp]\nport = 1\n").contains("htp"));
}

#[test]
fn body_limit_edge_and_status_codes() {
    let daemon = Daemon::start("max_body = 100\n").unwrap();
    let exact = format!(
        r#"{{"jsonrpc":"2.0","method":"pwd","id":1,"pad":"{}"}}"#,
        "x".repeat(100 - 48)
    );
    assert_eq!(exact.len(), 100);
    let ok = post(&daemon, "application/json", &exact);
    assert_eq!(ok.status, 200, "{:?}", String::from_utf8_lossy(&ok.body));
    let over = format!(
        r#"{{"jsonrpc":"2.0","method":"pwd","id":1,"pad":"{}"}}"#,
        "x".repeat(101 - 48)
    );
    assert_eq!(post(&daemon, "application/json", &over).status, 413);
    assert_eq!(post(&daemon, "text/plain", &exact).status, 415);
    assert_eq!(
        post(
            &daemon,
            "application/json",
            r#"{"jsonrpc":"2.0","method":"pwd"}"#
        )
        .status,
        202
    );
    let unprintable = post(
        &daemon,
        "application/json",
        r#"{"jsonrpc":"2.0","method":"pwd","id":{}}"#,
    );
    assert_eq!((unprintable.status, unprintable.body.len()), (500, 0));
    assert_eq!(post(&daemon, "application/json", "").status, 400);
    let parse_error = post(&daemon, "application/json; charset=utf-8", "hello");
    assert_eq!(
        String::from_utf8_lossy(&parse_error.body),
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#
    );
}

#[test]
fn keep_alive_pipelining_and_expect_continue() {
    let daemon = Daemon::start("").unwrap();
    let body = r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#;
    let one = format!("POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let raw = exchange(
        daemon.http,
        format!("{one}{one}{one}").as_bytes(),
        Duration::from_millis(500),
    )
    .unwrap();
    let responses = parse_responses(&raw);
    assert_eq!(responses.len(), 3);
    assert!(responses.iter().all(|r| r.status == 200 && r.complete));
    let expect = format!(
        "POST /mi HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        &body[..5],
        body.len() - 5,
        &body[5..]
    );
    let raw = exchange(daemon.http, expect.as_bytes(), Duration::from_millis(500)).unwrap();
    let responses = parse_responses(&raw);
    assert_eq!(responses.len(), 1);
    assert!(String::from_utf8_lossy(&responses[0].body).contains(r#""WD":"#));
}

#[test]
fn kill_replies_then_shuts_down() {
    let mut daemon = Daemon::start("").unwrap();
    let reply = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"kill","id":1}"#)
        .unwrap();
    assert_eq!(reply["result"], "OK");
    let status = daemon
        .wait_exit(Duration::from_secs(10))
        .expect("the daemon exits after kill");
    assert!(status.success(), "{status:?}");
}

#[test]
fn statistics_count_real_traffic() {
    let daemon = Daemon::start("").unwrap();
    for _ in 0..3 {
        daemon
            .rpc(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)
            .unwrap();
    }
    daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"log_level","params":["x"],"id":1}"#)
        .unwrap();
    let stats = daemon.rpc(r#"{"jsonrpc":"2.0","method":"get_statistics","params":[["commands:","http_requests"]],"id":1}"#).unwrap();
    let result = &stats["result"];
    assert_eq!(result["commands:pwd_calls"], 3, "{result}");
    assert_eq!(result["commands:log_level_errors"], 1, "{result}");
    assert_eq!(
        result["transports:http_requests"], 4,
        "the requests before this one: {result}"
    );
    let reset = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"reset_statistics","params":[["pwd_calls"]],"id":1}"#)
        .unwrap();
    assert_eq!(reset["result"], "OK");
    let after = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"get_statistics","params":[["pwd_calls"]],"id":1}"#)
        .unwrap();
    assert_eq!(after["result"]["commands:pwd_calls"], 0, "{after}");
}

#[test]
fn per_process_log_level() {
    let daemon = Daemon::start("").unwrap();
    let levels = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"log_level","id":1}"#)
        .unwrap();
    let processes = levels["result"]["Processes"].as_array().unwrap().clone();
    let target = processes.last().unwrap()["PID"].clone();
    let set = daemon.rpc(&format!(r#"{{"jsonrpc":"2.0","method":"log_level","params":{{"level":1,"pid":{target}}},"id":1}}"#)).unwrap();
    assert_eq!(set["result"]["Log level"], 1);
    let after = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"log_level","id":1}"#)
        .unwrap();
    for p in after["result"]["Processes"].as_array().unwrap() {
        let want = if p["PID"] == target { 1 } else { 3 };
        assert_eq!(p["Log level"], want, "{p}");
    }
    let bad = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"log_level","params":[3,999999],"id":1}"#)
        .unwrap();
    assert_eq!(bad["error"]["data"], "Bad PID");
}

#[test]
fn log_level_and_consumers_steer_the_real_log() {
    let daemon = Daemon::start("\n[log]\nlevel = 1\n").unwrap();
    let call = |body: &str| {
        let reply = daemon.rpc(body).unwrap();
        assert!(reply.get("result").is_some(), "{reply}");
    };
    let dumps = || daemon.log().matches("daemon memory:").count();
    let dump_at = |level: i32| {
        call(&format!(
            r#"{{"jsonrpc":"2.0","method":"mem_shm_dump","params":[{level}],"id":1}}"#
        ))
    };
    dump_at(3);
    assert_eq!(dumps(), 0, "an INFO line is below log level 1 (WARN)");
    call(r#"{"jsonrpc":"2.0","method":"log_level","params":[3],"id":1}"#);
    dump_at(3);
    assert_eq!(dumps(), 1, "log_level 3 lets INFO through");
    call(r#"{"jsonrpc":"2.0","method":"log_mute_state","params":["stderror",1],"id":1}"#);
    dump_at(3);
    assert_eq!(dumps(), 1, "a muted stderror consumer writes nothing");
    call(r#"{"jsonrpc":"2.0","method":"log_mute_state","params":["stderror",0],"id":1}"#);
    call(r#"{"jsonrpc":"2.0","method":"log_level_filter","params":["stderror",1],"id":1}"#);
    dump_at(3);
    assert_eq!(dumps(), 1, "the stderror filter at 1 holds INFO back");
    dump_at(1);
    assert_eq!(dumps(), 2, "a WARN line passes the filter");
    let state = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"log_level_filter","params":["stderror"],"id":1}"#)
        .unwrap();
    assert_eq!(state["result"]["Log level filter"], 1);
    let unknown = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"log_mute_state","params":["nope"],"id":1}"#)
        .unwrap();
    assert_eq!(unknown["error"]["message"], "Unknown log consumer");
}

#[test]
fn slow_headers_are_cut_after_conn_timeout() {
    use std::io::{Read, Write};
    let daemon = Daemon::start("conn_timeout = 1\n").unwrap();
    let mut stream = std::net::TcpStream::connect(daemon.http).unwrap();
    stream
        .write_all(b"POST /mi HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    let outcome = stream.read(&mut buf);
    let waited = started.elapsed();
    assert!(
        outcome.is_ok(),
        "the server must end the connection, not leave it hanging: {outcome:?}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
    let reply = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#)
        .unwrap();
    assert!(reply["result"]["WD"].is_string(), "the daemon still serves");
}
