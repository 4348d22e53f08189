//! A real OpenSIPS node (3.6.8 or 4.0.1, built from the sources in `../shared/opensips`
//! into `target/opensips-<version>` by `make opensips`) with mi_fifo, mi_datagram and
//! httpd + mi_http, XML-RPC at `/RPC2` and mi_html at `/html` on free ports, started for a test and stopped when dropped. 4.0.1 runs
//! with httpd authentication on (`mi` / [`HTTP_PASSWORD`]).
//!
//! Without a build and without `../shared/opensips` to make one (a clone of the project
//! alone), [`OpenSips::start`] says loudly that the test is skipped and why, and returns
//! `None`; with `CI` set it fails instead.

use anyhow::{bail, Context as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The versions the tests run.
pub const VERSIONS: [&str; 2] = ["3.6.8", "4.0.1"];

/// The httpd user of a 4.0 node.
pub const HTTP_USER: &str = "mi";

/// The httpd password of a 4.0 node.
pub const HTTP_PASSWORD: &str = "s3cret-mi-pass";

/// Starts `binary` on the configuration in `dir`, its log appended to `dir/opensips.log`.
fn spawn(binary: &Path, dir: &Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("opensips.log"))?;
    Command::new(binary)
        .arg("-F")
        .arg("-f")
        .arg(dir.join("node.cfg"))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))
}

/// A running OpenSIPS.
pub struct OpenSips {
    binary: PathBuf,
    child: Child,
    /// `3.6.8` or `4.0.1`.
    pub version: &'static str,
    /// Its MI FIFO.
    pub fifo: PathBuf,
    /// Where its FIFO replies go (the FIFO's directory).
    pub reply_dir: PathBuf,
    /// Its mi_datagram UDP socket.
    pub udp: SocketAddr,
    /// Its mi_http URL, without credentials.
    pub url: String,
    /// Its httpd's address (mi_http at `/mi`, XML-RPC at `/RPC2`, mi_html at `/html`).
    pub http: SocketAddr,
    /// Its mi_datagram UNIX socket, when started with [`OpenSips::start_on_unix`] (then
    /// `udp` is not served).
    pub unix: Option<PathBuf>,
    /// Its directory: configuration, FIFO, replies, log.
    dir: tempfile::TempDir,
}

/// Where `make opensips` installs `version`.
pub fn prefix(version: &str) -> PathBuf {
    crate::workspace()
        .join("target")
        .join(format!("opensips-{version}"))
}

/// The sources and build script beside the project.
fn shared_build() -> PathBuf {
    crate::workspace().join("../shared/opensips/build.sh")
}

/// The binary of `version`, built now from `../shared/opensips` if need be; `None` (with
/// a loud message) when neither a build nor the sources exist.
fn binary(version: &str) -> anyhow::Result<Option<PathBuf>> {
    let prefix = prefix(version);
    let binary = prefix.join("sbin/opensips");
    if binary.exists() {
        return Ok(Some(binary));
    }
    let script = shared_build();
    if script.exists() {
        let built = Command::new("bash")
            .arg(&script)
            .arg(version)
            .arg(&prefix)
            .status()
            .context("running ../shared/opensips/build.sh")?;
        if !built.success() || !binary.exists() {
            bail!(
                "building OpenSIPS {version} into {} failed",
                prefix.display()
            );
        }
        return Ok(Some(binary));
    }
    let why = format!(
        "SKIPPED: no OpenSIPS {version} build in {} and no {} to build one (a clone of the project alone)",
        prefix.display(),
        script.display()
    );
    if std::env::var_os("CI").is_some() {
        bail!("{why}; CI must run the real-OpenSIPS tests");
    }
    eprintln!("\n*** {why} ***\n");
    Ok(None)
}

impl OpenSips {
    /// Starts `version` on free ports, or `None` when it cannot be had (see the module's
    /// documentation).
    pub fn start(version: &'static str) -> anyhow::Result<Option<OpenSips>> {
        Self::start_with(version, false)
    }

    /// [`OpenSips::start`] with mi_datagram on a UNIX socket (`unix`) instead of UDP.
    pub fn start_on_unix(version: &'static str) -> anyhow::Result<Option<OpenSips>> {
        Self::start_with(version, true)
    }

