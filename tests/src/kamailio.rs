//! A real Kamailio (Debian's `kamailio` package) with jsonrpcs on a FIFO and a UDP socket
//! and xhttp serving JSON-RPC at `/RPC`, started for a test and stopped when dropped.

use anyhow::{bail, Context as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs Kamailio's modules.
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/// A running Kamailio.
pub struct Kamailio {
    child: Child,
    /// The jsonrpcs FIFO.
    pub fifo: PathBuf,
    /// The jsonrpcs UDP socket.
    pub udp: SocketAddr,
    /// The xhttp JSON-RPC URL.
    pub url: String,
    /// Where it writes FIFO replies (`fifo_reply_dir`).
    pub reply_dir: PathBuf,
    /// Its directory: configuration, FIFO, log.
    pub dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts Kamailio on free ports; fails if the package is not installed.
    pub fn start() -> anyhow::Result<Kamailio> {
        let binary = ["/usr/sbin/kamailio", "/usr/bin/kamailio"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .context("kamailio is not installed (apt-get install kamailio; make test does)")?;
        let dir = tempfile::tempdir()?;
        let sip = crate::free_udp_port();
        let udp = SocketAddr::from(([127, 0, 0, 1], crate::free_udp_port()));
        let http = crate::free_port();
        let fifo = dir.path().join("kamailio_rpc.fifo");
        let reply_dir = dir.path().join("replies");
        std::fs::create_dir(&reply_dir)?;
        let config = format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:{sip}
listen=tcp:127.0.0.1:{http}
tcp_accept_no_cl=yes
mpath="{MODULES}"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "kex.so"
loadmodule "corex.so"
modparam("jsonrpcs", "transport", 7)
modparam("jsonrpcs", "fifo_name", "{fifo}")
modparam("jsonrpcs", "fifo_reply_dir", "{replies}/")
modparam("jsonrpcs", "dgram_socket", "udp:{udp}")
request_route {{ sl_send_reply("404", "Not here"); }}
event_route[xhttp:request] {{
    if ($hu =~ "^/RPC") {{ jsonrpc_dispatch(); }}
    else {{ xhttp_reply("404", "Not Found", "text/plain", "no such path"); }}
}}
"#,
            fifo = fifo.display(),
            replies = reply_dir.display(),
        );
        let config_path = dir.path().join("kamailio.cfg");
        std::fs::write(&config_path, config)?;
        let child = Command::new(binary)
            .arg("-f")
            .arg(&config_path)
            .args(["-DD", "-E", "-Y"])
            .arg(dir.path())
            .arg("-w")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("kamailio.log"))?)
            .spawn()
            .context("spawning kamailio")?;
        let kamailio = Kamailio {
            child,
            fifo,
            udp,
            url: format!("http://127.0.0.1:{http}/RPC"),
            reply_dir,
            dir,
        };
        kamailio.wait_ready()?;
        Ok(kamailio)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let probe = br#"{"jsonrpc":"2.0","method":"core.uptime","id":1}"#;
        while Instant::now() < deadline {
            let ready = matches!(
                crate::udp_exchange(self.udp, probe, Duration::from_millis(300)),
                Ok(Some(_))
            ) && std::net::TcpStream::connect(
                self.url
                    .trim_start_matches("http://")
                    .trim_end_matches("/RPC"),
            )
            .is_ok()
                && self.fifo.exists();
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("kamailio did not start:\n{}", self.log())
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// Kamailio's own answer to `request` over its UDP socket.
    pub fn udp_call(&self, request: &str) -> anyhow::Result<String> {
        crate::node_udp_call(self.udp, request)
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        crate::stop_node(&mut self.child);
    }
}
