//! Replays `conformance/http.jsonl` (real OpenSIPS 3.6.8 traffic) against a running miwa.

use miwa_tests::conformance::{assert_only_known, replay_http, Answerer, Score, NO_SIP_COUNTERS};
use miwa_tests::Daemon;

/// Replays the recordings against `daemon`; `ps` answers with the processes of `node`
/// (the daemon itself, or the node it is in front of).
fn replay(daemon: &Daemon, node: &Daemon) -> Score {
    replay_http(daemon.http, &node.first_pid(), Answerer::Miwa)
}

#[test]
fn http_recordings_replay() {
    let daemon = Daemon::start("").expect("daemon starts");
    let Score {
        matched,
        compared,
        mismatches,
    } = replay(&daemon, &daemon);
    assert_only_known(&mismatches, &NO_SIP_COUNTERS);
    assert_eq!(matched + NO_SIP_COUNTERS.len(), compared);
}

/// Through a front to a miwa node (UDP, with its FIFO for replies over a datagram), the
/// replay scores at least what it scores against such a node directly.
#[test]
fn http_recordings_replay_through_the_front() {
    let direct_node = Daemon::start("").expect("node starts");
    let direct = replay(&direct_node, &direct_node);
    let node = Daemon::start("").expect("node starts");
    let front = Daemon::front_of(&node, "").expect("front starts");
    let through = replay(&front, &node);
    assert_eq!(through.compared, direct.compared);
    let case = |m: &String| m.split(':').next().unwrap_or_default().to_string();
    let direct_cases: Vec<String> = direct.mismatches.iter().map(case).collect();
    assert!(
        through.matched >= direct.matched,
        "through the front {}/{} match, directly {}/{}; new mismatches: {:?}",
        through.matched,
        through.compared,
        direct.matched,
        direct.compared,
        through
            .mismatches
            .iter()
            .filter(|m| !direct_cases.contains(&case(m)))
            .collect::<Vec<_>>()
    );
}
