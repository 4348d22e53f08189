//! The browser playground: its size budget, the simulated host through the wasm-bindgen API
//! (in node), the page and its task lessons in headless Chromium against a running daemon
//! (which serves it), and the `/playground` route's edges.

use miwa_tests::{exchange, parse_responses, screenshots, workspace, Daemon};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Largest playground, all files gzip-compressed.
const BUDGET: u64 = 500 * 1024;

fn built() -> PathBuf {
    let dir = workspace().join("target/playground");
    assert!(
        dir.join("index.html").is_file() && dir.join("pkg/host_wasm_web_bg.wasm").is_file(),
        "`make test` builds the playground into {} (make playground)",
        dir.display()
    );
    dir
}

fn node(script: &str, args: &[String]) {
    let browser = workspace().join("tests/browser");
    let output = Command::new("node")
        .arg(browser.join(script))
        .args(args)
        .current_dir(&browser)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    println!("{text}");
    assert!(output.status.success(), "{script} failed:\n{text}");
}

#[test]
fn the_playground_fits_its_size_budget() {
    let dir = built();
    let mut files = vec![
        dir.join("pkg/host_wasm_web_bg.wasm"),
        dir.join("pkg/host_wasm_web.js"),
    ];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push(path);
        }
    }
    let compressed: u64 = files
        .iter()
        .map(|file| {
            let output = Command::new("gzip").arg("-9c").arg(file).output().unwrap();
            assert!(output.status.success());
            output.stdout.len() as u64
        })
        .sum();
    println!(
        "playground: {} files, {compressed} bytes gzip-compressed",
        files.len()
    );
    assert!(
        compressed <= BUDGET,
        "{compressed} bytes is over the {BUDGET}-byte budget"
    );
}

#[test]
fn the_simulated_host_answers_through_the_wasm_bindgen_api() {
    node("sim.mjs", &[built().display().to_string()]);
}

/// Runs `script` in Chromium against a daemon serving the playground; it must leave the
/// screenshots `<prefix><name>.png` in `tests/artifacts/`.
fn in_chromium(script: &str, prefix: &str, shots: &[&str]) {
    if !miwa_tests::Heavy::Chromium.runs() {
        return;
    }
    built();
    let daemon = Daemon::start("").unwrap();
    let dir = workspace().join("tests/artifacts");
    let names: Vec<String> = shots.iter().map(|s| format!("{prefix}{s}.png")).collect();
    screenshots(&dir, &names, || {
        node(
            script,
            &[format!("http://{}", daemon.http), dir.display().to_string()],
        )
    });
}

#[test]
fn the_playground_runs_in_chromium_like_the_daemon() {
    in_chromium(
        "playground.mjs",
        "playground-",
        &[
            "ps",
            "log_level",
            "parse-error",
            "lesson",
            "phone",
            "charts",
        ],
    );
}

#[test]
fn every_task_lesson_can_be_completed_in_chromium() {
    in_chromium(
        "lessons.mjs",
        "lesson-",
        &[
            "find-where-a-user-is-registered-and-log-them-out",
            "see-why-calls-fail-and-disable-a-gateway",
            "drain-a-dispatcher-destination-for-maintenance",
            "reload-routing-after-a-change",
            "watch-a-call-from-invite-to-bye",
            "subscribe-to-registrations-and-see-them-arrive",
        ],
    );
}

#[test]
fn the_playground_runs_live_against_the_daemon_that_serves_it_in_chromium() {
    if !miwa_tests::Heavy::Chromium.runs() {
        return;
    }
    built();
    let daemon = Daemon::start(&format!(
        "[access]\nprotect = [\"mi\"]\n[access.roles.viewer]\nallow = [\"uptime\"]\n[[access.users]]\nname = \"ops\"\npassword = \"{}\"\nrole = \"full\"\n[[access.users]]\nname = \"viewer\"\npassword = \"{}\"\nrole = \"viewer\"\n",
        miwa_tests::hashed_secret("hash-password", "correct horse"),
        miwa_tests::hashed_secret("hash-password", "viewer pass")
    ))
    .unwrap();
    let without_ws = Daemon::start("ws = false\n").unwrap();
    let shots = workspace().join("tests/artifacts");
    let names = ["playground-live-ps.png", "playground-live-event.png"].map(String::from);
    screenshots(&shots, &names, || {
        node(
            "live.mjs",
            &[
                format!("http://{}", daemon.http),
                "ops".into(),
                "correct horse".into(),
                "viewer".into(),
                "viewer pass".into(),
                format!("http://{}", without_ws.http),
                shots.display().to_string(),
            ],
        )
    });
}

#[test]
fn the_playground_route_redirects_refuses_and_explains() {
    let empty = tempfile::tempdir().unwrap();
    let daemon =
        Daemon::start(&format!("playground_dir = \"{}\"", empty.path().display())).unwrap();
    let get = |path: &str| {
        let raw = exchange(
            daemon.http,
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            Duration::from_millis(500),
        )
        .unwrap();
        parse_responses(&raw)
            .into_iter()
            .next()
            .expect("a response")
    };
    let redirect = get("/playground");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location"), Some("/playground/"));
    let missing = get("/playground/");
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("make playground"));
    std::fs::write(
        empty.path().join("index.html"),
        "<!DOCTYPE html><title>t</title>",
    )
    .unwrap();
    let index = get("/playground/");
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        index.header("x-frame-options"),
        Some("DENY"),
        "not to be framed"
    );
    assert!(index
        .header("content-security-policy")
        .is_some_and(|csp| csp.contains("frame-ancestors 'none'")));
    for hostile in [
        "/playground/..%2fCargo.toml",
        "/playground/../Cargo.toml",
        "/playground/.hidden",
        "/playground/a/b/c",
    ] {
        assert_eq!(get(hostile).status, 404, "{hostile}");
    }
    let off = Daemon::start("playground_dir = \"\"").unwrap();
    let raw = exchange(
        off.http,
        b"GET /playground/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_millis(500),
    )
    .unwrap();
    assert_eq!(parse_responses(&raw)[0].status, 400, "the route is off");
}
