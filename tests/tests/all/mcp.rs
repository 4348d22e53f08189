//! The MCP server at `/mcp`, with the official MCP Python SDK (PyPI `mcp`, in
//! tests/.venv) as the client: tools generated from each role's `rpc.discover`, valid
//! schemas and hints, read-only and destructive calls, bad input, the result cap, the
//! audit line, both protocol eras, sessions bound to their identity and capped, and
//! browser origins refused.

use miwa_tests::{hashed_secret, workspace, Daemon};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A `path` of [`mcp`] that goes through `miwa mcp` on standard input and output (the
/// rest of the path follows `/mcp` in its `--url`).
const STDIO: &str = "stdio:";

/// Runs `steps` through tests/python/mcp_client.py against `daemon`'s `/mcp` (`path`
/// below it, or through `miwa mcp` for a path starting [`STDIO`]), with a Bearer `token`,
/// in protocol `mode` (`auto` or `legacy`); one answer per step.
fn mcp(
    daemon: &Daemon,
    path: &str,
    token: Option<&str>,
    mode: &str,
    steps: &[Value],
) -> Vec<Value> {
    let (answers, stderr) = mcp_answers(daemon, path, token, &["--mode", mode], steps);
    assert_eq!(
        answers.len(),
        steps.len(),
        "one answer per step; stderr: {stderr}"
    );
    answers
}

/// [`mcp`] with the client's `options` (`--mode`, `--elicit`), without expecting an
/// answer to each step (a step may stop the daemon); the client's standard error beside
/// them.
fn mcp_answers(
    daemon: &Daemon,
    path: &str,
    token: Option<&str>,
    options: &[&str],
    steps: &[Value],
) -> (Vec<Value>, String) {
    let mut command = miwa_tests::python_client("mcp_client.py");
    command.args(options);
    match path.strip_prefix(STDIO) {
        // `miwa mcp` as the server, started by the client as desktop AI clients do.
        Some(rest) => {
            let url = format!("http://{}/mcp{rest}", daemon.http);
            let bin = miwa_tests::miwa_bin();
            command.args(["--stdio", bin.to_str().unwrap(), "mcp", "--url", &url]);
            if let Some(token) = token {
                command.args(["--token", token]);
            }
        }
        None => {
            command.args(["--url", &format!("http://{}/mcp{path}", daemon.http)]);
            if let Some(token) = token {
                command.args(["--header", &format!("Authorization: Bearer {token}")]);
            }
        }
    }
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for step in steps {
            writeln!(stdin, "{step}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    let answers: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (answers, String::from_utf8_lossy(&output.stderr).to_string())
}

/// The reply to `method` with `params` over `/mi` with a Bearer `token`.
fn call_as(daemon: &Daemon, token: &str, method: &str, params: Value) -> Value {
    let endpoint = miwa_client::Endpoint::Http(miwa_client::HttpTarget {
        url: format!("http://{}/mi", daemon.http),
        authorization: Some(miwa_client::credentials::bearer(token).unwrap()),
        ca_file: None,
    });
    let request = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    serde_json::from_str(
        &endpoint
            .exchange(&request.to_string(), Duration::from_secs(10))
            .unwrap(),
    )
    .unwrap()
}

/// The result of `method` over `/mi` with a Bearer `token`.
fn result_as(daemon: &Daemon, token: &str, method: &str) -> Value {
    call_as(daemon, token, method, json!([]))["result"].clone()
}

/// Each way an MCP client reaches the daemon: over HTTP and through `miwa mcp`, in each
/// protocol era.
const WAYS: [(&str, &str); 4] = [
    ("", "auto"),
    ("", "legacy"),
    (STDIO, "auto"),
    (STDIO, "legacy"),
];

/// The command line that loads module `dispatcher` over `/mi` (with a Bearer `token`).
fn module_load_trigger(daemon: &Daemon, token: Option<&str>) -> Value {
    let load =
        json!({"jsonrpc": "2.0", "method": "module_load", "params": ["dispatcher"], "id": 1});
    let mut command = vec![
        "curl".to_string(),
        "-s".into(),
        "-H".into(),
        "Content-Type: application/json".into(),
        "-d".into(),
        load.to_string(),
        format!("http://{}/mi", daemon.http),
    ];
    if let Some(token) = token {
        command.insert(2, "-H".into());
        command.insert(3, format!("Authorization: Bearer {token}"));
    }
    json!(command)
}

/// The names of the tools a `list` step answered.
fn names(listed: &Value) -> Vec<String> {
    listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// A raw HTTP exchange with `/mcp`: the status, the headers' text and the body.
fn raw(daemon: &Daemon, method: &str, headers: &str, body: &str) -> (u16, String, String) {
    let request = format!(
        "{method} /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let bytes =
        miwa_tests::exchange(daemon.http, request.as_bytes(), Duration::from_secs(5)).unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_lowercase(), body.to_string())
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

/// The session number an `initialize` answer carries.
fn session_of(head: &str) -> String {
    head.lines()
        .find_map(|line| line.strip_prefix("mcp-session-id: "))
        .expect("a session header")
        .trim()
        .to_string()
}

fn daemon(extra: &str) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&format!(
        r#"
[audit]
file = "{}"
[access]
protect = ["mi"]
[access.roles.readonly]
allow = ["uptime", "ps", "get_statistics", "cache_fetch"]
[[access.tokens]]
sha256 = "{}"
role = "full"
name = "admin"
[[access.tokens]]
sha256 = "{}"
role = "readonly"
name = "agent"
[mcp]
destructive_roles = ["full"]
{extra}
"#,
        dir.path().join("audit.log").display(),
        hashed_secret("hash-token", "admin-secret"),
        hashed_secret("hash-token", "agent-secret"),
    ))
    .unwrap();
    (daemon, dir)
}

#[test]
fn tools_are_each_roles_commands_with_valid_schemas_and_hints() {
    let (daemon, _dir) = daemon("");
    for mode in ["auto", "legacy"] {
        let answers = mcp(
            &daemon,
            "",
            Some("admin-secret"),
            mode,
            &[json!({"op": "info"}), json!({"op": "list"})],
        );
        let expected_protocol = if mode == "auto" {
            "2026-07-28"
        } else {
            "2025-11-25"
        };
        assert_eq!(answers[0]["protocol"], expected_protocol, "{mode}");
        let listed = &answers[1];
        assert_eq!(listed["invalid_schemas"], json!([]), "{listed}");
        let discovered = result_as(&daemon, "admin-secret", "rpc.discover");
        let methods = discovered["methods"].as_array().unwrap().len();
        assert_eq!(names(listed).len(), methods, "one tool per method: {mode}");
        let tool = |name: &str| {
            listed["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("no tool {name}"))
        };
        assert_eq!(tool("uptime")["annotations"]["readOnlyHint"], true);
        assert_eq!(
            tool("uptime")["outputSchema"]["required"],
            json!(["Now", "Up since", "Up time"]),
            "a fixed result shape is an output schema"
        );
        assert!(tool("get_statistics").get("outputSchema").is_none());
        assert_eq!(tool("kill")["annotations"]["destructiveHint"], true);
        assert_eq!(tool("kill")["annotations"]["readOnlyHint"], false);
        assert_eq!(tool("cache_store")["annotations"]["destructiveHint"], false);
        assert!(
            tool("kill")["inputSchema"]["properties"]["confirm"].is_object(),
            "{}",
            tool("kill")
        );
        let store = tool("cache_store");
        assert_eq!(store["inputSchema"]["anyOf"].as_array().unwrap().len(), 2);
        assert!(store["description"]
            .as_str()
            .unwrap()
            .starts_with("stores in a cache system"));
    }
    // A role sees only what it may run; the others' tools do not exist for it.
    let answers = mcp(
        &daemon,
        "",
        Some("agent-secret"),
        "auto",
        &[
            json!({"op": "list"}),
            json!({"op": "call", "tool": "cache_store", "args": {"system": "local", "attr": "a", "value": "v"}}),
            json!({"op": "call", "tool": "kill", "args": {"confirm": true}}),
            json!({"op": "call", "tool": "cache_fetch", "args": {"system": "local", "attr": "a"}}),
        ],
    );
    let mut seen = names(&answers[0]);
    seen.sort();
    assert_eq!(
        seen,
        ["cache_fetch", "get_statistics", "ps", "uptime", "whoami"]
    );
    assert_eq!(answers[1]["error"]["code"], -32602, "{}", answers[1]);
    assert_eq!(answers[2]["error"]["code"], -32602, "{}", answers[2]);
    assert!(
        answers[3]["text"].as_str().unwrap().contains("not found"),
        "nothing was stored: {}",
        answers[3]
    );
}

#[test]
fn calls_run_once_as_the_caller_and_destructive_ones_need_confirmation() {
    let (daemon, dir) = daemon("max_result_bytes = 256\n");
    let answers = mcp(
        &daemon,
        "",
        Some("admin-secret"),
        "auto",
        &[
            json!({"op": "call", "tool": "uptime"}),
            json!({"op": "call", "tool": "cache_store", "args": {"system": "local", "attr": "a"}}),
            json!({"op": "call", "tool": "cache_store", "args": {"system": "local", "atr": "a", "value": "v"}}),
            json!({"op": "call", "tool": "cache_store", "args": {"system": "local", "attr": "a", "value": "v"}}),
            json!({"op": "call", "tool": "cache_fetch", "args": {"system": "local", "attr": "a"}}),
            json!({"op": "call", "tool": "no_such_tool"}),
            json!({"op": "call", "tool": "kill"}),
            json!({"op": "call", "tool": "kill", "args": {"confirm": false}}),
            json!({"op": "call", "tool": "get_statistics", "args": {"statistics": ["all"]}}),
            json!({"op": "call", "tool": "cache_fetch", "args": {"system": "nowhere", "attr": "a"}}),
        ],
    );
    let uptime = &answers[0];
    assert_eq!(uptime["is_error"], false, "{uptime}");
    assert!(uptime["structured"]["Up time"].is_string(), "{uptime}");
    for bad in &answers[1..3] {
        assert_eq!(bad["is_error"], true, "{bad}");
        assert!(
            bad["text"].as_str().unwrap().contains("nothing was run"),
            "{bad}"
        );
    }
    assert!(answers[2]["text"]
        .as_str()
        .unwrap()
        .contains("no argument 'atr'"));
    assert_eq!(answers[3]["is_error"], false, "{}", answers[3]);
    assert_eq!(answers[4]["structured"]["value"], "v", "{}", answers[4]);
    assert_eq!(answers[5]["error"]["code"], -32602, "{}", answers[5]);
    for unconfirmed in &answers[6..8] {
        assert_eq!(unconfirmed["is_error"], true, "{unconfirmed}");
        assert!(
            unconfirmed["text"]
                .as_str()
                .unwrap()
                .contains("\"confirm\": true"),
            "{unconfirmed}"
        );
    }
    let cut = answers[8]["text"].as_str().unwrap();
    assert!(cut.contains("cut by miwa"), "{cut}");
    assert!(cut.len() < 256 + 300, "{}", cut.len());
    assert!(answers[8]["structured"].is_null(), "{}", answers[8]);
    assert_eq!(answers[9]["is_error"], true, "an MI error is a tool error");
    assert!(answers[9]["text"].as_str().unwrap().starts_with("MI error"));
    // The daemon still runs: the unconfirmed kills ran nothing.
    assert!(result_as(&daemon, "admin-secret", "uptime")["Up time"].is_string());

    // Every call that ran is one audit line of transport mcp, with the caller's identity;
    // the calls refused before running are none.
    let audit = dir.path().join("audit.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let lines: Vec<Value> = loop {
        let lines: Vec<Value> = std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|l: &Value| l["transport"] == "mcp" && l["command"] != "rpc.discover")
            .collect();
        if lines.len() >= 5 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let commands: Vec<&str> = lines
        .iter()
        .map(|l| l["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        [
            "uptime",
            "cache_store",
            "cache_fetch",
            "get_statistics",
            "cache_fetch"
        ],
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l["identity"] == "token:admin"),
        "{lines:?}"
    );
    // The tools were asked for once: ten calls, one role, commands unchanged.
    let discovered = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"transport\":\"mcp\"") && l.contains("\"rpc.discover\""))
        .count();
    assert_eq!(discovered, 1);

    // Confirmed, the destructive call runs: the daemon stops (and may not finish its
    // reply).
    let (killed, _) = mcp_answers(
        &daemon,
        "",
        Some("admin-secret"),
        &["--mode", "auto"],
        &[json!({"op": "call", "tool": "kill", "args": {"confirm": true}})],
    );
    assert!(
        killed
            .first()
            .is_none_or(|k| k["is_error"] == false || k["exception"].is_string()),
        "{killed:?}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(daemon.http).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "kill stops the daemon"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sessions_are_their_owners_capped_and_browsers_are_refused() {
    let (daemon, _dir) = daemon("max_sessions = 3\nmax_sessions_per_client = 2\n");
    let admin = "Authorization: Bearer admin-secret\r\n";
    let agent = "Authorization: Bearer agent-secret\r\n";
    // No credentials: as on /mi.
    let (status, head, _) = raw(&daemon, "POST", "", INITIALIZE);
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("www-authenticate"), "{head}");
    // A page of another site.
    let (status, _, _) = raw(
        &daemon,
        "POST",
        &format!("{admin}Origin: http://evil.example\r\n"),
        INITIALIZE,
    );
    assert_eq!(status, 403);
    // A session opened by one identity is not another's.
    let (status, head, _) = raw(&daemon, "POST", admin, INITIALIZE);
    assert_eq!(status, 200, "{head}");
    let session = session_of(&head);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let with = |who: &str| {
        format!("{who}Mcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-11-25\r\n")
    };
    let (status, _, _) = raw(&daemon, "POST", &with(agent), list);
    assert_eq!(status, 404, "another identity's session is unknown to it");
    let (status, _, body) = raw(&daemon, "POST", &with(admin), list);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"uptime\""), "{body}");
    // Sessions are shared out: a client holds two at most, so a third of the admin's is
    // refused while another client still gets one; then the total is reached. Ending one
    // makes room. Stateless requests (2026-07-28) open no session and are never refused so.
    let (status, head, _) = raw(&daemon, "POST", admin, INITIALIZE);
    assert_eq!(status, 200);
    let second = session_of(&head);
    let (status, _, body) = raw(&daemon, "POST", admin, INITIALIZE);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("max_sessions_per_client"), "{body}");
    let (status, _, _) = raw(&daemon, "POST", agent, INITIALIZE);
    assert_eq!(status, 200, "another client has its own share");
    let (status, _, body) = raw(&daemon, "POST", agent, INITIALIZE);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("(max_sessions)"), "{body}");
    let stateless = mcp(
        &daemon,
        "",
        Some("agent-secret"),
        "auto",
        &[json!({"op": "call", "tool": "uptime"})],
    );
    assert_eq!(stateless[0]["is_error"], false, "{stateless:?}");
    let (status, _, _) = raw(
        &daemon,
        "DELETE",
        &format!("{admin}Mcp-Session-Id: {second}\r\nMcp-Protocol-Version: 2025-11-25\r\n"),
        "",
    );
    assert_eq!(status, 204);
    let (status, _, _) = raw(&daemon, "POST", admin, INITIALIZE);
    assert_eq!(status, 200);
}

