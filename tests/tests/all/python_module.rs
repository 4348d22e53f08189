//! Command modules written in Python (componentize-py, `make python-modules`): the routes
//! example reading and reloading a file through the `files` grant, and a module that
//! raises, loops and fails its ticks.

use miwa_tests::{foreign_module_table, Daemon};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn error_of(reply: &Value) -> (i64, String) {
    assert!(reply["error"].is_object(), "must fail: {reply}");
    (
        reply["error"]["code"].as_i64().unwrap(),
        reply["error"]["message"].as_str().unwrap().to_string(),
    )
}

fn routes_daemon(dir: &std::path::Path) -> Daemon {
    Daemon::start(&foreign_module_table(
        "python",
        "routes",
        &format!(
            "grants = [\"files\", \"cache\", \"stats\", \"events\", \"log\", \"tick\"]\nread_only_dirs = [\"{}\"]\ntick_ms = 100",
            dir.display()
        ),
    ))
    .unwrap()
}

#[test]
fn the_python_routes_module_serves_a_file_and_reloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.csv");
    std::fs::write(
        &file,
        "# prefix,gateway,description\n40,sip:gw1.example.com,Romania\n403,sip:gw2.example.com,Transylvania\n",
    )
    .unwrap();
    let daemon = routes_daemon(dir.path());
    assert!(
        daemon.logged("module=routes commands=3 world=\"0.3.0\""),
        "{}",
        daemon.log()
    );
    let document = daemon.result("rpc.discover", json!([]));
    let lookup = document["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "routes_lookup")
        .expect("routes_lookup in rpc.discover");
    assert_eq!(
        lookup["params"],
        json!([{"name": "number", "required": true, "schema": {"type": ["string", "number"]}}]),
        "the types the Python module declares"
    );

    assert_eq!(
        error_of(&daemon.call("routes_lookup", json!(["4031234"]))),
        (404, "No routes loaded (routes_reload file=<path>)".into())
    );
    let loaded = daemon.result("routes_reload", json!([file.display().to_string()]));
    assert_eq!(loaded["routes"], 2, "{loaded}");
    assert_eq!(
        daemon.result("routes_lookup", json!(["4031234"])),
        json!({"prefix": "403", "gateway": "sip:gw2.example.com", "description": "Transylvania"})
    );
    assert_eq!(
        daemon.result("routes_lookup", json!({"number": "4021234"}))["gateway"],
        "sip:gw1.example.com"
    );
    assert_eq!(
        error_of(&daemon.call("routes_lookup", json!(["331234"]))),
        (404, "No route".into())
    );

    std::fs::write(&file, "40,sip:gw1.example.com\nnot a route\n").unwrap();
    let (code, message) = error_of(&daemon.call("routes_reload", json!([])));
    assert_eq!(code, 400);
    assert_eq!(
        message,
        format!(
            "{} line 2: expected <digits>,<gateway>[,<description>]",
            file.display()
        )
    );
    assert_eq!(
        daemon.result("routes_list", json!([]))["Routes"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "a file that does not parse leaves the loaded table in place"
    );

    std::fs::write(&file, "33,sip:paris.example.com,France\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = daemon.call("routes_lookup", json!(["331234"]));
        if reply["result"]["gateway"] == "sip:paris.example.com" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tick reloads a changed file: {reply}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = daemon.result("get_statistics", json!([["routes:"]]));
    assert_eq!(stats["routes:routes"], 1, "{stats}");
    assert!(stats["routes:reloads"].as_u64().unwrap() >= 2, "{stats}");
    assert!(stats["routes:lookups"].as_u64().unwrap() >= 4, "{stats}");

    let outside = tempfile::NamedTempFile::new().unwrap();
    let (code, message) = error_of(&daemon.call(
        "routes_reload",
        json!([outside.path().display().to_string()]),
    ));
    assert_eq!(code, 500);
    assert!(
        message.starts_with(&format!("cannot read {}", outside.path().display())),
        "a file outside read_only_dirs cannot be read: {message}"
    );
    let escape = format!("{}/../../etc/passwd", dir.path().display());
    let (code, _) = error_of(&daemon.call("routes_reload", json!([escape])));
    assert_eq!(code, 500, "no escape by ..");
}

#[test]
fn a_python_module_that_raises_or_loops_fails_one_call_and_keeps_serving() {
    let daemon = Daemon::start(&foreign_module_table(
        "python",
        "pyfail",
        "grants = [\"tick\"]\ntick_ms = 100\ntimeout_ms = 500",
    ))
    .unwrap();
    let untimed = Daemon::start(&foreign_module_table("python", "pyfail", "")).unwrap();
    for _ in 0..20 {
        assert_eq!(untimed.result("pyfail_ok", json!([])), "OK");
    }
    let stats = untimed.result("get_statistics", json!([["pyfail:"]]));
    assert!(
        stats["pyfail:memory_peak"].as_u64().unwrap() > 8 << 20,
        "CPython starts with more than 8 MiB: {stats}"
    );
    assert_eq!(
        stats["pyfail:instances"], 1,
        "an instance that did not grow is kept warm, however large it started: {stats}"
    );
    assert_eq!(
        error_of(&daemon.call("pyfail_raise", json!([]))),
        (500, "pyfail_raise raised ValueError: boom".into())
    );
    assert_eq!(
        error_of(&daemon.call("pyfail_loop", json!([]))),
        (500, "module 'pyfail' exceeded its 500 ms time limit".into())
    );
    assert_eq!(daemon.result("pyfail_ok", json!([])), "OK");
    assert!(daemon.logged(
        "tick failed: module 'pyfail' tick returned an error: RuntimeError: the tick failed"
    ));
    assert!(daemon.result("uptime", json!([])).is_object());
}
