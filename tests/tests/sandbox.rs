//! What a module reaches through WASI: nothing by default — no environment, arguments,
//! files or network — and, granted `files`, its `read_only_dirs` read-only, with no way out
//! of them by `..` or a symlink.

use miwa_tests::{module_table, Daemon};
use serde_json::{json, Value};

/// A daemon with the sandbox fixture configured by `keys`.
fn sandboxed(keys: &str) -> Daemon {
    Daemon::start(&module_table("sandbox", "sandbox", keys)).expect("daemon starts")
}

/// The error message of a call that must fail.
fn refused(daemon: &Daemon, method: &str, params: Value) -> String {
    let reply = daemon.call(method, params);
    assert_eq!(reply["error"]["code"], 500, "{method} must fail: {reply}");
    reply["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn a_module_granted_nothing_sees_no_environment_files_or_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let daemon = sandboxed("");
    assert_eq!(
        daemon.result("sandbox_env", json!([])),
        json!({"vars": 0, "args": 0})
    );
    let hosts = refused(&daemon, "sandbox_read", json!(["/etc/hostname"]));
    assert!(hosts.contains("No such file"), "{hosts}");
    let address = listener.local_addr().unwrap().to_string();
    let connect = refused(&daemon, "sandbox_connect", json!([address]));
    assert!(
        connect.to_lowercase().contains("denied") || connect.contains("not permitted"),
        "{connect}"
    );
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}

#[test]
fn granted_files_reads_its_directories_and_nothing_outside_them() {
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("lists");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("carriers.txt"), "gw1\ngw2\n").unwrap();
    std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), shared.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(root.path(), shared.join("up")).unwrap();
    let dir = shared.display().to_string();
    let daemon = sandboxed(&format!(
        "grants = [\"files\"]\nread_only_dirs = [\"{dir}\"]"
    ));
    assert_eq!(
        daemon.result("sandbox_read", json!([format!("{dir}/carriers.txt")])),
        "gw1\ngw2\n"
    );
    assert_eq!(
        daemon.result("sandbox_list", json!([dir.clone()])),
        json!(["carriers.txt", "escape.txt", "up"])
    );
    for outside in [
        format!("{dir}/../secret.txt"),
        format!("{dir}/escape.txt"),
        format!("{dir}/up/secret.txt"),
        root.path().join("secret.txt").display().to_string(),
    ] {
        let message = refused(&daemon, "sandbox_read", json!([outside]));
        assert!(!message.contains("secret\""), "{outside}: {message}");
    }
    let written = refused(&daemon, "sandbox_write", json!([format!("{dir}/new.txt")]));
    assert!(!shared.join("new.txt").exists(), "{written}");
    assert_eq!(
        std::fs::read_to_string(shared.join("carriers.txt")).unwrap(),
        "gw1\ngw2\n"
    );
}

#[test]
fn read_only_dirs_that_are_not_directories_stop_the_start() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let keys = format!(
        "grants = [\"files\"]\nread_only_dirs = [\"{}\"]",
        file.path().display()
    );
    let error = Daemon::start(&module_table("sandbox", "sandbox", &keys))
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("read_only_dirs"), "{error}");
}
