//! One request, one meaning: a request is read once, with the core's rules, and every
//! check, the audit log and the node see that reading. Each test attacks one side
//! entrance the way a caller with a limited role would, and checks with the node's own
//! audit log what it ran.

use miwa_tests::{fifo_write, udp_exchange, Daemon, ReplyFifo};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// POSTs `body` to `path` of `daemon`; the parsed reply (`null` when none).
fn post_to(daemon: &Daemon, path: &str, body: &str) -> Value {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        daemon.http,
        body.len()
    );
    let raw =
        miwa_tests::exchange(daemon.http, request.as_bytes(), Duration::from_secs(5)).unwrap();
    let response = miwa_tests::parse_responses(&raw).remove(0);
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

/// The audit lines of `path` once `count` are there (or whatever is there after 5 s).
fn audit_lines(path: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The commands of audit lines.
fn commands(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["command"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The audit lines of a node, without the front's probes: of its command list (`which`)
/// and, when it comes up, of its version (`version`).
fn node_lines(path: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<Value> = audit_lines(path, 0)
            .into_iter()
            .filter(|l| l["command"] != "which" && l["command"] != "version")
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node with no access control of its own, auditing what it runs, and a front before
/// it whose HTTP callers may run `uptime` only (their role `ro`).
struct Pair {
    node: Daemon,
    node_audit: std::path::PathBuf,
    front: Daemon,
    front_audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn pair(role: &str, extra: &str) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let node_audit = dir.path().join("node.log");
    let front_audit = dir.path().join("front.log");
    let node = Daemon::start(&format!("\n[audit]\nfile = \"{}\"\n", node_audit.display())).unwrap();
    let front = Daemon::start(&format!(
        "\n[upstreams.edge1]\nudp = \"{}\"\n[front]\nupstream = \"edge1\"\n[audit]\nfile = \"{}\"\n{extra}\n[access.transports]\nhttp = \"ro\"\nudp = \"ro\"\nfifo = \"ro\"\nxmlrpc = \"ro\"\n[access.roles.ro]\n{role}\n",
        node.udp,
        front_audit.display()
    ))
    .unwrap();
    Pair {
        node,
        node_audit,
        front,
        front_audit,
        _dir: dir,
    }
}

#[test]
fn a_read_only_role_cannot_smuggle_a_command_to_a_node() {
    let mut pair = pair(r#"allow = ["uptime"]"#, "");
    let attacks = [
        r#"{"jsonrpc":"2.0","method":"kill","method":"uptime","id":3}"#,
        r#"{"jsonrpc":"2.0","method":"kill","mEthod":"uptime","id":3}"#,
        r#"{"jsonrpc":"2.0","METHOD":"kill","method":"uptime","id":3}"#,
        r#"[{"jsonrpc":"2.0","method":"kill","Method":"uptime","id":3}]"#,
    ];
    for path in ["/mi/edge1", "/mi"] {
        for attack in attacks {
            let reply = post_to(&pair.front, path, attack);
            let error = if reply.is_array() {
                reply[0]["error"]["code"].clone()
            } else {
                reply["error"]["code"].clone()
            };
            assert_eq!(error, 403, "{path} {attack}: {reply}");
        }
    }
    for attack in attacks {
        let over_udp = udp_exchange(pair.front.udp, attack.as_bytes(), Duration::from_secs(5))
            .unwrap()
            .expect("a datagram reply");
        let over_udp = String::from_utf8_lossy(&over_udp);
        assert!(
            over_udp.contains("\"code\":403"),
            "udp {attack}: {over_udp}"
        );
        let fifo = ReplyFifo::create(&pair.front.reply_dir(), "smuggle").unwrap();
        fifo_write(&pair.front.fifo, format!(":smuggle:{attack}").as_bytes()).unwrap();
        let over_fifo = fifo
            .read(Duration::from_secs(5))
            .unwrap()
            .expect("a FIFO reply");
        let over_fifo = String::from_utf8_lossy(&over_fifo);
        assert!(
            over_fifo.contains("\"code\":403"),
            "fifo {attack}: {over_fifo}"
        );
    }
    let smuggled = [
        r#"{"jsonrpc":"2.0","method":"uptime","method":"kill","id":4}"#,
        r#"{"jsonrpc":"2.0","method":"uptime","METHOD":"kill","id":4}"#,
        r#"{"jsonrpc":"2.0","method":"uptime","id":4}{"jsonrpc":"2.0","method":"kill","id":5}"#,
        "{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":4}\u{0}{\"method\":\"kill\"}",
    ];
    for body in smuggled {
        let reply = post_to(&pair.front, "/mi/edge1", body);
        assert!(reply["result"]["Up time"].is_string(), "{body}: {reply}");
    }
    assert!(pair.node.is_running(), "the node was not killed");
    let node_ran = commands(&node_lines(&pair.node_audit, smuggled.len()));
    assert_eq!(
        node_ran,
        vec!["uptime"; smuggled.len()],
        "what the node ran"
    );
    let front_logged = commands(&audit_lines(
        &pair.front_audit,
        4 * attacks.len() + smuggled.len(),
    ));
    assert_eq!(
        front_logged,
        [
            vec!["kill"; 4 * attacks.len()],
            vec!["uptime"; smuggled.len()]
        ]
        .concat(),
        "the audit names what was checked and ran"
    );
}

#[test]
fn a_websocket_with_a_ticket_cannot_smuggle_either() {
    let mut pair = pair(r#"allow = ["uptime"]"#, "");
    let issued = post_to(&pair.front, "/ws/ticket", "");
    let ticket = issued["protocol"].as_str().expect("a ticket").to_string();
    let frames = [
        r#"{"jsonrpc":"2.0","method":"kill","method":"uptime","id":1}"#,
        r#"{"jsonrpc":"2.0","METHOD":"kill","method":"uptime","id":2}"#,
        r#"[{"jsonrpc":"2.0","method":"kill","Method":"uptime","id":3}]"#,
        r#"{"jsonrpc":"2.0","method":"uptime","method":"kill","id":4}"#,
    ];
    let input: String = frames
        .iter()
        .map(|f| format!("{}\n", json!({ "text": f })))
        .collect();
    let mut child = miwa_tests::python_client("ws_client.py")
        .arg(format!("ws://{}/ws/edge1", pair.front.http))
        .args(["--subprotocol", &ticket, "--wait", "2"])
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let seen: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let replies: Vec<Value> = seen
        .iter()
        .filter_map(|l| l["text"].as_str())
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(replies.len(), 4, "{seen:?}");
    for reply in &replies[..3] {
        let reply = if reply.is_array() { &reply[0] } else { reply };
        assert_eq!(reply["error"]["code"], 403, "{reply}");
    }
    assert!(
        replies[3]["result"]["Up time"].is_string(),
        "{}",
        replies[3]
    );
    assert!(pair.node.is_running());
    assert_eq!(commands(&node_lines(&pair.node_audit, 1)), ["uptime"]);
}

#[test]
fn nodes_run_and_role_rules_see_one_command_under_every_name() {
    let pair = pair(
        r#"allow = ["*"]
deny = ["edge1:cache_store", "evi:*", "core:kill"]"#,
        "",
    );
    for command in ["cache:store", "core:cache_store", "cache_store", "store"] {
        let run = post_to(
            &pair.front,
            "/mi",
            &json!({"jsonrpc":"2.0","method":"nodes_run","params":{"command":command,"params":["local","k","v"]},"id":1}).to_string(),
        );
        assert_eq!(
            run["result"]["edge1"]["error"]["code"], 403,
            "{command}: {run}"
        );
    }
    for method in ["cache:store", "cache_store", "core:cache_store"] {
        let reply = post_to(
            &pair.front,
            "/mi/edge1",
            &json!({"jsonrpc":"2.0","method":method,"params":["local","k","v"],"id":2}).to_string(),
        );
        assert_eq!(reply["error"]["code"], 403, "{method}: {reply}");
    }
    for method in [
        "evi:raise",
        "raise_event",
        "event_subscribe",
        "evi:subscribe",
        "core:kill",
        "kill",
    ] {
        let reply = post_to(
            &pair.front,
            "/mi/edge1",
            &json!({"jsonrpc":"2.0","method":method,"params":["E_X"],"id":3}).to_string(),
        );
        assert_eq!(reply["error"]["code"], 403, "{method}: {reply}");
    }
    let fetched = pair.node.call("cache_fetch", json!(["local", "k"]));
    assert!(
        fetched["error"].is_object(),
        "nothing was stored: {fetched}"
    );
    assert!(
        node_lines(&pair.node_audit, 1)
            .iter()
            .all(|l| l["command"] == "cache_fetch"),
        "the node ran nothing it was not asked directly"
    );
}

#[test]
fn role_rules_written_with_4_0_names_hold_on_every_transport() {
    let daemon = Daemon::start(
        "\n[access.transports]\nhttp = \"ops\"\nudp = \"ops\"\nfifo = \"ops\"\nunix = \"ops\"\nxmlrpc = \"ops\"\n[access.roles.ops]\nallow = [\"*\"]\ndeny = [\"cache:store\", \"evi:*\"]\n",
    )
    .unwrap();
    for method in ["cache:store", "cache_store", "core:cache_store"] {
        let reply = daemon.call(method, json!(["local", "k", "v"]));
        assert_eq!(reply["error"]["code"], 403, "{method}: {reply}");
    }
    for method in [
        "evi:raise",
        "raise_event",
        "subscribers_list",
        "evi:subscribers",
    ] {
        let reply = daemon.call(method, json!([]));
        assert_eq!(reply["error"]["code"], 403, "{method}: {reply}");
    }
    let body = br#"{"jsonrpc":"2.0","method":"cache:store","params":["local","k","v"],"id":1}"#;
    let over_udp = miwa_tests::udp_exchange(daemon.udp, body, Duration::from_secs(5))
        .unwrap()
        .expect("a reply");
    let over_udp = String::from_utf8_lossy(&over_udp);
    assert!(over_udp.contains("403"), "{over_udp}");
    let fifo = ReplyFifo::create(&daemon.reply_dir(), "four").unwrap();
    fifo_write(
        &daemon.fifo,
        [b":four:".as_slice(), body].concat().as_slice(),
    )
    .unwrap();
    let over_fifo = fifo
        .read(Duration::from_secs(5))
        .unwrap()
        .expect("a FIFO reply");
    assert!(String::from_utf8_lossy(&over_fifo).contains("\"code\":403"));
    let over_unix = miwa_tests::unix_exchange(
        &daemon.unix,
        daemon.dir.path(),
        true,
        body,
        Duration::from_secs(5),
    )
    .unwrap()
    .expect("a UNIX reply");
    assert!(String::from_utf8_lossy(&over_unix).contains("\"code\":403"));
    let xmlrpc = "<?xml version=\"1.0\"?><methodCall><methodName>cache:store</methodName><params><param><value>local</value></param><param><value>k</value></param><param><value>v</value></param></params></methodCall>";
    let request = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xmlrpc}",
        xmlrpc.len()
    );
    let raw =
        miwa_tests::exchange(daemon.http, request.as_bytes(), Duration::from_secs(5)).unwrap();
    let fault = String::from_utf8_lossy(&raw);
    assert!(fault.contains("<int>403</int>"), "xml-rpc: {fault}");
    let fetched = daemon.call("cache_fetch", json!(["local", "k"]));
    assert!(fetched["error"].is_object(), "{fetched}");
}

#[test]
fn a_pattern_that_names_no_command_refuses_the_start() {
    for (config, key) in [
        (
            "\n[access.roles.ops]\ndeny = [\"cache:stor\"]\n",
            "access.roles.ops.deny",
        ),
        (
            "\n[access.roles.ops]\nallow = [\"uptim\"]\n",
            "access.roles.ops.allow",
        ),
        (
            "\n[access.roles.ops]\ndeny = [\"core:kil\"]\n",
            "access.roles.ops.deny",
        ),
        (
            "\n[audit]\nfile = \"/tmp/miwa-never.log\"\nredact = [\"cache:stroe:2\"]\n",
            "audit.redact",
        ),
    ] {
        let started = Daemon::start(config);
        let error = format!("{:#}", started.err().expect("the start is refused"));
        assert!(error.contains(key), "{config}: {error}");
    }
    for config in [
        "\n[access.roles.ops]\ndeny = [\"cache:store\", \"evi:*\", \"statistics:reset*\", \"store\"]\n",
        "\n[upstreams.edge1]\nudp = \"127.0.0.1:9\"\n[access.roles.ops]\nallow = [\"edge1:ul_*\", \"ds_list\"]\n",
    ] {
        assert!(Daemon::start(config).is_ok(), "{config}");
    }
}

#[test]
fn the_audit_log_names_what_ran_and_redacts_it_under_either_name() {
    let pair = pair(
        r#"allow = ["*"]"#,
        "redact = [\"cache_store:2\", \"cache_fetch:ATTR\"]\n",
    );
    let stored = post_to(
        &pair.front,
        "/mi",
        r#"{"jsonrpc":"2.0","method":"cache:store","params":["local","k","TOPSECRET"],"id":1}"#,
    );
    assert_eq!(stored["result"], "OK", "{stored}");
    let duplicated = post_to(
        &pair.front,
        "/mi",
        r#"{"jsonrpc":"2.0","method":"cache_store","METHOD":"uptime","params":["local","k2","SECRET2"],"params":["local","k3","v3"],"id":2} trailing"#,
    );
    assert_eq!(duplicated["result"], "OK", "{duplicated}");
    post_to(
        &pair.front,
        "/mi",
        r#"{"jsonrpc":"2.0","method":"cache_fetch","params":{"system":"local","attr":"k"},"id":3}"#,
    );
    let lines = audit_lines(&pair.front_audit, 3);
    assert_eq!(
        commands(&lines),
        ["cache_store", "cache_store", "cache_fetch"]
    );
    assert_eq!(lines[0]["params"], json!(["local", "k", "***"]));
    assert_eq!(
        lines[1]["params"],
        json!(["local", "k2", "***"]),
        "the params that ran"
    );
    assert_eq!(
        lines[2]["params"],
        json!({"system": "local", "attr": "***"})
    );
    let text = std::fs::read_to_string(&pair.front_audit).unwrap();
    assert!(
        !text.contains("TOPSECRET") && !text.contains("SECRET2"),
        "{text}"
    );
    let ran = node_lines(&pair.node_audit, 3);
    assert_eq!(
        ran[1]["params"],
        json!(["local", "k2", "SECRET2"]),
        "the node ran the first params"
    );
    let never = pair.node.call("cache_fetch", json!(["local", "k3"]));
    assert_eq!(
        never["error"]["code"], 400,
        "the second params never reached the node: {never}"
    );
}

#[test]
fn a_refused_event_subscribe_never_reaches_the_node() {
    let pair = pair(
        r#"allow = ["*"]
deny = ["event_subscribe"]"#,
        "",
    );
    let reply = post_to(
        &pair.front,
        "/mi/edge1",
        r#"{"jsonrpc":"2.0","method":"event_subscribe","params":["E_CORE_THRESHOLD","udp:127.0.0.1:9"],"id":1}"#,
    );
    assert_eq!(reply["error"]["code"], 403, "{reply}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        node_lines(&pair.node_audit, 0).is_empty(),
        "the node got no request"
    );
    assert!(
        pair.node.subscribers("E_CORE_THRESHOLD").is_empty(),
        "miwa subscribed itself at the node"
    );
}

/// Hostile request texts: the core (a daemon asked directly) and the front (the same
/// daemon as its node) must answer each byte for byte alike.
#[test]
fn the_core_and_the_front_read_hostile_requests_alike() {
    let node = Daemon::start("").unwrap();
    let front = Daemon::front_of(&node, "").unwrap();
    let bodies = [
        r#"{"jsonrpc":"2.0","method":"pwd","method":"version","id":1}"#,
        r#"{"jsonrpc":"2.0","METHOD":"pwd","Method":"version","id":1}"#,
        r#"{"JSONRPC":"2.0","method":"pwd","ID":7,"id":8}"#,
        r#"{"jsonrpc":"2.0","method":"pwd","id":1}garbage"#,
        r#"{"jsonrpc":"2.0","method":"pwd","id":1}{"jsonrpc":"2.0","method":"version","id":2}"#,
        r#"{"jsonrpc":"2.0","method":"which","params":{"command":"ps","command":"kill"},"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"which","params":["ps"],"PARAMS":["kill"],"id":1}"#,
        r#"{"jsonrpc":"1.0","method":"pwd","id":1}"#,
        r#"{"jsonrpc":"2.0","method":"pwd","id":1.9}"#,
        r#"{"jsonrpc":"2.0","method":"pwd","id":[1]}"#,
        r#"{"jsonrpc":"2.0","method":"pwd","params":5,"id":1}"#,
        r#"[{"jsonrpc":"2.0","method":"pwd","id":1},7,{"jsonrpc":"2.0","method":"pwd","METHOD":"x","id":"b"}]"#,
        r#"[]"#,
        r#"42"#,
        r#"{"#,
        r#"{"jsonrpc":"2.0","method":"which","params":{"command":"log_level"},"id":0x10}"#,
    ];
    for body in bodies {
        let direct = node.post(body).unwrap();
        let through = front.post(body).unwrap();
        assert_eq!(
            (direct.status, String::from_utf8_lossy(&direct.body)),
            (through.status, String::from_utf8_lossy(&through.body)),
            "{body}"
        );
    }
    let huge: Vec<String> = (0..1_000)
        .map(|i| match i % 3 {
            0 => format!(r#"{{"jsonrpc":"2.0","method":"version","id":{i}}}"#),
            1 => format!(r#"{{"jsonrpc":"2.0","METHOD":"pwd","method":"version","id":{i}}}"#),
            _ => format!(r#"{{"jsonrpc":"2.0","method":"which","params":["ps"],"id":"{i}"}}"#),
        })
        .collect();
    let huge = format!("[{}]", huge.join(","));
    let direct = node.post(&huge).unwrap();
    let through = front.post(&huge).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&direct.body),
        String::from_utf8_lossy(&through.body),
        "a 1,000-member batch"
    );
    let big: Vec<String> = (0..25_000)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"version","id":{i}}}"#))
        .collect();
    let batch = format!("[{}]", big.join(","));
    let reply = String::from_utf8_lossy(&node.post(&batch).unwrap().body).into_owned();
    for internal in ["wasm", "backtrace", "0x", ".rs:", "mi_core"] {
        assert!(
            !reply.contains(internal),
            "{internal} on the wire: {}",
            &reply[..reply.len().min(300)]
        );
    }
}
