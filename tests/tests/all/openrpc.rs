//! Typed introspection: `rpc.discover` and `GET /openrpc.json` answer an OpenRPC 1.3
//! document that the OpenRPC meta-schema accepts (checked with ajv in node), listing the
//! core's commands and a loaded module's, and only what the caller's role may run.

use miwa_tests::{hashed_secret, module_table, workspace, Daemon};
use serde_json::Value;
use std::process::Command;

/// Runs `tests/browser/openrpc.mjs` on `document`: whether the validator accepts it, and
/// what it printed.
fn validate(document: &Value) -> (bool, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(document).unwrap()).unwrap();
    let browser = workspace().join("tests/browser");
    let output = Command::new("node")
        .arg(browser.join("openrpc.mjs"))
        .arg(file.path())
        .current_dir(&browser)
        .output()
        .expect("node runs (make test installs tests/browser's packages)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

fn names(document: &Value) -> Vec<String> {
    document["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_document_passes_the_openrpc_meta_schema_with_a_module_loaded() {
    let daemon = Daemon::start(&module_table(
        "health",
        "health",
        "grants = [\"mi\", \"stats\", \"log\"]",
    ))
    .unwrap();
    let response = daemon.get("/openrpc.json", "").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let document: Value = serde_json::from_slice(&response.body).unwrap();
    let (valid, report) = validate(&document);
    assert!(valid, "{report}");
    println!("{report}");

    let listed = names(&document);
    assert!(listed.contains(&"get_statistics".to_string()));
    let module = daemon.result("module_list", serde_json::json!({}));
    let health_commands = module["Modules"][0]["commands"]
        .as_array()
        .unwrap_or_else(|| panic!("module_list: {module}"))
        .clone();
    assert!(!health_commands.is_empty());
    for command in &health_commands {
        let name = command.as_str().unwrap();
        let method = document["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("module command {name} is missing"));
        assert_eq!(method["x-opensips-4-name"], format!("health:{name}"));
        assert_eq!(method["tags"][0]["name"], "health");
    }

    let health = document["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "health")
        .unwrap();
    assert_eq!(
        health["params"],
        serde_json::json!([{"name": "max_errors", "required": false, "schema": {
            "type": ["integer", "string"], "pattern": "^[+-]?[0-9]+$"}}]),
        "the types the module's description gives (miwa:module@0.3.0)"
    );

    let by_rpc = daemon.result("rpc.discover", serde_json::json!([]));
    assert_eq!(by_rpc, document, "rpc.discover and GET /openrpc.json agree");
    assert_eq!(
        daemon
            .get("/openrpc.json?x=1", "")
            .map(|r| r.status)
            .unwrap(),
        200
    );

    let mut broken = document.clone();
    broken["methods"][0]
        .as_object_mut()
        .unwrap()
        .remove("params");
    let (valid, report) = validate(&broken);
    assert!(!valid, "a method without params must fail the meta-schema");
    assert!(
        report.contains("must have required property 'params'"),
        "{report}"
    );
}

#[test]
fn a_role_reads_only_what_it_may_run() {
    let daemon = Daemon::start(&format!(
        r#"
[access]
protect = ["mi"]

[access.roles.readonly]
allow = ["ps", "uptime", "which", "get_*"]

[[access.tokens]]
sha256 = "{}"
role = "readonly"
"#,
        hashed_secret("hash-token", "reader-token")
    ))
    .unwrap();
    assert_eq!(daemon.get("/openrpc.json", "").unwrap().status, 401);
    let response = daemon
        .get("/openrpc.json", "Authorization: Bearer reader-token\r\n")
        .unwrap();
    assert_eq!(response.status, 200);
    let document: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        names(&document),
        ["get_statistics", "uptime", "which", "ps", "whoami"]
    );
    let (valid, report) = validate(&document);
    assert!(valid, "{report}");
}

#[test]
fn a_node_in_front_mode_is_described_untyped_from_its_own_answers() {
    if !miwa_tests::Heavy::Kamailio.runs() {
        return;
    }
    let node = Daemon::start_with_args("", &["--simulate"]).unwrap();
    let kamailio = miwa_tests::kamailio::Kamailio::start().unwrap();
    let front = Daemon::start(&format!(
        "[upstreams.edge]\nudp = \"{}\"\n[upstreams.kam]\nudp = \"{}\"\ndialect = \"kamailio\"\n",
        node.udp, kamailio.udp
    ))
    .unwrap();
    let discover = |path: &str| -> Value {
        let response = front.get(path, "").unwrap();
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        serde_json::from_slice(&response.body).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let edge = loop {
        let document = discover("/openrpc.json?node=edge");
        if names(&document).contains(&"ul_dump".to_string()) {
            break document;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no node commands: {document}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let (valid, report) = validate(&edge);
    assert!(valid, "{report}");
    let method = |document: &Value, name: &str| -> Value {
        document["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    let dump = method(&edge, "ul_dump");
    assert_eq!(dump["x-opensips-4-name"], "usrloc:dump");
    assert_eq!(dump["tags"][0]["name"], "usrloc");
    let asked = node.result("which", serde_json::json!({"command": "ul_dump"}));
    assert_eq!(dump["x-recipes"], asked, "the recipes the node gives");
    assert!(dump["params"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["schema"] == serde_json::json!({})));
    assert!(
        names(&edge).contains(&"nodes_run".to_string()),
        "miwa's own additions"
    );
    let by_rpc = front
        .rpc(r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#)
        .unwrap();
    assert!(names(&by_rpc["result"]).contains(&"get_statistics".to_string()));

    let kam = loop {
        let document = discover("/openrpc.json?node=kam");
        if names(&document).contains(&"core.uptime".to_string()) {
            break document;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Kamailio commands: {document}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let (valid, report) = validate(&kam);
    assert!(valid, "{report}");
    let uptime = method(&kam, "core.uptime");
    assert_eq!(uptime["x-params-unknown"], true);
    assert!(
        kam["info"]["version"]
            .as_str()
            .unwrap()
            .contains("kamailio"),
        "{}",
        kam["info"]
    );

    let unknown = front.get("/openrpc.json?node=nosuch", "").unwrap();
    assert_eq!(
        unknown.status,
        404,
        "{}",
        String::from_utf8_lossy(&unknown.body)
    );
    assert!(String::from_utf8_lossy(&unknown.body).contains("Unknown node"));
}
