//! Helpers for miwa's end-to-end tests: a daemon under test, raw HTTP exchanges, and the
//! comparison rules of the conformance recordings.
//!
//! # Layout
//! - this file: [`Daemon`], the binary under test ([`miwa_bin`]), [`Heavy`] environments,
//!   raw exchanges over every transport (bytes as they go on the wire, for the tests of
//!   the wire itself, and a real node's own answers); JSON-RPC calls of the daemon
//!   ([`Daemon::call`], [`uptime_everywhere`]) go through the MI wire client, `miwa-client`, as the front's
//!   and `miwa call`'s do;
//! - `conformance`: replaying the recordings; `front`: fronts of test nodes;
//! - `opensips`, `kamailio`, `redis`, `dnsmasq`: real servers started for a test; `hostile_node`:
//!   nodes that misbehave on purpose.
#![forbid(unsafe_code)]

pub mod conformance;
pub mod dnsmasq;
pub mod front;
pub mod hostile_node;
pub mod kamailio;
pub mod opensips;
pub mod redis;

use anyhow::{bail, Context as _};
use miwa_client::Endpoint;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A heavy environment some tests need, each behind one switch: `MIWA_TEST_SKIP`, a
/// comma-separated list of their names, leaves the tests that need them out (each says it
/// is skipped). `make test` runs them all, and under `CI` none may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heavy {
    /// `debian`: root, dpkg and systemd, to build, install and remove the package.
    Debian,
    /// `chromium`: Debian's headless Chromium driven by playwright-core.
    Chromium,
    /// `kamailio`: a real Kamailio node (Debian's package).
    Kamailio,
    /// `opensips`: real OpenSIPS 3.6.8 and 4.0.1 nodes built from `../shared/opensips`.
    OpenSips,
}

impl Heavy {
    /// Its name in `MIWA_TEST_SKIP`.
    pub fn name(self) -> &'static str {
        match self {
            Heavy::Debian => "debian",
            Heavy::Chromium => "chromium",
            Heavy::Kamailio => "kamailio",
            Heavy::OpenSips => "opensips",
        }
    }

    /// Whether the tests that need it run: true unless `MIWA_TEST_SKIP` names it, and then
    /// the test says it is skipped. Skipping under `CI` fails the test instead.
    pub fn runs(self) -> bool {
        let skipped = std::env::var("MIWA_TEST_SKIP")
            .unwrap_or_default()
            .split(',')
            .any(|name| name.trim() == self.name());
        if !skipped {
            return true;
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "MIWA_TEST_SKIP leaves out {} under CI, where every test must run",
            self.name()
        );
        eprintln!(
            "\n*** SKIPPED: this test needs {} (MIWA_TEST_SKIP) ***\n",
            self.name()
        );
        false
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// A command running `script` of tests/python with the interpreter of tests/.venv (which
/// `make test` fills with the real client libraries), its standard input and output
/// piped; the caller adds the arguments and spawns it.
pub fn python_client(script: &str) -> std::process::Command {
    let python = workspace().join("tests/.venv/bin/python");
    assert!(
        python.exists(),
        "tests/.venv is missing: `make test` installs the Python clients there"
    );
    let mut command = std::process::Command::new(python);
    command
        .arg(workspace().join("tests/python").join(script))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    command
}

/// The `miwa` binary built next to this test binary (`MIWA_BIN` overrides).
pub fn miwa_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("MIWA_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("miwa");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --release -p host-native` first (make test does)",
        bin.display()
    );
    if let Some(newer) = newer_source(&bin) {
        panic!(
            "{} is older than {}: run `cargo build --release -p host-native` first (make test does)",
            bin.display(),
            newer.display()
        );
    }
    bin
}

