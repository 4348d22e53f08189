//! `miwa call` as a user runs it: `--output` forms, documented exit codes, `--timeout`,
//! and shell completion typed into a real bash in tmux.

use miwa_tests::{miwa_bin, Daemon};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn miwa(args: &[&str]) -> Output {
    Command::new(miwa_bin())
        .args(args)
        .output()
        .expect("miwa runs")
}

fn call(daemon: &Daemon, transport: &str, args: &[&str]) -> Output {
    let mut all = vec!["call".to_string()];
    all.extend(daemon.client_args(transport));
    all.extend(args.iter().map(|a| a.to_string()));
    Command::new(miwa_bin())
        .args(&all)
        .output()
        .expect("miwa call runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn output_forms() {
    let daemon = Daemon::start("").unwrap();
    for transport in ["http", "fifo", "udp"] {
        let table = call(&daemon, transport, &["ps", "--output", "table"]);
        assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
        let text = stdout(&table);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split('|').map(str::trim).collect::<Vec<_>>(),
            ["", "ID", "PID", "Type", ""]
        );
        assert!(lines[1].starts_with("|--"), "{text}");
        assert!(text.contains("| main "), "{text}");
        let processes = daemon.result("ps", serde_json::json!([]));
        assert_eq!(
            lines.len() - 2,
            processes["Processes"].as_array().unwrap().len(),
            "a row per process over {transport}:\n{text}"
        );
    }

    let stats = call(
        &daemon,
        "http",
        &["get_statistics", "statistics=core:", "-o", "table"],
    );
    let text = stdout(&stats);
    assert!(text.starts_with("| name "), "{text}");
    assert!(text.contains("| core:timestamp "), "{text}");

    let compact = call(&daemon, "http", &["uptime", "--output", "compact"]);
    let text = stdout(&compact);
    assert_eq!(text.lines().count(), 1, "{text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert!(value["Up time"].as_str().unwrap().ends_with("[sec]"));

    let raw = call(&daemon, "udp", &["uptime", "--output", "raw"]);
    let value: Value = serde_json::from_str(&stdout(&raw)).unwrap();
    assert_eq!(value["jsonrpc"], "2.0");
    assert!(value["result"]["Up since"].is_string());

    let json = call(&daemon, "http", &["version"]);
    assert!(
        stdout(&json).starts_with("{\n  \"Server\""),
        "{}",
        stdout(&json)
    );
}

#[test]
fn exit_codes() {
    let daemon = Daemon::start("").unwrap();
    let code = |output: &Output| output.status.code();

    assert_eq!(code(&call(&daemon, "http", &["uptime"])), Some(0));
    let mi_error = call(&daemon, "fifo", &["log_level", "level=x"]);
    assert_eq!(code(&mi_error), Some(1));
    assert!(
        stderr(&mi_error).contains("-32602: Invalid params"),
        "{}",
        stderr(&mi_error)
    );
    let unknown = call(&daemon, "http", &["no_such_command"]);
    assert_eq!(code(&unknown), Some(1));
    assert!(stderr(&unknown).contains("-32601"), "{}", stderr(&unknown));

    assert_eq!(
        code(&miwa(&["call"])),
        Some(2),
        "a missing command is a usage error"
    );
    assert_eq!(
        code(&miwa(&["call", "uptime", "--output", "yaml"])),
        Some(2)
    );
    assert_eq!(code(&miwa(&["call", "uptime", "--timeout", "0"])), Some(2));
    assert_eq!(
        code(&miwa(&["call", "uptime", "--timeout", "3601"])),
        Some(2)
    );

    let refused = miwa(&["call", "--url", "http://127.0.0.1:1/mi", "uptime"]);
    assert_eq!(code(&refused), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("cannot reach 127.0.0.1:1"),
        "{}",
        stderr(&refused)
    );
    let no_fifo = miwa(&[
        "call",
        "-t",
        "fifo",
        "--fifo",
        "/nonexistent/fifo",
        "uptime",
    ]);
    assert_eq!(code(&no_fifo), Some(3), "{}", stderr(&no_fifo));

    // A FIFO nobody reads: refused at once instead of waiting for a reader.
    let dir = tempfile::tempdir().unwrap();
    let orphan = dir.path().join("orphan_fifo");
    assert!(Command::new("mkfifo")
        .arg(&orphan)
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let orphaned = miwa(&[
        "call",
        "-t",
        "fifo",
        "--fifo",
        orphan.to_str().unwrap(),
        "uptime",
    ]);
    assert_eq!(code(&orphaned), Some(3), "{}", stderr(&orphaned));
    assert!(started.elapsed() < Duration::from_secs(5));

    // A UDP socket that never answers: the timeout, not a hang.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let timed_out = miwa(&[
        "call",
        "-t",
        "udp",
        "--udp",
        &address,
        "uptime",
        "--timeout",
        "0.3",
    ]);
    let waited = started.elapsed();
    assert_eq!(code(&timed_out), Some(4), "{}", stderr(&timed_out));
    assert!(
        stderr(&timed_out).contains("no reply within 300 ms"),
        "{}",
        stderr(&timed_out)
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");

    // An HTTP server that accepts and never answers: the same timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mi", listener.local_addr().unwrap());
    let timed_out = miwa(&["call", "--url", &url, "uptime", "--timeout", "0.3"]);
    assert_eq!(code(&timed_out), Some(4), "{}", stderr(&timed_out));
    drop(listener);
}

/// A server that answers each request datagram with a reply to another request id (a
/// stray or forged reply) must not be taken as the answer.
#[test]
fn a_reply_to_another_request_id_is_refused() {
    let forger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = forger.local_addr().unwrap().to_string();
    let answering = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        let (_, from) = forger.recv_from(&mut buffer).unwrap();
        forger
            .send_to(
                br#"{"jsonrpc":"2.0","result":{"Up since":"forged"},"id":"forged"}"#,
                from,
            )
            .unwrap();
    });
    let forged = miwa(&["call", "-t", "udp", "--udp", &address, "uptime"]);
    answering.join().unwrap();
    assert_eq!(forged.status.code(), Some(6), "{}", stderr(&forged));
    assert!(
        stderr(&forged).contains("the reply is for request id \"forged\""),
        "{}",
        stderr(&forged)
    );
    assert!(!stdout(&forged).contains("forged"), "{}", stdout(&forged));
}