#[test]
fn sessions_opened_at_once_still_keep_to_the_shares() {
    let (daemon, _dir) = daemon("max_sessions = 16\nmax_sessions_per_client = 2\n");
    let admin = "Authorization: Bearer admin-secret\r\n";
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| raw(&daemon, "POST", admin, INITIALIZE).0))
            .collect();
        opening.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let opened = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!((opened, refused), (2, 6), "{statuses:?}");
}

#[test]
fn module_and_node_commands_are_tools() {
    let node = Daemon::start(&miwa_tests::module_table(
        "dispatcher",
        "dispatcher",
        "grants = [\"log\", \"stats\", \"cache\", \"events\"]",
    ))
    .unwrap();
    let module_tools = mcp(
        &node,
        "",
        None,
        "auto",
        &[
            json!({"op": "list"}),
            json!({"op": "call", "tool": "ds_list"}),
        ],
    );
    assert!(names(&module_tools[0]).contains(&"ds_list".to_string()));
    assert_eq!(module_tools[1]["is_error"], false, "{}", module_tools[1]);
    let front = Daemon::start(&format!("\n[upstreams.edge1]\nudp = \"{}\"\n", node.udp)).unwrap();
    let answers = mcp(
        &front,
        "/edge1",
        None,
        "auto",
        &[
            json!({"op": "list"}),
            json!({"op": "call", "tool": "ds_list"}),
        ],
    );
    assert!(
        names(&answers[0]).contains(&"ds_list".to_string()),
        "{}",
        answers[0]
    );
    assert_eq!(answers[1]["is_error"], false, "{}", answers[1]);
    let fleet = mcp(
        &front,
        "",
        None,
        "auto",
        &[json!({"op": "call", "tool": "nodes_run", "args": {"command": "uptime"}})],
    );
    assert!(
        fleet[0]["structured"]["edge1"]["result"]["Up time"].is_string(),
        "{}",
        fleet[0]
    );
    let (status, _, _) = {
        let request = "POST /mcp/nowhere HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let bytes =
            miwa_tests::exchange(front.http, request.as_bytes(), Duration::from_secs(5)).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        (text[9..12].parse::<u16>().unwrap(), (), ())
    };
    assert_eq!(status, 404, "an unknown node");
}

