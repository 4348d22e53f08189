//! Reloads and long runs a fleet can take: identical reloads in flight to a node share
//! one call, a reload sooner than `reload_interval_ms` is refused, `nodes_run` can roll a
//! command over the nodes a few at a time, stopping at a failure budget, and streams each
//! node's entry to the caller's WebSocket as it arrives, within an overall deadline.

use miwa_tests::front::{front, post_to};
use miwa_tests::hostile_node::{Behaviour, HostileNode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn reload(id: usize) -> String {
    json!({"jsonrpc": "2.0", "method": "dr_reload", "id": id}).to_string()
}

/// Waits until `front` lists every node up.
fn all_up(front: &miwa_tests::Daemon) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = front.result("nodes_list", json!({}));
        let nodes = listed["nodes"].as_array().unwrap();
        if nodes.iter().all(|n| n["state"] == "up") {
            return;
        }
        assert!(Instant::now() < deadline, "{listed}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fifty_identical_reloads_reach_the_node_once_and_every_caller_gets_an_answer() {
    let node = HostileNode::udp("counting", Behaviour::Slow(400));
    let front = front(
        &format!("[upstreams.counting]\nudp = \"{}\"\n", node.addr),
        "",
    );
    all_up(&front);
    let replies: Vec<Value> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..50)
            .map(|id| {
                let front = &front;
                scope.spawn(move || post_to(front, "/mi/counting", &reload(id)))
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let reached = node.received_method("dr_reload");
    assert!(
        (1..=2).contains(&reached),
        "{reached} reloads reached the node"
    );
    let mut answered = 0;
    for (id, reply) in replies.iter().enumerate() {
        assert_eq!(reply["id"], id, "each caller gets its own id: {reply}");
        if reply["result"]["method"] == "dr_reload" {
            answered += 1;
        } else {
            assert_eq!(reply["error"]["code"], 429, "{reply}");
            assert_eq!(reply["error"]["message"], "Reload too soon", "{reply}");
        }
    }
    assert!(
        answered >= 45,
        "{answered} of 50 shared the call: {replies:?}"
    );
    let stats = front.result("miwa:get_statistics", json!([["upstreams:"]]));
    assert!(
        stats["upstreams:counting_reloads_shared"].as_u64().unwrap() >= 44,
        "{stats}"
    );

    // Right after: too soon, refused at once, the node not asked.
    let early = post_to(&front, "/mi/counting", &reload(60));
    assert_eq!(early["error"]["code"], 429, "{early}");
    assert!(
        early["error"]["data"]
            .as_str()
            .unwrap()
            .contains("one per 1000 ms (front.reload_interval_ms)"),
        "{early}"
    );
    assert_eq!(node.received_method("dr_reload"), reached);
    // Once the interval has passed, the next one reaches it; a nodes_run of the same
    // reload while it is in flight shares it.
    std::thread::sleep(Duration::from_millis(1100));
    let (direct, fleet) = std::thread::scope(|scope| {
        let direct = scope.spawn(|| post_to(&front, "/mi/counting", &reload(61)));
        std::thread::sleep(Duration::from_millis(100));
        let fleet = front.result("nodes_run", json!({"command": "dr_reload"}));
        (direct.join().unwrap(), fleet)
    });
    assert_eq!(direct["result"]["method"], "dr_reload", "{direct}");
    assert_eq!(fleet["counting"]["shared"], true, "{fleet}");
    assert_eq!(node.received_method("dr_reload"), reached + 1);
    // Not a reload: never shared, never refused.
    for id in 0..3 {
        let ps = post_to(
            &front,
            "/mi/counting",
            &json!({"jsonrpc": "2.0", "method": "ps", "id": id}).to_string(),
        );
        assert_eq!(ps["result"]["method"], "ps", "{ps}");
    }
}

#[test]
fn a_rolling_run_stops_at_its_failure_budget_and_names_the_nodes_not_reached() {
    let behaviours = [
        Behaviour::Answer,
        Behaviour::Answer,
        Behaviour::Garbage,
        Behaviour::Answer,
        Behaviour::Answer,
        Behaviour::Answer,
    ];
    let nodes: Vec<HostileNode> = behaviours
        .iter()
        .enumerate()
        .map(|(i, b)| HostileNode::udp(&format!("n{i}"), *b))
        .collect();
    let tables: String = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("[upstreams.n{i}]\nudp = \"{}\"\n", n.addr))
        .collect();
    let front = front(&tables, "");
    all_up(&front);

    let run = front.result(
        "nodes_run",
        json!({"command": "ps", "rolling": 2, "max_failures": 0}),
    );
    for reached in ["n0", "n1", "n3"] {
        assert_eq!(run[reached]["result"]["method"], "ps", "{run}");
    }
    assert_eq!(run["n2"]["error"]["code"], 502, "{run}");
    for skipped in ["n4", "n5"] {
        assert_eq!(
            run[skipped]["not_reached"],
            "the rolling run stopped: 1 nodes failed, more than max_failures 0",
            "{run}"
        );
        let name = format!("n{}", &skipped[1..]);
        let index: usize = name[1..].parse().unwrap();
        assert_eq!(
            nodes[index].received_method("ps"),
            0,
            "{skipped} was not asked"
        );
    }
    let keys: Vec<&String> = run.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["n0", "n1", "n2", "n3", "n4", "n5"]);

    let budget = front.result("nodes_run", json!(["ps", [], null, null, 2, 1]));
    assert!(budget
        .as_object()
        .unwrap()
        .values()
        .all(|e| e.get("not_reached").is_none()));
    assert_eq!(budget["n5"]["result"]["method"], "ps", "{budget}");

    let bad = front.call("nodes_run", json!({"command": "ps", "rolling": 0}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[test]
fn entries_stream_to_the_callers_websocket_as_they_arrive_within_the_runs_deadline() {
    let nodes = [
        HostileNode::udp("fast1", Behaviour::Answer),
        HostileNode::udp("slow", Behaviour::Slow(4000)),
        HostileNode::udp("fast2", Behaviour::Answer),
    ];
    let tables: String = ["fast1", "slow", "fast2"]
        .iter()
        .zip(&nodes)
        .map(|(name, n)| format!("[upstreams.{name}]\nudp = \"{}\"\n", n.addr))
        .collect();
    let front = front(&tables, "");
    all_up(&front);
    let run = json!({"jsonrpc": "2.0", "method": "nodes_run", "id": "r1",
        "params": {"command": "ps", "deadline_ms": 1000, "stream": true}});
    let started = Instant::now();
    let mut client = miwa_tests::python_client("ws_client.py")
        .arg(format!("ws://{}/ws", front.http))
        .args(["--wait", "2"])
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = client.stdin.take().unwrap();
        writeln!(stdin, "{}", json!({"text": run.to_string()})).unwrap();
    }
    let lines = {
        use std::io::BufRead;
        let stdout = std::io::BufReader::new(client.stdout.take().unwrap());
        let mut seen = Vec::new();
        for line in stdout.lines() {
            let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
            let Some(text) = line["text"].as_str() else {
                continue;
            };
            let frame: Value = serde_json::from_str(text).unwrap();
            let done = frame["id"] == "r1";
            seen.push((frame, started.elapsed()));
            if done {
                break;
            }
        }
        seen
    };
    let _ = client.kill();
    let _ = client.wait();
    let (reply, replied_at) = lines.last().expect("a reply").clone();
    assert!(
        replied_at < Duration::from_millis(3500),
        "the deadline ends the run: {replied_at:?}"
    );
    let entries: Vec<&Value> = lines[..lines.len() - 1].iter().map(|(f, _)| f).collect();
    assert_eq!(entries.len(), 3, "{lines:?}");
    for entry in &entries {
        assert_eq!(entry["method"], "nodes_run.entry", "{entry}");
        assert_eq!(entry["params"]["id"], "r1", "{entry}");
    }
    let last = entries.last().unwrap();
    assert_eq!(
        last["params"]["node"], "slow",
        "the slow node comes last: {lines:?}"
    );
    assert_eq!(last["params"]["entry"]["error"]["code"], 504, "{last}");
    assert_eq!(
        reply["result"]["fast1"]["result"]["method"], "ps",
        "{reply}"
    );
    assert_eq!(reply["result"]["slow"]["error"]["code"], 504, "{reply}");

    // Over plain HTTP there is no connection to stream to.
    let refused = front.call("nodes_run", json!({"command": "ps", "stream": true}));
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
}
