//! Front mode: miwa in front of nodes — a second miwa as an OpenSIPS-dialect node, a real
//! Kamailio from Debian, and fixture nodes that misbehave.

use miwa_tests::front::{front, pids, post_to};
use miwa_tests::hostile_node::{Behaviour, HostileNode};
use miwa_tests::kamailio::Kamailio;
use miwa_tests::{free_udp_port, workspace, Daemon};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn udp_table(name: &str, node: &Daemon, keys: &str) -> String {
    format!("[upstreams.{name}]\nudp = \"{}\"\n{keys}\n", node.udp)
}

fn call(method: &str, params: Value, id: u64) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string()
}

/// The names of a `which` list.
fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a name"))
        .collect()
}

/// The log level of `daemon`'s first process.
fn level(daemon: &Daemon) -> Value {
    daemon.result("log_level", json!([]))["Processes"][0]["Log level"].clone()
}

#[test]
fn a_client_sees_the_node_through_every_transport() {
    let node = Daemon::start("").unwrap();
    let front = front(&udp_table("edge1", &node, ""), "edge1");
    let direct = node.result("ps", json!([]));
    let through = front.result("ps", json!([]));
    assert_eq!(pids(&through), pids(&direct), "the node's processes");
    assert!(pids(&through).contains(&u64::from(node.pid())));
    let own = front.result("miwa:ps", json!([]));
    assert!(
        pids(&own).contains(&u64::from(front.pid())),
        "miwa:ps is the front's own"
    );
    assert_eq!(
        front.result("uptime", json!([]))["Up since"],
        node.result("uptime", json!([]))["Up since"]
    );
    for transport in ["http", "xmlrpc", "udp", "unix", "fifo"] {
        let (ok, out, err) = front.miwa_call(transport, &["ps"]);
        assert!(ok, "{transport}: {err}");
        let ps: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(pids(&ps), pids(&direct), "over {transport}");
    }
    let error = front.call("no_such_command", json!([]));
    assert_eq!(
        error,
        node.call("no_such_command", json!([])),
        "the node's own error"
    );
    let log_level = front.result("log_level", json!({"level": 1}));
    assert_eq!(log_level["New global log level"], 1);
    assert_eq!(level(&node), json!(1));
    let page = miwa_tests::exchange(
        front.http,
        b"GET /html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains("/html/edge1"),
        "the node's commands are listed"
    );
}

#[test]
fn which_and_help_are_merged_and_miwa_commands_stay_reachable() {
    let node = Daemon::start("").unwrap();
    let front = front(&udp_table("edge1", &node, ""), "edge1");
    let node_list = node.result("which", json!([]));
    let merged = front.result("which", json!([]));
    let merged = names(&merged);
    for name in node_list.as_array().unwrap() {
        assert!(merged.contains(&name.as_str().unwrap()), "{name}");
    }
    assert!(merged.contains(&"nodes_run") && merged.contains(&"nodes_list"));
    let help = front.result("help", json!({"mi_cmd": "nodes_run"}));
    assert!(help.to_string().contains("nodes"), "{help}");
    let own_which = front.result("miwa:which", json!({"command": "ps"}));
    assert_eq!(own_which, node.result("which", json!({"command": "ps"})));
    let listed = front.result("nodes_list", json!([]));
    let entry = &listed["nodes"][0];
    assert_eq!(entry["name"], "edge1");
    assert_eq!(entry["transport"], "udp");
    assert_eq!(entry["dialect"], "opensips");
    assert_eq!(entry["default"], true);
    assert_eq!(entry["state"], "up");
    assert_eq!(entry["commands"], node_list.as_array().unwrap().len());
}

