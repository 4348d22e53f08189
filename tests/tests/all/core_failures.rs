//! A trap or a deadline inside the core answers -32000 for that request only; the worker
//! gets a fresh instance and the next request succeeds.

use miwa_tests::Daemon;
use serde_json::Value;

fn assert_uptime_works(daemon: &Daemon) {
    let reply = daemon
        .rpc(r#"{"jsonrpc":"2.0","method":"uptime","id":2}"#)
        .unwrap();
    assert!(reply["result"]["Up time"].is_string(), "{reply}");
}

#[test]
fn stack_overflow_in_the_core_is_one_failed_request() {
    let daemon =
        Daemon::start("\n[core]\nmax_json_depth = 1024\nmax_wasm_stack = 16384\n").unwrap();
    let depth = 1000;
    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for _ in 0..3 {
        let reply = daemon.rpc(&body).unwrap();
        assert_eq!(reply["error"]["code"], -32000, "{reply}");
        assert_eq!(reply["id"], Value::Null);
        let data = reply["error"]["data"].as_str().unwrap();
        assert_eq!(
            data, "core trapped; the daemon's log has the details",
            "the trap's kind only, never its backtrace"
        );
        assert_uptime_works(&daemon);
    }
}

#[test]
fn deadline_in_the_core_is_one_failed_request() {
    let daemon = Daemon::start("max_body = 8388608\n\n[core]\ncall_timeout_ms = 1\n").unwrap();
    let pad = vec!["0"; 1_500_000].join(",");
    let body = format!(r#"{{"jsonrpc":"2.0","method":"uptime","id":7,"pad":[{pad}]}}"#);
    let reply = daemon.rpc(&body).unwrap();
    assert_eq!(reply["error"]["code"], -32000, "{reply}");
    assert_eq!(reply["error"]["message"], "Server error");
    assert_eq!(
        reply["error"]["data"],
        "core call exceeded its 1 ms time limit"
    );
    assert_eq!(reply["id"], 7);
    assert_uptime_works(&daemon);
}

#[test]
fn depth_limit_edge_is_a_parse_error() {
    let daemon = Daemon::start("[core]\nmax_json_depth = 4\n").unwrap();
    let at_limit =
        r#"{"jsonrpc":"2.0","method":"get_statistics","params":{"statistics":[["x"]]},"id":1}"#;
    let reply = daemon.rpc(at_limit).unwrap();
    assert_eq!(
        reply["error"]["data"], "Bad type for array item in parameter 'statistics'",
        "{reply}"
    );
    let over =
        r#"{"jsonrpc":"2.0","method":"get_statistics","params":{"statistics":[[["x"]]]},"id":1}"#;
    let reply = daemon.rpc(over).unwrap();
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
}
