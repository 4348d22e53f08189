//! What the benchmarks that measure a running daemon share: `miwa serve` (the build of
//! this package) started on a free port with a configuration of the bench's own, killed
//! when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `miwa serve`.
pub struct Daemon {
    child: Child,
    /// Its HTTP port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Daemon {
    /// Starts `miwa serve` with the configuration `config` writes for a free HTTP port,
    /// once it says it is ready.
    pub fn start(config: impl FnOnce(u16) -> String) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let path = dir.path().join("miwa.toml");
        std::fs::write(&path, config(port)).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_miwa"))
            .args(["serve", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("miwa starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert!(line.starts_with("miwa ready"), "miwa did not start: {line}");
        Daemon {
            child,
            port,
            _dir: dir,
        }
    }
}
