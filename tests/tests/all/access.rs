//! Authentication and access control on every transport: Basic and Bearer credentials,
//! roles limiting what may run (and what `which` and the HTML page show), transport default
//! roles, brute-force throttling, and refusal of plain-text passwords.

use miwa_tests::{
    exchange, fifo_write, hashed_secret, miwa_bin, parse_responses, udp_exchange, unix_exchange,
    Daemon, HttpResponse, ReplyFifo,
};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn config() -> String {
    format!(
        r#"
[access]
protect = ["mi", "xmlrpc", "html"]
max_failures = 3

[access.roles.readonly]
allow = ["ps", "uptime", "which", "help", "get_*"]

[[access.users]]
name = "ops"
password = "{}"
role = "full"

[[access.tokens]]
sha256 = "{}"
role = "readonly"

[access.transports]
fifo = "readonly"
udp = "readonly"
unix = "full"
"#,
        hashed_secret("hash-password", "correct horse"),
        hashed_secret("hash-token", "reader-token")
    )
}

fn request(daemon: &Daemon, path: &str, authorization: Option<&str>, body: &str) -> HttpResponse {
    let header = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let (method, content_type) = if body.is_empty() {
        ("GET", "")
    } else if path.starts_with("/RPC2") {
        ("POST", "Content-Type: text/xml\r\n")
    } else {
        ("POST", "Content-Type: application/json\r\n")
    };
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{header}{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let bytes = exchange(daemon.http, raw.as_bytes(), Duration::from_millis(800)).unwrap();
    parse_responses(&bytes)
        .into_iter()
        .next()
        .expect("a response")
}

fn rpc(daemon: &Daemon, authorization: Option<&str>, method: &str, params: Value) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).to_string();
    let response = request(daemon, "/mi", authorization, &body);
    let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, value)
}

const OPS: &str = "Basic b3BzOmNvcnJlY3QgaG9yc2U=";
const READER: &str = "Bearer reader-token";

#[test]
fn credentials_and_roles_on_every_transport() {
    let daemon = Daemon::start(&config()).unwrap();

    let anonymous = request(
        &daemon,
        "/mi",
        None,
        r#"{"jsonrpc":"2.0","method":"ps","id":1}"#,
    );
    assert_eq!(anonymous.status, 401);
    let challenge = anonymous.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("Basic") && challenge.contains("Bearer"),
        "{challenge}"
    );
    let wrong = rpc(&daemon, Some("Basic b3BzOndyb25n"), "ps", json!([]));
    assert_eq!(wrong.0, 401);

    let (status, set) = rpc(&daemon, Some(OPS), "log_level", json!([3]));
    assert_eq!(
        (status, &set["result"]),
        (200, &json!({"New global log level": 3}))
    );

    let (_, uptime) = rpc(&daemon, Some(READER), "uptime", json!([]));
    assert!(uptime["result"]["Up time"].is_string(), "{uptime}");
    let (_, refused) = rpc(&daemon, Some(READER), "log_level", json!([4]));
    assert_eq!(
        refused["error"],
        json!({"code": 403, "message": "Forbidden", "data": "role 'readonly' may not run 'log_level'"})
    );
    let (_, which) = rpc(&daemon, Some(READER), "which", json!([]));
    let visible: Vec<&str> = which["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        visible.contains(&"get_statistics") && !visible.contains(&"kill"),
        "{visible:?}"
    );
    assert!(
        daemon.log().contains("command refused"),
        "denials are logged"
    );

    let kill = "<?xml version=\"1.0\"?><methodCall><methodName>kill</methodName></methodCall>";
    let fault = request(&daemon, "/RPC2", Some(READER), kill);
    let fault = String::from_utf8_lossy(&fault.body).into_owned();
    assert!(
        fault.contains("<int>403</int>") && fault.contains("Forbidden"),
        "{fault}"
    );
    assert_eq!(request(&daemon, "/RPC2", None, kill).status, 401);

    assert_eq!(request(&daemon, "/html/core", None, "").status, 401);
    let page = request(&daemon, "/html/core", Some(READER), "");
    let page = String::from_utf8_lossy(&page.body).into_owned();
    assert!(
        page.contains(">ps<") && !page.contains(">kill<"),
        "the page shows what the role may run"
    );

    let fifo = ReplyFifo::create(&daemon.reply_dir(), "acl").unwrap();
    fifo_write(
        &daemon.fifo,
        br#":acl:{"jsonrpc":"2.0","method":"kill","id":1}"#,
    )
    .unwrap();
    let reply = String::from_utf8(fifo.read(WAIT).unwrap().unwrap()).unwrap();
    assert!(reply.contains("\"code\":403"), "fifo is readonly: {reply}");
    let udp = udp_exchange(
        daemon.udp,
        br#"{"jsonrpc":"2.0","method":"log_level","params":[4],"id":1}"#,
        WAIT,
    )
    .unwrap()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&udp).contains("\"code\":403"),
        "udp is readonly"
    );
    let unix = unix_exchange(
        &daemon.unix,
        daemon.dir.path(),
        true,
        br#"{"jsonrpc":"2.0","method":"log_level","params":[3],"id":1}"#,
        WAIT,
    )
    .unwrap()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&unix).contains("New global log level"),
        "unix is full"
    );
}

