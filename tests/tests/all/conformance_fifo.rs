//! Replays `conformance/fifo.jsonl` (real OpenSIPS 3.6.8 traffic) against miwa's FIFO, and
//! checks the FIFO behaviours around it: defects fixed, reply-FIFO safety, recreation.

use miwa_tests::conformance::{assert_only_known, replay_fifo, Answerer, NO_SIP_COUNTERS};
use miwa_tests::Daemon;

/// Replays the recordings on `daemon`'s FIFO; `ps` answers with processes whose first pid
/// is `our_pid`. Cases compared, matched, mismatches.
fn replay(daemon: &Daemon, our_pid: &str) -> (usize, usize, Vec<String>) {
    let score = replay_fifo(&daemon.fifo, &daemon.reply_dir(), our_pid, Answerer::Miwa);
    (score.compared, score.matched, score.mismatches)
}

#[test]
fn fifo_recordings_replay() {
    let daemon = Daemon::start_fifo("reassembly_timeout_ms = 200\n").expect("daemon starts");
    let (compared, matched, mismatches) = replay(&daemon, &daemon.first_pid());
    assert_only_known(&mismatches, &NO_SIP_COUNTERS);
    assert_eq!(matched + NO_SIP_COUNTERS.len(), compared);
}

/// Through a front's FIFO to a miwa node (UDP, with its FIFO for replies over a
/// datagram), the replay scores at least what it scores against such a node directly.
#[test]
fn fifo_recordings_replay_through_the_front() {
    let direct_node = Daemon::start_fifo("reassembly_timeout_ms = 200\n").expect("node starts");
    let (compared, direct, _) = replay(&direct_node, &direct_node.first_pid());
    let node = Daemon::start("").expect("node starts");
    let front = Daemon::front_of(&node, "reassembly_timeout_ms = 200\n").expect("front starts");
    let (through_compared, through, mismatches) = replay(&front, &node.first_pid());
    assert_eq!(through_compared, compared);
    assert!(through >= direct, "{through} < {direct}: {mismatches:?}");
}
