//! The three versions of the module world side by side, imports a module may have but not
//! use, what a failed call quotes, and ticks: counted, bounded by the module's limits,
//! failing without stopping the schedule or the module's commands.

use miwa_tests::{foreign_module_table, module_table, Daemon};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn error_message(reply: &Value) -> String {
    assert!(reply["error"].is_object(), "must fail: {reply}");
    reply["error"]["message"].as_str().unwrap().to_string()
}

/// A statistic of the `ticker` group, `ticker:<name>`.
fn stat(daemon: &Daemon, name: &str) -> u64 {
    daemon.result("get_statistics", json!([["ticker:"]]))[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no statistic {name}"))
}

/// Waits up to 5 s for `check` to hold.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn modules_of_every_world_load_side_by_side() {
    let daemon = Daemon::start(
        &(module_table("legacy", "legacy", "grants = [\"log\"]")
            + &foreign_module_table("js", "jsfail", "")
            + &module_table("ticker", "ticker", "grants = [\"cache\", \"stats\"]")),
    )
    .unwrap();
    assert_eq!(
        daemon.result("legacy_echo", json!(["hi"])),
        json!({"text": "hi"})
    );
    assert_eq!(daemon.result("jsfail_ok", json!([])), "OK");
    assert_eq!(daemon.result("ticker_count", json!([])), 0);
    let list = daemon.result("module_list", json!([]));
    let states: Vec<&str> = list["Modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["loaded", "loaded", "loaded"], "{list}");
    assert!(
        daemon.logged("module=legacy commands=1 world=\"0.1.0\"")
            && daemon.logged("module=jsfail commands=3 world=\"0.2.0\"")
            && daemon.logged("module=ticker commands=3 world=\"0.3.0\""),
        "the log names each module's world: {}",
        daemon.log()
    );
}

#[test]
fn a_tick_grant_needs_a_world_with_tick() {
    let daemon = Daemon::start(&module_table(
        "legacy",
        "legacy",
        "grants = [\"log\", \"tick\"]",
    ))
    .unwrap();
    let reply = daemon.call("module_load", json!(["legacy"]));
    assert!(
        error_message(&reply).starts_with("module 'legacy' was not loaded: it was granted tick"),
        "{reply}"
    );
    let list = daemon.result("module_list", json!([]));
    assert_eq!(list["Modules"][0]["state"], "failed", "{list}");
    assert_eq!(
        list["Modules"][0]["error"],
        "it was granted tick, but it is built for miwa:module@0.1.0, which has no tick export (build it for miwa:module@0.2.0)"
    );
}

#[test]
fn an_ungranted_capability_loads_and_fails_the_call_naming_its_grant() {
    let daemon = Daemon::start(&module_table("ungranted", "ungranted", "")).unwrap();
    let reply = daemon.call("ungranted_store", json!([]));
    assert_eq!(reply["error"]["code"], 500, "{reply}");
    assert_eq!(
        error_message(&reply),
        "module 'ungranted' failed: miwa:module/cache@0.3.0#store needs the cache grant"
    );
    assert_eq!(
        daemon.call("ungranted_store", json!([]))["error"]["code"],
        500,
        "the next call is answered the same way"
    );
    let granted = Daemon::start(&module_table(
        "ungranted",
        "ungranted",
        "grants = [\"cache\"]",
    ))
    .unwrap();
    assert_eq!(granted.result("ungranted_store", json!([])), "OK");
}

#[test]
fn ticks_run_every_tick_ms_and_survive_failing_ticks() {
    let daemon = Daemon::start(&module_table(
        "ticker",
        "ticker",
        "grants = [\"cache\", \"stats\", \"tick\"]\ntick_ms = 50\ntimeout_ms = 100\nmax_instances = 2",
    ))
    .unwrap();
    eventually("ten counted ticks", || {
        daemon.result("ticker_count", json!([])).as_u64().unwrap() >= 10
    });
    assert_eq!(stat(&daemon, "ticker:tick_errors"), 0);

    for (mode, counter) in [
        ("loop", "ticker:timeouts"),
        ("panic", "ticker:traps"),
        ("error", "ticker:tick_errors"),
    ] {
        let before = stat(&daemon, counter);
        let errors_before = stat(&daemon, "ticker:tick_errors");
        daemon.result("ticker_mode", json!([mode]));
        eventually(mode, || stat(&daemon, counter) >= before + 2);
        assert!(
            stat(&daemon, "ticker:tick_errors") >= errors_before + 2,
            "{mode}: each failed tick is counted, and the next tick runs"
        );
        assert!(
            daemon.result("ticker_count", json!([])).is_number(),
            "{mode}: the module keeps serving its commands"
        );
        assert!(daemon.result("uptime", json!([])).is_object());
    }
    assert!(daemon.logged("tick failed: module 'ticker' exceeded its 100 ms time limit"));
    assert!(daemon.logged("tick failed: module 'ticker' panicked: "));
    assert!(daemon.logged("tick failed: module 'ticker' tick returned an error: asked to fail"));

    let counted = daemon.result("ticker_count", json!([])).as_u64().unwrap();
    daemon.result("ticker_mode", json!(["count"]));
    eventually("counting again", || {
        daemon.result("ticker_count", json!([])).as_u64().unwrap() >= counted + 5
    });
    assert!(daemon.logged("tick succeeded again after "));
}

#[test]
fn overrunning_ticks_are_skipped_not_stacked() {
    let daemon = Daemon::start(&module_table(
        "ticker",
        "ticker",
        "grants = [\"cache\", \"stats\", \"tick\"]\ntick_ms = 100\ntimeout_ms = 1000",
    ))
    .unwrap();
    daemon.result("ticker_mode", json!(["slow"]));
    eventually("skipped ticks", || {
        stat(&daemon, "ticker:ticks_skipped") >= 3
    });
    let ticks = stat(&daemon, "ticker:ticks");
    let skipped = stat(&daemon, "ticker:ticks_skipped");
    assert!(
        skipped >= ticks / 2,
        "a 300 ms tick every 100 ms skips about two periods per tick: {ticks} ticks, {skipped} skipped"
    );
}

#[test]
fn a_tick_due_while_every_instance_is_busy_is_skipped_not_failed() {
    let daemon = Daemon::start(&module_table(
        "ticker",
        "ticker",
        "grants = [\"cache\", \"stats\", \"tick\"]\ntick_ms = 20\ntimeout_ms = 2000\nmax_instances = 1",
    ))
    .unwrap();
    eventually("ticks", || stat(&daemon, "ticker:ticks") >= 2);
    let skipped = stat(&daemon, "ticker:ticks_skipped");
    assert_eq!(daemon.result("ticker_hold", json!(["600"])), "held");
    assert!(
        stat(&daemon, "ticker:ticks_skipped") >= skipped + 10,
        "600 ms holding the only instance skips the ticks due every 20 ms"
    );
    assert_eq!(stat(&daemon, "ticker:tick_errors"), 0);
    assert!(!daemon.logged("tick failed"));
    let ticks = stat(&daemon, "ticker:ticks");
    eventually("ticking again", || stat(&daemon, "ticker:ticks") > ticks);
}

#[test]
fn unloading_a_module_stops_its_ticks() {
    let daemon = Daemon::start(&module_table(
        "ticker",
        "ticker",
        "grants = [\"cache\", \"stats\", \"tick\"]\ntick_ms = 20",
    ))
    .unwrap();
    eventually("ticks", || {
        daemon.result("ticker_count", json!([])).as_u64().unwrap() >= 3
    });
    daemon.result("module_unload", json!(["ticker"]));
    std::thread::sleep(Duration::from_millis(100));
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", daemon.pid()))
            .unwrap()
            .filter_map(|t| t.ok())
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|name| name.starts_with("miwa-tick"))
            })
            .count()
    };
    assert_eq!(threads(), 0, "the tick thread ended with the module");
    daemon.result("module_load", json!(["ticker"]));
    eventually("a tick thread again", || threads() == 1);
}

