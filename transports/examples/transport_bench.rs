//! Sequential and concurrent request/response benchmark for the datagram and FIFO
//! transports, and the bare servers it compares miwa with (same socket or FIFO, same
//! framing, a fixed reply, no MI).
//!
//! ```text
//! transport_bench bare-udp ADDR | bare-unix PATH | bare-fifo FIFO REPLY_DIR [REPLY_FILE]
//! transport_bench udp ADDR SECONDS [CLIENTS] | unix PATH SECONDS
//! transport_bench fifo FIFO REPLY_DIR SECONDS [REQUEST_FILE]
//! ```
//! Client modes print `<requests per second> <p50 µs>`. The request is `uptime`, or for the
//! FIFO the JSON of `REQUEST_FILE`; the bare FIFO answers `REPLY_FILE`'s bytes if given.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use transports::fifo::{next_frame, open_reply, write_reply, Frame};

const REQUEST: &[u8] = br#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;
const REPLY: &[u8] = br#"{"jsonrpc":"2.0","result":{"Now":"Thu Nov 26 21:34:53 2026","Up since":"Thu Nov 26 21:33:41 2026","Up time":"72 [sec]"},"id":1}"#;

fn bare_udp(address: &str) -> std::io::Result<()> {
    let socket = std::net::UdpSocket::bind(address)?;
    println!("bare ready");
    let mut buf = vec![0u8; 65536];
    loop {
        let (_, peer) = socket.recv_from(&mut buf)?;
        socket.send_to(REPLY, peer)?;
    }
}

fn bare_unix(path: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let socket = UnixDatagram::bind(path)?;
    println!("bare ready");
    let mut buf = vec![0u8; 65536];
    loop {
        let (_, peer) = socket.recv_from(&mut buf)?;
        if let Some(peer) = peer.as_pathname() {
            socket.send_to(REPLY, peer)?;
        }
    }
}

fn bare_fifo(fifo: &Path, reply_dir: &str, reply: &[u8]) -> std::io::Result<()> {
    use std::io::Read;
    let _ = std::fs::remove_file(fifo);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )?;
    let mut input = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo)?;
    println!("bare ready");
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        let n = input.read(&mut chunk)?;
        buffer.extend_from_slice(&chunk[..n]);
        while let Frame::Request {
            reply_name, used, ..
        } = next_frame(&buffer)
        {
            let path = PathBuf::from(format!("{reply_dir}{reply_name}"));
            if let Ok(fd) = open_reply(&path, 4, Duration::from_millis(80)) {
                let _ = write_reply(&fd, reply, Duration::from_secs(5));
            }
            buffer.drain(..used);
        }
    }
}

/// Runs `exchange` for `seconds`; returns (requests per second, p50 latency in µs).
fn measure(seconds: f64, mut exchange: impl FnMut()) -> (f64, u128) {
    let started = Instant::now();
    let mut latencies = Vec::new();
    while started.elapsed().as_secs_f64() < seconds {
        let one = Instant::now();
        exchange();
        latencies.push(one.elapsed().as_micros());
    }
    latencies.sort_unstable();
    (
        latencies.len() as f64 / started.elapsed().as_secs_f64(),
        latencies[latencies.len() / 2],
    )
}

fn udp_client(address: &str, seconds: f64) -> (f64, u128) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(address).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = vec![0u8; 65536];
    measure(seconds, || {
        socket.send(REQUEST).expect("send");
        socket.recv(&mut buf).expect("reply");
    })
}

fn unix_client(path: &Path, seconds: f64) -> (f64, u128) {
    let local = std::env::temp_dir().join(format!("bench-client-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&local);
    let socket = UnixDatagram::bind(&local).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = vec![0u8; 65536];
    let result = measure(seconds, || {
        socket.send_to(REQUEST, path).expect("send");
        socket.recv(&mut buf).expect("reply");
    });
    let _ = std::fs::remove_file(&local);
    result
}

fn fifo_client(fifo: &Path, reply_dir: &Path, seconds: f64, request: &[u8]) -> (f64, u128) {
    use rustix::fs::{mknodat, open, FileType, Mode, OFlags, CWD};
    let name = format!("bench_reply_{}", std::process::id());
    let path = reply_dir.join(&name);
    let _ = std::fs::remove_file(&path);
    mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).expect("mkfifo");
    let framed = [format!(":{name}:").as_bytes(), request].concat();
    let mut server = std::fs::OpenOptions::new()
        .write(true)
        .open(fifo)
        .expect("server fifo");
    let mut buf = vec![0u8; 65536];
    let result = measure(seconds, || {
        let fd = open(
            &path,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .expect("open reply");
        server.write_all(&framed).expect("write");
        let mut got = 0;
        loop {
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let _ = rustix::event::poll(&mut fds, None);
            match rustix::io::read(&fd, &mut buf) {
                Ok(0) if got > 0 => break,
                Ok(n) => got += n,
                Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    });
    let _ = std::fs::remove_file(&path);
    result
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("missing argument {i}; see the doc comment"))
    };
    let seconds = |i: usize| arg(i).parse::<f64>().expect("seconds");
    let result = match arg(0).as_str() {
        "bare-udp" => return bare_udp(&arg(1)).expect("bare udp"),
        "bare-unix" => return bare_unix(Path::new(&arg(1))).expect("bare unix"),
        "bare-fifo" => {
            let reply = args.get(3).map(|f| std::fs::read(f).expect("reply file"));
            let reply = reply.as_deref().unwrap_or(REPLY);
            return bare_fifo(Path::new(&arg(1)), &arg(2), reply).expect("bare fifo");
        }
        "udp" => {
            let clients: usize = args.get(3).map_or(1, |c| c.parse().expect("clients"));
            let address = arg(1);
            let secs = seconds(2);
            let runs: Vec<(f64, u128)> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..clients)
                    .map(|_| scope.spawn(|| udp_client(&address, secs)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("client"))
                    .collect()
            });
            (runs.iter().map(|r| r.0).sum(), runs[0].1)
        }
        "unix" => unix_client(Path::new(&arg(1)), seconds(2)),
        "fifo" => {
            let request = args.get(4).map(|f| std::fs::read(f).expect("request file"));
            let request = request.as_deref().unwrap_or(REQUEST);
            fifo_client(Path::new(&arg(1)), Path::new(&arg(2)), seconds(3), request)
        }
        other => panic!("unknown mode {other}"),
    };
    println!("{:.0} {}", result.0, result.1);
}