#[test]
fn tools_list_changed_follows_module_load_over_http_and_stdio() {
    // With the audit log on, as in production: its layer passes the changes on.
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&format!(
        "[audit]\nfile = \"{}\"\n{}",
        dir.path().join("audit.log").display(),
        miwa_tests::module_table(
            "dispatcher",
            "dispatcher",
            "enabled = false\ngrants = [\"log\", \"stats\", \"cache\", \"events\"]",
        )
    ))
    .unwrap();
    let trigger = module_load_trigger(&daemon, None);
    for (path, mode) in WAYS {
        let unloaded = daemon.call("module_unload", json!(["dispatcher"]));
        assert!(unloaded.get("result").is_some() || unloaded["error"]["code"] == 404);
        let answers = mcp(
            &daemon,
            path,
            None,
            mode,
            &[
                json!({"op": "list"}),
                json!({"op": "watch_tools", "trigger": trigger, "timeout": 10}),
            ],
        );
        let before = names(&answers[0]).len();
        assert!(!names(&answers[0]).contains(&"ds_list".to_string()));
        assert_eq!(answers[1]["changed"], true, "{path}{mode}: {}", answers[1]);
        assert!(
            answers[1]["tools"].as_u64().unwrap() as usize > before,
            "{path}{mode}: {}",
            answers[1]
        );
    }
}