#[test]
fn every_node_by_name_over_http_xmlrpc_html_and_miwa_call() {
    let one = Daemon::start("").unwrap();
    let two = Daemon::start("").unwrap();
    let tables = format!(
        "{}[upstreams.edge2]\nfifo = \"{}\"\nreply_dir = \"{}/\"\n",
        udp_table("edge1", &one, ""),
        two.fifo.display(),
        two.reply_dir().display()
    );
    let front = front(&tables, "");
    let ps = |path: &str| pids(&post_to(&front, path, &call("ps", json!([]), 1))["result"]);
    assert_eq!(ps("/mi/edge1"), pids(&one.result("ps", json!([]))));
    assert_eq!(ps("/mi/edge2"), pids(&two.result("ps", json!([]))));
    assert!(
        ps("/mi").contains(&u64::from(front.pid())),
        "no default node: miwa itself"
    );
    let unknown = post_to(&front, "/mi/nosuch", &call("ps", json!([]), 7));
    assert_eq!(
        unknown,
        json!({"jsonrpc":"2.0","error":{"code":404,"message":"Unknown node","data":"nosuch"},"id":7})
    );
    let xmlrpc = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import xmlrpc.client as x; print(x.ServerProxy('http://{}/RPC2/edge2').uptime()['Up since'])",
            front.http
        ))
        .output()
        .unwrap();
    assert!(
        xmlrpc.status.success(),
        "{}",
        String::from_utf8_lossy(&xmlrpc.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&xmlrpc.stdout).trim(),
        two.result("uptime", json!([]))["Up since"]
            .as_str()
            .unwrap()
    );
    let page = miwa_tests::exchange(
        front.http,
        b"GET /html/edge2/edge2/ps?arg= HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains("PID") && page.contains(&two.pid().to_string()),
        "the node's ps on its page: {page}"
    );
    for transport in ["http", "fifo", "udp"] {
        let (ok, out, err) = front.miwa_call(transport, &["--node", "edge1", "ps"]);
        assert!(ok, "{transport}: {err}");
        let got: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            pids(&got),
            pids(&one.result("ps", json!([]))),
            "{transport}"
        );
    }
}

