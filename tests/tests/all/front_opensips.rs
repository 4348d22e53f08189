//! Front mode in front of real OpenSIPS nodes: 3.6.8 and 4.0.1 (with httpd authentication),
//! built from `../shared/opensips` (see `miwa_tests::opensips`), reached over their FIFO,
//! mi_datagram and mi_http, as a user would reach them through miwa.

use miwa_tests::conformance::Score;
use miwa_tests::front::{front, pids, post_to};
use miwa_tests::opensips::{OpenSips, HTTP_PASSWORD, HTTP_USER};
use miwa_tests::{fifo_write, udp_exchange, Daemon, ReplyFifo};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A node of `version`, or `None` when the test is skipped (said loudly).
fn node(version: &'static str) -> Option<OpenSips> {
    OpenSips::start(version).expect("OpenSIPS starts")
}

/// Three upstreams for one node: `<name>_udp`, `<name>_fifo` and `<name>_http`.
fn tables(name: &str, node: &OpenSips, url: &str) -> String {
    format!(
        "[upstreams.{name}_udp]\nudp = \"{}\"\n[upstreams.{name}_fifo]\nfifo = \"{}\"\nreply_dir = \"{}/\"\n[upstreams.{name}_http]\nurl = \"{url}\"\n",
        node.udp,
        node.fifo.display(),
        node.reply_dir.display(),
    )
}

/// `request` sent to the front's FIFO.
fn over_fifo(front: &Daemon, request: &str) -> Value {
    let reply = ReplyFifo::create(&front.reply_dir(), "os").unwrap();
    fifo_write(&front.fifo, format!(":os:{request}").as_bytes()).unwrap();
    let answer = reply.read(WAIT).unwrap().expect("a FIFO reply");
    serde_json::from_slice(&answer).unwrap()
}

/// `request` sent to the front's UDP socket.
fn over_udp(front: &Daemon, request: &str) -> Value {
    let answer = udp_exchange(front.udp, request.as_bytes(), WAIT)
        .unwrap()
        .expect("a UDP reply");
    serde_json::from_slice(&answer).unwrap()
}

/// The node's mi_http URL with the credentials a 4.0 node asks for.
fn url_of(node: &OpenSips) -> String {
    if node.version.starts_with("4.") {
        node.url
            .replace("http://", &format!("http://{HTTP_USER}:{HTTP_PASSWORD}@"))
    } else {
        node.url.clone()
    }
}

#[test]
fn ids_come_back_as_the_real_node_answers_them_on_every_transport() {
    for version in miwa_tests::opensips::VERSIONS {
        let Some(node) = node(version) else { return };
        ids_as_the_node_answers_them(&node);
    }
}

