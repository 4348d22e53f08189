//! Browsers are hostile: cross-site requests, DNS rebinding, forged forms, framing, and
//! one caller's WebSocket tickets pushing out another's. Raw HTTP attacks first, then a
//! real page of another site in Debian's Chromium.

use miwa_tests::{exchange, parse_responses, workspace, Daemon, HttpResponse};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

/// Sends a raw request head (and body) to the daemon; the first response.
fn raw(daemon: &Daemon, head: &str, body: &str) -> HttpResponse {
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = exchange(daemon.http, request.as_bytes(), Duration::from_secs(5)).unwrap();
    parse_responses(&raw).remove(0)
}

fn text(response: &HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// Whether `key` is in the daemon's `local` cache.
fn cached(daemon: &Daemon, key: &str) -> bool {
    daemon.call("cache_fetch", json!(["local", key]))["error"].is_null()
}

const STORE: &str = r#"{"jsonrpc":"2.0","method":"cache_store","params":["local","k","v"],"id":1}"#;

#[test]
fn host_must_name_the_daemon() {
    let daemon = Daemon::start("hosts = [\"mi.example.net\"]").unwrap();
    for host in [
        "attacker.example",
        "attacker.example:8888",
        "127.0.0.1.attacker.example",
    ] {
        let post = raw(
            &daemon,
            &format!("POST /mi HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"),
            STORE,
        );
        assert_eq!(post.status, 421, "{host}: {}", text(&post));
        let upgrade = raw(
            &daemon,
            &format!("GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
            "",
        );
        assert_eq!(upgrade.status, 421, "a rebinding page's WebSocket: {host}");
        let page = raw(
            &daemon,
            &format!("GET /html/core/ps?arg= HTTP/1.1\r\nHost: {host}"),
            "",
        );
        assert_eq!(page.status, 421, "{host}");
    }
    assert!(!cached(&daemon, "k"));
    for host in [
        "mi.example.net",
        "MI.example.net:8888",
        "localhost",
        "127.0.0.1:1",
        "[::1]:8888",
    ] {
        let post = raw(
            &daemon,
            &format!("POST /mi HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"),
            r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#,
        );
        assert_eq!(post.status, 200, "{host}");
    }
}

#[test]
fn a_bad_hosts_entry_refuses_the_start() {
    for bad in [
        "*.example.net",
        "mi.example.net:8888",
        "http://mi.example.net",
        "",
    ] {
        let started = Daemon::start(&format!("hosts = [\"{bad}\"]"));
        let error = format!("{:#}", started.err().expect("refused"));
        assert!(error.contains("http.hosts"), "{bad}: {error}");
    }
}

#[test]
fn requests_from_another_site_are_refused_on_every_route() {
    let daemon = Daemon::start("").unwrap();
    let host = daemon.http.to_string();
    let foreign = [
        "Origin: http://attacker.example",
        "Origin: null",
        "Origin: http://127.0.0.1:1",
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Site: same-site",
    ];
    for header in foreign {
        for (head, body) in [
            (format!("POST /mi HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n{header}"), STORE.to_string()),
            (format!("POST /html/core/cache_store HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n{header}"), "arg=%5B%22local%22%2C%22k%22%2C%22v%22%5D".to_string()),
            (format!("GET /html/core/kill?arg= HTTP/1.1\r\nHost: {host}\r\n{header}"), String::new()),
            (format!("POST /RPC2 HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n{header}"), "<?xml version=\"1.0\"?><methodCall><methodName>cache_store</methodName><params><param><value>local</value></param><param><value>k</value></param><param><value>v</value></param></params></methodCall>".to_string()),
            (format!("POST /ws/ticket HTTP/1.1\r\nHost: {host}\r\n{header}"), String::new()),
        ] {
            let response = raw(&daemon, &head, &body);
            assert_eq!(response.status, 403, "{head}");
        }
    }
    assert!(!cached(&daemon, "k"), "nothing was stored");
    let same = raw(
        &daemon,
        &format!("POST /mi HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nOrigin: http://{host}\r\nSec-Fetch-Site: same-origin"),
        r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#,
    );
    assert_eq!(same.status, 200, "the daemon's own pages may call it");
}

/// The form token the page at `path` carries.
fn form_token(daemon: &Daemon, path: &str) -> String {
    miwa_tests::form_token(&text(&daemon.get(path, "").unwrap()))
}

#[test]
fn the_html_page_runs_what_changes_state_only_from_its_own_form() {
    let mut daemon = Daemon::start("").unwrap();
    let killed = daemon.get("/html/core/kill?arg=", "").unwrap();
    assert_eq!(killed.status, 403, "{}", text(&killed));
    assert!(text(&killed).contains("Not run"));
    assert!(daemon.is_running(), "kill never runs on a GET");
    let stored = daemon
        .get(
            "/html/core/cache_store?arg=%5B%22local%22%2C%22k%22%2C%22v%22%5D",
            "",
        )
        .unwrap();
    assert_eq!(stored.status, 403);
    let ps = daemon.get("/html/core/ps?arg=", "").unwrap();
    assert_eq!(ps.status, 200);
    assert!(
        text(&ps).contains("<h3>Result</h3>"),
        "read-only commands still run on a GET"
    );
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(ps.header(name), Some(value), "{name}");
    }
    assert!(ps
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let host = daemon.http.to_string();
    let post = |token: &str| {
        raw(
            &daemon,
            &format!("POST /html/core/cache_store HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded"),
            &format!("csrf={token}&arg=%5B%22local%22%2C%22k%22%2C%22v%22%5D"),
        )
    };
    assert_eq!(post("").status, 403, "no token");
    assert_eq!(post(&"0".repeat(32)).status, 403, "a forged token");
    assert!(!cached(&daemon, "k"));
    let token = form_token(&daemon, "/html/core/cache_store");
    let accepted = post(&token);
    assert_eq!(accepted.status, 200, "{}", text(&accepted));
    assert!(cached(&daemon, "k"), "the page's own form runs it");
}

#[test]
fn the_form_token_belongs_to_the_identity() {
    let daemon = Daemon::start(&format!(
        "\n[[access.users]]\nname = \"ops\"\npassword = \"{}\"\nrole = \"full\"\n[[access.users]]\nname = \"other\"\npassword = \"{}\"\nrole = \"full\"\n",
        miwa_tests::hashed_secret("hash-password", "pw1"),
        miwa_tests::hashed_secret("hash-password", "pw2"),
    ))
    .unwrap();
    let basic = |user: &str, pw: &str| {
        let output = Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(format!("{user}:{pw}").as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        format!(
            "Authorization: Basic {}\r\n",
            String::from_utf8_lossy(&output.stdout)
        )
    };
    let page = daemon
        .get("/html/core/cache_store", &basic("other", "pw2"))
        .unwrap();
    let others = miwa_tests::form_token(&text(&page));
    let host = daemon.http.to_string();
    let response = raw(
        &daemon,
        &format!("POST /html/core/cache_store HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n{}", basic("ops", "pw1").trim_end()),
        &format!("csrf={others}&arg=%5B%22local%22%2C%22k%22%2C%22v%22%5D"),
    );
    assert_eq!(response.status, 403, "another identity's token");
}

#[test]
fn one_caller_cannot_push_out_another_callers_tickets() {
    let daemon = Daemon::start(&format!(
        "ws_max_tickets = 64\nws_tickets_per_identity = 4\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"full\"\nname = \"admin\"\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"full\"\nname = \"noisy\"\n",
        miwa_tests::hashed_secret("hash-token", "admin-token"),
        miwa_tests::hashed_secret("hash-token", "noisy-token"),
    ))
    .unwrap();
    let host = daemon.http.to_string();
    let ticket = |token: &str| -> String {
        let response = raw(
            &daemon,
            &format!("POST /ws/ticket HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}"),
            "",
        );
        assert_eq!(response.status, 200);
        serde_json::from_slice::<Value>(&response.body).unwrap()["ticket"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let admins = ticket("admin-token");
    for _ in 0..1024 {
        ticket("noisy-token");
    }
    let request = format!(
        "GET /events?subscribe=E_CORE_THRESHOLD&ticket={admins} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let head = exchange(daemon.http, request.as_bytes(), Duration::from_millis(500)).unwrap();
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "the admin's ticket survived 1,024 of another's: {head}"
    );
}

#[test]
fn a_page_of_another_site_in_chromium_runs_nothing() {
    if !miwa_tests::Heavy::Chromium.runs() {
        return;
    }
    let mut daemon = Daemon::start("").unwrap();
    let browser = workspace().join("tests/browser");
    let output = Command::new("node")
        .arg(browser.join("cross_site.mjs"))
        .arg(daemon.http.port().to_string())
        .current_dir(&browser)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert!(
        daemon.is_running(),
        "the <img> of kill did not stop it: {seen}"
    );
    for key in ["csrf", "fetched", "rebound"] {
        assert!(!cached(&daemon, key), "{key} was stored: {seen}");
    }
    assert_eq!(seen["rebinding"], 421, "{seen}");
    assert_eq!(seen["rebinding_fetch"], 421, "{seen}");
    let responses = seen["responses"].as_array().unwrap();
    for refused in [
        json!(["POST", "/mi", 403]),
        json!(["POST", "/html/core/cache_store", 403]),
    ] {
        assert!(responses.contains(&refused), "{refused} in {seen}");
    }
    assert!(
        !responses.iter().any(|r| r[1] == "/mi" && r[2] != 403),
        "{seen}"
    );
    assert!(
        seen["own_form"].as_str().unwrap_or("").contains("OK"),
        "the daemon's own form works in the browser: {seen}"
    );
    assert!(cached(&daemon, "mine"));
}