#[test]
fn nodes_run_answers_each_node_in_config_order_with_one_down() {
    let one = Daemon::start("").unwrap();
    let two = Daemon::start("").unwrap();
    let down_port = free_udp_port();
    let tables = format!(
        "{}[upstreams.gone]\nudp = \"127.0.0.1:{down_port}\"\ntimeout_ms = 500\n{}",
        udp_table("edge1", &one, ""),
        udp_table("edge2", &two, "")
    );
    let front = front(&tables, "");
    let run = front.result("nodes_run", json!({"command": "ps"}));
    let order: Vec<&String> = run.as_object().unwrap().keys().collect();
    assert_eq!(order, ["edge1", "gone", "edge2"], "config order");
    assert_eq!(
        pids(&run["edge1"]["result"]),
        pids(&one.result("ps", json!([])))
    );
    assert_eq!(
        pids(&run["edge2"]["result"]),
        pids(&two.result("ps", json!([])))
    );
    let gone = &run["gone"]["error"];
    assert_eq!(gone["code"], 503, "{run}");
    assert_eq!(gone["message"], "Node unreachable");
    assert!(
        gone["data"].as_str().unwrap().starts_with("gone: "),
        "{gone}"
    );
    let some = front.result(
        "nodes_run",
        json!({"command": "log_level", "params": {"level": 2}, "nodes": ["edge*"]}),
    );
    assert_eq!(some.as_object().unwrap().len(), 2, "{some}");
    assert_eq!(level(&one), 2);
    let positional = front.result("nodes_run", json!(["uptime", [], "edge2"]));
    assert_eq!(
        positional["edge2"]["result"]["Up since"],
        two.result("uptime", json!([]))["Up since"]
    );
    let no_match = front.call("nodes_run", json!({"command": "ps", "nodes": ["x*"]}));
    assert_eq!(no_match["error"]["code"], 404, "{no_match}");
    let missing = front.call("nodes_run", json!({}));
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let listed = front.result("nodes_list", json!([]));
    let states: Vec<&str> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["up", "down", "up"], "{listed}");
    let status = front.result(
        "miwa:sr_get_status",
        json!({"group": "upstreams", "identifier": "gone"}),
    );
    assert!(status.to_string().contains("down"), "{status}");
    let stats = front.result("miwa:get_statistics", json!({"statistics": ["upstreams:"]}));
    assert!(
        stats["upstreams:edge1_requests"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    assert_eq!(stats["upstreams:gone_up"], 0, "{stats}");
}

/// The error a front answers for `behaviour`, through `front`.
fn fault(front: &Daemon, node: &str) -> Value {
    post_to(front, &format!("/mi/{node}"), &call("ps", json!([]), 42))
}

#[test]
fn every_node_fault_is_answered_with_an_error_naming_the_node() {
    let silent = HostileNode::udp("silent", Behaviour::Silent);
    let garbage = HostileNode::udp("garbage", Behaviour::Garbage);
    let half = HostileNode::udp("half", Behaviour::Half);
    let wrong = HostileNode::udp("wrong", Behaviour::WrongId);
    let slow = HostileNode::udp("slow", Behaviour::Slow(1500));
    let overflow = HostileNode::udp("overflow", Behaviour::Overflow);
    let broken = HostileNode::http_broken();
    let good = HostileNode::udp("good", Behaviour::Answer);
    let mut tables = String::new();
    for (name, node) in [
        ("silent", &silent),
        ("garbage", &garbage),
        ("half", &half),
        ("wrong", &wrong),
        ("slow", &slow),
        ("overflow", &overflow),
        ("good", &good),
    ] {
        tables.push_str(&format!(
            "[upstreams.{name}]\nudp = \"{}\"\ntimeout_ms = 400\n",
            node.addr
        ));
    }
    tables.push_str(&format!(
        "[upstreams.broken]\nurl = \"http://{}/mi\"\ntimeout_ms = 400\n[upstreams.nofifo]\nfifo = \"/nonexistent/fifo\"\n",
        broken.addr
    ));
    let front = front(&tables, "");
    let expect = |node: &str, code: i64, message: &str, data: &str| {
        let reply = fault(&front, node);
        assert_eq!(reply["id"], 42, "{node}: {reply}");
        let error = &reply["error"];
        assert_eq!(error["code"], code, "{node}: {reply}");
        assert_eq!(error["message"], message, "{node}: {reply}");
        let text = error["data"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("{node}: ")) && text.contains(data),
            "{node}: {reply}"
        );
        let fine = fault(&front, "good");
        assert_eq!(fine["result"]["fixture"], "good", "after {node}: {fine}");
    };
    expect("silent", 504, "Node timeout", "no reply within 400 ms");
    expect("slow", 504, "Node timeout", "no reply within 400 ms");
    expect("garbage", 502, "Bad node reply", "not JSON-RPC");
    expect("half", 502, "Bad node reply", "not JSON-RPC");
    expect("wrong", 502, "Bad node reply", "someone-else");
    expect("overflow", 502, "Bad node reply", "datagram");
    expect("broken", 502, "Bad node reply", "broke off");
    expect("nofifo", 503, "Node unreachable", "/nonexistent/fifo");
    let padding = "x".repeat(70_000);
    let oversized = post_to(&front, "/mi/good", &call("ps", json!([padding]), 43));
    assert_eq!(
        oversized["error"]["code"], 413,
        "a datagram node cannot take it"
    );
    assert!(oversized["error"]["data"]
        .as_str()
        .unwrap()
        .starts_with("good: the request is 70"));
    assert_eq!(
        fault(&front, "good")["result"]["fixture"],
        "good",
        "and stays up"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let after_slow = fault(&front, "good");
    assert_eq!(
        after_slow["result"]["fixture"], "good",
        "a late reply reaches nobody"
    );
    let stats = front.result("get_statistics", json!({"statistics": ["upstreams:"]}));
    assert_eq!(stats["upstreams:silent_timeouts"], 1, "{stats}");
    assert_eq!(stats["upstreams:garbage_errors"], 1, "{stats}");
}

#[test]
fn max_in_flight_answers_503_past_it_and_replies_never_cross() {
    let slow = HostileNode::udp("slow", Behaviour::Slow(600));
    let node = Daemon::start("").unwrap();
    let tables = format!(
        "[upstreams.slow]\nudp = \"{}\"\nmax_in_flight = 1\ntimeout_ms = 3000\n{}",
        slow.addr,
        udp_table("edge1", &node, "")
    );
    let front = std::sync::Arc::new(front(&tables, "edge1"));
    let first = {
        let front = front.clone();
        std::thread::spawn(move || fault(&front, "slow"))
    };
    std::thread::sleep(Duration::from_millis(200));
    let second = fault(&front, "slow");
    assert_eq!(second["error"]["code"], 503, "{second}");
    assert_eq!(second["error"]["message"], "Node busy");
    assert_eq!(first.join().unwrap()["result"]["fixture"], "slow");
    let workers: Vec<_> = (0..6)
        .map(|worker| {
            let front = front.clone();
            std::thread::spawn(move || {
                for i in 0..40u64 {
                    let id = worker * 1000 + i;
                    let token = format!("w{worker}-{i}");
                    let reply = post_to(
                        &front,
                        "/mi",
                        &call("cache_store", json!(["local", token, token]), id),
                    );
                    assert_eq!(reply["id"], id, "{reply}");
                    let fetched = post_to(
                        &front,
                        "/mi",
                        &call("cache_fetch", json!(["local", token]), id + 500),
                    );
                    assert_eq!(fetched["id"], id + 500);
                    assert_eq!(fetched["result"]["value"], token, "{fetched}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn batches_are_split_and_notifications_not_answered() {
    let node = Daemon::start("").unwrap();
    let front = front(&udp_table("edge1", &node, ""), "edge1");
    let batch = format!(
        "[{},{},{}]",
        call("uptime", json!([]), 1),
        json!({"jsonrpc":"2.0","method":"log_level","params":[3]}),
        call("miwa:uptime", json!([]), 3)
    );
    let replies = front.rpc(&batch).unwrap();
    let replies = replies.as_array().expect("an array of replies");
    assert_eq!(replies.len(), 2, "the notification gets none: {replies:?}");
    assert_eq!(replies[0]["id"], 1);
    assert_eq!(
        replies[0]["result"]["Up since"],
        node.result("uptime", json!([]))["Up since"]
    );
    assert_eq!(replies[1]["id"], 3);
    assert_eq!(level(&node), 3, "the notification ran");
    let notification = front
        .post(&json!({"jsonrpc":"2.0","method":"log_level","params":[4]}).to_string())
        .unwrap();
    assert_eq!(notification.status, 202);
    assert!(notification.body.is_empty());
    let malformed = front.rpc("{\"jsonrpc\":").unwrap();
    assert_eq!(malformed["error"]["code"], -32700);
}

#[test]
fn roles_reach_nodes_by_name() {
    let one = Daemon::start("").unwrap();
    let two = Daemon::start("").unwrap();
    let tables = format!(
        "{}{}",
        udp_table("edge1", &one, ""),
        udp_table("edge2", &two, "")
    );
    let access = "\n[access.transports]\nhttp = \"edge1-ops\"\n[access.roles.edge1-ops]\nallow = [\"edge1:*\", \"front:nodes_*\"]\ndeny = [\"edge1:kill\"]\n";
    let front = Daemon::start(&format!(
        "\n{tables}[front]\nupstream = \"edge1\"\n{access}"
    ))
    .unwrap();
    assert!(post_to(&front, "/mi/edge1", &call("ps", json!([]), 1))["result"].is_object());
    let refused = post_to(&front, "/mi/edge2", &call("ps", json!([]), 2));
    assert_eq!(refused["error"]["code"], 403, "{refused}");
    let run = front.result("nodes_run", json!({"command": "ps"}));
    assert!(run["edge1"]["result"].is_object(), "{run}");
    assert_eq!(run["edge2"]["error"]["code"], 403, "{run}");
    let listed = post_to(&front, "/mi/edge1", &call("which", json!([]), 3))["result"].clone();
    let listed = names(&listed);
    assert!(
        listed.contains(&"ps") && listed.contains(&"nodes_run"),
        "{listed:?}"
    );
    assert!(
        !listed.contains(&"kill"),
        "only what the role may run: {listed:?}"
    );
    let kill = post_to(&front, "/mi/edge1", &call("kill", json!([]), 5));
    assert_eq!(kill["error"]["code"], 403, "{kill}");
    let edge2 = post_to(&front, "/mi/edge2", &call("which", json!([]), 4));
    assert_eq!(
        edge2["error"]["code"], 403,
        "which itself is a command of edge2: {edge2}"
    );
}

#[test]
fn a_real_kamailio_is_a_node_over_udp_fifo_and_http() {
    if !miwa_tests::Heavy::Kamailio.runs() {
        return;
    }
    let kamailio = Kamailio::start().unwrap();
    let tables = format!(
        "[upstreams.kam]\nudp = \"{}\"\ndialect = \"kamailio\"\n[upstreams.kamfifo]\nfifo = \"{}\"\nreply_dir = \"{}/\"\ndialect = \"kamailio\"\n[upstreams.kamhttp]\nurl = \"{}\"\ndialect = \"kamailio\"\n",
        kamailio.udp,
        kamailio.fifo.display(),
        kamailio.reply_dir.display(),
        kamailio.url
    );
    let front = front(&tables, "kam");
    let direct: Value = serde_json::from_str(
        &kamailio
            .udp_call(&call("core.uptime", json!([]), 1))
            .unwrap(),
    )
    .unwrap();
    for node in ["kam", "kamfifo", "kamhttp"] {
        let reply = post_to(
            &front,
            &format!("/mi/{node}"),
            &call("core.uptime", json!([]), 5),
        );
        assert_eq!(reply["id"], 5, "{node}: {reply}");
        assert_eq!(
            reply["result"]["up_since"],
            direct["result"]["up_since"],
            "{node}: {reply}\n{}",
            kamailio.log()
        );
    }
    let which = front.result("which", json!([]));
    let listed = names(&which);
    assert!(
        listed.contains(&"core.ps") && listed.contains(&"nodes_run"),
        "{which}"
    );
    let help = front.result("help", json!({"mi_cmd": "core.uptime"}));
    assert_eq!(help, json!("Returns uptime of SIP server."));
    let notification = front
        .post(&json!({"jsonrpc":"2.0","method":"core.uptime"}).to_string())
        .unwrap();
    assert_eq!(
        (notification.status, notification.body.len()),
        (202, 0),
        "Kamailio answers notifications; miwa does not"
    );
    let batch = format!(
        "[{},{}]",
        call("core.uptime", json!([]), 1),
        call("core.version", json!([]), 2)
    );
    let replies = front.rpc(&batch).unwrap();
    assert_eq!(replies[0]["id"], 1, "{replies}");
    assert_eq!(replies[1]["id"], 2, "{replies}");
    assert!(
        replies[1]["result"].to_string().contains("kamailio"),
        "{replies}"
    );
    let malformed = front.rpc("{\"jsonrpc\":\"2.0\",").unwrap();
    assert_eq!(
        malformed["error"]["code"], -32700,
        "answered at once, never sent to Kamailio"
    );
    let missing = front.call("core.no_such", json!([]));
    assert_eq!(
        missing["error"]["message"], "Method Not Found",
        "the node's own error"
    );
    let run = front.result("nodes_run", json!({"command": "core.uptime"}));
    for node in ["kam", "kamfifo", "kamhttp"] {
        assert_eq!(
            run[node]["result"]["up_since"], direct["result"]["up_since"],
            "{run}"
        );
    }
    let ps_page = miwa_tests::exchange(
        front.http,
        b"GET /html/kam/kam HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&ps_page).contains("core.ps"));
}

fn venv_tool(name: &str) -> PathBuf {
    let tool = workspace().join("tests/.venv/bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: make test installs it",
        tool.display()
    );
    tool
}

#[test]
fn opensips_cli_and_opensips_mi_work_through_the_front() {
    let node = Daemon::start("").unwrap();
    let front = front(&udp_table("edge2", &node, ""), "");
    let url = format!("url=http://{}/mi/edge2", front.http);
    let cli = Command::new(venv_tool("opensips-cli"))
        .args([
            "-o",
            "communication_type=http",
            "-o",
            &url,
            "-x",
            "mi",
            "ps",
        ])
        .env("HOME", front.dir.path())
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let ps: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(pids(&ps), pids(&node.result("ps", json!([]))));
    let mi = Command::new(venv_tool("opensips-mi"))
        .args([
            "-t",
            "datagram",
            "-p",
            &front.udp.port().to_string(),
            "nodes_list",
        ])
        .output()
        .unwrap();
    assert!(
        mi.status.success(),
        "{}",
        String::from_utf8_lossy(&mi.stderr)
    );
    assert!(String::from_utf8_lossy(&mi.stdout).contains("edge2"));
}

#[test]
fn node_events_reach_a_miwa_subscriber_through_miwa_own_subscription() {
    let node = Daemon::start("").unwrap();
    let front = Daemon::start(&format!(
        "\n{}[front]\nupstream = \"edge1\"\nevent_expire = 4\n",
        udp_table("edge1", &node, "")
    ))
    .unwrap();
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let socket = format!("udp:{}", listener.local_addr().unwrap());
    let subscribed = front.result("event_subscribe", json!(["E_MODULE_LOADED", socket, 60]));
    assert_eq!(subscribed, "OK");
    let at_node = node.subscribers("E_MODULE_LOADED");
    assert_eq!(
        at_node.len(),
        1,
        "miwa subscribed itself at the node: {at_node:?}"
    );
    assert_ne!(at_node[0], socket, "with a socket of its own");
    assert_eq!(
        front.subscribers("E_MODULE_LOADED"),
        at_node,
        "subscribers_list is the node's"
    );
    let own = front.result("miwa:subscribers_list", json!([]));
    assert!(own.to_string().contains(&socket), "{own}");
    node.result(
        "raise_event",
        json!({"event": "E_MODULE_LOADED", "params": r#"{"module": "from-node", "version": "1"}"#}),
    );
    let mut buffer = [0u8; 65536];
    let length = listener
        .recv(&mut buffer)
        .expect("the node's event arrives");
    let delivered: Value = serde_json::from_slice(&buffer[..length]).unwrap();
    assert_eq!(delivered["method"], "E_MODULE_LOADED");
    assert_eq!(delivered["params"]["module"], "from-node", "{delivered}");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        node.subscribers("E_MODULE_LOADED").len(),
        1,
        "renewed before its 4 s expired"
    );
    front.result("event_subscribe", json!(["E_MODULE_LOADED", socket, 0]));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !node.subscribers("E_MODULE_LOADED").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "miwa unsubscribes at the node when nobody listens"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn node_replies_being_read_stay_within_front_max_buffered() {
    let node = Daemon::start("max_body = 4194304").unwrap();
    let front = Daemon::start(&format!(
        "\n[upstreams.edge1]\nfifo = \"{}\"\nreply_dir = \"{}/\"\n[front]\nupstream = \"edge1\"\nmax_buffered = 1048576\n",
        node.fifo.display(),
        node.reply_dir().display()
    ))
    .unwrap();
    let small = front.result("cache_store", json!(["local", "k", "v"]));
    assert_eq!(small, "OK");
    let request = call("cache_fetch", json!(["local", "k"]), 1);
    let overhead = node.rpc(&request).unwrap().to_string().len() - 1;
    let fill = |bytes: usize| {
        node.result(
            "cache_store",
            json!(["local", "k", "x".repeat(bytes - overhead)]),
        );
    };
    fill(1_048_576);
    let fits = post_to(&front, "/mi", &request);
    assert_eq!(
        fits["result"]["value"].as_str().map(str::len),
        Some(1_048_576 - overhead),
        "a reply of exactly front.max_buffered bytes"
    );
    fill(1_048_577);
    let over = post_to(&front, "/mi", &request);
    assert_eq!(over["error"]["code"], 503, "{over}");
    assert!(
        over["error"]["data"]
            .as_str()
            .unwrap()
            .contains("front.max_buffered"),
        "{over}"
    );
    fill(1000);
    assert_eq!(
        post_to(&front, "/mi", &request)["id"],
        1,
        "served again once it fits"
    );
}

#[test]
fn the_front_absorbs_the_stall_of_a_notification_and_fetches_large_replies_over_the_stream() {
    let stalling = HostileNode::http_stalling_on_notifications();
    let node = Daemon::start("").unwrap();
    let tables = format!(
        "[upstreams.stalls]\nurl = \"http://{}/mi\"\ntimeout_ms = 3000\n[upstreams.edge1]\nudp = \"{}\"\nfifo = \"{}\"\nreply_dir = \"{}/\"\n[upstreams.udponly]\nudp = \"{}\"\n",
        stalling.addr,
        node.udp,
        node.fifo.display(),
        node.reply_dir().display(),
        node.udp
    );
    let front = front(&tables, "stalls");
    let started = std::time::Instant::now();
    let notification = front
        .post(&json!({"jsonrpc":"2.0","method":"log_level","params":[2]}).to_string())
        .unwrap();
    assert_eq!((notification.status, notification.body.len()), (202, 0));
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered without waiting for the node's stall"
    );
    assert_eq!(
        stalling.received.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the node never saw a notification"
    );
    for i in 0..40 {
        node.result(
            "cache_store",
            json!(["local", format!("big{i}"), "x".repeat(2000)]),
        );
    }
    let direct_udp = miwa_tests::udp_exchange(
        node.udp,
        call("cache_fetch_chunk", json!(["big*"]), 9).as_bytes(),
        Duration::from_secs(3),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        direct_udp, b"500 Internal error",
        "too large for the node's datagram"
    );
    let whole = post_to(
        &front,
        "/mi/edge1",
        &call("cache_fetch_chunk", json!(["big*"]), 9),
    );
    assert_eq!(
        whole["result"]["keys"].as_array().map(Vec::len),
        Some(40),
        "fetched over the FIFO"
    );
    let refused = post_to(
        &front,
        "/mi/udponly",
        &call("cache_fetch_chunk", json!(["big*"]), 9),
    );
    assert_eq!(refused["error"]["code"], 502, "{refused}");
    assert!(refused["error"]["data"]
        .as_str()
        .unwrap()
        .contains("may not fit a datagram"));
    let script = front.dir.path().join("calls.mi");
    std::fs::write(&script, "cache_fetch local big1\nuptime\n").unwrap();
    let output = Command::new(miwa_tests::miwa_bin())
        .arg("script")
        .args(front.client_args("http"))
        .args(["--node", "edge1"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&"x".repeat(2000)),
        "the node's cache: {printed}"
    );
    let refused = Command::new(miwa_tests::miwa_bin())
        .arg("script")
        .args(front.client_args("fifo"))
        .args(["--node", "edge1"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--node"));
}

#[test]
fn a_node_over_unix_and_over_https_with_its_certificate_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.path().join("node.crt"), dir.path().join("node.key"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let node = Daemon::start(&format!(
        "tls_certificate = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    ))
    .unwrap();
    let replies = dir.path().join("replies");
    std::fs::create_dir(&replies).unwrap();
    let tables = format!(
        "[upstreams.sock]\nunix = \"{}\"\nreply_dir = \"{}/\"\n[upstreams.tls]\nurl = \"https://localhost:{}/mi\"\ncacert = \"{}\"\n[upstreams.untrusted]\nurl = \"https://localhost:{}/mi\"\n",
        node.unix.display(),
        replies.display(),
        node.http.port(),
        cert.display(),
        node.http.port()
    );
    let front = front(&tables, "");
    let (ok, out, err) = node.miwa_call("unix", &["uptime"]);
    assert!(ok, "{err}");
    let direct: Value = serde_json::from_str(&out).unwrap();
    for name in ["sock", "tls"] {
        let reply = post_to(
            &front,
            &format!("/mi/{name}"),
            &call("uptime", json!([]), 3),
        );
        assert_eq!(
            reply["result"]["Up since"], direct["Up since"],
            "{name}: {reply}"
        );
    }
    let untrusted = post_to(&front, "/mi/untrusted", &call("uptime", json!([]), 4));
    assert_eq!(untrusted["error"]["code"], 503, "{untrusted}");
    assert!(
        untrusted["error"]["data"].as_str().unwrap().contains("TLS"),
        "{untrusted}"
    );
    // Only pooled reply sockets are left: one, or two when the front's probes of the node
    // (`which`, then `version` as it comes up) overlapped a call.
    use std::os::unix::fs::FileTypeExt;
    let leftovers: Vec<std::fs::DirEntry> = std::fs::read_dir(&replies)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        (1..=2).contains(&leftovers.len())
            && leftovers
                .iter()
                .all(|entry| entry.file_type().unwrap().is_socket()),
        "pooled reply sockets, nothing else left: {leftovers:?}"
    );
    let mut front = front;
    Command::new("kill")
        .args(["-TERM", &front.pid().to_string()])
        .status()
        .unwrap();
    assert!(
        front.wait_exit(Duration::from_secs(10)).is_some(),
        "the front stops"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&replies).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "its reply socket is removed at shutdown: {leftovers:?}"
    );
}

#[test]
fn an_upstream_takes_a_reply_of_exactly_max_reply_bytes_and_refuses_one_more() {
    let node = Daemon::start("").expect("node starts");
    node.result(
        "cache_store",
        json!({"system": "local", "attr": "big", "value": "v".repeat(3000)}),
    );
    let fetch = call("cache_fetch", json!({"system": "local", "attr": "big"}), 7);
    let over_udp = miwa_tests::udp_exchange(node.udp, fetch.as_bytes(), Duration::from_secs(5))
        .expect("udp exchange")
        .expect("a datagram reply")
        .len();
    let over_http = node.post(&fetch).expect("http reply").body.len();
    let url = format!("http://{}/mi", node.http);
    let front = front(
        &format!(
            "{}{}{}{}",
            udp_table("udp_exact", &node, &format!("max_reply = {over_udp}")),
            udp_table("udp_short", &node, &format!("max_reply = {}", over_udp - 1)),
            format_args!("[upstreams.http_exact]\nurl = \"{url}\"\nmax_reply = {over_http}\n"),
            format_args!(
                "[upstreams.http_short]\nurl = \"{url}\"\nmax_reply = {}\n",
                over_http - 1
            ),
        ),
        "",
    );
    for name in ["udp_exact", "http_exact"] {
        let reply = post_to(&front, &format!("/mi/{name}"), &fetch);
        assert_eq!(
            reply["result"]["value"].as_str().map(str::len),
            Some(3000),
            "{name}: {reply}"
        );
    }
    for (name, limit) in [("udp_short", over_udp - 1), ("http_short", over_http - 1)] {
        let reply = post_to(&front, &format!("/mi/{name}"), &fetch);
        assert_eq!(reply["error"]["code"], 502, "{name}: {reply}");
        assert_eq!(
            reply["error"]["data"],
            format!("{name}: the reply is over the {limit}-byte limit (max_reply)"),
            "{name}: {reply}"
        );
        let small = post_to(
            &front,
            &format!("/mi/{name}"),
            &call("uptime", json!([]), 8),
        );
        assert!(
            small["result"]["Up time"].is_string(),
            "{name} still answers: {small}"
        );
    }
}

#[test]
fn probes_follow_probe_interval_while_up_and_back_off_to_max_backoff_ms_while_down() {
    let up = HostileNode::udp("up", Behaviour::Answer);
    let fast = HostileNode::udp("fast", Behaviour::Mute);
    let capped = HostileNode::udp("capped", Behaviour::Mute);
    let front = front(
        &format!(
            "[upstreams.up]\nudp = \"{}\"\nprobe_interval = 1\n\
             [upstreams.fast]\nudp = \"{}\"\ntimeout_ms = 100\nmax_backoff_ms = 100\n\
             [upstreams.capped]\nudp = \"{}\"\ntimeout_ms = 100\nmax_backoff_ms = 400\n",
            up.addr, fast.addr, capped.addr
        ),
        "",
    );
    let count = |node: &HostileNode| node.received.load(std::sync::atomic::Ordering::Relaxed);
    let before = [count(&up), count(&fast), count(&capped)];
    std::thread::sleep(Duration::from_secs(4));
    let probes: Vec<u64> = [count(&up), count(&fast), count(&capped)]
        .iter()
        .zip(before)
        .map(|(after, before)| after - before)
        .collect();
    assert!(
        (3..=5).contains(&probes[0]),
        "one probe a second while up: {probes:?}"
    );
    assert!(
        (12..=21).contains(&probes[1]),
        "a probe each 100 ms timeout + 100 ms backoff while down: {probes:?}"
    );
    assert!(
        probes[2] <= 10,
        "the backoff grows to 400 ms and stays there: {probes:?}"
    );
    let listed = front.result("nodes_list", json!([]));
    let states: Vec<&str> = listed["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["up", "down", "down"], "{listed}");
}

/// The `command` of each line of the audit log at `path`.
fn audited_commands(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l["command"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn names_4_0_reach_a_node_by_its_3_6_names_and_shared_local_names_are_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("node-audit.log");
    let node = Daemon::start_with_args(
        &format!("[audit]\nfile = \"{}\"\n", audit.display()),
        &["--simulate"],
    )
    .unwrap();
    let front = front(&udp_table("edge", &node, ""), "edge");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !names(&post_to(&front, "/mi", &call("which", json!([]), 0))["result"])
        .contains(&"ul_dump")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the node's commands never listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let stats = post_to(
        &front,
        "/mi",
        &call("statistics:get", json!([["core:"]]), 1),
    );
    assert!(stats["result"]["core:timestamp"].is_number(), "{stats}");
    let dump = post_to(&front, "/mi/edge", &call("usrloc:dump", json!([]), 2));
    assert!(dump["result"]["Domains"].is_array(), "{dump}");
    let bare = post_to(&front, "/mi", &call("dump", json!([]), 3));
    assert!(bare["result"]["Domains"].is_array(), "{bare}");
    let alias = post_to(&front, "/mi", &call("core:uptime", json!([]), 4));
    assert!(alias["result"]["Up time"].is_string(), "{alias}");

    let list = post_to(&front, "/mi", &call("list", json!([]), 5));
    assert_eq!(list["error"]["code"], -32001, "{list}");
    assert_eq!(list["error"]["message"], "Method ambiguous");
    let data = list["error"]["data"].as_str().unwrap();
    for candidate in [
        "statistics:list",
        "evi:list",
        "tcp:list",
        "dispatcher:list",
        "dialog:list",
    ] {
        assert!(data.contains(candidate), "{data}");
    }

    let which = post_to(&front, "/mi", &call("which", json!(["usrloc:"]), 6));
    let listed = names(&which["result"]);
    assert!(
        listed.contains(&"usrloc:dump") && listed.contains(&"usrloc:rm"),
        "{which}"
    );
    let none = post_to(&front, "/mi", &call("which", json!(["nosuch:"]), 7));
    assert_eq!(none["error"]["code"], 404, "{none}");

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        // The front's own probes (`which`, and `version` when the node comes up) aside.
        let probe = |c: &str| c == "which" || c == "version";
        let received = audited_commands(&audit);
        if received.iter().filter(|c| !probe(c)).count() >= 4 {
            let calls: Vec<&str> = received
                .iter()
                .map(String::as_str)
                .filter(|c| !probe(c))
                .collect();
            assert_eq!(calls, ["get_statistics", "ul_dump", "ul_dump", "uptime"]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node received {received:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
