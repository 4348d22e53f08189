//! The Debian package: `make deb` builds it, `dpkg -i` installs it on this machine, the
//! installed binary runs with the installed configuration as the unit would run it (user
//! `miwa`, `/run/miwa`), answers over HTTP and its FIFO, caches its precompiled core,
//! writes the audit log that logrotate rotates; systemd accepts the unit and rates its
//! exposure; `dpkg -r` and `dpkg -P` remove it cleanly. Needs root (dpkg), as CI runs.

use miwa_tests::workspace;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const MIWA: &str = "/usr/bin/miwa";
const UNIT: &str = "/usr/lib/systemd/system/miwa.service";

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn ok(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?}:\n{}",
        text(&output)
    );
    text(&output)
}

/// The package built by `make deb` (which this test runs).
fn build_package() -> std::path::PathBuf {
    let output = Command::new("make")
        .arg("deb")
        .current_dir(workspace())
        .output()
        .expect("make runs");
    assert!(output.status.success(), "make deb:\n{}", text(&output));
    let dir = workspace().join("target/debian");
    let version = env!("CARGO_PKG_VERSION");
    let package = dir.join(format!("miwa_{version}_amd64.deb"));
    assert!(package.is_file(), "{} was not built", package.display());
    package
}

/// The installed daemon, started the way `miwa.service` starts it.
struct Installed {
    child: Child,
}

impl Installed {
    fn start() -> Installed {
        for (dir, mode) in [
            ("/run/miwa", "0770"),
            ("/var/cache/miwa", "0750"),
            ("/var/log/miwa", "0750"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
            ok("chown", &["miwa:miwa", dir]);
            ok("chmod", &[mode, dir]);
        }
        let mut child = Command::new("setpriv")
            .args(["--reuid=miwa", "--regid=miwa", "--init-groups", "--"])
            .args([MIWA, "serve", "--config", "/etc/miwa/miwa.toml"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("setpriv runs");
        let stdout = child.stdout.take().unwrap();
        let (ready, waiting) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("miwa ready") {
                    let _ = ready.send(line);
                }
            }
        });
        let line = waiting
            .recv_timeout(Duration::from_secs(60))
            .expect("the installed daemon starts with the installed configuration");
        assert!(line.contains("fifo=/run/miwa/opensips_fifo"), "{line}");
        Installed { child }
    }

    fn signal(&self, signal: &str) {
        ok(
            "kill",
            &[&format!("-{signal}"), &self.child.id().to_string()],
        );
    }

