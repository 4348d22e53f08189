//! Real clients against a running daemon: curl, opensips-cli and opensips-mi (PyPI
//! `opensipscli`, `opensips`, installed into tests/.venv by `make test`), and `miwa call`.

use miwa_tests::{miwa_bin, module_table, screenshots, workspace, Daemon};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn venv_tool(name: &str) -> PathBuf {
    let tool = workspace().join("tests/.venv/bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: `make test` installs the Python clients into tests/.venv",
        tool.display()
    );
    tool
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn assert_processes(ps: &Value) {
    let processes = ps["Processes"].as_array().expect("Processes array");
    assert!(processes.iter().any(|p| p["Type"] == "MI worker"), "{ps}");
    for p in processes {
        assert!(
            p["ID"].is_u64() && p["PID"].as_u64().is_some_and(|pid| pid > 0),
            "{p}"
        );
    }
}

#[test]
fn curl_posts_json_rpc() {
    let daemon = Daemon::start("").unwrap();
    let output = run(Command::new("curl").args([
        "-s",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"jsonrpc":"2.0","method":"ps","id":1}"#,
        &daemon.url(),
    ]));
    let reply = stdout_json(&output);
    assert_eq!(reply["jsonrpc"], "2.0");
    assert_eq!(reply["id"], 1);
    assert_processes(&reply["result"]);
    let output = run(Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-d",
        "x=1",
        &daemon.url(),
    ]));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "400",
        "form bodies are refused as OpenSIPS does"
    );
}

#[test]
fn opensips_cli_over_http() {
    let daemon = Daemon::start("").unwrap();
    let url = format!("url={}", daemon.url());
    let cli = |args: &[&str]| {
        run(Command::new(venv_tool("opensips-cli"))
            .args(["-o", "communication_type=http", "-o", &url, "-x", "mi"])
            .args(args)
            .env("HOME", daemon.dir.path()))
    };
    assert_processes(&stdout_json(&cli(&["ps"])));
    assert_eq!(
        stdout_json(&cli(&["log_level", "level=4"])),
        serde_json::json!({"New global log level": 4})
    );
    let stats = stdout_json(&cli(&["get_statistics", "core:", "shmem:"]));
    assert!(
        stats["core:timestamp"].is_u64() && stats["shmem:real_used_size"].as_u64().unwrap() > 0,
        "{stats}"
    );
    let failed = cli(&["log_level", "3", "999999"]);
    assert!(!failed.status.success());
    let text = String::from_utf8_lossy(&failed.stderr).to_string()
        + &String::from_utf8_lossy(&failed.stdout);
    assert!(text.contains("-32602: Invalid params (Bad PID)"), "{text}");
}

#[test]
fn opensips_clients_call_module_commands() {
    let health = module_table(
        "health",
        "health",
        "grants = [\"mi\", \"stats\", \"log\"]\nmi_allow = [\"uptime\", \"ps\", \"get_statistics\"]",
    );
    let daemon = Daemon::start(&health).unwrap();
    let url = format!("url={}", daemon.url());
    let cli = run(Command::new(venv_tool("opensips-cli"))
        .args(["-o", "communication_type=http", "-o", &url, "-x", "mi"])
        .args(["health_echo", "from opensips-cli"])
        .env("HOME", daemon.dir.path()));
    assert_eq!(stdout_json(&cli), "from opensips-cli");
    let port = daemon.http.port().to_string();
    let mi =
        run(Command::new(venv_tool("opensips-mi")).args(["-t", "http", "-p", &port, "health"]));
    assert_eq!(stdout_json(&mi)["status"], "healthy");
}