/// A source of the daemon changed after `bin` was built, if any: its Rust files and
/// manifests (benchmarks aside), the core's WIT, the lock file.
fn newer_source(bin: &Path) -> Option<PathBuf> {
    fn newest(path: &Path, built: std::time::SystemTime) -> Option<PathBuf> {
        let meta = std::fs::metadata(path).ok()?;
        if meta.is_dir() {
            if path.ends_with("benches") || path.ends_with("debian") {
                return None;
            }
            return std::fs::read_dir(path)
                .ok()?
                .flatten()
                .find_map(|entry| newest(&entry.path(), built));
        }
        let source = path
            .extension()
            .is_some_and(|e| e == "rs" || e == "toml" || e == "wit" || e == "lock");
        (source && meta.modified().ok()? > built).then(|| path.to_path_buf())
    }
    let built = std::fs::metadata(bin).ok()?.modified().ok()?;
    let root = workspace();
    [
        "Cargo.lock",
        "host-native",
        "transports/src",
        "mi-core/src",
        "mi-core/wit",
    ]
    .iter()
    .find_map(|part| newest(&root.join(part), built))
}

/// A `[modules.<name>]` configuration table for the built module `file`, with extra keys.
pub fn module_table(name: &str, file: &str, keys: &str) -> String {
    format!(
        "\n[modules.{name}]\npath = \"{}\"\n{keys}\n",
        module_path(file).display()
    )
}

/// A command-module component built by `make rust-modules` (`dispatcher`, `health`,
/// `hostile`, `liar`, `ungranted`, `legacy`, `ticker`, `sandbox`, `blocklist`). Panics,
/// naming the make target, when it was not built.
pub fn module_path(name: &str) -> PathBuf {
    let path = workspace()
        .join("target/modules/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make rust-modules` (make test does)",
        path.display()
    );
    path
}