    fn stop(mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the daemon exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(args: &[&str]) -> String {
    let mut all = vec!["call"];
    all.extend(args);
    ok(MIWA, &all)
}

fn fifo_call(command: &str) -> String {
    call(&[
        "-t",
        "fifo",
        "--fifo",
        "/run/miwa/opensips_fifo",
        "--reply-dir",
        "/run/miwa/",
        command,
    ])
}

fn audit_lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn purge() {
    let _ = run("dpkg", &["--purge", "miwa"]);
}

#[test]
fn the_package_installs_runs_and_removes_cleanly() {
    if !miwa_tests::Heavy::Debian.runs() {
        return;
    }
    assert_eq!(
        rustix::process::geteuid().as_raw(),
        0,
        "dpkg -i needs root (CI runs the suite as root)"
    );
    let package = build_package();
    purge();

    let contents = ok("dpkg-deb", &["--contents", package.to_str().unwrap()]);
    for path in [
        "./usr/bin/miwa",
        "./etc/miwa/miwa.toml",
        "./usr/lib/systemd/system/miwa.service",
        "./etc/logrotate.d/miwa",
        "./usr/share/man/man1/miwa.1.gz",
        "./usr/share/man/man1/miwa-call.1.gz",
        "./usr/share/bash-completion/completions/miwa",
        "./usr/share/miwa/playground/pkg/host_wasm_web_bg.wasm",
    ] {
        assert!(
            contents.contains(path),
            "{path} missing from the package:\n{contents}"
        );
    }

    ok("dpkg", &["--install", package.to_str().unwrap()]);
    let conffiles = ok(
        "dpkg-query",
        &["--show", "--showformat=${Conffiles}", "miwa"],
    );
    assert!(conffiles.contains("/etc/miwa/miwa.toml"), "{conffiles}");
    assert!(ok("getent", &["passwd", "miwa"]).starts_with("miwa:"));
    assert!(ok("man", &["-w", "miwa-call"]).contains("miwa-call.1"));
    let completion =
        std::fs::read_to_string("/usr/share/bash-completion/completions/miwa").unwrap();
    assert!(completion.contains("\"/usr/bin/miwa\" --"), "{completion}");

    ok("systemd-analyze", &["verify", UNIT]);
    let security = ok("systemd-analyze", &["security", "--offline=true", UNIT]);
    let exposure: f64 = security
        .lines()
        .find_map(|l| l.split("Overall exposure level for miwa.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{security}"));
    println!("systemd-analyze security: exposure {exposure}");
    assert!(exposure <= 2.0, "exposure {exposure}:\n{security}");

    let daemon = Installed::start();
    assert!(call(&["uptime"]).contains("Up time"));
    assert!(fifo_call("version").contains("miwa"));
    let cached: Vec<_> = std::fs::read_dir("/var/cache/miwa").unwrap().collect();
    assert!(
        !cached.is_empty(),
        "the precompiled core is cached at first start"
    );
    // The audit log is written by its own thread: the lines come soon, not at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut audited = audit_lines("/var/log/miwa/audit.log");
    while audited.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        audited = audit_lines("/var/log/miwa/audit.log");
    }
    assert!(audited.len() >= 2, "{audited:?}");

    let state = tempfile::NamedTempFile::new().unwrap();
    ok(
        "logrotate",
        &[
            "--force",
            "--state",
            state.path().to_str().unwrap(),
            "/etc/logrotate.d/miwa",
        ],
    );
    assert!(Path::new("/var/log/miwa/audit.log.1").is_file());
    daemon.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while audit_lines("/var/log/miwa/audit.log").is_empty() {
        call(&["ps"]);
        assert!(
            Instant::now() < deadline,
            "no audit line after rotation and SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(audit_lines("/var/log/miwa/audit.log")[0].contains("\"ps\""));
    daemon.stop();

    ok("dpkg", &["--remove", "miwa"]);
    assert!(!Path::new(MIWA).exists());
    assert!(!Path::new(UNIT).exists());
    assert!(
        Path::new("/etc/miwa/miwa.toml").is_file(),
        "remove keeps the conffile"
    );
    ok("dpkg", &["--purge", "miwa"]);
    for gone in [
        "/etc/miwa",
        "/var/cache/miwa",
        "/var/log/miwa",
        "/etc/logrotate.d/miwa",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after purge");
    }
    let status = run("dpkg-query", &["--show", "miwa"]);
    assert!(
        !status.status.success(),
        "dpkg still knows miwa: {}",
        text(&status)
    );
}

/// `section.key` of every key line in a TOML file, commented out or not, outside the
/// commented example tables (`# [modules.x]` …).
fn keys(text: &str) -> Vec<String> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            section = name.to_string();
            continue;
        }
        if line.starts_with("# [") {
            section.clear();
            continue;
        }
        let bare = line.trim_start_matches("# ");
        let Some((key, _)) = bare.split_once(" = ") else {
            continue;
        };
        let key = key.trim();
        if !section.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            keys.push(format!("{section}.{key}"));
        }
    }
    keys
}

#[test]
fn the_packaged_configuration_lists_every_key() {
    let example = std::fs::read_to_string(workspace().join("miwa.example.toml")).unwrap();
    let packaged =
        std::fs::read_to_string(workspace().join("host-native/debian/miwa.toml")).unwrap();
    let listed = keys(&packaged);
    let expected = keys(&example);
    assert!(expected.len() > 80, "{expected:?}");
    for key in &expected {
        assert!(
            listed.contains(key),
            "{key} is missing from the packaged configuration"
        );
    }
}