#[test]
fn a_failed_call_quotes_what_the_module_wrote_to_stderr() {
    let daemon = Daemon::start(&module_table(
        "ticker",
        "ticker",
        "grants = [\"cache\", \"stats\", \"tick\"]\ntick_ms = 50",
    ))
    .unwrap();
    daemon.result("ticker_mode", json!(["stderr"]));
    eventually("the quoted tick failure", || {
        daemon.logged("; stderr: about to fail: the backend is gone")
    });
    assert_eq!(
        daemon.log().matches("about to fail").count(),
        1,
        "repeated identical tick failures are logged once: {}",
        daemon.log()
    );
    assert!(
        daemon.logged(
            "tick failed: module 'ticker' trapped: wasm `unreachable` instruction executed"
        ),
        "{}",
        daemon.log()
    );
}

#[test]
fn a_module_logging_in_a_loop_gets_its_log_rate_and_nothing_more() {
    let daemon = Daemon::start(&module_table(
        "ticker",
        "ticker",
        "grants = [\"cache\", \"stats\", \"tick\", \"log\"]\ntick_ms = 50\ntimeout_ms = 1000\nlog_lines_per_second = 100",
    ))
    .unwrap();
    let started = Instant::now();
    daemon.result("ticker_mode", json!(["logflood"]));
    eventually("20 floods of 5,000 lines", || {
        stat(&daemon, "ticker:ticked") >= 20
    });
    miwa_tests::uptime_everywhere(&daemon, Duration::from_millis(100))
        .expect("uptime while the module floods");
    daemon.result("ticker_mode", json!(["count"]));
    let elapsed = started.elapsed().as_secs_f64();
    let written = daemon
        .log()
        .lines()
        .filter(|l| l.contains(&"x".repeat(200)))
        .count() as f64;
    let dropped = stat(&daemon, "ticker:log_dropped");
    assert!(dropped >= 20 * 5000 - 1000, "dropped {dropped}");
    assert!(
        written <= 200.0 + 100.0 * elapsed + 10.0,
        "{written} lines written in {elapsed:.1} s: a burst of 200, then 100 a second"
    );
    assert!(daemon
        .logged("module log lines over its log rate (100 lines, 65536 bytes a second) dropped"));
    let error = format!(
        "{:#}",
        Daemon::start(&module_table(
            "ticker",
            "ticker",
            "log_lines_per_second = 0"
        ))
        .err()
        .expect("refused")
    );
    assert!(error.contains("log_lines_per_second"), "{error}");
}