#[test]
fn miwa_mcp_bridges_to_the_daemon_with_its_credentials() {
    let (daemon, dir) = daemon("");
    let answers = mcp(
        &daemon,
        STDIO,
        Some("agent-secret"),
        "auto",
        &[
            json!({"op": "list"}),
            json!({"op": "call", "tool": "uptime"}),
            json!({"op": "call", "tool": "kill", "args": {"confirm": true}}),
        ],
    );
    let mut seen = names(&answers[0]);
    seen.sort();
    assert_eq!(
        seen,
        ["cache_fetch", "get_statistics", "ps", "uptime", "whoami"]
    );
    assert!(
        answers[1]["structured"]["Up time"].is_string(),
        "{}",
        answers[1]
    );
    assert_eq!(answers[2]["error"]["code"], -32602, "{}", answers[2]);
    // The daemon audits the calls as its own MCP calls, of the bridge's credentials.
    let audit = dir.path().join("audit.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        let line = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["command"] == "uptime");
        if let Some(line) = line {
            assert_eq!(line["transport"], "mcp", "{line}");
            assert_eq!(line["identity"], "token:agent", "{line}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit line: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Wrong credentials: the bridge cannot connect and says so; nothing is served.
    let (answers, _) = mcp_answers(
        &daemon,
        STDIO,
        Some("wrong"),
        &["--mode", "auto"],
        &[json!({"op": "list"})],
    );
    assert!(
        answers.first().is_none_or(|a| a.get("tools").is_none()),
        "{answers:?}"
    );
    let bridge = Command::new(miwa_tests::miwa_bin())
        .args([
            "mcp",
            "--url",
            &format!("http://{}/mcp", daemon.http),
            "--token",
            "wrong",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!bridge.status.success());
    let said = String::from_utf8_lossy(&bridge.stderr);
    assert!(said.contains("cannot reach the MCP server"), "{said}");
    assert!(!said.contains("wrong"), "the token is never shown: {said}");
}

#[test]
fn statistics_nodes_and_events_are_resources_with_updates() {
    let daemon = Daemon::start(&format!(
        "{}\n[access]\nprotect = [\"mi\"]\n[access.roles.uptime-only]\nallow = [\"uptime\"]\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"full\"\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"uptime-only\"\n",
        miwa_tests::module_table(
            "dispatcher",
            "dispatcher",
            "enabled = false\ngrants = [\"log\", \"stats\", \"cache\", \"events\"]",
        ),
        hashed_secret("hash-token", "admin-secret"),
        hashed_secret("hash-token", "narrow-secret"),
    ))
    .unwrap();
    let trigger = module_load_trigger(&daemon, Some("admin-secret"));
    for (path, mode) in WAYS {
        call_as(
            &daemon,
            "admin-secret",
            "module_unload",
            json!(["dispatcher"]),
        );
        let answers = mcp(
            &daemon,
            path,
            Some("admin-secret"),
            mode,
            &[
                json!({"op": "resources"}),
                json!({"op": "read", "uri": "miwa://statistics/transports"}),
                json!({"op": "watch_resource", "uri": "miwa://events/E_MODULE_LOADED", "trigger": trigger, "timeout": 10}),
                json!({"op": "read", "uri": "miwa://nowhere"}),
            ],
        );
        let uris: Vec<&str> = answers[0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        assert!(uris.contains(&"miwa://statistics/transports"), "{uris:?}");
        assert!(uris.contains(&"miwa://events/E_MODULE_LOADED"), "{uris:?}");
        let stats: Value = serde_json::from_str(answers[1]["text"].as_str().unwrap()).unwrap();
        assert!(stats["transports:mcp_requests"].is_u64(), "{stats}");
        let watched = &answers[2];
        assert_eq!(watched["updated"], true, "{path}{mode}: {watched}");
        let raised: Value = serde_json::from_str(watched["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            raised["params"]["module"], "dispatcher",
            "{path}{mode}: {raised}"
        );
        assert!(answers[3]["error"]["code"].is_i64(), "{}", answers[3]);
    }
    // A role that may not read statistics nor subscribe sees no such resources, and
    // cannot read them by name.
    let narrow = mcp(
        &daemon,
        "",
        Some("narrow-secret"),
        "auto",
        &[
            json!({"op": "resources"}),
            json!({"op": "read", "uri": "miwa://statistics/core"}),
        ],
    );
    assert_eq!(narrow[0]["resources"], json!([]), "{}", narrow[0]);
    assert!(narrow[1]["error"]["code"].is_i64(), "{}", narrow[1]);
}

#[test]
fn the_user_confirms_destructive_calls_when_the_client_can_ask() {
    let (daemon, _dir) = daemon("");
    let store = json!({"op": "call", "tool": "cache_store", "args": {"system": "local", "attr": "k", "value": "v"}});
    let remove =
        json!({"op": "call", "tool": "cache_remove", "args": {"system": "local", "attr": "k"}});
    let fetch =
        json!({"op": "call", "tool": "cache_fetch", "args": {"system": "local", "attr": "k"}});
    // Over HTTP and through `miwa mcp`, which puts the question to its own client.
    for (path, mode) in WAYS {
        // The user says no: asked, nothing removed.
        let (answers, stderr) = mcp_answers(
            &daemon,
            path,
            Some("admin-secret"),
            &["--mode", mode, "--elicit", "no"],
            &[store.clone(), remove.clone(), fetch.clone()],
        );
        assert_eq!(answers.len(), 3, "{stderr}");
        let refused = &answers[1];
        assert_eq!(refused["is_error"], true, "{path}{mode}: {refused}");
        assert!(
            refused["text"]
                .as_str()
                .unwrap()
                .contains("did not confirm"),
            "{refused}"
        );
        assert!(
            refused["asked"][0]
                .as_str()
                .unwrap()
                .starts_with("Run 'cache_remove'"),
            "{refused}"
        );
        assert_eq!(
            answers[2]["structured"]["value"], "v",
            "{path}{mode}: still there"
        );
        // The user says yes: asked, removed.
        let (answers, stderr) = mcp_answers(
            &daemon,
            path,
            Some("admin-secret"),
            &["--mode", mode, "--elicit", "yes"],
            &[remove.clone(), fetch.clone()],
        );
        assert_eq!(answers.len(), 2, "{stderr}");
        assert_eq!(
            answers[0]["is_error"], false,
            "{path}{mode}: {}",
            answers[0]
        );
        assert_eq!(answers[0]["asked"].as_array().unwrap().len(), 1);
        assert!(
            answers[1]["text"].as_str().unwrap().contains("not found"),
            "{path}{mode}: removed: {}",
            answers[1]
        );
    }
}

#[test]
fn other_name_forms_reach_no_tool_a_role_may_not_see() {
    let (daemon, _dir) = daemon("");
    // The agent may run uptime, ps, get_statistics and cache_fetch. Every other form of
    // a command it may not run, and of one it may, is no tool: tools go by their listed
    // names only, and nothing runs.
    let forms = [
        "statistics:reset",
        "reset_statistics",
        "core:kill",
        "miwa:kill",
        "KILL",
        "kill ",
        "cache:store",
        "core:uptime",
        "statistics:get",
        "rpc.discover",
    ];
    let steps: Vec<Value> = forms
        .iter()
        .map(|tool| json!({"op": "call", "tool": tool, "args": {"confirm": true}}))
        .collect();
    let answers = mcp(&daemon, "", Some("agent-secret"), "auto", &steps);
    for (tool, answer) in forms.iter().zip(&answers) {
        assert_eq!(answer["error"]["code"], -32602, "{tool}: {answer}");
    }
    // The daemon still runs, and the statistics were not reset.
    assert!(result_as(&daemon, "admin-secret", "uptime")["Up time"].is_string());
    let stats = call_as(
        &daemon,
        "admin-secret",
        "get_statistics",
        json!([["transports:"]]),
    );
    assert!(
        stats["result"]["transports:mcp_requests"].as_u64().unwrap() > 0,
        "{stats}"
    );
}

/// The `mcp:` subscriptions of `event` the daemon holds (`subscribers_list`).
fn mcp_subscribers(daemon: &Daemon, event: &str) -> usize {
    let listed = call_as(daemon, "admin-secret", "subscribers_list", json!([event]));
    listed["result"]["Subscribers"]
        .as_array()
        .map_or(0, |subscribers| {
            subscribers
                .iter()
                .filter(|s| s["socket"].as_str().is_some_and(|s| s.starts_with("mcp:")))
                .count()
        })
}

#[test]
fn a_sessions_event_subscriptions_share_one_channel_and_its_bound() {
    // Two subscriptions per push channel: a session (or a `subscriptions/listen`) is one.
    let (daemon, _dir) = daemon("[events]\nmax_per_channel = 2\n");
    let events = [
        "E_CORE_THRESHOLD",
        "E_MODULE_UNLOADED",
        "E_CORE_SR_STATUS_CHANGED",
    ];
    let uri = |event: &str| format!("miwa://events/{event}");
    let answers = mcp(
        &daemon,
        "",
        Some("admin-secret"),
        "legacy",
        &[
            json!({"op": "subscribe", "uri": uri(events[0])}),
            json!({"op": "subscribe", "uri": uri(events[1])}),
            json!({"op": "subscribe", "uri": uri(events[2])}),
            json!({"op": "unsubscribe", "uri": uri(events[0])}),
            json!({"op": "subscribe", "uri": uri(events[2])}),
            json!({"op": "subscribe", "uri": uri(events[1])}),
            json!({"op": "call", "tool": "subscribers_list"}),
        ],
    );
    assert_eq!(answers[0], json!({"done": true}));
    assert_eq!(answers[1], json!({"done": true}));
    let refused = answers[2]["error"]["message"].as_str().unwrap_or_default();
    assert!(refused.contains("Too many subscribers"), "{}", answers[2]);
    // Unsubscribing frees the place; subscribing again to one held renews it.
    assert_eq!(answers[3], json!({"done": true}));
    assert_eq!(answers[4], json!({"done": true}), "{}", answers[4]);
    assert_eq!(answers[5], json!({"done": true}), "{}", answers[5]);
    let held = answers[6]["text"].as_str().unwrap_or_default();
    assert_eq!(held.matches("\"mcp:").count(), 2, "{held}");
    assert!(!held.contains(events[0]), "{held}");
    // The session ended: its subscriptions with it.
    for event in events {
        assert_eq!(mcp_subscribers(&daemon, event), 0, "{event}");
    }
    // Over 2026-07-28, one `subscriptions/listen` asking for three is refused whole.
    let listened = mcp(
        &daemon,
        "",
        Some("admin-secret"),
        "auto",
        &[json!({"op": "listen", "uris": events.map(uri), "timeout": 3})],
    );
    let ended = listened[0]["ended"].as_str().unwrap_or_default();
    assert!(ended.contains("Too many subscribers"), "{}", listened[0]);
    for event in events {
        assert_eq!(mcp_subscribers(&daemon, event), 0, "{event}");
    }
}

/// Runs the MCP Inspector's CLI (tests/browser/node_modules) with `args`; its JSON answer.
fn inspector(args: &[&str]) -> Value {
    let cli = workspace().join("tests/browser/node_modules/.bin/mcp-inspector");
    assert!(
        cli.exists(),
        "the MCP Inspector is missing: `make test` installs it in tests/browser"
    );
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(cli)
        .arg("--cli")
        .args(args)
        .env("HOME", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "the Inspector answered no JSON: {text} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn the_mcp_inspector_lists_and_calls_over_http_and_stdio() {
    let (daemon, _dir) = daemon("");
    let url = format!("http://{}/mcp", daemon.http);
    let bin = miwa_tests::miwa_bin();
    let header = "Authorization: Bearer agent-secret";
    let over_http = ["--transport", "http", &url, "--header", header];
    let over_stdio = [
        bin.to_str().unwrap(),
        "mcp",
        "--url",
        &url,
        "--token",
        "agent-secret",
    ];
    for (way, target) in [("http", &over_http[..]), ("stdio", &over_stdio[..])] {
        let listed = inspector(&[target, &["--method", "tools/list"]].concat());
        let mut seen: Vec<&str> = listed["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{way}: {listed}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            ["cache_fetch", "get_statistics", "ps", "uptime", "whoami"],
            "{way}"
        );
        let called = inspector(
            &[
                target,
                &["--method", "tools/call", "--tool-name", "cache_fetch"],
                &["--tool-arg", "system=local", "attr=nothing"],
            ]
            .concat(),
        );
        assert_eq!(called["isError"], true, "{way}: {called}");
        let text = called["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("MI error"), "{way}: {called}");
        let uptime =
            inspector(&[target, &["--method", "tools/call", "--tool-name", "uptime"]].concat());
        assert!(
            uptime["structuredContent"]["Up time"].is_string(),
            "{way}: {uptime}"
        );
    }
}

#[test]
fn batches_are_refused_and_run_nothing() {
    let (daemon, _dir) = daemon("");
    let admin = "Authorization: Bearer admin-secret\r\n";
    let store = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"cache_store","arguments":{"system":"local","attr":"b","value":"v"}}}"#;
    // MCP has no batches since 2025-06-18: in either era, with or without a session.
    let (status, head, _) = raw(&daemon, "POST", admin, INITIALIZE);
    assert_eq!(status, 200, "{head}");
    let session = session_of(&head);
    for headers in [
        format!("{admin}Mcp-Protocol-Version: 2026-07-28\r\n"),
        format!("{admin}Mcp-Session-Id: {session}\r\nMcp-Protocol-Version: 2025-11-25\r\n"),
    ] {
        let (status, _, body) = raw(&daemon, "POST", &headers, &format!(" [{store},{store}]"));
        assert_eq!(status, 400, "{body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], -32600, "{body}");
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch"));
    }
    let fetched = call_as(
        &daemon,
        "admin-secret",
        "cache_fetch",
        json!(["local", "b"]),
    );
    assert!(fetched.get("error").is_some(), "{fetched}");
}

#[test]
fn a_nodes_tools_through_the_front_are_the_roles() {
    let node = Daemon::start(&miwa_tests::module_table(
        "dispatcher",
        "dispatcher",
        "grants = [\"log\", \"stats\", \"cache\", \"events\"]",
    ))
    .unwrap();
    let front = Daemon::start(&format!(
        "[access]\nprotect = [\"mi\"]\n[access.roles.narrow]\nallow = [\"uptime\"]\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"full\"\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"narrow\"\n[upstreams.edge1]\nudp = \"{}\"\n",
        hashed_secret("hash-token", "admin-secret"),
        hashed_secret("hash-token", "narrow-secret"),
        node.udp,
    ))
    .unwrap();
    let full = mcp(
        &front,
        "/edge1",
        Some("admin-secret"),
        "auto",
        &[json!({"op": "list"})],
    );
    let listed = names(&full[0]);
    assert!(listed.contains(&"ds_set_state".to_string()), "{listed:?}");
    assert!(
        !listed.contains(&"ds_reload".to_string()),
        "destructive, and no role is in destructive_roles: {listed:?}"
    );
    // The narrow role sees the node's uptime only; the node's other commands, in any
    // form (module-qualified, miwa:, the node's name, case), are no tools.
    let forms = [
        "ds_set_state",
        "ds_list",
        "dispatcher:ds_list",
        "miwa:ds_list",
        "edge1:ds_list",
        "DS_LIST",
        "nodes_run",
    ];
    let mut steps = vec![
        json!({"op": "list"}),
        json!({"op": "call", "tool": "uptime"}),
    ];
    steps.extend(
        forms
            .iter()
            .map(|tool| json!({"op": "call", "tool": tool, "args": {"confirm": true}})),
    );
    let answers = mcp(&front, "/edge1", Some("narrow-secret"), "auto", &steps);
    assert_eq!(names(&answers[0]), ["uptime", "whoami"], "{}", answers[0]);
    assert!(
        answers[1]["structured"]["Up time"].is_string(),
        "{}",
        answers[1]
    );
    for (tool, answer) in forms.iter().zip(&answers[2..]) {
        assert_eq!(answer["error"]["code"], -32602, "{tool}: {answer}");
    }
}

#[test]
fn tools_list_changed_follows_a_nodes_command_list_through_the_front() {
    let node = Daemon::start(&miwa_tests::module_table(
        "dispatcher",
        "dispatcher",
        "enabled = false\ngrants = [\"log\", \"stats\", \"cache\", \"events\"]",
    ))
    .unwrap();
    let front = Daemon::start(&format!(
        "\n[upstreams.edge1]\nudp = \"{}\"\nprobe_interval = 1\n",
        node.udp
    ))
    .unwrap();
    // The node loads a module: the front learns its new commands at its next probe, and
    // tells the sessions of /mcp/edge1.
    let trigger = module_load_trigger(&node, None);
    for mode in ["auto", "legacy"] {
        let unloaded = node.call("module_unload", json!(["dispatcher"]));
        assert!(unloaded.get("result").is_some() || unloaded["error"]["code"] == 404);
        std::thread::sleep(Duration::from_millis(1500));
        let answers = mcp(
            &front,
            "/edge1",
            None,
            mode,
            &[
                json!({"op": "list"}),
                json!({"op": "watch_tools", "trigger": trigger, "timeout": 10}),
            ],
        );
        assert!(
            !names(&answers[0]).contains(&"ds_list".to_string()),
            "{mode}: {}",
            answers[0]
        );
        assert_eq!(answers[1]["changed"], true, "{mode}: {}", answers[1]);
        assert!(
            answers[1]["tools"].as_u64().unwrap() as usize > names(&answers[0]).len(),
            "{mode}: {}",
            answers[1]
        );
    }
}