#[test]
fn whoami_tells_each_caller_who_it_is_and_what_it_may_run() {
    let quiet = format!(
        "\n[access.roles.quiet]\nallow = [\"uptime\"]\ndeny = [\"access:*\"]\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"quiet\"\n",
        hashed_secret("hash-token", "quiet-token")
    );
    let daemon = Daemon::start(&format!("{}{quiet}", config())).unwrap();
    let (_, ops) = rpc(&daemon, Some(OPS), "whoami", json!([]));
    let ops = &ops["result"];
    assert_eq!(
        (&ops["identity"], &ops["role"], &ops["transport"]),
        (&json!("ops"), &json!("full"), &json!("http")),
        "{ops}"
    );
    let commands = |who: &Value| -> Vec<String> {
        who["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    assert!(commands(ops).contains(&"kill".to_string()), "{ops}");
    assert!(
        ops.get("nodes").is_none(),
        "no nodes outside front mode: {ops}"
    );
    // The token's role does not list whoami, which every role may run: the commands are
    // those `which` lists for it, whoami among them.
    let (_, reader) = rpc(&daemon, Some(READER), "access:whoami", json!([]));
    let reader = &reader["result"];
    assert_eq!(reader["role"], "readonly", "{reader}");
    assert!(
        reader["identity"].as_str().unwrap().starts_with("token:"),
        "{reader}"
    );
    let (_, which) = rpc(&daemon, Some(READER), "which", json!([]));
    let mut listed: Vec<String> = which["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(listed.contains(&"whoami".to_string()), "{listed:?}");
    listed.retain(|c| !c.contains(':'));
    assert_eq!(commands(reader), listed);
    // Over UDP without credentials: the transport's role, no identity.
    let udp = udp_exchange(
        daemon.udp,
        br#"{"jsonrpc":"2.0","method":"whoami","id":1}"#,
        WAIT,
    )
    .unwrap()
    .unwrap();
    let udp: Value = serde_json::from_slice(&udp).unwrap();
    assert_eq!(
        (
            &udp["result"]["identity"],
            &udp["result"]["role"],
            &udp["result"]["transport"]
        ),
        (&Value::Null, &json!("readonly"), &json!("udp")),
        "{udp}"
    );
    // A role's deny pattern still wins.
    let (_, quiet) = rpc(&daemon, Some("Bearer quiet-token"), "whoami", json!([]));
    assert_eq!(quiet["error"]["code"], 403, "{quiet}");
}

#[test]
fn repeated_failures_are_throttled() {
    let daemon = Daemon::start(&config()).unwrap();
    for _ in 0..3 {
        assert_eq!(rpc(&daemon, Some("Bearer guess"), "ps", json!([])).0, 401);
    }
    let throttled = request(
        &daemon,
        "/mi",
        Some(OPS),
        r#"{"jsonrpc":"2.0","method":"ps","id":1}"#,
    );
    assert_eq!(
        throttled.status, 429,
        "even good credentials wait once an address failed too often"
    );
    assert_eq!(throttled.header("retry-after"), Some("60"));
    let unix = unix_exchange(
        &daemon.unix,
        daemon.dir.path(),
        true,
        br#"{"jsonrpc":"2.0","method":"get_statistics","params":[["access:"]],"id":1}"#,
        WAIT,
    )
    .unwrap()
    .unwrap();
    let stats: Value = serde_json::from_slice(&unix).unwrap();
    assert_eq!(stats["result"]["access:auth_failures"], 3);
    assert_eq!(stats["result"]["access:auth_throttled"], 1);
}

#[test]
fn plain_text_passwords_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("miwa.toml");
    std::fs::write(
        &path,
        "[access]\n[[access.users]]\nname = \"ops\"\npassword = \"hunter2\"\nrole = \"full\"\n",
    )
    .unwrap();
    let output = Command::new(miwa_bin())
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("access") && stderr.contains("never plain text"),
        "{stderr}"
    );
}

/// `miwa call` with the credentials from its environment, over `transport`.
fn miwa_call(
    daemon: &Daemon,
    transport: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (bool, String) {
    let output = Command::new(miwa_bin())
        .arg("call")
        .args(daemon.client_args(transport))
        .args(args)
        .env_remove("MIWA_USER")
        .env_remove("MIWA_PASSWORD")
        .env_remove("MIWA_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = if output.status.success() {
        output.stdout
    } else {
        output.stderr
    };
    (
        output.status.success(),
        String::from_utf8_lossy(&text).into_owned(),
    )
}

#[test]
fn miwa_call_sends_credentials_from_its_environment() {
    for transport in ["http", "xmlrpc", "ws"] {
        let daemon = Daemon::start(&config()).unwrap();
        let (ok, said) = miwa_call(&daemon, transport, &[], &["uptime"]);
        assert!(!ok && said.contains("401"), "{transport}: {said}");
        assert!(
            said.contains("MIWA_PASSWORD"),
            "the refusal says how: {said}"
        );

        let user = [("MIWA_PASSWORD", "correct horse")];
        let (ok, said) = miwa_call(&daemon, transport, &user, &["--user", "ops", "uptime"]);
        assert!(ok && said.contains("Up since"), "{transport}: {said}");
        let wrong = [("MIWA_PASSWORD", "wrong")];
        let (ok, said) = miwa_call(&daemon, transport, &wrong, &["--user", "ops", "uptime"]);
        assert!(!ok && said.contains("401"), "{transport}: {said}");
        let (ok, said) = miwa_call(&daemon, transport, &[], &["--user", "ops", "uptime"]);
        assert!(
            !ok && said.contains("MIWA_PASSWORD"),
            "{transport}, no password: {said}"
        );

        // Credentials in the URL are sent as HTTP Basic, and never shown.
        let scheme = if transport == "ws" { "ws" } else { "http" };
        let path = match transport {
            "xmlrpc" => "RPC2",
            "ws" => "ws",
            _ => "mi",
        };
        let in_url = |password: &str| format!("{scheme}://ops:{password}@{}/{path}", daemon.http);
        let with_url = |url: &str| {
            let output = Command::new(miwa_bin())
                .args(["call", "--transport", transport, "--url", url, "uptime"])
                .env_remove("MIWA_USER")
                .env_remove("MIWA_TOKEN")
                .output()
                .unwrap();
            let said = [output.stdout, output.stderr].concat();
            (
                output.status.success(),
                String::from_utf8_lossy(&said).into_owned(),
            )
        };
        let (ok, said) = with_url(&in_url("correct%20horse"));
        assert!(ok && said.contains("Up since"), "{transport}: {said}");
        let (ok, said) = with_url(&in_url("wr0ng-secret"));
        assert!(!ok && said.contains("401"), "{transport}: {said}");
        assert!(!said.contains("wr0ng-secret"), "{transport}: {said}");

        let token = [("MIWA_TOKEN", "reader-token")];
        let (ok, said) = miwa_call(&daemon, transport, &token, &["ps"]);
        assert!(ok && said.contains("Type"), "{transport}: {said}");
        let (ok, said) = miwa_call(&daemon, transport, &token, &["log_level"]);
        let reason = match transport {
            "http" | "ws" => "403: Forbidden (role 'readonly' may not run 'log_level')",
            _ => "403: Forbidden",
        };
        assert!(!ok && said.contains(reason), "{transport}: {said}");
    }
}

/// `ps` over curl from the local address `from`, with `authorization`; the HTTP status.
fn curl_from(daemon: &Daemon, from: &str, authorization: &str) -> String {
    let output = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            from,
        ])
        .args(["-H", &format!("Authorization: {authorization}")])
        .args(["-H", "Content-Type: application/json"])
        .args(["-d", r#"{"jsonrpc":"2.0","method":"ps","id":1}"#])
        .arg(format!("http://{}/mi", daemon.http))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn rotating_addresses_do_not_evade_throttling_and_a_correct_credential_is_not_locked_out() {
    let daemon = Daemon::start(&config()).unwrap();
    assert_eq!(curl_from(&daemon, "127.0.0.2", OPS), "200", "verified once");
    let wrong = "Basic b3BzOndyb25n";
    for last in 3..6 {
        assert_eq!(curl_from(&daemon, &format!("127.0.0.{last}"), wrong), "401");
    }
    assert_eq!(
        curl_from(&daemon, "127.0.0.9", "Basic b3BzOmFub3RoZXI="),
        "429",
        "another address of the same /24 is refused a new guess"
    );
    assert_eq!(
        curl_from(&daemon, "127.0.0.9", OPS),
        "200",
        "a credential verified before is never refused"
    );
    let fresh = Daemon::start(&config()).unwrap();
    for last in 3..6 {
        assert_eq!(curl_from(&fresh, &format!("127.0.0.{last}"), wrong), "401");
    }
    assert_eq!(
        curl_from(&fresh, "127.0.1.7", OPS),
        "200",
        "a correct credential from another network is not locked out by the guessing"
    );
}