#[test]
fn opensips_mi_over_http() {
    let daemon = Daemon::start("").unwrap();
    let port = daemon.http.port().to_string();
    let mi = |args: &[&str]| {
        run(Command::new(venv_tool("opensips-mi"))
            .args(["-t", "http", "-p", &port])
            .args(args))
    };
    assert_processes(&stdout_json(&mi(&["ps"])));
    let uptime = stdout_json(&mi(&["uptime"]));
    assert!(
        uptime["Up time"].as_str().unwrap().ends_with(" [sec]"),
        "{uptime}"
    );
    assert_eq!(
        stdout_json(&mi(&["log_level", "-j", r#"{"level": 2}"#])),
        serde_json::json!({"New global log level": 2})
    );
    let stats = stdout_json(&mi(&["-s", "core:", "load:"]));
    assert!(
        stats["load:processes_number"].as_u64().unwrap() >= 3,
        "{stats}"
    );
}

#[test]
fn miwa_call_prints_results_and_errors() {
    let daemon = Daemon::start("").unwrap();
    let call = |args: &[&str]| {
        run(Command::new(miwa_bin())
            .args(["call", "--url", &daemon.url()])
            .args(args))
    };
    assert_processes(&stdout_json(&call(&["ps"])));
    assert_eq!(
        stdout_json(&call(&["log_level", "level=4"])),
        serde_json::json!({"New global log level": 4})
    );
    let levels = stdout_json(&call(&["log_level"]));
    assert!(
        levels["Processes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["Log level"] == 4),
        "{levels}"
    );
    let stats = stdout_json(&call(&["get_statistics", "core:", "shmem:"]));
    let keys: Vec<&String> = stats.as_object().unwrap().keys().collect();
    assert!(
        keys.first().is_some_and(|k| *k == "core:timestamp")
            && keys.last().is_some_and(|k| k.starts_with("shmem:")),
        "{stats}"
    );
    let failed = call(&["log_level", "level=x"]);
    assert!(!failed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&failed.stderr).trim(),
        "-32602: Invalid params (Bad type for parameter 'level')"
    );
    let missing = call(&["no_such"]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "-32601: Method not found"
    );
}

#[test]
fn opensips_cli_and_opensips_mi_over_datagrams() {
    let daemon = Daemon::start("").unwrap();
    let udp_port = daemon.udp.port().to_string();
    let unix_socket = daemon.unix.display().to_string();
    let cli = |options: &[String], args: &[&str]| {
        let mut command = Command::new(venv_tool("opensips-cli"));
        for option in options {
            command.args(["-o", option]);
        }
        run(command
            .args(["-x", "mi"])
            .args(args)
            .env("HOME", daemon.dir.path()))
    };
    let udp = vec![
        "communication_type=datagram".to_string(),
        "datagram_ip=127.0.0.1".to_string(),
        format!("datagram_port={udp_port}"),
    ];
    assert_processes(&stdout_json(&cli(&udp, &["ps"])));
    let unix = vec![
        "communication_type=datagram".to_string(),
        format!("datagram_unix_socket={unix_socket}"),
    ];
    assert_processes(&stdout_json(&cli(&unix, &["ps"])));
    assert_eq!(
        stdout_json(&cli(&unix, &["log_level", "level=2"])),
        serde_json::json!({"New global log level": 2})
    );

    let mi = |args: &[&str]| run(Command::new(venv_tool("opensips-mi")).args(args));
    assert_processes(&stdout_json(&mi(&[
        "-t", "datagram", "-p", &udp_port, "ps",
    ])));
    assert_processes(&stdout_json(&mi(&[
        "-t",
        "datagram",
        "-ds",
        &unix_socket,
        "ps",
    ])));
    let uptime = stdout_json(&mi(&["-t", "datagram", "-p", &udp_port, "uptime"]));
    assert!(uptime["Up time"].is_string(), "{uptime}");
}

#[test]
fn miwa_call_over_every_transport() {
    let daemon = Daemon::start("").unwrap();
    for transport in ["http", "xmlrpc", "ws", "udp", "unix", "fifo"] {
        let target = daemon.client_args(transport);
        let ps = run(Command::new(miwa_bin()).arg("call").args(&target).arg("ps"));
        assert_processes(&stdout_json(&ps));
        let set = run(Command::new(miwa_bin())
            .arg("call")
            .args(&target)
            .args(["log_level", "level=3"]));
        assert_eq!(
            stdout_json(&set),
            serde_json::json!({"New global log level": 3}),
            "{transport}"
        );
        let bad = run(Command::new(miwa_bin()).arg("call").args(&target).args([
            "cache_fetch",
            "local",
            "none",
        ]));
        assert!(!bad.status.success(), "{transport}");
        assert_eq!(
            String::from_utf8_lossy(&bad.stderr).trim(),
            "400: Value not found",
            "{transport}"
        );
    }
}

#[test]
fn miwa_script_runs_mi_script_lines() {
    let daemon = Daemon::start("").unwrap();
    let script = "# a comment\ncache_store local k1 v1\ncache_fetch local k1\nlog_level level=4\nget_statistics statistics=__array(pwd_calls)\ncache_remove local k1\ncache_fetch local k1\nno_such_cmd\n\nlog_level abc\n";
    for transport in ["http", "fifo"] {
        let path = daemon.dir.path().join("calls.mi");
        std::fs::write(&path, script).unwrap();
        let output = run(Command::new(miwa_bin())
            .arg("script")
            .args(daemon.client_args(transport))
            .arg(&path));
        assert!(!output.status.success(), "a failed line makes the run fail");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines[..3],
            [
                r#""OK""#,
                r#"{"key":"k1","value":"v1"}"#,
                r#"{"New global log level":4}"#
            ],
            "{transport}: {stdout}"
        );
        assert!(
            lines[3].starts_with(r#"{"commands:pwd_calls":"#) || lines[3] == "{}",
            "{transport}: {stdout}"
        );
        assert_eq!(
            lines[4..],
            [r#""OK""#, "Value not found", "", "Invalid params"],
            "{transport}: {stdout}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("line 7: cache_fetch: rc -400"), "{stderr}");
        assert!(stderr.contains("line 8: no_such_cmd: rc -1"), "{stderr}");
        assert!(stderr.contains("line 10: log_level: rc -32602"), "{stderr}");
    }
}

#[test]
fn html_interface_in_headless_chromium() {
    if !miwa_tests::Heavy::Chromium.runs() {
        return;
    }
    let daemon = Daemon::start("").unwrap();
    let browser = workspace().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "make test installs playwright-core in tests/browser"
    );
    let shots = workspace().join("tests/artifacts");
    let names = [
        "html-ps.png",
        "html-log_level-error.png",
        "html-typed-form.png",
    ]
    .map(String::from);
    screenshots(&shots, &names, || {
        let output = run(Command::new("node")
            .arg(browser.join("html.mjs"))
            .arg(format!("http://{}", daemon.http))
            .arg(&shots)
            .current_dir(&browser));
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

#[test]
fn html_routes_and_escaping() {
    let daemon = Daemon::start("").unwrap();
    let get = |path: &str| {
        let raw = miwa_tests::exchange(
            daemon.http,
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            std::time::Duration::from_millis(500),
        )
        .unwrap();
        miwa_tests::parse_responses(&raw)
            .into_iter()
            .next()
            .expect("a response")
    };
    assert_eq!(get("/html").status, 200);
    assert_eq!(get("/html/nope").status, 406);
    assert_eq!(get("/html/core/nope").status, 406);
    assert_eq!(get("/html/core/ps?arg=%5B").status, 500, "bad JSON in arg");
    let form = String::from_utf8_lossy(&get("/html/core/cache_store").body).into_owned();
    let body = format!(
        "csrf={}&arg=%5B%22local%22%2C%22%3Cb%3E%22%2C%22%3Cscript%3Ex%3C%2Fscript%3E%22%5D",
        miwa_tests::form_token(&form)
    );
    let raw = miwa_tests::exchange(
        daemon.http,
        format!("POST /html/core/cache_store HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        std::time::Duration::from_millis(500),
    )
    .unwrap();
    let page = miwa_tests::parse_responses(&raw).remove(0);
    assert_eq!(page.status, 200, "the page's own form stores");
    let fetched = get("/html/core/cache_fetch?arg=%5B%22local%22%2C%22%3Cb%3E%22%5D");
    let body = String::from_utf8_lossy(&fetched.body);
    assert!(
        body.contains("&lt;script&gt;x&lt;/script&gt;") && !body.contains("<script>"),
        "values are escaped"
    );
    assert_eq!(
        fetched.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn curl_reads_the_html_page_and_survives_binary_bodies() {
    let daemon = Daemon::start("").unwrap();
    let page = run(Command::new("curl").args([
        "-s",
        &format!("http://{}/html/core/uptime?arg=", daemon.http),
    ]));
    let text = String::from_utf8_lossy(&page.stdout);
    assert!(
        text.contains("<h3>Result</h3>") && text.contains("Up time"),
        "{text}"
    );
    let garbage = daemon.dir.path().join("garbage.bin");
    std::fs::write(&garbage, [0u8, 159, 146, 150, 255, 0, 1, 2]).unwrap();
    let reply = run(Command::new("curl")
        .args([
            "-s",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
        ])
        .arg(format!("@{}", garbage.display()))
        .arg(daemon.url()));
    assert_eq!(
        String::from_utf8_lossy(&reply.stdout),
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#
    );
    let ps = stdout_json(&run(Command::new("curl").args([
        "-s",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"jsonrpc":"2.0","method":"ps","id":1}"#,
        &daemon.url(),
    ])));
    assert_processes(&ps["result"]);
}

#[test]
fn opensips_clients_call_the_4_0_names_beside_the_3_6_ones() {
    let daemon = Daemon::start("").unwrap();
    let port = daemon.http.port().to_string();
    let udp_port = daemon.udp.port().to_string();
    for transport in [
        ["-t", "http", "-p", &port],
        ["-t", "datagram", "-p", &udp_port],
    ] {
        let mi = |args: &[&str]| {
            run(Command::new(venv_tool("opensips-mi"))
                .args(transport)
                .args(args))
        };
        let core = r#"{"statistics": ["core:"]}"#;
        let new = stdout_json(&mi(&["statistics:get", "-j", core]));
        let old = stdout_json(&mi(&["get_statistics", "-j", core]));
        assert!(new["core:timestamp"].is_u64(), "{new}");
        assert_eq!(
            new.as_object().map(|o| o.keys().collect::<Vec<_>>()),
            old.as_object().map(|o| o.keys().collect::<Vec<_>>())
        );
        assert_processes(&stdout_json(&mi(&["core:ps"])));
        assert_eq!(stdout_json(&mi(&["cache:store", "local", "k", "v"])), "OK");
        assert_eq!(
            stdout_json(&mi(&["cache_fetch", "local", "k"])),
            serde_json::json!({"key": "k", "value": "v"})
        );
        assert!(stdout_json(&mi(&["evi:list"]))["Events"].is_array());
        let ambiguous = mi(&["list"]);
        let text = String::from_utf8_lossy(&ambiguous.stderr).to_string()
            + &String::from_utf8_lossy(&ambiguous.stdout);
        assert!(text.contains("Method ambiguous"), "{text}");
    }
    let reply_dir = format!("fifo_reply_dir={}/", daemon.reply_dir().display());
    let fifo = format!("fifo_file={}", daemon.fifo.display());
    let cli = run(Command::new(venv_tool("opensips-cli"))
        .args(["-o", &fifo, "-o", &reply_dir, "-x", "mi", "which", "evi:"])
        .env("HOME", daemon.dir.path()));
    assert_eq!(
        stdout_json(&cli),
        serde_json::json!(["evi:subscribe", "evi:list", "evi:subscribers", "evi:raise"])
    );
}

#[test]
fn opensips_cli_calls_4_0_names_where_which_lists_them() {
    let opensips_cli = |daemon: &Daemon, args: &[&str]| {
        let reply_dir = format!("fifo_reply_dir={}/", daemon.reply_dir().display());
        let fifo = format!("fifo_file={}", daemon.fifo.display());
        Command::new(venv_tool("opensips-cli"))
            .args(["-o", &fifo, "-o", &reply_dir, "-x", "mi"])
            .args(args)
            .env("HOME", daemon.dir.path())
            .output()
            .expect("opensips-cli runs")
    };
    let default = Daemon::start("").unwrap();
    let which = stdout_json(&opensips_cli(&default, &["which"]));
    assert_eq!(which[0], "get_statistics", "3.6 names by default: {which}");
    assert!(!which
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "statistics:get"));
    let refused = opensips_cli(&default, &["statistics:get", "core:"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no command"),
        "opensips-cli checks names against which: {refused:?}"
    );

    let both = Daemon::start("[core]\nwhich_names = \"both\"\n").unwrap();
    let listed = stdout_json(&opensips_cli(&both, &["which"]));
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    let first_4_0 = listed.iter().position(|n| n.contains(':')).unwrap();
    assert_eq!(listed[0], "get_statistics");
    assert_eq!(listed[first_4_0], "statistics:get");
    assert!(listed[..first_4_0].iter().all(|n| !n.contains(':')));
    for (new, old) in [
        ("statistics:get", "get_statistics"),
        ("core:uptime", "uptime"),
    ] {
        let args: &[&str] = if new == "statistics:get" {
            &[new, "core:"]
        } else {
            &[new]
        };
        let reply = opensips_cli(&both, args);
        assert!(reply.status.success(), "{new}: {reply:?}");
        let new_result = stdout_json(&reply);
        let old_args: &[&str] = if old == "get_statistics" {
            &[old, "core:"]
        } else {
            &[old]
        };
        let old_result = stdout_json(&opensips_cli(&both, old_args));
        assert_eq!(
            new_result.as_object().map(|o| o.keys().collect::<Vec<_>>()),
            old_result.as_object().map(|o| o.keys().collect::<Vec<_>>()),
            "{new} answers as {old}"
        );
    }

    let only = Daemon::start("[core]\nwhich_names = \"4.0\"\n").unwrap();
    let listed = only.result("which", serde_json::json!([]));
    assert_eq!(listed[0], "statistics:get");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n.as_str().unwrap().contains(':')));
    assert!(Daemon::start("[core]\nwhich_names = \"3.7\"\n").is_err());
}