/// A command module built by `make python-modules` (or `make js-modules`): `lang` is
/// `python` or `js`. Panics, naming the make target, when it was not built.
pub fn foreign_module_table(lang: &str, name: &str, keys: &str) -> String {
    let path = workspace()
        .join("target/modules")
        .join(lang)
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make {lang}-modules` (make test does)",
        path.display()
    );
    format!(
        "\n[modules.{name}]\npath = \"{}\"\n{keys}\n",
        path.display()
    )
}

/// Runs `take` — a browser script that writes the screenshots `names` into `dir` — and
/// checks that this run took each of them: they are removed first, and each must then be
/// a PNG image.
pub fn screenshots(dir: &Path, names: &[String], take: impl FnOnce()) {
    std::fs::create_dir_all(dir).expect("the screenshot directory");
    for name in names {
        let _ = std::fs::remove_file(dir.join(name));
    }
    take();
    for name in names {
        let path = dir.join(name);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: not taken: {e}", path.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1024,
            "{}: not a PNG screenshot ({} bytes)",
            path.display(),
            bytes.len()
        );
    }
}

/// The resident memory of process `pid`, bytes (0 if it cannot be read).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A UDP port nobody uses right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

/// Sends `request` from a fresh UDP socket and waits up to `wait` for one reply.
pub fn udp_exchange(
    to: SocketAddr,
    request: &[u8],
    wait: Duration,
) -> anyhow::Result<Option<Vec<u8>>> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.send_to(request, to)?;
    socket.set_read_timeout(Some(wait))?;
    datagram_reply(|buf| socket.recv(buf))
}

/// One reply datagram read by `recv`: `None` if its read timeout passed first.
fn datagram_reply(
    recv: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 70000];
    match recv(&mut buf) {
        Ok(n) => Ok(Some(buf[..n].to_vec())),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends `request` to a UNIX datagram socket from a client bound in `dir` (or unbound) and
/// waits up to `wait` for one reply.
pub fn unix_exchange(
    to: &Path,
    dir: &Path,
    bind: bool,
    request: &[u8],
    wait: Duration,
) -> anyhow::Result<Option<Vec<u8>>> {
    use std::os::unix::net::UnixDatagram;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = dir.join(format!(
        "client-{}.sock",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let socket = if bind {
        UnixDatagram::bind(&path)?
    } else {
        UnixDatagram::unbound()?
    };
    socket.send_to(request, to)?;
    socket.set_read_timeout(Some(wait))?;
    let outcome = datagram_reply(|buf| socket.recv(buf));
    let _ = std::fs::remove_file(&path);
    outcome
}

/// A reply FIFO a test listens on, opened for reading before the request is written.
pub struct ReplyFifo {
    path: PathBuf,
    fd: std::os::fd::OwnedFd,
}

impl ReplyFifo {
    /// Creates `dir/name` (mode 0666) and opens it for reading without blocking.
    pub fn create(dir: &Path, name: &str) -> anyhow::Result<ReplyFifo> {
        use rustix::fs::{mknodat, open, FileType, Mode, OFlags, CWD};
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o666), 0)?;
        let fd = open(
            &path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ReplyFifo { path, fd })
    }

    /// Reads until the writer closes (`Some`, possibly empty) or `wait` passes with no
    /// writer having come and gone (`None`).
    pub fn read(&self, wait: Duration) -> anyhow::Result<Option<Vec<u8>>> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            poll(&mut fds, Some(&Timespec::try_from(left)?))?;
            let events = fds[0].revents();
            if events.is_empty() {
                continue;
            }
            loop {
                match rustix::io::read(&self.fd, &mut buf) {
                    Ok(0) => return Ok(Some(out)),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

impl Drop for ReplyFifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `request` to the server FIFO in one `write()`.
pub fn fifo_write(fifo: &Path, request: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(fifo)?;
    file.write_all(request)?;
    Ok(())
}

/// What `miwa <subcommand>` (`hash-token`, `hash-password`) prints for `secret`: the hash
/// a configuration holds.
pub fn hashed_secret(subcommand: &str, secret: &str) -> String {
    let mut child = Command::new(miwa_bin())
        .arg(subcommand)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("miwa runs");
    writeln!(child.stdin.take().expect("piped"), "{secret}").expect("miwa reads its stdin");
    let output = child.wait_with_output().expect("miwa ends");
    assert!(output.status.success(), "miwa {subcommand} failed");
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_string()
}

/// A running `miwa serve`, killed when dropped.
pub struct Daemon {
    child: Child,
    /// HTTP address.
    pub http: SocketAddr,
    /// UDP datagram address.
    pub udp: SocketAddr,
    /// UNIX datagram socket path.
    pub unix: PathBuf,
    /// The request FIFO.
    pub fifo: PathBuf,
    /// Its configuration directory (kept alive as long as the daemon).
    pub dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts a daemon with `extra` TOML appended to the configuration right after
    /// `[http]`'s `port` key (0: the kernel picks the HTTP and UDP ports, which the daemon's
    /// `miwa ready` line tells): more `[http]` keys, then other tables. Compiled
    /// core artifacts are cached in `target/test-cache`.
    pub fn start(extra: &str) -> anyhow::Result<Daemon> {
        Self::start_with_args(extra, &[])
    }

    /// Like [`Daemon::start`] with extra `miwa serve` arguments.
    pub fn start_with_args(extra: &str, args: &[&str]) -> anyhow::Result<Daemon> {
        Self::launch("", extra, args)
    }

    /// Starts a daemon with extra `[datagram]` keys.
    pub fn start_datagram(datagram_keys: &str) -> anyhow::Result<Daemon> {
        Self::launch(datagram_keys, "", &[])
    }

    /// Starts a daemon with extra `[fifo]` keys.
    pub fn start_fifo(fifo_keys: &str) -> anyhow::Result<Daemon> {
        Self::launch("", &format!("\n[fifo]\n{fifo_keys}\n"), &[])
    }

    /// The directory reply FIFOs are created in (the daemon's `reply_dir`).
    pub fn reply_dir(&self) -> PathBuf {
        self.dir.path().join("replies")
    }

    fn launch(datagram_keys: &str, extra: &str, args: &[&str]) -> anyhow::Result<Daemon> {
        let dir = tempfile::tempdir()?;
        let unix = dir.path().join("mi.sock");
        let fifo = dir.path().join("mi_fifo");
        let replies = dir.path().join("replies");
        std::fs::create_dir(&replies)?;
        let (fifo_table, extra) = match extra.split_once("[fifo]\n") {
            Some((before, fifo_keys)) => (fifo_keys.to_string(), before.to_string()),
            None => (String::new(), extra.to_string()),
        };
        let config = format!(
            "[datagram]\nudp = [\"127.0.0.1:0\"]\nunix = [\"{}\"]\n{datagram_keys}\n\n[fifo]\nfifo_name = \"{}\"\nreply_dir = \"{}/\"\n{fifo_table}\n\n[http]\nport = 0\n{extra}\n",
            unix.display(),
            fifo.display(),
            replies.display()
        );
        let config_path = dir.path().join("miwa.toml");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(miwa_bin())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .current_dir(dir.path())
            .env(
                "XDG_CACHE_HOME",
                workspace().join("target").join("test-cache"),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("stderr.log"))?)
            .spawn()
            .context("spawning miwa")?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        if !line.starts_with("miwa ready") {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            bail!("miwa did not start: {line:?}\n{log}");
        }
        // A transport the configuration turns off has no address: port 0 then, which
        // nothing answers.
        let bound = |name: &str| -> anyhow::Result<SocketAddr> {
            match line
                .split_whitespace()
                .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            {
                Some(address) => address
                    .parse()
                    .with_context(|| format!("the {name} address in {line:?}")),
                None => Ok(SocketAddr::from(([127, 0, 0, 1], 0))),
            }
        };
        let (http, udp) = (bound("http")?, bound("udp")?);
        Ok(Daemon {
            child,
            http,
            udp,
            unix,
            fifo,
            dir,
        })
    }

    /// `miwa call` arguments that reach this daemon over `transport` (`http`, `xmlrpc`,
    /// `ws`, `udp`, `unix` or `fifo`).
    pub fn client_args(&self, transport: &str) -> Vec<String> {
        let mut args = vec!["--transport".to_string(), transport.to_string()];
        match transport {
            "http" => args.extend(["--url".into(), self.url()]),
            "xmlrpc" => args.extend(["--url".into(), format!("http://{}/RPC2", self.http)]),
            "ws" => args.extend(["--url".into(), format!("ws://{}/ws", self.http)]),
            "udp" => args.extend(["--udp".into(), self.udp.to_string()]),
            "unix" => args.extend(["--unix".into(), self.unix.display().to_string()]),
            _ => args.extend([
                "--fifo".into(),
                self.fifo.display().to_string(),
                "--reply-dir".into(),
                self.reply_dir().display().to_string(),
            ]),
        }
        args
    }

    /// The live subscribers of `event` (their sockets), as `subscribers_list` shows them.
    pub fn subscribers(&self, event: &str) -> Vec<String> {
        let listed = self.result("subscribers_list", serde_json::json!([]));
        listed["Events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["name"] == event)
            .flat_map(|e| e["Subscribers"].as_array().cloned().unwrap_or_default())
            .filter(|s| s["ttl"] != "expired")
            .filter_map(|s| s["socket"].as_str().map(str::to_string))
            .collect()
    }

    /// The configuration file the daemon was started with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("miwa.toml")
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}/mi", self.http)
    }

    /// POSTs a JSON-RPC body to `/mi` and returns the parsed response.
    pub fn post(&self, body: &str) -> anyhow::Result<HttpResponse> {
        let request = format!(
            "POST /mi HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.http,
            body.len()
        );
        let raw = exchange(self.http, request.as_bytes(), Duration::from_secs(5))?;
        parse_responses(&raw)
            .into_iter()
            .next()
            .context("no HTTP response")
    }

    /// GETs `path` (with its query) with extra header lines (`Name: value`, each ending
    /// in CRLF) and returns the parsed response.
    pub fn get(&self, path: &str, headers: &str) -> anyhow::Result<HttpResponse> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{headers}Connection: close\r\n\r\n",
            self.http
        );
        let raw = exchange(self.http, request.as_bytes(), Duration::from_secs(10))?;
        parse_responses(&raw)
            .into_iter()
            .next()
            .context("no HTTP response")
    }

    /// Calls a method and returns the reply parsed as JSON.
    pub fn rpc(&self, body: &str) -> anyhow::Result<Value> {
        let response = self.post(body)?;
        serde_json::from_slice(&response.body).with_context(|| {
            format!(
                "reply is not JSON: {:?}",
                String::from_utf8_lossy(&response.body)
            )
        })
    }

    /// The daemon's JSON-RPC over HTTP, as the MI wire client reaches it.
    pub fn http_endpoint(&self) -> Endpoint {
        Endpoint::Http(miwa_client::HttpTarget {
            url: self.url(),
            ..Default::default()
        })
    }

    /// Calls `method` with `params` over HTTP with the MI wire client (which checks the
    /// reply answers the request's id); the whole reply.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let reply = self
            .http_endpoint()
            .exchange(&body.to_string(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{method}: {e:#}"));
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{method}: {e}: {reply}"))
    }

    /// Calls `method` and returns its result, failing the test on an error reply.
    pub fn result(&self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params);
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// Calls `method`, which must fail with a `500`, and returns the error's message.
    pub fn failure(&self, method: &str, params: Value) -> String {
        let reply = self.call(method, params);
        assert_eq!(reply["error"]["code"], 500, "{method} must fail: {reply}");
        reply["error"]["message"]
            .as_str()
            .expect("a message")
            .to_string()
    }

    /// What the daemon has written to its standard error (its log) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Waits up to 5 s for `text` to appear in the daemon's log; whether it did.
    pub fn logged(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(text) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// The daemon's resident memory, bytes.
    pub fn rss(&self) -> u64 {
        rss_bytes(self.pid())
    }

    /// Runs `miwa call` against this daemon over `transport` with `args`: exit success,
    /// standard output, standard error.
    pub fn miwa_call(&self, transport: &str, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(miwa_bin())
            .arg("call")
            .args(self.client_args(transport))
            .args(args)
            .output()
            .expect("running miwa call");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Starts a daemon in front of `node` as its default node `edge1`, over the node's UDP
    /// socket with its FIFO for what does not fit a datagram; `fifo_keys` go to the
    /// front's own `[fifo]`.
    pub fn front_of(node: &Daemon, fifo_keys: &str) -> anyhow::Result<Daemon> {
        Self::start(&format!(
            "\n[upstreams.edge1]\nudp = \"{}\"\nfifo = \"{}\"\nreply_dir = \"{}/\"\n[front]\nupstream = \"edge1\"\n[fifo]\n{fifo_keys}\n",
            node.udp,
            node.fifo.display(),
            node.reply_dir().display()
        ))
    }

    /// The pid of the first process `ps` lists (the daemon's main one, or its node's).
    pub fn first_pid(&self) -> String {
        let ps = self
            .rpc(r#"{"jsonrpc":"2.0","method":"ps","id":1}"#)
            .expect("ps");
        ps["result"]["Processes"][0]["PID"].to_string()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` on a fresh connection and reads until the peer closes or stays silent
/// for `quiet` after some bytes arrived (or 2 × `quiet` with none).
pub fn exchange(addr: SocketAddr, request: &[u8], quiet: Duration) -> anyhow::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(request)?;
    read_until_quiet(&mut stream, quiet)
}

