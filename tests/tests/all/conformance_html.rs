//! Replays `conformance/html.jsonl` (real OpenSIPS 3.6.8 traffic) against miwa's `/html`.
//!
//! miwa's page is deliberately a different, modern document, so the comparison is on what
//! a user relies on: the status code, and for a command run, that the page shows the same
//! outcome (a result, or the same error message and details) as OpenSIPS's result cell.

use miwa_tests::conformance::{replay_html, Answerer};
use miwa_tests::Daemon;

#[test]
fn html_recordings_replay() {
    let daemon = Daemon::start("").expect("daemon starts");
    let score = replay_html(daemon.http, None, Answerer::Miwa);
    let (matched, compared) = (score.matched, score.compared);
    println!("html conformance: {matched}/{compared} matched (status and outcome; the page layout differs by design)");
    for line in &score.mismatches {
        println!("  mismatch {line}");
    }
    assert!(score.mismatches.is_empty(), "{:#?}", score.mismatches);
    assert_eq!(matched, compared);
}