fn ids_as_the_node_answers_them(node: &OpenSips) {
    let front = front(&tables("n", node, &url_of(node)), "n_udp");
    for id in ["1.5", "2147483648", "-7", "0.1", "1e3", "\"abc\"", "null"] {
        let request = format!(r#"{{"jsonrpc":"2.0","method":"uptime","id":{id}}}"#);
        let direct: Value = serde_json::from_str(&node.udp_call(&request).unwrap()).unwrap();
        for upstream in ["n_udp", "n_fifo", "n_http"] {
            let reply = post_to(&front, &format!("/mi/{upstream}"), &request);
            assert_eq!(
                reply["id"], direct["id"],
                "{} {upstream} id {id}: {reply}",
                node.version
            );
            assert!(
                reply["result"]["Up since"].is_string(),
                "{upstream}: {reply}"
            );
        }
        for reply in [over_fifo(&front, &request), over_udp(&front, &request)] {
            assert_eq!(reply["id"], direct["id"], "id {id}: {reply}");
            assert!(reply["result"]["Up since"].is_string(), "{reply}");
        }
    }
}

#[test]
fn a_request_too_large_for_the_nodes_fifo_is_refused_at_once_or_sent_where_it_fits() {
    let Some(node) = node("3.6.8") else { return };
    let tables = format!(
        "{}[upstreams.both]\nudp = \"{}\"\nfifo = \"{}\"\nreply_dir = \"{}/\"\n",
        tables("n", &node, &node.url),
        node.udp,
        node.fifo.display(),
        node.reply_dir.display()
    );
    let front = front(&tables, "n_udp");
    let value = "v".repeat(5000);
    let store = json!({"jsonrpc": "2.0", "method": "cache_store",
                       "params": ["local", "big", value], "id": 1})
    .to_string();
    let fetch = json!({"jsonrpc": "2.0", "method": "cache_fetch",
                       "params": ["local", "big"], "id": 2})
    .to_string();
    for upstream in ["n_fifo", "n_http"] {
        let asked = Instant::now();
        let reply = post_to(&front, &format!("/mi/{upstream}"), &store);
        assert_eq!(reply["error"]["code"], 413, "{upstream}: {reply}");
        let detail = reply["error"]["data"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            detail.contains("takes at most"),
            "{upstream}: the limit is named: {reply}"
        );
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{upstream}: refused at once, not at the node timeout: {:?}",
            asked.elapsed()
        );
    }
    for upstream in ["n_udp", "both"] {
        let reply = post_to(&front, &format!("/mi/{upstream}"), &store);
        assert!(reply.get("error").is_none(), "{upstream}: {reply}");
        let fetched = post_to(&front, &format!("/mi/{upstream}"), &fetch);
        assert_eq!(fetched["result"]["value"], json!(value), "{upstream}");
    }
    assert!(
        node.log().lines().all(|l| !l.contains("ERROR")),
        "the node saw no broken request:\n{}",
        node.log()
    );
}

#[test]
fn a_path_segment_naming_no_node_keeps_opensips_meaning_when_it_names_the_command() {
    let Some(node) = node("3.6.8") else { return };
    let front = front(&tables("n", &node, &node.url), "n_udp");
    let uptime = r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
    let reply = post_to(&front, "/mi/uptime", uptime);
    assert!(reply["result"]["Up since"].is_string(), "{reply}");
    let direct = post_to(&front, "/mi/n_udp", uptime);
    assert_eq!(reply["result"]["Up since"], direct["result"]["Up since"]);
    let typo = post_to(&front, "/mi/n_udq", uptime);
    assert_eq!(typo["error"]["code"], 404, "{typo}");
    assert_eq!(typo["error"]["message"], "Unknown node", "{typo}");
    let other = post_to(
        &front,
        "/mi/uptime",
        r#"{"jsonrpc":"2.0","method":"ps","id":1}"#,
    );
    assert_eq!(
        other["error"]["code"], 404,
        "names neither a node nor its command: {other}"
    );
}

#[test]
fn opensips_4_with_httpd_authentication_is_fronted_and_its_password_never_shown() {
    let Some(node) = node("4.0.1") else { return };
    let with_password = node
        .url
        .replace("http://", &format!("http://{HTTP_USER}:{HTTP_PASSWORD}@"));
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("node.pass");
    std::fs::write(&secret, format!("{HTTP_PASSWORD}\n")).unwrap();
    let from_file = node.url.replace("http://", &format!("http://{HTTP_USER}@"));
    let tables = format!(
        "[upstreams.inline]\nurl = \"{with_password}\"\n[upstreams.filed]\nurl = \"{from_file}\"\npassword_file = \"{}\"\n[upstreams.none]\nurl = \"{}\"\n",
        secret.display(),
        node.url
    );
    let front = front(&tables, "inline");
    let uptime = r#"{"jsonrpc":"2.0","method":"core:uptime","id":1}"#;
    for upstream in ["inline", "filed"] {
        let reply = post_to(&front, &format!("/mi/{upstream}"), uptime);
        assert!(
            reply["result"]["Up since"].is_string(),
            "{upstream}: {reply}"
        );
    }
    let refused = post_to(&front, "/mi/none", uptime);
    assert_eq!(refused["error"]["code"], 503, "{refused}");
    let listed = front.result("nodes_list", json!([]));
    let metrics = front.get("/metrics", "").unwrap();
    let shown = [
        listed.to_string(),
        String::from_utf8_lossy(&metrics.body).into_owned(),
        refused.to_string(),
        front.log(),
    ];
    for text in &shown {
        assert!(!text.contains(HTTP_PASSWORD), "the password leaks: {text}");
    }
    assert!(listed.to_string().contains(&node.url), "{listed}");
}