#[test]
fn exit_code_5_is_a_refusal_by_the_transport() {
    let daemon = Daemon::start(&format!(
        "[access]\nprotect = [\"mi\"]\n[[access.tokens]]\nsha256 = \"{}\"\nrole = \"full\"\n",
        miwa_tests::hashed_secret("hash-token", "a-token")
    ))
    .unwrap();
    let refused = call(&daemon, "http", &["uptime"]);
    assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("HTTP error 401"),
        "{}",
        stderr(&refused)
    );
}

/// A bash in tmux, with miwa's completion registered.
struct Terminal {
    session: String,
}

impl Terminal {
    fn open() -> Terminal {
        let session = format!("miwa-completion-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", "400", "-y", "50"])
            .args(["bash", "--norc", "--noprofile"])
            .env("PS1", "$ ")
            .status()
            .expect("tmux runs (make test installs it)");
        assert!(status.success());
        let terminal = Terminal { session };
        terminal.keys(&[&format!(
            "source <({} completions bash)",
            miwa_bin().display()
        )]);
        terminal.keys(&["Enter"]);
        terminal.wait_for_prompt();
        terminal
    }

    /// Waits until `text` is anywhere on the screen, and returns the screen.
    fn wait_for_anywhere(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until bash shows an empty prompt.
    fn wait_for_prompt(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.screen().lines().rev().find(|l| !l.trim().is_empty()) != Some("$") {
            assert!(Instant::now() < deadline, "no prompt:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let output = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen's last non-empty line contains `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            let last = screen
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            if last.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn tab_completes_commands_and_parameters_from_the_daemon() {
    let daemon = Daemon::start("").unwrap();
    let terminal = Terminal::open();
    let fifo = daemon.client_args("fifo").join(" ");

    terminal.keys(&[&format!("miwa call {fifo} get_stat"), "Tab"]);
    terminal.wait_for(&format!("miwa call {fifo} get_statistics"));
    terminal.keys(&["sta", "Tab"]);
    terminal.wait_for("get_statistics statistics=");
    terminal.keys(&["C-c"]);
    terminal.wait_for_prompt();

    let url = format!("--url {}", daemon.url());
    terminal.keys(&[&format!("miwa call {url} log_level "), "Tab", "Tab"]);
    let screen = terminal.wait_for_anywhere("pid=");
    assert!(
        screen.contains("level=") && screen.contains("pid="),
        "both parameters offered:\n{screen}"
    );
    terminal.keys(&["C-c"]);
    terminal.wait_for_prompt();

    terminal.keys(&[&format!("miwa call {url} evi:rai"), "Tab"]);
    terminal.wait_for(&format!("miwa call {url} evi:raise"));
    terminal.keys(&["C-c"]);
    terminal.wait_for_prompt();
}

#[test]
fn completion_scripts_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -o nospace"),
        ("zsh", "compdef"),
        ("fish", "complete --keep-order --exclusive --command miwa"),
    ] {
        let output = miwa(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0));
        let script = stdout(&output);
        assert!(script.contains(marker), "{shell}:\n{script}");
        assert!(script.contains("MIWA_COMPLETE"), "{shell}:\n{script}");
    }
    assert_eq!(miwa(&["completions", "tcsh"]).status.code(), Some(2));
}

/// One completion request as bash's script makes it, for `words` (the last is the word
/// under the cursor): how long it took and what it offered.
fn complete(words: &[&str], timeout_ms: Option<&str>) -> (Duration, String) {
    let mut command = Command::new(miwa_bin());
    command
        .env("MIWA_COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .arg("--")
        .args(words);
    if let Some(ms) = timeout_ms {
        command.env("MIWA_COMPLETE_TIMEOUT_MS", ms);
    }
    let started = Instant::now();
    let output = command.output().unwrap();
    (started.elapsed(), stdout(&output))
}

#[test]
fn a_silent_daemon_costs_a_completion_its_wait_and_no_candidates() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let words = ["miwa", "call", "-t", "udp", "--udp", &address, "get_st"];
    let (waited, offered) = complete(&words, Some("200"));
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_millis(1400),
        "{waited:?}"
    );
    assert_eq!(offered.trim(), "", "nothing to offer without the daemon");
    let (waited, _) = complete(&words, Some("0"));
    assert!(
        waited >= Duration::from_millis(1500),
        "an out-of-range wait keeps the default: {waited:?}"
    );
    let daemon = Daemon::start("").unwrap();
    let udp = daemon.udp.to_string();
    let (_, offered) = complete(
        &["miwa", "call", "-t", "udp", "--udp", &udp, "get_st"],
        None,
    );
    assert_eq!(offered.trim(), "get_statistics");
}
