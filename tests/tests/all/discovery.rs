//! Where a front's nodes come from: DNS SRV records served by a real dnsmasq that the
//! test changes while miwa runs, `[upstreams]` reloaded by SIGHUP with a call in flight,
//! and labels with the selectors that pick nodes by them; two fronts over the same node,
//! and a client that fails over between them.

use miwa_tests::dnsmasq::{Dnsmasq, Target};
use miwa_tests::hostile_node::{Behaviour, HostileNode};
use miwa_tests::Daemon;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SRV: &str = "_opensips-mi._udp.test.miwa";

/// `nodes_list`'s nodes, by name, with `params`.
fn listed(front: &Daemon, params: Value) -> Vec<Value> {
    front.result("nodes_list", params)["nodes"]
        .as_array()
        .expect("nodes")
        .clone()
}

fn names(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the front lists exactly `expected` (sorted), failing after 20 s.
fn until_listed(front: &Daemon, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut now = names(&listed(front, json!({})));
        now.sort();
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "listed {now:?}, not {expected:?}\n{}",
            front.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn target(host: &str, node: &Daemon) -> Target {
    Target {
        host: host.into(),
        port: node.udp.port(),
    }
}

#[test]
fn nodes_come_and_go_with_the_srv_records_and_stay_through_a_dns_outage() {
    let (one, two) = (Daemon::start("").unwrap(), Daemon::start("").unwrap());
    let mut dns = Dnsmasq::start(SRV, &[target("n1.test.miwa", &one)]).unwrap();
    let front = Daemon::start(&format!(
        "\n[discovery.edge]\nsrv = \"{SRV}\"\nnameserver = \"127.0.0.1:{}\"\nmin_ttl = 1\nmax_ttl = 1\nlabels = {{ site = \"eu\" }}\n",
        dns.port
    ))
    .unwrap();
    let n1 = format!("edge-n1.test.miwa-{}", one.udp.port());
    let n2 = format!("edge-n2.test.miwa-{}", two.udp.port());
    until_listed(&front, &[&n1]);
    let node = &listed(&front, json!({}))[0];
    assert_eq!(node["source"], "discovery.edge", "{node}");
    assert_eq!(node["labels"]["site"], "eu", "{node}");
    assert_eq!(node["address"], format!("udp:127.0.0.1:{}", one.udp.port()));

    dns.serve(&[target("n1.test.miwa", &one), target("n2.test.miwa", &two)])
        .unwrap();
    let mut both = [n1.as_str(), n2.as_str()];
    both.sort();
    until_listed(&front, &both);
    let ran = front.result("nodes_run", json!({"command": "uptime"}));
    for name in [&n1, &n2] {
        assert!(ran[name]["result"]["Up since"].is_string(), "{ran}");
    }

    dns.serve(&[target("n2.test.miwa", &two)]).unwrap();
    until_listed(&front, &[&n2]);

    // An outage: the lookups fail, the node known stays and answers.
    dns.stop();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !front.logged("lookup failed, keeping the nodes known") {
        assert!(Instant::now() < deadline, "{}", front.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(names(&listed(&front, json!({}))), [n2.as_str()]);
    let ran = front.result("nodes_run", json!({"command": "uptime"}));
    assert!(ran[&n2]["result"]["Up since"].is_string(), "{ran}");

    // Back, saying the service is not available: the fleet is empty.
    dns.serve(&[]).unwrap();
    until_listed(&front, &[]);
}

#[test]
fn sighup_reloads_the_upstreams_and_a_call_in_flight_gets_its_answer() {
    let slow = HostileNode::udp("slow", Behaviour::Slow(1500));
    let other = Daemon::start("").unwrap();
    let tables = |names: &[&str]| {
        let mut text = String::new();
        if names.contains(&"slow") {
            text.push_str(&format!(
                "\n[upstreams.slow]\nudp = \"{}\"\nlabels = {{ site = \"eu\" }}\n",
                slow.addr
            ));
        }
        if names.contains(&"other") {
            text.push_str(&format!(
                "\n[upstreams.other]\nudp = \"{}\"\nlabels = {{ site = \"us\" }}\n",
                other.udp
            ));
        }
        text
    };
    let front = Daemon::start(&tables(&["slow", "other"])).unwrap();
    until_listed(&front, &["other", "slow"]);

    let in_flight = std::thread::scope(|scope| {
        let call = scope.spawn(|| {
            miwa_tests::front::post_to(
                &front,
                "/mi/slow",
                r#"{"jsonrpc":"2.0","method":"ps","id":7}"#,
            )
        });
        std::thread::sleep(Duration::from_millis(300));
        let config = std::fs::read_to_string(front.config_path()).unwrap();
        let without = config.replace(&tables(&["slow", "other"]), &tables(&["other"]));
        assert_ne!(config, without);
        std::fs::write(front.config_path(), without).unwrap();
        let hup = std::process::Command::new("kill")
            .args(["-HUP", &front.pid().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
        call.join().unwrap()
    });
    assert_eq!(in_flight["result"]["fixture"], "slow", "{in_flight}");
    until_listed(&front, &["other"]);
    let gone = miwa_tests::front::post_to(
        &front,
        "/mi/slow",
        r#"{"jsonrpc":"2.0","method":"ps","id":8}"#,
    );
    assert_eq!(gone["error"]["code"], 404, "{gone}");
    assert!(front.logged("upstreams reloaded on SIGHUP"));
}

#[test]
fn selectors_pick_nodes_by_their_labels_and_version() {
    let (eu, us) = (Daemon::start("").unwrap(), Daemon::start("").unwrap());
    let front = Daemon::start(&format!(
        "\n[upstreams.eu1]\nudp = \"{}\"\nlabels = {{ site = \"eu\", role = \"edge\" }}\n[upstreams.us1]\nudp = \"{}\"\nlabels = {{ site = \"us\", role = \"edge\" }}\n",
        eu.udp, us.udp
    ))
    .unwrap();
    // The version label comes from the node itself once it is up.
    let deadline = Instant::now() + Duration::from_secs(20);
    while listed(&front, json!({}))
        .iter()
        .any(|n| n["labels"]["version"].is_null())
    {
        assert!(Instant::now() < deadline, "{}", front.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let select = |selector: &str| names(&listed(&front, json!({"select": selector})));
    assert_eq!(select("site=eu"), ["eu1"]);
    assert_eq!(select("role=edge"), ["eu1", "us1"]);
    assert_eq!(select("role=edge,site!=eu"), ["us1"]);
    assert_eq!(select("version=*.*"), ["eu1", "us1"]);
    assert!(select("site=asia").is_empty());

    let ran = front.result(
        "nodes_run",
        json!({"command": "uptime", "select": "site=us"}),
    );
    assert_eq!(ran.as_object().unwrap().keys().collect::<Vec<_>>(), ["us1"]);
    let ran = front.call(
        "nodes_run",
        json!({"command": "uptime", "nodes": ["eu*"], "select": "site=us"}),
    );
    assert_eq!(ran["error"]["code"], 404, "{ran}");
    let bad = front.call("nodes_list", json!({"select": "site"}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");

    let refused =
        Daemon::start("\n[upstreams.x]\nudp = \"127.0.0.1:1\"\nlabels = { version = \"1\" }\n")
            .err()
            .expect("version is the node's")
            .to_string();
    assert!(
        refused.contains("`version` is read from the node itself"),
        "{refused}"
    );
}

#[test]
fn two_fronts_over_one_node_and_a_client_that_fails_over_between_them() {
    let node = Daemon::start("").unwrap();
    let table = format!("[upstreams.n]\nudp = \"{}\"\n", node.udp);
    let first = miwa_tests::front::front(&table, "n");
    let second = miwa_tests::front::front(&table, "n");
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| first.result("nodes_run", json!({"command": "uptime"})));
        let b = scope.spawn(|| second.result("nodes_run", json!({"command": "uptime"})));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a["n"]["result"]["Up since"].is_string(), "{a}");
    assert!(b["n"]["result"]["Up since"].is_string(), "{b}");

    let call = |urls: &[String]| {
        let mut command = std::process::Command::new(miwa_tests::miwa_bin());
        command.arg("call");
        for url in urls {
            command.args(["--url", url]);
        }
        command
            .arg("uptime")
            .env_remove("MIWA_URL")
            .output()
            .unwrap()
    };
    let (url_a, url_b) = (first.url(), second.url());
    let both = call(&[url_a.clone(), url_b.clone()]);
    assert!(both.status.success(), "{both:?}");
    drop(first);
    let failed_over = call(&[url_a.clone(), url_b.clone()]);
    assert!(failed_over.status.success(), "{failed_over:?}");
    assert!(String::from_utf8_lossy(&failed_over.stdout).contains("Up since"));
    let none = call(&[url_a, "http://127.0.0.1:1/mi".to_string()]);
    assert_eq!(none.status.code(), Some(3), "{none:?}");
}

#[test]
fn a_role_scoped_by_labels_reaches_only_its_nodes() {
    let (eu, us) = (Daemon::start("").unwrap(), Daemon::start("").unwrap());
    let token = |secret: &str, role: &str| {
        format!(
            "[[access.tokens]]\nsha256 = \"{}\"\nrole = \"{role}\"\n",
            miwa_tests::hashed_secret("hash-token", secret)
        )
    };
    let front = Daemon::start(&format!(
        "\n[upstreams.eu1]\nudp = \"{}\"\nlabels = {{ site = \"eu\" }}\n[upstreams.us1]\nudp = \"{}\"\nlabels = {{ site = \"us\" }}\n[access]\nprotect = [\"mi\", \"metrics\"]\n[access.roles.eu-ops]\nallow = [\"*\"]\nnodes = \"site=eu\"\n[access.roles.us-by-name]\nnodes = \"name=us*\"\n{}{}{}",
        eu.udp,
        us.udp,
        token("eu-secret", "eu-ops"),
        token("all-secret", "full"),
        token("us-secret", "us-by-name")
    ))
    .unwrap();
    let call = |secret: &str, path: &str, method: &str, params: Value| -> Value {
        let endpoint = miwa_client::Endpoint::Http(miwa_client::HttpTarget {
            url: format!("http://{}{path}", front.http),
            authorization: Some(miwa_client::credentials::bearer(secret).unwrap()),
            ca_file: None,
        });
        let request = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let reply = endpoint
            .exchange(&request.to_string(), Duration::from_secs(10))
            .unwrap();
        serde_json::from_str(&reply).unwrap()
    };
    let up = call("eu-secret", "/mi/eu1", "uptime", json!([]));
    assert!(up["result"]["Up since"].is_string(), "{up}");
    let refused = call("eu-secret", "/mi/us1", "uptime", json!([]));
    assert_eq!(refused["error"]["code"], 403, "{refused}");
    assert_eq!(
        refused["error"]["data"], "role 'eu-ops' may not reach node 'us1'",
        "{refused}"
    );
    // A batch to the node out of scope: every member refused, none forwarded; `nodes_run`
    // naming it by a glob finds nothing.
    let batch = miwa_client::Endpoint::Http(miwa_client::HttpTarget {
        url: format!("http://{}/mi/us1", front.http),
        authorization: Some(miwa_client::credentials::bearer("eu-secret").unwrap()),
        ca_file: None,
    });
    let members = json!([
        {"jsonrpc": "2.0", "method": "uptime", "id": 1},
        {"jsonrpc": "2.0", "METHOD": "ps", "method": "uptime", "id": 2}
    ]);
    let replies: Value = serde_json::from_str(
        &batch
            .exchange(&members.to_string(), Duration::from_secs(10))
            .unwrap(),
    )
    .unwrap();
    for reply in replies.as_array().unwrap() {
        assert!(
            reply["error"]["code"] == 403 || reply["error"]["code"] == -32600,
            "{replies}"
        );
        assert!(reply.get("result").is_none(), "{replies}");
    }
    let globbed = call(
        "eu-secret",
        "/mi",
        "nodes_run",
        json!({"command": "uptime", "nodes": ["us*"]}),
    );
    assert_eq!(globbed["error"]["code"], 404, "{globbed}");
    let listed = call("eu-secret", "/mi", "nodes_list", json!({}));
    assert_eq!(
        names(listed["result"]["nodes"].as_array().unwrap()),
        ["eu1"]
    );
    let ran = call(
        "eu-secret",
        "/mi",
        "nodes_run",
        json!({"command": "uptime"}),
    );
    assert_eq!(
        ran["result"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["eu1"],
        "{ran}"
    );
    let named = call(
        "eu-secret",
        "/mi",
        "nodes_run",
        json!({"command": "uptime", "nodes": ["us1"]}),
    );
    assert_eq!(named["error"]["code"], 404, "{named}");
    let all = call("all-secret", "/mi", "nodes_list", json!({}));
    assert_eq!(all["result"]["nodes"].as_array().unwrap().len(), 2, "{all}");
    // A role scoped by the nodes' names (a glob) the same way.
    let by_name = call("us-secret", "/mi", "nodes_list", json!({}));
    assert_eq!(
        names(by_name["result"]["nodes"].as_array().unwrap()),
        ["us1"]
    );
    let up = call("us-secret", "/mi/us1", "uptime", json!([]));
    assert!(up["result"]["Up since"].is_string(), "{up}");
    let refused = call("us-secret", "/mi/eu1", "uptime", json!([]));
    assert_eq!(refused["error"]["code"], 403, "{refused}");
    // whoami says the nodes each role reaches, at the front and at a node's path alike.
    for (secret, path, nodes) in [
        ("eu-secret", "/mi", json!(["eu1"])),
        ("us-secret", "/mi/us1", json!(["us1"])),
        ("all-secret", "/mi", json!(["eu1", "us1"])),
    ] {
        let who = call(secret, path, "whoami", json!([]));
        assert_eq!(who["result"]["nodes"], nodes, "{who}");
    }
    // miwa's own statistics count every node (group `upstreams`, and a statistic is found
    // by its bare name too): refused to the scoped role, by any name of the command.
    for (method, params) in [
        ("miwa:get_statistics", json!([["upstreams:"]])),
        ("get_statistics", json!([["us1_requests"]])),
        ("statistics:list", json!([])),
        ("miwa:reset_statistics", json!([["us1_requests"]])),
    ] {
        let refused = call("eu-secret", "/mi", method, params);
        assert_eq!(refused["error"]["code"], 403, "{method}: {refused}");
        assert!(!refused.to_string().contains("us1_"), "{refused}");
    }
    let counted = call(
        "all-secret",
        "/mi",
        "miwa:get_statistics",
        json!([["upstreams:"]]),
    );
    assert!(
        counted["result"]["upstreams:us1_requests"].is_u64(),
        "{counted}"
    );
    // A scrape by the scoped role holds only its nodes: their own statistics and the
    // front's counters about them (`miwa_upstream_*`).
    let scrape = |secret: &str, query: &str| {
        front
            .get(
                &format!("/metrics{query}"),
                &format!("Authorization: Bearer {secret}\r\n"),
            )
            .unwrap()
    };
    let scoped = scrape("eu-secret", "");
    let text = String::from_utf8_lossy(&scoped.body);
    assert!(text.contains(r#"miwa_node_up{node="eu1"}"#), "{text}");
    assert!(!text.contains(r#"miwa_node_up{node="us1"}"#), "{text}");
    assert!(
        text.contains(r#"miwa_upstream_requests_total{node="eu1"}"#),
        "{text}"
    );
    assert!(!text.contains("us1"), "nothing about us1: {text}");
    assert_eq!(scrape("eu-secret", "?node=us1").status, 404);
    let everything = scrape("all-secret", "");
    let everything = String::from_utf8_lossy(&everything.body);
    assert!(everything.contains(r#"miwa_node_up{node="us1"}"#));
    assert!(everything.contains(r#"miwa_upstream_requests_total{node="us1"}"#));

    let refused = Daemon::start("\n[access.roles.bad]\nnodes = \"site\"\n")
        .err()
        .expect("a bad scope refuses the start")
        .to_string();
    assert!(refused.contains("[access.roles.bad] nodes"), "{refused}");
}