#[test]
fn nodes_run_reaches_a_3_6_a_4_0_and_a_kamailio_node_under_names_each_understands() {
    if !miwa_tests::Heavy::Kamailio.runs() {
        return;
    }
    let (Some(old), Some(new)) = (node("3.6.8"), node("4.0.1")) else {
        return;
    };
    let kamailio = miwa_tests::kamailio::Kamailio::start().unwrap();
    let tables = format!(
        "[upstreams.v36]\nudp = \"{}\"\n[upstreams.v40]\nudp = \"{}\"\n[upstreams.kam]\nudp = \"{}\"\ndialect = \"kamailio\"\n",
        old.udp, new.udp, kamailio.udp
    );
    let front = front(&tables, "v36");
    for command in ["statistics:get", "get_statistics"] {
        let run = front.result(
            "nodes_run",
            json!({"command": command, "params": [["shmem:"]], "nodes": ["v36", "v40"]}),
        );
        for node in ["v36", "v40"] {
            assert!(
                run[node]["result"]["shmem:total_size"].is_number(),
                "{command} on {node}: {run}"
            );
        }
    }
    for command in ["uptime", "core:uptime"] {
        let run = front.result("nodes_run", json!({"command": command}));
        for node in ["v36", "v40"] {
            assert!(
                run[node]["result"]["Up since"].is_string(),
                "{command}: {run}"
            );
        }
        assert_eq!(
            run["kam"]["error"]["message"], "Method Not Found",
            "Kamailio has no {command}, and says so itself: {run}"
        );
    }
    let run = front.result(
        "nodes_run",
        json!({"command": "core.uptime", "nodes": "kam"}),
    );
    assert!(run["kam"]["result"]["up_since"].is_string(), "{run}");
}

/// `opensips-cli -x mi <ps>` against `front` over `transport`: the PIDs it lists.
/// opensips-cli checks the name against the node's `which`: a 4.0 node's is `core:ps`.
fn cli_ps(front: &Daemon, transport: &str, ps: &str) -> Vec<u64> {
    let options: Vec<String> = match transport {
        "http" => vec![
            "communication_type=http".into(),
            format!("url={}", front.url()),
        ],
        "datagram" => vec![
            "communication_type=datagram".into(),
            format!("datagram_ip={}", front.udp.ip()),
            format!("datagram_port={}", front.udp.port()),
        ],
        _ => vec![
            "communication_type=fifo".into(),
            format!("fifo_file={}", front.fifo.display()),
            format!("fifo_reply_dir={}", front.reply_dir().display()),
        ],
    };
    let mut command =
        std::process::Command::new(miwa_tests::workspace().join("tests/.venv/bin/opensips-cli"));
    for option in &options {
        command.args(["-o", option]);
    }
    let cli = command
        .args(["-x", "mi", ps])
        .env("HOME", front.dir.path())
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{transport}: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    pids(&serde_json::from_slice(&cli.stdout).unwrap())
}

/// `opensips-mi ps` against `front` over `transport`: the PIDs it lists.
fn mi_ps(front: &Daemon, transport: &str) -> Vec<u64> {
    let port_of = |address: std::net::SocketAddr| address.port().to_string();
    let args: Vec<String> = match transport {
        "http" => vec!["-t".into(), "http".into(), "-p".into(), port_of(front.http)],
        "datagram" => vec![
            "-t".into(),
            "datagram".into(),
            "-p".into(),
            port_of(front.udp),
        ],
        "unix" => vec![
            "-t".into(),
            "datagram".into(),
            "-ds".into(),
            front.unix.display().to_string(),
        ],
        _ => vec![
            "-t".into(),
            "fifo".into(),
            "-f".into(),
            front.fifo.display().to_string(),
            "-fd".into(),
            front.reply_dir().display().to_string(),
        ],
    };
    let mi =
        std::process::Command::new(miwa_tests::workspace().join("tests/.venv/bin/opensips-mi"))
            .args(&args)
            .args(["-i", "127.0.0.1", "ps"])
            .output()
            .unwrap();
    assert!(
        mi.status.success(),
        "{transport}: {}",
        String::from_utf8_lossy(&mi.stderr)
    );
    pids(&serde_json::from_slice(&mi.stdout).unwrap())
}

