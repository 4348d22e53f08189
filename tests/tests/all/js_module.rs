//! Command modules written in JavaScript (componentize-js, `make js-modules`): the
//! healthcheck example probing HTTP services through the `http` grant from its tick and on
//! command, and a module that throws, loops and fails its ticks.

use miwa_tests::{foreign_module_table, Daemon};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn error_of(reply: &Value) -> (i64, String) {
    assert!(reply["error"].is_object(), "must fail: {reply}");
    (
        reply["error"]["code"].as_i64().unwrap(),
        reply["error"]["message"].as_str().unwrap().to_string(),
    )
}

/// A web server: `/ok` answers 200, `/fail` 503, `/hang` accepts and never answers.
fn services() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut request = [0u8; 2048];
                let n = stream.read(&mut request).unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).into_owned();
                let status = if request.starts_with("GET /ok ") {
                    "200 OK"
                } else if request.starts_with("GET /fail ") {
                    "503 Service Unavailable"
                } else {
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                };
                let _gone = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi"
                );
            });
        }
    });
    address
}

fn check<'a>(checks: &'a Value, url: &str) -> &'a Value {
    checks["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["url"] == url)
        .unwrap_or_else(|| panic!("{url} not in {checks}"))
}

#[test]
fn the_js_healthcheck_module_probes_allowed_urls_and_raises_changes() {
    let site = services();
    let denied = services();
    let daemon = Daemon::start(&foreign_module_table(
        "js",
        "healthcheck",
        &format!(
            "grants = [\"http\", \"cache\", \"stats\", \"events\", \"tick\"]\nallowed_outbound_hosts = [\"http://{site}\"]\ntick_ms = 300\nio_timeout_ms = 2000"
        ),
    ))
    .unwrap();
    let subscriber = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    subscriber
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    daemon.result(
        "event_subscribe",
        json!([
            "E_HEALTHCHECK_CHANGED",
            format!("udp:{}", subscriber.local_addr().unwrap()),
            60
        ]),
    );

    let ok = format!("http://{site}/ok");
    let failing = format!("http://{site}/fail");
    let hanging = format!("http://{site}/hang");
    let refused = format!("http://{denied}/ok");
    for url in [&ok, &failing, &hanging, &refused] {
        assert_eq!(daemon.result("hc_add", json!([url])), "OK");
    }
    assert_eq!(
        error_of(&daemon.call("hc_add", json!([ok]))),
        (400, "URL already checked".into())
    );
    assert_eq!(
        error_of(&daemon.call("hc_add", json!(["ftp://x"]))),
        (400, "Bad URL (http:// or https://)".into())
    );
    assert_eq!(
        error_of(&daemon.call("hc_remove", json!(["http://nowhere/"]))),
        (404, "URL not checked".into())
    );

    let checks = daemon.result("hc_check", json!([]));
    assert_eq!(check(&checks, &ok)["status"], "up", "{checks}");
    assert_eq!(check(&checks, &ok)["code"], 200);
    assert!(check(&checks, &ok)["latency_ms"].is_number());
    assert_eq!(check(&checks, &failing)["status"], "down");
    assert_eq!(check(&checks, &failing)["code"], 503);
    assert_eq!(check(&checks, &hanging)["status"], "down");
    assert_eq!(check(&checks, &hanging)["error"], "no answer within 500 ms");
    assert_eq!(check(&checks, &refused)["status"], "down");
    assert_eq!(check(&checks, &refused)["code"], 0, "a denied host is down");

    let mut changed = Vec::new();
    let mut buf = [0u8; 4096];
    while changed.len() < 4 {
        let n = subscriber
            .recv(&mut buf)
            .expect("an E_HEALTHCHECK_CHANGED per URL");
        let event: Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(event["method"], "E_HEALTHCHECK_CHANGED");
        changed.push((
            event["params"]["url"].as_str().unwrap().to_string(),
            event["params"]["status"].as_str().unwrap().to_string(),
        ));
    }
    assert!(changed.contains(&(ok.clone(), "up".into())), "{changed:?}");
    assert!(
        changed.contains(&(failing.clone(), "down".into())),
        "{changed:?}"
    );

    let stats = || daemon.result("get_statistics", json!([["healthcheck:"]]));
    let checks_before = stats()["healthcheck:checks"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats()["healthcheck:checks"].as_u64().unwrap() < checks_before + 8 {
        assert!(
            Instant::now() < deadline,
            "ticks check by themselves: {}",
            stats()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let now = stats();
    assert_eq!(now["healthcheck:up"], 1, "{now}");
    assert_eq!(now["healthcheck:down"], 3, "{now}");
    assert_eq!(now["healthcheck:tick_errors"], 0, "{now}");
    assert_eq!(daemon.result("hc_remove", json!([hanging])), "OK");
    assert_eq!(
        daemon.result("hc_list", json!([]))["Checks"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_js_module_that_throws_or_loops_fails_one_call_and_keeps_serving() {
    let daemon = Daemon::start(&foreign_module_table(
        "js",
        "jsfail",
        "grants = [\"tick\"]\ntick_ms = 100\ntimeout_ms = 500",
    ))
    .unwrap();
    assert_eq!(daemon.result("jsfail_ok", json!([])), "OK");
    let (code, message) = error_of(&daemon.call("jsfail_throw", json!([])));
    assert_eq!(code, 500);
    assert!(
        message.starts_with("jsfail_throw threw TypeError: "),
        "{message}"
    );
    assert_eq!(
        error_of(&daemon.call("jsfail_loop", json!([]))),
        (500, "module 'jsfail' exceeded its 500 ms time limit".into())
    );
    assert_eq!(daemon.result("jsfail_ok", json!([])), "OK");
    assert!(daemon.logged(
        "tick failed: module 'jsfail' tick returned an error: RangeError: the tick failed"
    ));
    assert!(daemon.result("uptime", json!([])).is_object());
}
