//! The FIFO transport as clients and hostile writers meet it.

use miwa_tests::{fifo_write, workspace, Daemon, ReplyFifo};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
const PWD: &str = r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#;

fn ask(daemon: &Daemon, name: &str, json: &str) -> Option<String> {
    let fifo = ReplyFifo::create(&daemon.reply_dir(), name).unwrap();
    fifo_write(&daemon.fifo, format!(":{name}:{json}").as_bytes()).unwrap();
    fifo.read(WAIT)
        .unwrap()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn assert_serves(daemon: &Daemon) {
    let reply = ask(daemon, "probe", PWD).expect("a reply");
    assert!(reply.contains(r#""WD":"#), "{reply}");
}

#[test]
fn opensips_cli_and_opensips_mi_over_the_fifo() {
    let daemon = Daemon::start("").unwrap();
    let venv = workspace().join("tests/.venv/bin");
    let reply_dir = format!("{}/", daemon.reply_dir().display());
    let fifo = daemon.fifo.display().to_string();
    let cli = Command::new(venv.join("opensips-cli"))
        .args([
            "-o",
            &format!("fifo_file={fifo}"),
            "-o",
            &format!("fifo_reply_dir={reply_dir}"),
            "-x",
            "mi",
            "ps",
        ])
        .env("HOME", daemon.dir.path())
        .output()
        .expect("opensips-cli runs (make test installs it)");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let ps: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert!(
        ps["Processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["Type"] == "MI FIFO worker"),
        "{ps}"
    );
    let mi = Command::new(venv.join("opensips-mi"))
        .args([
            "-t",
            "fifo",
            "-f",
            &fifo,
            "-fd",
            &reply_dir,
            "log_level",
            "-j",
            r#"{"level": 4}"#,
        ])
        .output()
        .unwrap();
    assert!(
        mi.status.success(),
        "{}",
        String::from_utf8_lossy(&mi.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&mi.stdout).unwrap(),
        serde_json::json!({"New global log level": 4})
    );
}

#[test]
fn unsafe_reply_paths_are_never_written() {
    let daemon = Daemon::start("").unwrap();
    let target = daemon.dir.path().join("precious");
    std::fs::write(&target, "keep").unwrap();
    std::os::unix::fs::symlink(&target, daemon.reply_dir().join("link")).unwrap();
    fifo_write(&daemon.fifo, format!(":link:{PWD}").as_bytes()).unwrap();
    std::fs::write(daemon.reply_dir().join("plain"), "").unwrap();
    fifo_write(&daemon.fifo, format!(":plain:{PWD}").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert_eq!(
        std::fs::read_to_string(daemon.reply_dir().join("plain")).unwrap(),
        ""
    );
    assert_serves(&daemon);
}

#[test]
fn removed_or_replaced_fifo_is_recreated_and_sighup_forces_it() {
    let daemon = Daemon::start_fifo("check_interval_ms = 200\n").unwrap();
    std::fs::remove_file(&daemon.fifo).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        std::fs::metadata(&daemon.fifo).is_ok_and(|m| m.file_type().is_fifo()),
        "recreated after removal"
    );
    assert_serves(&daemon);
    let before = std::fs::metadata(&daemon.fifo).unwrap().ino();
    Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_ne!(
        std::fs::metadata(&daemon.fifo).unwrap().ino(),
        before,
        "SIGHUP recreates the FIFO"
    );
    assert_serves(&daemon);
}

#[test]
fn a_writer_of_the_replaced_fifo_is_still_served() {
    use std::io::Write;
    let daemon = Daemon::start_fifo("check_interval_ms = 2000\n").unwrap();
    let mut early = std::fs::OpenOptions::new()
        .write(true)
        .open(&daemon.fifo)
        .unwrap();
    Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(
        daemon.logged("request FIFO recreated"),
        "SIGHUP recreates the FIFO"
    );
    let reply = ReplyFifo::create(&daemon.reply_dir(), "early").unwrap();
    early
        .write_all(format!(":early:{PWD}").as_bytes())
        .expect("the old FIFO still has its reader");
    let answer = reply.read(WAIT).unwrap().expect("a reply");
    assert!(String::from_utf8_lossy(&answer).contains(r#""WD":"#));
}

#[test]
fn split_requests_are_reassembled_and_the_size_limit_has_an_edge() {
    let daemon = Daemon::start_fifo("max_request = 200\n").unwrap();
    let fifo = ReplyFifo::create(&daemon.reply_dir(), "split").unwrap();
    let request = format!(":split:{PWD}");
    fifo_write(&daemon.fifo, &request.as_bytes()[..20]).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    fifo_write(&daemon.fifo, &request.as_bytes()[20..]).unwrap();
    assert!(String::from_utf8_lossy(&fifo.read(WAIT).unwrap().unwrap()).contains(r#""WD":"#));

    let frame = ":edge:";
    let body = |len: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"pwd","id":1,"pad":"{}"}}"#,
            "x".repeat(len - frame.len() - 48)
        )
    };
    let at_limit = body(200);
    assert_eq!(frame.len() + at_limit.len(), 200);
    assert!(ask(&daemon, "edge", &at_limit)
        .unwrap()
        .contains(r#""WD":"#));
    let over = ask(&daemon, "edge", &body(201)).unwrap();
    assert_eq!(
        over,
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error","data":"request too large"},"id":null}"#
    );
    assert_serves(&daemon);
}

#[test]
fn probes_garbage_and_200_concurrent_writers() {
    let daemon = Daemon::start("").unwrap();
    for _ in 0..5 {
        drop(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&daemon.fifo)
                .unwrap(),
        );
    }
    fifo_write(&daemon.fifo, b"\x00\xffgarbage\n").unwrap();
    assert_serves(&daemon);
    let replies: Vec<Option<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let daemon = &daemon;
                scope.spawn(move || {
                    ask(
                        daemon,
                        &format!("c{i}"),
                        &format!(r#"{{"jsonrpc":"2.0","method":"uptime","id":{i}}}"#),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, reply) in replies.iter().enumerate() {
        let reply = reply
            .as_deref()
            .unwrap_or_else(|| panic!("writer {i} got no reply"));
        assert!(
            reply.ends_with(&format!(r#""id":{i}}}"#)),
            "writer {i}: {reply}"
        );
    }
    assert_serves(&daemon);
}

#[test]
fn notifications_get_an_empty_reply_and_bad_ids_a_plain_text_one() {
    let daemon = Daemon::start("").unwrap();
    assert_eq!(
        ask(&daemon, "n", r#"{"jsonrpc":"2.0","method":"pwd"}"#).as_deref(),
        Some("")
    );
    assert_eq!(
        ask(
            &daemon,
            "b",
            r#"{"jsonrpc":"2.0","method":"pwd","id":true}"#
        )
        .as_deref(),
        Some("failed to print response")
    );
}

#[test]
fn fifo_mode_and_a_reader_that_never_drains() {
    let daemon =
        Daemon::start_fifo("fifo_mode = 0o600\nworkers = 1\nreply_timeout_ms = 300\n").unwrap();
    let mode = std::fs::metadata(&daemon.fifo).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"cache_store","params":["local","big","{}"],"id":1}}"#,
        "x".repeat(200_000)
    );
    assert_eq!(
        ask(&daemon, "store", &big).as_deref(),
        Some(r#"{"jsonrpc":"2.0","result":"OK","id":1}"#)
    );
    let stalled = ReplyFifo::create(&daemon.reply_dir(), "stalled").unwrap();
    fifo_write(
        &daemon.fifo,
        br#":stalled:{"jsonrpc":"2.0","method":"cache_fetch","params":["local","big"],"id":2}"#,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_serves(&daemon);
    drop(stalled);
}
