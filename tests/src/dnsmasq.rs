//! A real DNS server for the discovery tests: Debian's dnsmasq on a free loopback port,
//! serving SRV records and the A records of their targets, restarted with new records as
//! a zone changes, stopped for an outage.

use anyhow::{bail, Context as _};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One SRV target: the host name it names (under `test.miwa.`, resolving to 127.0.0.1)
/// and its port.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name, e.g. `n1.test.miwa`.
    pub host: String,
    /// Port of the MI socket there.
    pub port: u16,
}

/// A dnsmasq serving `name`'s SRV records.
pub struct Dnsmasq {
    /// Its UDP port on 127.0.0.1.
    pub port: u16,
    name: String,
    child: Option<Child>,
}

impl Dnsmasq {
    /// Starts dnsmasq on a free port, serving `targets` under the SRV name `name`. A port
    /// taken meanwhile by another test's socket makes it try another.
    pub fn start(name: &str, targets: &[Target]) -> anyhow::Result<Dnsmasq> {
        let mut last = None;
        for _ in 0..5 {
            let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut dns = Dnsmasq {
                port,
                name: name.to_string(),
                child: None,
            };
            match dns.launch(targets) {
                Ok(()) => return Ok(dns),
                Err(error) => last = Some(error),
            }
        }
        Err(last.expect("tried"))
    }

    /// Serves `targets` from now on (a restart on the same port; tried again while the
    /// old process's port is being let go).
    pub fn serve(&mut self, targets: &[Target]) -> anyhow::Result<()> {
        let mut last = None;
        for _ in 0..5 {
            match self.launch(targets) {
                Ok(()) => return Ok(()),
                Err(error) => last = Some(error),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last.expect("tried"))
    }

    /// One start of dnsmasq with `targets`, waiting until it answers.
    fn launch(&mut self, targets: &[Target]) -> anyhow::Result<()> {
        self.stop();
        let mut command = Command::new("dnsmasq");
        command.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--local-ttl=1",
            "--user=root",
            "--pid-file=",
        ]);
        command.arg(format!("--port={}", self.port));
        for target in targets {
            command.arg(format!(
                "--srv-host={},{},{},0,0",
                self.name, target.host, target.port
            ));
            command.arg(format!("--host-record={},127.0.0.1", target.host));
        }
        if targets.is_empty() {
            command.arg(format!("--srv-host={}", self.name));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("dnsmasq (apt-get install dnsmasq-base)")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.answers() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| child.try_wait().is_ok_and(|status| status.is_some()));
            if exited {
                self.child = None;
                bail!("dnsmasq ended at once (port {} taken?)", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        bail!("dnsmasq did not answer on port {}", self.port)
    }

    /// Whether it answers a query (any answer) on its port.
    fn answers(&self) -> bool {
        let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
            return false;
        };
        let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
        // A query for `test.miwa. A`, id 0x4d49.
        let mut query = vec![0x4d, 0x49, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["test", "miwa"] {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]);
        let mut buffer = [0u8; 512];
        socket.send_to(&query, ("127.0.0.1", self.port)).is_ok()
            && socket
                .recv(&mut buffer)
                .is_ok_and(|n| n >= 12 && buffer[..2] == query[..2])
    }

    /// Stops it: an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}
