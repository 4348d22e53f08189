//! The blocklist example module against a real Redis from Debian over the `tcp`
//! capability: its commands change and read the Redis hash, a Redis restart costs no
//! call, a Redis that is down or not allowed is a clear 503, and the daemon serves on.

use miwa_tests::redis::Redis;
use miwa_tests::{module_table, Daemon};
use serde_json::json;

fn blocklist(allowed: &str) -> Daemon {
    Daemon::start(&module_table(
        "blocklist",
        "blocklist",
        &format!(
            "grants = [\"tcp\", \"cache\", \"stats\"]\nallowed_tcp = [\"{allowed}\"]\ntimeout_ms = 200\nio_timeout_ms = 1000"
        ),
    ))
    .expect("daemon starts")
}

#[test]
fn the_blocklist_lives_in_redis() {
    let redis = Redis::start().expect("redis starts");
    let daemon = blocklist(&redis.addr.to_string());
    assert_eq!(
        daemon.result("blocklist_backend", json!([redis.addr.to_string()])),
        json!({"backend": redis.addr.to_string()})
    );
    assert_eq!(
        daemon.result("blocklist_add", json!(["sip:spam@example.com", "robocall"])),
        json!({"added": true})
    );
    assert_eq!(
        daemon.result(
            "blocklist_add",
            json!({"caller": "sip:+15550100@example.com"})
        ),
        json!({"added": true})
    );
    assert_eq!(
        redis
            .command(&["HGET", "miwa:blocklist", "sip:spam@example.com"])
            .unwrap(),
        "robocall",
        "the entry is in Redis itself"
    );
    redis
        .command(&[
            "HSET",
            "miwa:blocklist",
            "sip:other@example.com",
            "added by redis-cli",
        ])
        .unwrap();
    assert_eq!(
        daemon.result("blocklist_list", json!([])),
        json!([
            {"caller": "sip:+15550100@example.com", "reason": "blocked"},
            {"caller": "sip:other@example.com", "reason": "added by redis-cli"},
            {"caller": "sip:spam@example.com", "reason": "robocall"},
        ])
    );
    assert_eq!(
        daemon.result("blocklist_check", json!(["sip:spam@example.com"])),
        json!({"blocked": true, "reason": "robocall"})
    );
    assert_eq!(
        daemon.result("blocklist_remove", json!(["sip:spam@example.com"])),
        json!({"removed": true})
    );
    assert_eq!(
        daemon.result("blocklist_check", json!(["sip:spam@example.com"])),
        json!({"blocked": false})
    );
    let stats = daemon.result("get_statistics", json!([["blocklist:"]]));
    assert_eq!(stats["blocklist:checks"], 2, "{stats}");
    assert_eq!(stats["blocklist:blocked_hits"], 1, "{stats}");
    // The time the calls were blocked on Redis: 0 when each reply was there before the
    // module asked for it (a loaded machine); `sandbox.rs` measures a wait that must block.
    assert!(stats["blocklist:io_wait_us"].is_u64(), "{stats}");
}

#[test]
fn a_restart_costs_no_call_and_a_redis_down_or_denied_is_a_clear_503() {
    let redis = Redis::start().expect("redis starts");
    let port = redis.addr.port();
    let daemon = blocklist(&redis.addr.to_string());
    daemon.result("blocklist_backend", json!([redis.addr.to_string()]));
    daemon.result("blocklist_add", json!(["sip:a@example.com", "x"]));
    drop(redis);
    let down = daemon.call("blocklist_check", json!(["sip:a@example.com"]));
    assert_eq!(down["error"]["code"], 503, "{down}");
    assert_eq!(down["error"]["message"], "Redis unavailable", "{down}");
    assert!(
        down["error"]["data"]
            .as_str()
            .unwrap()
            .starts_with(&format!("127.0.0.1:{port}: ")),
        "{down}"
    );
    let again = Redis::start_on(port).expect("redis starts again on its port");
    again
        .command(&["HSET", "miwa:blocklist", "sip:b@example.com", "y"])
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            daemon.result("blocklist_check", json!(["sip:b@example.com"])),
            json!({"blocked": true, "reason": "y"}),
            "every instance reconnects on its own"
        );
    }
    let elsewhere = Redis::start().expect("another redis");
    daemon.result("blocklist_backend", json!([elsewhere.addr.to_string()]));
    let denied = daemon.call("blocklist_list", json!([]));
    assert_eq!(denied["error"]["code"], 503, "{denied}");
    assert!(
        denied["error"]["data"]
            .as_str()
            .unwrap()
            .contains("ermission denied"),
        "not in allowed_tcp: {denied}"
    );
    assert!(daemon.result("uptime", json!([]))["Up time"].is_string());
}