    fn start_with(version: &'static str, on_unix: bool) -> anyhow::Result<Option<OpenSips>> {
        if !crate::Heavy::OpenSips.runs() {
            return Ok(None);
        }
        let Some(binary) = binary(version)? else {
            return Ok(None);
        };
        let dir = tempfile::tempdir()?;
        let sip = crate::free_udp_port();
        let udp = SocketAddr::from(([127, 0, 0, 1], crate::free_udp_port()));
        let unix = on_unix.then(|| dir.path().join("mi.sock"));
        let datagram = match &unix {
            Some(path) => path.display().to_string(),
            None => format!("udp:{udp}"),
        };
        let http = crate::free_port();
        let fifo = dir.path().join("opensips_fifo");
        let modules = prefix(version).join("lib64/opensips/modules/");
        let xmlrpc = if version.starts_with("4.") {
            "mi_xmlrpc"
        } else {
            "mi_xmlrpc_ng"
        };
        let auth = if version.starts_with("4.") {
            format!(
                "modparam(\"httpd\", \"auth_username\", \"{HTTP_USER}\")\nmodparam(\"httpd\", \"auth_password\", \"{HTTP_PASSWORD}\")\n"
            )
        } else {
            String::new()
        };
        let config = format!(
            r#"log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=2
socket=udp:127.0.0.1:{sip}
mpath="{modules}"
loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "sipmsgops.so"
loadmodule "mi_fifo.so"
modparam("mi_fifo", "fifo_name", "{fifo}")
modparam("mi_fifo", "fifo_mode", 0666)
modparam("mi_fifo", "reply_dir", "{replies}/")
loadmodule "mi_datagram.so"
modparam("mi_datagram", "socket_name", "{datagram}")
loadmodule "httpd.so"
modparam("httpd", "ip", "127.0.0.1")
modparam("httpd", "port", {http})
{auth}loadmodule "mi_http.so"
modparam("mi_http", "root", "mi")
loadmodule "{xmlrpc}.so"
loadmodule "mi_html.so"
modparam("mi_html", "root", "html")
loadmodule "cachedb_local.so"
loadmodule "event_datagram.so"
route {{ sl_send_reply(404, "Not Here"); exit; }}
"#,
            modules = modules.display(),
            fifo = fifo.display(),
            replies = dir.path().display(),
        );
        std::fs::write(dir.path().join("node.cfg"), config)?;
        let child = spawn(&binary, dir.path())?;
        let node = OpenSips {
            binary,
            child,
            version,
            reply_dir: dir.path().to_path_buf(),
            fifo,
            udp,
            url: format!("http://127.0.0.1:{http}/mi"),
            http: SocketAddr::from(([127, 0, 0, 1], http)),
            unix,
            dir,
        };
        node.wait_ready()?;
        Ok(Some(node))
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let probe = br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
        while Instant::now() < deadline {
            let wait = Duration::from_millis(300);
            let answered = match &self.unix {
                Some(socket) => crate::unix_exchange(socket, self.dir.path(), true, probe, wait),
                None => crate::udp_exchange(self.udp, probe, wait),
            };
            let ready = matches!(answered, Ok(Some(_)))
                && std::net::TcpStream::connect(self.http).is_ok()
                && self.fifo.exists();
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("OpenSIPS {} did not start:\n{}", self.version, self.log())
    }

    /// Sends every process of the node `signal` (`STOP`, `CONT` …).
    pub fn signal(&self, signal: &str) {
        let config = self.dir.path().join("node.cfg");
        let sent = Command::new("pkill")
            .arg(format!("-{signal}"))
            .arg("-f")
            .arg(config.display().to_string())
            .status()
            .expect("pkill runs");
        assert!(sent.success(), "pkill -{signal}");
    }

    /// Stops it (SIGTERM) and waits for it to end.
    pub fn stop(&mut self) {
        crate::stop_node(&mut self.child);
    }

    /// Starts it again, on the same configuration, sockets and FIFO.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.child = spawn(&self.binary, self.dir.path())?;
        self.wait_ready()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("opensips.log")).unwrap_or_default()
    }

    /// The node's own answer to `request` over its UDP socket.
    pub fn udp_call(&self, request: &str) -> anyhow::Result<String> {
        crate::node_udp_call(self.udp, request)
    }
}

impl Drop for OpenSips {
    fn drop(&mut self) {
        crate::stop_node(&mut self.child);
    }
}
