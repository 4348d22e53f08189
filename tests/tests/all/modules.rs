//! Third-party command modules over real transports: the example modules, the hostile
//! fixtures (each failure followed by a call that succeeds), load failures, concurrency with
//! a looping module, load/unload/reload under load, SIGHUP.

use miwa_tests::{exchange, miwa_bin, module_table, parse_responses, Daemon};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn examples() -> String {
    module_table(
        "dispatcher",
        "dispatcher",
        "grants = [\"log\", \"stats\", \"cache\", \"events\"]",
    ) + &module_table(
        "health",
        "health",
        "grants = [\"mi\", \"stats\", \"log\"]\nmi_allow = [\"uptime\", \"ps\", \"get_statistics\"]",
    )
}

fn error(daemon: &Daemon, method: &str, params: Value) -> (i64, String) {
    let reply = daemon.call(method, params);
    let error = &reply["error"];
    assert!(error.is_object(), "{method} must fail: {reply}");
    (
        error["code"].as_i64().unwrap(),
        error["message"].as_str().unwrap().to_string(),
    )
}

fn module_state(daemon: &Daemon, name: &str) -> Value {
    let list = daemon.result("module_list", json!([]));
    list["Modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn example_modules_serve_like_core_commands() {
    let daemon = Daemon::start(&examples()).unwrap();
    let which = daemon.result("which", json!([]));
    let names: Vec<&str> = which
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let help_at = names.iter().position(|n| *n == "help").unwrap();
    let ds_at = names.iter().position(|n| *n == "ds_list").unwrap();
    assert!(
        ds_at > help_at,
        "module commands follow the core's: {names:?}"
    );
    assert_eq!(
        daemon.result("which", json!(["ds_set_state"])),
        json!([
            ["state", "group", "address"],
            ["state", "group", "address", "partition"]
        ])
    );
    assert_eq!(
        daemon.result("help", json!({"mi_cmd": "ds_reload"}))["Exported by"],
        "dispatcher"
    );

    assert_eq!(
        error(&daemon, "ds_set_state", json!(["a", 1])),
        (-32602, "Invalid params".into())
    );
    let mismatch = daemon.call(
        "ds_set_state",
        json!({"state": "a", "set": 1, "address": "x"}),
    );
    assert_eq!(mismatch["error"]["data"], "Named parameters do not match");

    let sets = json!({"1": ["sip:10.0.0.1:5060", "sip:10.0.0.2:5060"], "2": ["sip:10.0.0.3:5060"]});
    daemon.result(
        "cache_store",
        json!(["local", "dispatcher:sets", sets.to_string()]),
    );
    assert_eq!(daemon.result("ds_reload", json!([])), "OK");
    let subscriber = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    subscriber
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let socket = format!("udp:{}", subscriber.local_addr().unwrap());
    daemon.result(
        "event_subscribe",
        json!(["E_DISPATCHER_STATUS", socket, 60]),
    );
    assert_eq!(
        daemon.result("ds_set_state", json!(["i", 1, "sip:10.0.0.2:5060"])),
        "OK"
    );
    let mut buf = [0u8; 2048];
    let n = subscriber.recv(&mut buf).unwrap();
    let event: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(event["method"], "E_DISPATCHER_STATUS");
    assert_eq!(event["params"]["group"], 1);
    assert_eq!(event["params"]["address"], "sip:10.0.0.2:5060");
    assert_eq!(event["params"]["status"], "Inactive");
    assert_eq!(
        daemon.result("dispatcher:ds_list", json!([])),
        json!({"PARTITIONS": [{"name": "default", "SETS": [
            {"id": 1, "Destinations": [
                {"URI": "sip:10.0.0.1:5060", "state": "Active"},
                {"URI": "sip:10.0.0.2:5060", "state": "Inactive"}]},
            {"id": 2, "Destinations": [{"URI": "sip:10.0.0.3:5060", "state": "Active"}]}]}]})
    );
    assert_eq!(
        error(
            &daemon,
            "ds_set_state",
            json!({"state": "a", "group": 9, "address": "sip:x"})
        ),
        (404, "Destination not found".into())
    );
    assert_eq!(
        error(
            &daemon,
            "ds_set_state",
            json!(["z", 1, "sip:10.0.0.1:5060"])
        ),
        (400, "Bad state value".into())
    );
    assert_eq!(
        error(&daemon, "ds_reload", json!(["other"])),
        (404, "Partition not found".into())
    );

    let stats = daemon.result("get_statistics", json!([["dispatcher:"]]));
    assert_eq!(stats["dispatcher:destinations"], 3);
    assert_eq!(stats["dispatcher:active_destinations"], 2);
    assert_eq!(stats["dispatcher:state_changes"], 1);
    assert_eq!(stats["dispatcher:errors"], 3);
    assert!(stats["dispatcher:memory_peak"].as_u64().unwrap() > 0);

    let health = daemon.result("health", json!([]));
    assert_eq!(health["status"], "healthy");
    assert!(health["processes"].as_u64().unwrap() >= 3, "{health}");
    assert_eq!(
        daemon.result("health", json!({"max_errors": -1}))["status"],
        "degraded"
    );

    let listed = module_state(&daemon, "dispatcher");
    assert_eq!(listed["state"], "loaded");
    assert_eq!(listed["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        listed["commands"],
        json!(["ds_list", "ds_set_state", "ds_reload"])
    );
    assert_eq!(listed["limits"]["timeout_ms"], 100);
    let status = daemon.result("sr_get_status", json!(["modules", "dispatcher"]));
    assert_eq!(status["Status"], 1, "{status}");

    for transport in ["http", "xmlrpc", "udp", "unix", "fifo"] {
        let output = Command::new(miwa_bin())
            .arg("call")
            .args(daemon.client_args(transport))
            .args(["health_echo", "text=over-the-wire"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{transport}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "\"over-the-wire\"",
            "{transport}"
        );
    }
    let request = format!(
        "GET /html/dispatcher HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        daemon.http
    );
    let raw = exchange(daemon.http, request.as_bytes(), Duration::from_secs(2)).unwrap();
    let page = String::from_utf8_lossy(&parse_responses(&raw)[0].body).into_owned();
    assert!(
        page.contains("dispatcher") && page.contains("ds_set_state"),
        "the HTML page groups module commands under the module"
    );
}

fn hostile(keys: &str) -> String {
    module_table(
        "hostile",
        "hostile",
        &format!("grants = [\"mi\"]\nmi_allow = [\"hostile_recurse\"]\n{keys}"),
    ) + &examples()
}

/// The call after a failure is served: by the same module, another module and the core.
fn assert_serving(daemon: &Daemon) {
    assert_eq!(daemon.result("hostile_ok", json!([])), "OK");
    assert_eq!(
        daemon.result("health_echo", json!(["still here"])),
        "still here"
    );
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}

#[test]
fn hostile_modules_fail_alone() {
    let daemon = Daemon::start(&hostile(
        "timeout_ms = 200\nmax_memory = 33554432\nmax_wasm_stack = 131072\nmax_reply = 1048576",
    ))
    .unwrap();
    let cases = [
        (
            "hostile_loop",
            json!([]),
            "module 'hostile' exceeded its 200 ms time limit",
        ),
        (
            "hostile_bomb",
            json!([]),
            "module 'hostile' exceeded its 33554432-byte memory limit",
        ),
        (
            "hostile_stack",
            json!([]),
            "module 'hostile' exceeded its 131072-byte stack limit",
        ),
        (
            "hostile_panic",
            json!([]),
            "module 'hostile' panicked: panicked at fixtures/hostile/src/lib.rs",
        ),
        (
            "hostile_huge",
            json!([2_000_000]),
            "module 'hostile' returned 2000002 bytes, over its 1048576-byte reply limit",
        ),
        (
            "hostile_recurse",
            json!([]),
            "module 'hostile' exceeded its mi() depth limit of 2",
        ),
    ];
    for (method, params, message) in cases {
        let (code, text) = error(&daemon, method, params);
        assert_eq!(code, 500, "{method}");
        assert!(text.starts_with(message), "{method}: {text}");
        assert_serving(&daemon);
    }
    let stats = daemon.result("get_statistics", json!([["hostile:"]]));
    assert_eq!(stats["hostile:timeouts"], 1);
    assert_eq!(stats["hostile:traps"], 3);
    assert!(
        stats["hostile:errors"].as_u64().unwrap() >= 6,
        "every failure counts as an error: {stats}"
    );
    assert!(daemon.log().contains("exceeded its 200 ms time limit"));
}

#[test]
fn a_hundred_megabyte_reply_is_refused() {
    let daemon = Daemon::start(&hostile("timeout_ms = 10000\nmax_memory = 536870912")).unwrap();
    let (code, text) = error(&daemon, "hostile_huge", json!([]));
    assert_eq!(code, 500);
    assert_eq!(
        text,
        "module 'hostile' returned 104857602 bytes, over its 1048576-byte reply limit"
    );
    assert_serving(&daemon);
    let module = module_state(&daemon, "hostile");
    assert!(
        module["instances"].as_u64().unwrap() <= 1,
        "the large instance is not kept idle: {module}"
    );
}

#[test]
fn modules_that_cannot_load_are_refused_clearly() {
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(garbage.path(), b"not a component").unwrap();
    let config = examples()
        + &module_table("liar", "liar", "")
        + &format!(
            "\n[modules.garbage]\npath = \"{}\"\n\n[modules.missing]\npath = \"/nonexistent/m.wasm\"\nenabled = false\n",
            garbage.path().display()
        );
    let daemon = Daemon::start(&config).unwrap();
    let liar = module_state(&daemon, "liar");
    assert_eq!(liar["state"], "failed");
    let reason = liar["error"].as_str().unwrap();
    assert!(reason.starts_with("its description "), "{reason}");
    let (code, message) = error(&daemon, "module_load", json!(["liar"]));
    assert_eq!(code, 500);
    assert!(
        message.starts_with("module 'liar' was not loaded: its description "),
        "{message}"
    );
    let (_, garbage) = error(&daemon, "module_load", json!(["garbage"]));
    assert!(
        garbage.starts_with("module 'garbage' was not loaded: "),
        "{garbage}"
    );
    assert_eq!(module_state(&daemon, "missing")["state"], "unloaded");
    let (_, missing) = error(&daemon, "module_load", json!(["missing"]));
    assert!(
        missing.contains("cannot read /nonexistent/m.wasm"),
        "{missing}"
    );
    assert_eq!(
        error(&daemon, "module_load", json!(["nobody"])),
        (404, "module 'nobody' is not declared".into())
    );
    assert_eq!(
        error(&daemon, "module_load", json!(["dispatcher"])),
        (400, "module 'dispatcher' is already loaded".into())
    );
}

#[test]
fn healthy_calls_succeed_while_another_module_loops() {
    let daemon = Arc::new(Daemon::start(&hostile("timeout_ms = 200")).unwrap());
    let looping = Arc::new(AtomicBool::new(true));
    let looper = {
        let (daemon, looping) = (daemon.clone(), looping.clone());
        std::thread::spawn(move || {
            for _ in 0..4 {
                let (_, message) = error(&daemon, "hostile_loop", json!([]));
                assert!(message.contains("200 ms time limit"), "{message}");
            }
            looping.store(false, Ordering::Relaxed);
        })
    };
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (daemon, looping) = (daemon.clone(), looping.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while looping.load(Ordering::Relaxed) {
                    let text = format!("client {client} call {}", latencies.len());
                    let started = Instant::now();
                    assert_eq!(daemon.result("health_echo", json!([text])), text);
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    looper.join().unwrap();
    latencies.sort();
    let calls = latencies.len() as u64;
    assert!(calls >= 8, "the healthy clients ran beside the loops");
    let stats = daemon.result("get_statistics", json!([["health:", "hostile:"]]));
    assert_eq!(stats["health:calls"], calls);
    assert_eq!(stats["health:errors"], 0);
    assert_eq!(stats["health:timeouts"], 0);
    assert_eq!(stats["hostile:timeouts"], 4);
    println!(
        "{calls} healthy calls beside 4 looping ones: median {:?}, p99 {:?}, slowest {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1]
    );
}

#[test]
fn load_unload_and_reload_under_load_fail_no_request() {
    let daemon = Arc::new(Daemon::start(&examples()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (daemon, stop, served) = (daemon.clone(), stop.clone(), served.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("client {client}");
                    assert_eq!(daemon.result("health_echo", json!([text])), text);
                    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
                    served.fetch_add(2, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(daemon.result("module_reload", json!(["health"])), "OK");
        assert_eq!(daemon.result("module_unload", json!(["dispatcher"])), "OK");
        assert_eq!(error(&daemon, "ds_list", json!([])).0, -32601);
        assert_eq!(daemon.result("module_load", json!(["dispatcher"])), "OK");
        assert!(daemon.result("ds_list", json!([]))["PARTITIONS"].is_array());
        assert_eq!(daemon.result("module_reload", json!([])), "OK");
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("no client saw a failed request");
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    assert_eq!(
        error(&daemon, "module_unload", json!(["nobody"])),
        (404, "module 'nobody' is not loaded".into())
    );
}

#[test]
fn reload_and_sighup_read_the_configuration_again() {
    let daemon = Daemon::start(&examples()).unwrap();
    assert_eq!(daemon.result("health", json!([]))["status"], "healthy");
    let config = std::fs::read_to_string(daemon.config_path()).unwrap();
    let narrowed = config.replace(
        "mi_allow = [\"uptime\", \"ps\", \"get_statistics\"]",
        "mi_allow = [\"uptime\"]",
    );
    assert_ne!(config, narrowed);
    std::fs::write(daemon.config_path(), &narrowed).unwrap();
    assert_eq!(daemon.result("module_reload", json!(["health"])), "OK");
    assert_eq!(
        error(&daemon, "health", json!([])),
        (
            403,
            "module 'health' may not call 'ps' (not in its mi_allow list)".into()
        )
    );

    let without_dispatcher = narrowed.replace(
        "[modules.dispatcher]",
        "[modules.dispatcher]\nenabled = false",
    );
    std::fs::write(daemon.config_path(), without_dispatcher).unwrap();
    let hangup = Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(hangup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while module_state(&daemon, "dispatcher")["state"] != "unloaded" {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not unload the module"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(error(&daemon, "ds_list", json!([])).0, -32601);
    assert_eq!(daemon.result("health_echo", json!([])), "OK");
}

#[test]
fn calls_beyond_max_instances_are_refused_not_queued() {
    let daemon = Arc::new(Daemon::start(&hostile("timeout_ms = 500\nmax_instances = 1")).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let looper = {
        let (daemon, stop) = (daemon.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (code, message) = error(&daemon, "hostile_loop", json!([]));
                assert!(
                    code == 503 || message.contains("500 ms time limit"),
                    "{code} {message}"
                );
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        assert!(
            Instant::now() < deadline,
            "the busy instance never refused a call"
        );
        let reply = daemon.call("hostile_ok", json!([]));
        if reply["result"] == "OK" {
            continue;
        }
        break reply["error"].clone();
    };
    stop.store(true, Ordering::Relaxed);
    looper.join().unwrap();
    assert_eq!(
        refused,
        json!({"code": 503, "message": "module 'hostile' is busy: all 1 instances are in use"})
    );
    assert_serving(&daemon);
}

#[test]
fn compiled_modules_are_cached() {
    let daemon = Daemon::start(&examples()).unwrap();
    assert_eq!(daemon.result("health_echo", json!([])), "OK");
    let cache = miwa_tests::workspace().join("target/test-cache/miwa");
    let artifacts = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("module-") && name.ends_with(".cwasm")
        })
        .count();
    assert!(artifacts >= 2, "module artifacts in {}", cache.display());
}