/// Reads until `count` complete responses arrived, the peer closed, or `quiet` passed
/// without new bytes.
pub fn read_responses(
    stream: &mut TcpStream,
    count: usize,
    quiet: Duration,
) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    stream.set_read_timeout(Some(quiet))?;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let responses = parse_responses(&out);
                if responses.len() >= count && responses.iter().all(|r| r.complete) {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Reads from `stream` until EOF, or until it stays silent long enough.
pub fn read_until_quiet(stream: &mut TcpStream, quiet: Duration) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let started = Instant::now();
    loop {
        let wait = if out.is_empty() { quiet * 2 } else { quiet };
        stream.set_read_timeout(Some(wait))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if complete(&out) {
                    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        }
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    Ok(out)
}

fn complete(raw: &[u8]) -> bool {
    let responses = parse_responses(raw);
    !responses.is_empty() && responses.iter().all(|r| r.complete)
}

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in wire order.
    pub headers: Vec<(String, String)>,
    /// De-chunked body.
    pub body: Vec<u8>,
    /// Whether the whole body arrived.
    pub complete: bool,
}

impl HttpResponse {
    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses back-to-back HTTP/1.x responses (skipping `100 Continue`).
pub fn parse_responses(raw: &[u8]) -> Vec<HttpResponse> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(end) = find(rest, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        rest = &rest[end + 4..];
        if status == 100 {
            continue;
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        let mut complete = true;
        if get("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            complete = false;
            while let Some(line_end) = find(rest, b"\r\n") {
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
                        .unwrap_or(0);
                if rest.len() < line_end + 2 + size + 2 {
                    break;
                }
                body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
                rest = &rest[line_end + 2 + size + 2..];
                if size == 0 {
                    complete = true;
                    break;
                }
            }
        } else if let Some(length) = get("Content-Length").and_then(|v| v.parse::<usize>().ok()) {
            let take = length.min(rest.len());
            complete = take == length;
            body.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        out.push(HttpResponse {
            status,
            headers,
            body,
            complete,
        });
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Shape equality: same member names in the same order and the same JSON types at every
/// level; arrays compare their first elements and may differ in length.
pub fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same_shape(va, vb))
        }
        (Value::Array(x), Value::Array(y)) => match (x.first(), y.first()) {
            (Some(p), Some(q)) => same_shape(p, q),
            _ => true,
        },
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => true,
        _ => false,
    }
}

