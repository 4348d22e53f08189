//! Replays `conformance/html.jsonl` (real OpenSIPS 3.6.8 traffic) against miwa's `/html`.
//!
//! miwa's page is deliberately a different, modern document, so the comparison is on what
//! a user relies on: the status code, and for a command run, that the page shows the same
//! outcome (a result, or the same error message and details) as OpenSIPS's result cell.

use miwa_tests::{exchange, parse_responses, recording, short, Daemon};
use std::time::Duration;

/// The error texts a recorded result cell shows, if any.
fn error_texts(page: &str) -> Vec<&'static str> {
    [
        "Invalid params",
        "Too few or too many parameters",
        "Bad type for parameter",
        "unknown MI command",
    ]
    .into_iter()
    .filter(|t| page.contains(t))
    .collect()
}

/// Recorded cases miwa answers differently on purpose (docs/compatibility.md): a `GET`
/// that would run a command that changes state is answered "Not run" (`403`).
const NOT_RUN_ON_GET: [&str; 2] = ["cmd_log_level_bad_type", "cmd_log_level_not_json_arg"];

#[test]
fn html_recordings_replay() {
    let daemon = Daemon::start("").expect("daemon starts");
    let (mut compared, mut matched, mut mismatches) = (0, 0, Vec::new());
    for case in recording("html.jsonl") {
        let name = case["name"].as_str().unwrap_or_default();
        let request = case["request"]
            .as_str()
            .unwrap_or_default()
            .replace("Connection: keep-alive", "Connection: close");
        let raw = exchange(daemon.http, request.as_bytes(), Duration::from_millis(500)).unwrap();
        let got = parse_responses(&raw).into_iter().next();
        compared += 1;
        let want_status = case["http_status"].as_u64().unwrap_or(0) as u16;
        let recorded = case["response_body"].as_str().unwrap_or_default();
        let outcome = match &got {
            None => Err("no response".to_string()),
            Some(g) if NOT_RUN_ON_GET.contains(&name) => {
                match g.status == 403 && String::from_utf8_lossy(&g.body).contains("Not run") {
                    true => Ok(()),
                    false => Err(format!("status {}: not the documented refusal", g.status)),
                }
            }
            Some(g) if g.status != want_status => {
                Err(format!("status {} != {want_status}", g.status))
            }
            Some(g) => {
                let page = String::from_utf8_lossy(&g.body).replace("&#39;", "'");
                let missing: Vec<&str> = error_texts(recorded)
                    .into_iter()
                    .filter(|t| !page.contains(t))
                    .collect();
                let result_expected = name.ends_with("_result")
                    || name == "cmd_get_statistics"
                    || name == "post_form_ps";
                if !missing.is_empty() {
                    Err(format!("the page does not show {missing:?}"))
                } else if result_expected && !page.contains("<h3>Result</h3>") {
                    Err("no result shown".into())
                } else {
                    Ok(())
                }
            }
        };
        match outcome {
            Ok(()) => matched += 1,
            Err(why) => mismatches.push(short(format!("{name}: {why}"))),
        }
    }
    println!("html conformance: {matched}/{compared} matched (status and outcome; the page layout differs by design)");
    for line in &mismatches {
        println!("  mismatch {line}");
    }
    assert!(
        matched * 100 >= compared * 90,
        "only {matched}/{compared} cases match"
    );
}