#[test]
fn opensips_cli_and_opensips_mi_reach_real_nodes_through_miwa_on_every_transport() {
    for version in miwa_tests::opensips::VERSIONS {
        let Some(node) = node(version) else { return };
        let direct: Value = serde_json::from_str(
            &node
                .udp_call(r#"{"jsonrpc":"2.0","method":"ps","id":1}"#)
                .unwrap(),
        )
        .unwrap();
        let expected = pids(&direct["result"]);
        for upstream in ["n_udp", "n_fifo", "n_http"] {
            let front = front(&tables("n", &node, &url_of(&node)), upstream);
            for transport in ["http", "datagram", "fifo"] {
                assert_eq!(
                    cli_ps(
                        &front,
                        transport,
                        if version.starts_with("4.") {
                            "core:ps"
                        } else {
                            "ps"
                        }
                    ),
                    expected,
                    "{version}: opensips-cli over {transport} to miwa, miwa over {upstream}"
                );
                assert_eq!(
                    mi_ps(&front, transport),
                    expected,
                    "{version}: opensips-mi over {transport} to miwa, miwa over {upstream}"
                );
            }
            assert_eq!(
                mi_ps(&front, "unix"),
                expected,
                "{version}: opensips-mi over miwa's UNIX socket, miwa over {upstream}"
            );
        }
    }
}

/// Prints both scores of a recording and fails on a case that matches at the node but not
/// through miwa.
fn no_new_mismatches(file: &str, direct: &Score, through: &Score) {
    println!(
        "{file} at the real 3.6.8 node: {}/{}; through miwa: {}/{}",
        direct.matched, direct.compared, through.matched, through.compared
    );
    for line in &through.mismatches {
        println!("  through miwa: {line}");
    }
    for line in &direct.mismatches {
        println!("  at the node: {line}");
    }
    let case = |m: &String| m.split(':').next().unwrap_or_default().to_string();
    let direct_cases: Vec<String> = direct.mismatches.iter().map(case).collect();
    let new: Vec<&String> = through
        .mismatches
        .iter()
        .filter(|m| !direct_cases.contains(&case(m)))
        .collect();
    assert!(
        new.is_empty(),
        "{file}: new mismatches through miwa: {new:?}"
    );
}

/// The PID of the `timer` process in a `ps` reply (the recordings' requests name it).
fn timer_of(ps: &Value) -> String {
    ps["result"]["Processes"]
        .as_array()
        .unwrap_or_else(|| panic!("Processes: {ps}"))
        .iter()
        .find(|p| p["Type"] == "timer")
        .map(|p| p["PID"].to_string())
        .expect("a timer process")
}

/// The PID of the node's `timer` process.
fn timer_pid(node: &OpenSips) -> String {
    let ps = node
        .udp_call(r#"{"jsonrpc":"2.0","method":"ps","id":1}"#)
        .unwrap();
    timer_of(&serde_json::from_str(&ps).unwrap())
}

/// The UDP recordings replayed through miwa to a real 3.6.8 node score what they score
/// against the node itself, case for case (the cases the node itself no longer matches
/// differ in the node's state, not in miwa).
#[test]
fn the_udp_recordings_score_through_miwa_what_they_score_at_the_real_node() {
    let Some(node) = node("3.6.8") else { return };
    let front = front(&tables("n", &node, &node.url), "n_udp");
    let pid = timer_pid(&node);
    let at = |address: std::net::SocketAddr| {
        move |_: &Value, request: &[u8], wait: Duration| {
            udp_exchange(address, request, wait).expect("exchange")
        }
    };
    let direct = miwa_tests::conformance::replay_datagrams("udp.jsonl", &pid, at(node.udp));
    let through = miwa_tests::conformance::replay_datagrams("udp.jsonl", &pid, at(front.udp));
    no_new_mismatches("udp.jsonl", &direct, &through);
}

#[test]
fn a_real_node_behind_miwa_merged_lists_events_roles_audit_batches_frozen_restarted_and_killed() {
    let Some(node) = node("3.6.8") else { return };
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let front = Daemon::start(&format!(
        "\n[upstreams.edge]\nudp = \"{}\"\nfifo = \"{}\"\nreply_dir = \"{}/\"\nmax_backoff_ms = 200\ntimeout_ms = 700\n[front]\nupstream = \"edge\"\nevent_expire = 60\n[audit]\nfile = \"{}\"\nredact = [\"cache_store:2\"]\n[access.transports]\nudp = \"ops\"\n[access.roles.ops]\nallow = [\"edge:*\", \"front:*\"]\ndeny = [\"edge:kill\", \"edge:shutdown\"]\n",
        node.udp,
        node.fifo.display(),
        node.reply_dir.display(),
        audit.display()
    ))
    .expect("front starts");

    // Merged lists: the node's commands, then miwa's; miwa's own reachable as miwa:*.
    let which = front.result("which", json!([]));
    let listed: Vec<&str> = which
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        listed.contains(&"cache_store") && listed.contains(&"nodes_run"),
        "{which}"
    );
    let help = front.result("help", json!(["uptime"]));
    assert_eq!(help["Exported by"], "core", "the node's own help: {help}");
    let own = front.result("miwa:version", json!([]));
    assert!(own.to_string().contains("miwa"), "{own}");
    let listed = front.result("nodes_list", json!([]));
    assert_eq!(listed["nodes"][0]["state"], "up", "{listed}");

    // A node event reaches a subscriber of miwa's.
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_read_timeout(Some(WAIT)).unwrap();
    let socket = format!("udp:{}", listener.local_addr().unwrap());
    let subscribed = front.result("event_subscribe", json!(["E_CORE_THRESHOLD", socket, 60]));
    assert_eq!(subscribed, "OK");
    front.result(
        "raise_event",
        json!({"event": "E_CORE_THRESHOLD", "params": r#"{"from": "the node"}"#}),
    );
    let mut buffer = [0u8; 65536];
    let length = listener
        .recv(&mut buffer)
        .expect("the node's event arrives");
    let event: Value = serde_json::from_slice(&buffer[..length]).unwrap();
    assert_eq!(event["method"], "E_CORE_THRESHOLD");
    assert_eq!(event["params"]["from"], "the node", "{event}");

    // Roles over UDP; a batch split and gathered; audit lines, the value redacted.
    let kill = over_udp(&front, r#"{"jsonrpc":"2.0","method":"kill","id":9}"#);
    assert_eq!(kill["error"]["code"], 403, "{kill}");
    let batch = front
        .rpc(r#"[{"jsonrpc":"2.0","method":"cache_store","params":["local","k","s3cret"],"id":1},{"jsonrpc":"2.0","method":"cache_fetch","params":["local","k"],"id":2},{"jsonrpc":"2.0","method":"version","id":3}]"#)
        .unwrap();
    assert_eq!(batch[0]["result"], "OK", "{batch}");
    assert_eq!(batch[1]["result"]["value"], "s3cret", "{batch}");
    assert!(
        batch[2]["result"]["Server"]
            .as_str()
            .unwrap()
            .contains("3.6.8"),
        "{batch}"
    );
    let audited = |lines: &str| {
        ["cache_store", "cache_fetch", "version", "kill"]
            .iter()
            .all(|command| {
                lines.lines().any(|l| {
                    l.contains(&format!("\"command\":\"{command}\""))
                        && l.contains("\"node\":\"edge\"")
                })
            })
    };
    let deadline = Instant::now() + WAIT;
    let lines = loop {
        let lines = std::fs::read_to_string(&audit).unwrap_or_default();
        if audited(&lines) || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(audited(&lines), "each call audited on edge: {lines}");
    assert!(!lines.contains("s3cret"), "redacted: {lines}");

    // The node frozen (SIGSTOP): a call ends at the node's timeout_ms, naming it.
    node.signal("STOP");
    let asked = Instant::now();
    let slow = front.call("uptime", json!([]));
    node.signal("CONT");
    assert_eq!(slow["error"]["code"], 504, "{slow}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );

    // Restarted under load: every request gets its own reply, a result or an error
    // naming the node; none hangs, none crosses.
    let mut node = node;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (answered, failed) = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let (mut answered, mut failed) = (0, 0);
            let mut id = 100;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                id += 1;
                let request = format!(r#"{{"jsonrpc":"2.0","method":"uptime","id":{id}}}"#);
                let reply = front.rpc(&request).unwrap();
                assert_eq!(reply["id"], id, "{reply}");
                if reply["result"]["Up since"].is_string() {
                    answered += 1;
                } else {
                    assert!(
                        matches!(reply["error"]["code"].as_i64(), Some(502..=504)),
                        "{reply}"
                    );
                    failed += 1;
                }
            }
            (answered, failed)
        });
        std::thread::sleep(Duration::from_millis(300));
        node.restart().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        load.join().unwrap()
    });
    assert!(
        answered > 0 && failed > 0,
        "{answered} answered, {failed} failed"
    );

    // The node killed: calls fail at once, naming it; back when it is back.
    node.stop();
    let down = front.call("uptime", json!([]));
    assert!(
        matches!(down["error"]["code"].as_i64(), Some(503 | 504)),
        "{down}"
    );
    assert!(
        down["error"]["data"]
            .as_str()
            .unwrap_or_default()
            .contains("edge"),
        "{down}"
    );
    node.restart().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = front.call("uptime", json!([]));
        if reply["result"]["Up since"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never back: {reply}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_reply_larger_than_a_datagram_is_fetched_again_over_the_nodes_fifo() {
    let Some(node) = node("3.6.8") else { return };
    // 400 keys of 200 bytes, stored straight at the node: their list is an 80 KB reply.
    for n in 0..400 {
        let key = format!("wide{n:04}{}", "k".repeat(192));
        let store = format!(
            r#"{{"jsonrpc":"2.0","method":"cache_store","params":["local","{key}","v"],"id":1}}"#
        );
        let stored = node.udp_call(&store).unwrap();
        assert!(stored.contains(r#""result":"OK""#), "{stored}");
    }
    let fetch =
        r#"{"jsonrpc":"2.0","method":"cache_fetch_chunk","params":{"glob":"wide*"},"id":2}"#;
    let at_node = node.udp_call(fetch).unwrap();
    assert!(
        at_node.contains("500"),
        "too large for the node's datagram: {at_node}"
    );
    let tables = format!(
        "[upstreams.both]\nudp = \"{}\"\nfifo = \"{}\"\nreply_dir = \"{}/\"\n",
        node.udp,
        node.fifo.display(),
        node.reply_dir.display()
    );
    let front = front(&tables, "both");
    let reply = post_to(&front, "/mi", fetch);
    let keys = reply["result"]["keys"].as_array().map(Vec::len);
    assert_eq!(
        keys,
        Some(400),
        "fetched whole over the FIFO: {}",
        reply.to_string().chars().take(300).collect::<String>()
    );
}

/// The HTTP recordings replayed through miwa (its HTTP server, the node over mi_datagram)
/// score at least what they score at the real 3.6.8 node's own httpd.
#[test]
fn the_http_recordings_score_through_miwa_what_they_score_at_the_real_node() {
    use miwa_tests::conformance::{replay_http, Answerer};
    let Some(node) = node("3.6.8") else { return };
    let front = front(&tables("n", &node, &node.url), "n_udp");
    let pid = timer_pid(&node);
    let direct = replay_http(node.http, &pid, Answerer::OpenSips);
    let through = replay_http(front.http, &pid, Answerer::Miwa);
    no_new_mismatches("http.jsonl", &direct, &through);
}

/// The FIFO recordings replayed on miwa's FIFO (the node over mi_datagram) score at least
/// what they score on the real 3.6.8 node's own FIFO.
#[test]
fn the_fifo_recordings_score_through_miwa_what_they_score_at_the_real_node() {
    use miwa_tests::conformance::{replay_fifo, Answerer};
    let Some(node) = node("3.6.8") else { return };
    let front = front(&tables("n", &node, &node.url), "n_udp");
    let pid = timer_pid(&node);
    let direct = replay_fifo(&node.fifo, &node.reply_dir, &pid, Answerer::OpenSips);
    let through = replay_fifo(&front.fifo, &front.reply_dir(), &pid, Answerer::Miwa);
    no_new_mismatches("fifo.jsonl", &direct, &through);
}

/// The XML-RPC recordings replayed on miwa's `/RPC2` (the node over mi_datagram) score at
/// least what they score at the real 3.6.8 node's own `/RPC2` (mi_xmlrpc_ng).
#[test]
fn the_xmlrpc_recordings_score_through_miwa_what_they_score_at_the_real_node() {
    use miwa_tests::conformance::{replay_xmlrpc, Answerer};
    let Some(node) = node("3.6.8") else { return };
    let front = front(&tables("n", &node, &node.url), "n_udp");
    let ps: Value = serde_json::from_str(
        &node
            .udp_call(r#"{"jsonrpc":"2.0","method":"ps","id":1}"#)
            .unwrap(),
    )
    .unwrap();
    let first = ps["result"]["Processes"][0]["PID"].to_string();
    let subpath = ["post_rpc2_subpath"];
    let direct = replay_xmlrpc(node.http, &first, &[], Answerer::OpenSips);
    let through = replay_xmlrpc(front.http, &first, &subpath, Answerer::Miwa);
    no_new_mismatches("xmlrpc.jsonl", &direct, &through);
}

/// The HTML recordings on miwa's page of the node (`/html/<node>/…`, the node over
/// mi_datagram) show what they show on the real 3.6.8 node's own mi_html page: status and
/// outcome (the page layouts differ by design).
#[test]
fn the_html_recordings_show_through_miwa_what_they_show_at_the_real_node() {
    use miwa_tests::conformance::{replay_html, Answerer};
    let Some(node) = node("3.6.8") else { return };
    let front = front(&tables("n", &node, &node.url), "n_udp");
    let direct = replay_html(node.http, None, Answerer::OpenSips);
    let through = replay_html(front.http, Some("n_udp"), Answerer::Miwa);
    println!(
        "html.jsonl at the real 3.6.8 node: {}/{}; through miwa: {}/{}",
        direct.matched, direct.compared, through.matched, through.compared
    );
    for line in &through.mismatches {
        println!("  through miwa: {line}");
    }
    for line in &direct.mismatches {
        println!("  at the node: {line}");
    }
    assert!(
        through.matched >= direct.matched,
        "{} < {}: {:?}",
        through.matched,
        direct.matched,
        through.mismatches
    );
}

/// The UNIX datagram recordings replayed on miwa's UNIX socket (the node over its own
/// UNIX mi_datagram socket) score what they score at the real 3.6.8 node's socket.
#[test]
fn the_unix_recordings_score_through_miwa_what_they_score_at_the_real_node() {
    use miwa_tests::conformance::replay_datagrams;
    let Some(node) = OpenSips::start_on_unix("3.6.8").expect("OpenSIPS starts") else {
        return;
    };
    let socket = node.unix.clone().expect("a UNIX socket");
    let front = front(
        &format!(
            "[upstreams.n_unix]\nunix = \"{}\"\nreply_dir = \"{}/\"\n",
            socket.display(),
            node.reply_dir.display()
        ),
        "n_unix",
    );
    let pid = timer_of(&post_to(
        &front,
        "/mi",
        r#"{"jsonrpc":"2.0","method":"ps","id":1}"#,
    ));
    let clients = tempfile::tempdir().unwrap();
    let at = |to: std::path::PathBuf| {
        let clients = clients.path().to_path_buf();
        move |case: &Value, request: &[u8], wait: Duration| {
            miwa_tests::unix_exchange(
                &to,
                &clients,
                case.get("client_path").is_some(),
                request,
                wait,
            )
            .expect("exchange")
        }
    };
    let direct = replay_datagrams("unix.jsonl", &pid, at(socket.clone()));
    let through = replay_datagrams("unix.jsonl", &pid, at(front.unix.clone()));
    no_new_mismatches("unix.jsonl", &direct, &through);
}