/// Results that describe the server itself: compared by shape.
pub const SHAPE_METHODS: &[&str] = &[
    "ps",
    "version",
    "arg",
    "pwd",
    "help",
    "uptime",
    "get_statistics",
    "list_statistics",
    "events_list",
    "subscribers_list",
    "cache_fetch_chunk",
    "httpd_list_root_path",
    "sr_list_identifiers",
];

/// The `method` of a request text, found leniently (case-insensitive member name, any
/// framing around it), and whether it carries parameters.
pub fn method_of(request: &str) -> (String, bool) {
    let lower = request.to_ascii_lowercase();
    let method = lower
        .find("\"method\"")
        .and_then(|at| request[at + 8..].split('"').nth(1))
        .unwrap_or_default()
        .to_string();
    (
        method,
        lower.contains("\"params\":{\"")
            || lower.contains("\"params\":[") && !lower.contains("\"params\":[]"),
    )
}

/// Whether a request's result is server-dependent (compared by shape).
pub fn shape_only(request: &str) -> bool {
    let (method, has_params) = method_of(request);
    SHAPE_METHODS.contains(&method.as_str())
        || (!has_params && matches!(method.as_str(), "which" | "log_level"))
}

/// A message cut to a readable length.
pub fn short(text: String) -> String {
    if text.len() <= 240 {
        return text;
    }
    let cut = (0..=240)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}… ({} bytes)", &text[..cut], text.len())
}

