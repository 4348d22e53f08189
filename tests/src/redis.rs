//! A real Redis (Debian's `redis-server` package) on a free loopback port, without
//! persistence, started for a test and stopped when dropped; and a few raw RESP commands
//! to look at its data from the test side.

use anyhow::{bail, Context as _};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Redis.
pub struct Redis {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Starts Redis on a free port; fails if the package is not installed.
    pub fn start() -> anyhow::Result<Redis> {
        Redis::start_on(crate::free_port())
    }

    /// Starts Redis on `port`.
    pub fn start_on(port: u16) -> anyhow::Result<Redis> {
        let binary = ["/usr/bin/redis-server", "/usr/sbin/redis-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .context(
                "redis-server is not installed (apt-get install redis-server; make test does)",
            )?;
        let dir = tempfile::tempdir()?;
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let redis = Redis {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if redis.command(&["PING"]).is_ok_and(|r| r == "+PONG") {
                return Ok(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("redis-server did not answer PING on {}", redis.addr)
    }

    /// Sends one command; the first line of the reply, and for a bulk string its value.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.starts_with('$') && !line.starts_with("$-1") {
            let mut value = String::new();
            reader.read_line(&mut value)?;
            return Ok(value.trim_end().to_string());
        }
        Ok(line.trim_end().to_string())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
