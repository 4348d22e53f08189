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
        ["get_statistics", "uptime", "which", "ps"]
    );
    let (valid, report) = validate(&document);
    assert!(valid, "{report}");
}