/// Compares a recorded reply body with ours: byte for byte, or (for results that describe
/// the server) the same envelope and a result of the same shape.
pub fn compare_bodies(expected: &[u8], got: &[u8], request: &str) -> Result<&'static str, String> {
    if expected == got {
        return Ok("exact");
    }
    let (Ok(want), Ok(have)) = (
        serde_json::from_slice::<Value>(expected),
        serde_json::from_slice::<Value>(got),
    ) else {
        return Err(format!(
            "body {:?} != {:?}",
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(expected)
        ));
    };
    let envelope_equal =
        want.get("jsonrpc") == have.get("jsonrpc") && want.get("id") == have.get("id");
    match (want.get("result"), have.get("result")) {
        (Some(w), Some(h)) if envelope_equal && shape_only(request) && same_shape(w, h) => {
            Ok("shape")
        }
        _ => Err(format!("body {have} != {want}")),
    }
}

/// The PID of the recording server's `timer` process (from a recorded `ps` reply).
pub fn recorded_timer_pid(cases: &[Value]) -> String {
    cases
        .iter()
        .find(|c| c["name"] == "ps")
        .and_then(|c| {
            let body = c["response_body"].as_str().or(c["response"].as_str())?;
            serde_json::from_str::<Value>(body).ok()
        })
        .and_then(|ps| {
            ps["result"]["Processes"]
                .as_array()?
                .iter()
                .find(|p| p["Type"] == "timer")
                .map(|p| p["PID"].to_string())
        })
        .expect("the recording lists a timer process")
}

