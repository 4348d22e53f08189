//! `GET /metrics`: the exposition against promtool and a real Prometheus (Debian's
//! `prometheus` package), its authentication, front mode's nodes (a miwa node, a real
//! Kamailio, a node that is down), 10,000 statistics; and the charts of the HTML page's
//! statistics view, with and without a browser.

use miwa_tests::hostile_node::{Behaviour, HostileNode};
use miwa_tests::kamailio::Kamailio;
use miwa_tests::{
    exchange, free_port, hashed_secret, module_table, parse_responses, screenshots, workspace,
    Daemon, HttpResponse,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROMTOOL: &str = "/usr/bin/promtool";
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// The samples of an exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn scrape(daemon: &Daemon, query: &str, headers: &str) -> HttpResponse {
    daemon
        .get(&format!("/metrics{query}"), headers)
        .expect("a scrape answer")
}

fn body(response: &HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// Runs `promtool check metrics` on `text`: its exit status and what it printed.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (make test installs Debian's prometheus)");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("promtool reads");
    let output = child.wait_with_output().expect("promtool ends");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

fn token_table(token: &str, role: &str) -> String {
    format!(
        "[[access.tokens]]\nsha256 = \"{}\"\nrole = \"{role}\"\n",
        hashed_secret("hash-token", token)
    )
}

#[test]
fn every_statistic_is_a_sample_and_promtool_accepts_the_exposition() {
    let node = Daemon::start("").unwrap();
    let audit = tempfile::tempdir().unwrap();
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let front = Daemon::start(&format!(
        "\n[upstreams.edge1]\nudp = \"{}\"\n{}\n[audit]\nfile = \"{}\"\n[access]\nprotect = [\"metrics\"]\n{}",
        node.udp,
        module_table("health", "health", "grants = [\"mi\", \"stats\", \"log\"]"),
        audit.path().join("audit.log").display(),
        token_table("scrape-token", "full")
    ))
    .unwrap();
    let subscribed = front.result(
        "event_subscribe",
        json!([
            "E_CORE_THRESHOLD",
            format!("udp:{}", sink.local_addr().unwrap()),
            600
        ]),
    );
    assert_eq!(subscribed, json!("OK"));
    front.result("uptime", json!([]));
    // The first run creates get_statistics' own counters; the second lists them too.
    front.result("get_statistics", json!([["all"]]));
    let statistics = front.result("get_statistics", json!([["all"]]));
    let response = scrape(&front, "", "Authorization: Bearer scrape-token\r\n");
    assert_eq!(response.status, 200, "{}", body(&response));
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = body(&response);
    let (accepted, printed) = promtool(&text);
    assert!(accepted, "promtool check metrics:\n{printed}\n{text}");

    let groups: std::collections::BTreeSet<&str> = statistics
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|k| k.split_once(':').map(|(g, _)| g))
        .collect();
    for group in [
        "core",
        "shmem",
        "load",
        "pkmem",
        "transports",
        "commands",
        "events",
        "event_subscribers",
        "mi",
        "access",
        "audit",
        "health",
        "upstreams",
    ] {
        assert!(groups.contains(group), "group {group} in {groups:?}");
    }
    let all = samples(&text);
    let own: Vec<&String> = all
        .keys()
        .filter(|k| k.starts_with("miwa_") && !k.starts_with("miwa_node_up"))
        .collect();
    assert_eq!(
        own.len(),
        statistics.as_object().unwrap().len(),
        "one sample per statistic"
    );
    let value = |series: &str| all.get(series).copied();
    assert_eq!(
        value("miwa_command_calls_total{command=\"uptime\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("miwa_module_calls_total{module=\"health\"}"),
        statistics["health:calls"].as_f64()
    );
    assert_eq!(
        value("miwa_upstream_up{node=\"edge1\"}"),
        statistics["upstreams:edge1_up"].as_f64()
    );
    let subscriber = format!(
        "miwa_event_subscriber_queued{{event=\"E_CORE_THRESHOLD\",subscriber=\"udp:{}\"}}",
        sink.local_addr().unwrap()
    );
    assert_eq!(value(&subscriber), Some(0.0), "{text}");
    assert_eq!(value("miwa_node_up{node=\"edge1\"}"), Some(1.0));
    assert!(
        value("opensips_transports_udp_requests_total{node=\"edge1\"}").unwrap_or(0.0) >= 1.0,
        "the node's own counters, typed by its list_statistics:\n{text}"
    );
    assert!(text.contains("# TYPE miwa_process_load gauge"));
    assert!(text.contains("miwa_process_load{process=\""));
    assert!(text.contains("type=\"MI worker\"}"));
}

#[test]
fn openmetrics_is_served_when_asked_for() {
    let daemon = Daemon::start("").unwrap();
    daemon.result("uptime", json!([]));
    let response = scrape(
        &daemon,
        "",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = body(&response);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE miwa_command_calls counter\n"));
    assert!(text.contains("\nmiwa_command_calls_total{command=\"uptime\"} 1\n"));
    assert_eq!(scrape(&daemon, "?node=edge1", "").status, 404);
    assert_eq!(
        daemon.get("/metrics/more", "").unwrap().status,
        404,
        "only /metrics itself"
    );
    let off = Daemon::start("\n[metrics]\nenabled = false\n").unwrap();
    assert_eq!(scrape(&off, "", "").status, 400, "no /metrics route at all");
}

#[test]
fn scraping_takes_credentials_and_a_role_that_may_read_statistics() {
    let tables = format!(
        "\n[access.roles.watcher]\nallow = [\"get_statistics\"]\n[access.roles.operator]\nallow = [\"ps\", \"uptime\"]\n{}{}",
        token_table("watch", "watcher"),
        token_table("operate", "operator")
    );
    let daemon = Daemon::start(&tables).unwrap();
    let refused = scrape(&daemon, "", "");
    assert_eq!(refused.status, 401);
    assert!(refused.header("www-authenticate").is_some());
    assert_eq!(
        scrape(&daemon, "", "Authorization: Bearer wrong\r\n").status,
        401
    );
    let allowed = scrape(&daemon, "", "Authorization: Bearer watch\r\n");
    assert_eq!(allowed.status, 200);
    assert!(body(&allowed).contains("miwa_transport_requests_total"));
    let forbidden = scrape(&daemon, "", "Authorization: Bearer operate\r\n");
    assert_eq!(forbidden.status, 403);
    assert!(
        body(&forbidden).contains("role 'operator' may not run 'get_statistics'"),
        "{}",
        body(&forbidden)
    );
    let post = exchange(
        daemon.http,
        b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer watch\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(parse_responses(&post)[0].status, 405);

    let open = Daemon::start(&format!("{tables}\n[access]\nprotect = [\"mi\"]\n")).unwrap();
    assert_eq!(
        scrape(&open, "", "").status,
        200,
        "metrics left out of access.protect needs no credentials"
    );
}

#[test]
fn front_mode_scrapes_every_node_at_once_and_a_down_node_is_zero() {
    if !miwa_tests::Heavy::Kamailio.runs() {
        return;
    }
    let node = Daemon::start("").unwrap();
    let kamailio = Kamailio::start().unwrap();
    let mute = HostileNode::udp("mute", Behaviour::Mute);
    let front = Daemon::start(&format!(
        "\n[upstreams.edge1]\nudp = \"{}\"\n[upstreams.kam]\nudp = \"{}\"\ndialect = \"kamailio\"\n[upstreams.gone]\nudp = \"{}\"\ntimeout_ms = 5000\n[metrics]\nnode_timeout_ms = 400\n",
        node.udp, kamailio.udp, mute.addr
    ))
    .unwrap();
    let started = Instant::now();
    let response = scrape(&front, "", "");
    let took = started.elapsed();
    assert_eq!(response.status, 200);
    let text = body(&response);
    let all = samples(&text);
    assert_eq!(
        all.get("miwa_node_up{node=\"edge1\"}"),
        Some(&1.0),
        "{text}"
    );
    assert_eq!(all.get("miwa_node_up{node=\"kam\"}"), Some(&1.0), "{text}");
    assert_eq!(all.get("miwa_node_up{node=\"gone\"}"), Some(&0.0), "{text}");
    assert!(
        took < Duration::from_millis(400 + 1500),
        "a silent node costs the scrape node_timeout_ms, not its own timeout_ms: {took:?}"
    );
    assert!(
        all.keys()
            .any(|k| k.starts_with("kamailio_core_") && k.ends_with("{node=\"kam\"}")),
        "Kamailio's statistics with its node label:\n{text}"
    );
    assert!(all.contains_key("opensips_core_timestamp{node=\"edge1\"}"));
    let (accepted, printed) = promtool(&text);
    assert!(accepted, "promtool check metrics:\n{printed}");

    let one = body(&scrape(&front, "?node=kam", ""));
    let one = samples(&one);
    assert!(one.keys().all(|k| k.ends_with("{node=\"kam\"}")), "{one:?}");
    assert_eq!(one.get("miwa_node_up{node=\"kam\"}"), Some(&1.0));
    let unknown = scrape(&front, "?node=nope", "");
    assert_eq!(unknown.status, 404);
    assert!(body(&unknown).contains("no node is named 'nope'"));
}

#[test]
fn ten_thousand_statistics_are_scraped_within_two_seconds() {
    let daemon = Daemon::start("\nmax_body = 4194304\n[events]\nmax_subscribers = 2600\n").unwrap();
    let sinks: Vec<std::net::UdpSocket> = (0..2500)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let batch: Vec<Value> = sinks
        .iter()
        .enumerate()
        .map(|(i, sink)| {
            json!({"jsonrpc": "2.0", "method": "event_subscribe", "params": ["E_MODULE_UNLOADED", format!("udp:{}", sink.local_addr().unwrap()), 600], "id": i})
        })
        .collect();
    let replies = daemon.rpc(&Value::Array(batch).to_string()).unwrap();
    assert!(
        replies
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "OK"),
        "every subscription taken"
    );
    let started = Instant::now();
    let response = scrape(&daemon, "", "");
    let took = started.elapsed();
    assert_eq!(response.status, 200);
    let text = body(&response);
    let count = samples(&text).len();
    assert!(count >= 10_000, "{count} samples");
    assert!(
        took < Duration::from_secs(2),
        "{count} samples ({} bytes) in {took:?}",
        text.len()
    );
    let (accepted, printed) = promtool(&text);
    assert!(accepted, "{}", &printed[..printed.len().min(2000)]);
}

/// A Prometheus server of the tests' own, scraping `target` every second.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: std::net::SocketAddr, token: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: miwa\n    authorization:\n      type: Bearer\n      credentials: {token}\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus runs (make test installs Debian's prometheus)");
        let prometheus = Prometheus {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while prometheus.get("/-/ready").map(|r| r.status) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "prometheus is not ready:\n{}",
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Option<HttpResponse> {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let raw = exchange(addr, request.as_bytes(), Duration::from_secs(2)).ok()?;
        parse_responses(&raw).into_iter().next()
    }

    /// The value of an instant query's first result.
    fn query(&self, promql: &str) -> Option<f64> {
        let query: String = form_urlencoded_query(promql);
        let response = self.get(&format!("/api/v1/query?query={query}"))?;
        let reply: Value = serde_json::from_slice(&response.body).ok()?;
        reply["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }

    /// Polls `promql` until `accept` takes its value, for up to 30 s.
    fn wait_for(&self, promql: &str, accept: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.query(promql);
            if let Some(v) = value.filter(|v| accept(*v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{promql} = {value:?}; targets: {}\n{}",
                self.get("/api/v1/targets")
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .unwrap_or_default(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` percent-encoded for a query string.
fn form_urlencoded_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_real_prometheus_scrapes_miwa_counters_and_rates() {
    let daemon = Daemon::start(&format!(
        "\n[access]\nprotect = [\"metrics\"]\n{}",
        token_table("prom", "full")
    ))
    .unwrap();
    let prometheus = Prometheus::start(daemon.http, "prom");
    prometheus.wait_for("up{job=\"miwa\"}", |v| v == 1.0);
    let load_until = Instant::now() + Duration::from_secs(5);
    let mut calls = 0u64;
    while Instant::now() < load_until {
        daemon.result("uptime", json!([]));
        calls += 1;
    }
    let rate = prometheus.wait_for(
        "rate(miwa_transport_requests_total{transport=\"http\"}[5s])",
        |v| v > 0.0,
    );
    assert!(rate > 0.0);
    let reported = daemon.result("get_statistics", json!([["commands:"]]))["commands:uptime_calls"]
        .as_f64()
        .unwrap();
    assert_eq!(reported, calls as f64);
    let stored = prometheus.wait_for("miwa_command_calls_total{command=\"uptime\"}", |v| {
        v == reported
    });
    assert_eq!(stored, reported);
    let targets = prometheus.get("/api/v1/targets").unwrap();
    let targets: Value = serde_json::from_slice(&targets.body).unwrap();
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["lastError"], "", "{target}");
}

#[test]
fn the_statistics_view_draws_charts_from_a_bounded_ring_buffer() {
    let daemon =
        Daemon::start("\n[charts]\ninterval_ms = 100\nsamples = 5\nmax_picks = 2\n").unwrap();
    for _ in 0..5 {
        daemon.result("uptime", json!([]));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let page = |query: &str| {
        let response = daemon
            .get(&format!("/html/statistics/get_statistics{query}"), "")
            .unwrap();
        assert_eq!(response.status, 200);
        body(&response)
    };
    let view = page("");
    assert_eq!(view.matches("<svg").count(), 5, "the default charts");
    assert!(view.contains("<title id=\"chart-0-title\">transports:*_requests (per second)</title>"));
    assert!(
        view.contains("<script>"),
        "the page refreshes its charts where scripts run"
    );
    let memory = view
        .split("<polyline")
        .find(|part| part.contains("<title>shmem:real_used_size</title>"))
        .expect("a memory line");
    let points = memory
        .split("points=\"")
        .nth(1)
        .and_then(|p| p.split('"').next())
        .unwrap();
    assert_eq!(
        points.split(' ').count(),
        5,
        "exactly `samples` points: {points}"
    );

    let picked = page("?chart=events:*_raised&chart=oops");
    assert_eq!(picked.matches("<svg").count(), 6);
    assert!(picked.contains("Cannot chart <code>oops</code>"));
    assert!(picked.contains("name=\"chart\" value=\"events:*_raised\""));
    let fragment = page("?chart=events:*_raised&fragment=charts");
    assert!(fragment.starts_with("<section class=\"charts\""));
    assert!(!fragment.contains("<html"));
    let escaped = page("?chart=%3Cb%3E:x");
    assert!(escaped.contains("&lt;b&gt;:x") && !escaped.contains("<b>:x"));
    let ps = page_of(&daemon, "/html/core/ps");
    assert!(!ps.contains("<svg"), "charts only on the statistics view");
    let off = Daemon::start("\n[charts]\nenabled = false\n").unwrap();
    assert!(!page_of(&off, "/html/statistics/get_statistics").contains("<svg"));
}

fn page_of(daemon: &Daemon, path: &str) -> String {
    body(&daemon.get(path, "").unwrap())
}

#[test]
fn unsafe_chart_and_metrics_settings_are_refused_at_start() {
    for (keys, key) in [
        ("[charts]\ninterval_ms = 99", "charts.interval_ms"),
        ("[charts]\nsamples = 1", "charts.samples"),
        (
            "[charts]\nsamples = 100000\nmax_series = 4096",
            "charts.samples / charts.max_series",
        ),
        ("[charts]\nshow = [\"no-colon\"]", "charts.show"),
        ("[metrics]\nnode_timeout_ms = 0", "metrics.node_timeout_ms"),
        (
            "[http]\nhtml_root = \"metrics\"",
            "http.root / http.xmlrpc_root / http.html_root",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("miwa.toml");
        std::fs::write(&path, keys).unwrap();
        let output = Command::new(miwa_tests::miwa_bin())
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{keys}");
        assert!(
            stderr.contains(&format!("key `{key}`")) && stderr.contains("miwa.toml"),
            "{keys}: {stderr}"
        );
    }
}

#[test]
fn the_chart_page_in_chromium_updates_itself() {
    if !miwa_tests::Heavy::Chromium.runs() {
        return;
    }
    let daemon = Daemon::start("\n[charts]\ninterval_ms = 200\nsamples = 150\n").unwrap();
    let browser = workspace().join("tests/browser");
    let shots = workspace().join("tests/artifacts");
    screenshots(&shots, &["html-charts.png".to_string()], || {
        let output = Command::new("node")
            .arg(browser.join("charts.mjs"))
            .arg(format!("http://{}", daemon.http))
            .arg(&shots)
            .current_dir(&browser)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}