/// The messages of a recorded `request` or `response` member: one string, or a list
/// (`None` for a list entry that recorded no message).
pub fn recorded_messages(member: &Value) -> Vec<Option<String>> {
    match member {
        Value::Array(list) => list.iter().map(|m| m.as_str().map(String::from)).collect(),
        Value::String(one) => vec![Some(one.clone())],
        _ => Vec::new(),
    }
}

/// The form token (`csrf`) an HTML page's forms carry.
pub fn form_token(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    page[at..at + 32].to_string()
}

/// Reads a conformance recording (one JSON object per line).
pub fn recording(name: &str) -> Vec<Value> {
    let path = workspace().join("tests").join("conformance").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid recording line"))
        .collect()
}

/// Stops a node process the tests started: SIGTERM, then SIGKILL if it has not ended
/// within 5 s.
pub fn stop_node(child: &mut Child) {
    let _ = Command::new("kill")
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A node's own answer to `request` over its UDP socket `udp`, as text: the datagram as it
/// came, unchecked (the tests compare what a node answers with what miwa answers for it,
/// plain-text errors and ids as the node writes them included).
pub fn node_udp_call(udp: SocketAddr, request: &str) -> anyhow::Result<String> {
    let reply = udp_exchange(udp, request.as_bytes(), Duration::from_secs(3))?
        .context("the node did not answer")?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Makes a FIFO at `path` (with mkfifo), to stand for a file whose open never returns
/// until a writer comes.
pub fn make_fifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A directory for a module's `read_only_dirs` holding `list.txt` (`gw1\n`) and a FIFO
/// nobody writes, `stuck`; the directory and the FIFO's path.
pub fn dir_with_stuck_fifo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fifo = dir.path().join("stuck");
    make_fifo(&fifo);
    std::fs::write(dir.path().join("list.txt"), "gw1\n").expect("list.txt written");
    (dir, fifo)
}

/// Checks that `uptime` answers over HTTP, the FIFO and UDP, each within `within` at least
/// once in three tries (one slow answer on a busy machine is not a stall), and returns
/// what is wrong otherwise.
pub fn uptime_everywhere(daemon: &Daemon, within: Duration) -> Result<(), String> {
    const UPTIME: &str = r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
    let wait = Duration::from_secs(5);
    let endpoints = [
        ("HTTP", daemon.http_endpoint()),
        (
            "FIFO",
            Endpoint::Fifo {
                fifo: daemon.fifo.clone(),
                reply_dir: daemon.reply_dir(),
            },
        ),
        ("UDP", Endpoint::Udp(daemon.udp.to_string())),
    ];
    for (transport, endpoint) in endpoints {
        let ask = || {
            endpoint
                .exchange(UPTIME, wait)
                .map_err(|e| format!("{e:#}"))
                .map(|reply| reply.contains("Up since"))
        };
        let mut took = Vec::new();
        for _ in 0..3 {
            let asked = std::time::Instant::now();
            match ask() {
                Ok(true) => {}
                Ok(false) => return Err(format!("uptime over {transport}: no answer")),
                Err(e) => return Err(format!("uptime over {transport}: {e}")),
            }
            took.push(asked.elapsed());
            if took.last().is_some_and(|t| *t <= within) {
                break;
            }
        }
        if took.iter().all(|t| *t > within) {
            return Err(format!("uptime over {transport} took {took:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        assert!(same_shape(
            &json!({"a": 1, "b": ["x"]}),
            &json!({"a": 2, "b": ["y", "z"]})
        ));
        assert!(!same_shape(
            &json!({"a": 1, "b": 2}),
            &json!({"b": 2, "a": 1})
        ));
        assert!(!same_shape(&json!({"a": 1}), &json!({"a": "1"})));
        assert!(same_shape(&json!([]), &json!([{"x": 1}])));
    }

    #[test]
    fn parses_chunked_and_pipelined() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
        let responses = parse_responses(raw);
        assert_eq!(responses.len(), 2);
        assert_eq!(
            (
                responses[0].status,
                responses[0].body.as_slice(),
                responses[0].complete
            ),
            (200, &b"abc"[..], true)
        );
        assert_eq!(responses[1].status, 202);
    }
}
