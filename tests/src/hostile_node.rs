//! Test nodes that misbehave on purpose (and one that answers plainly), for front mode's
//! fault handling. They are fixtures of the tests, not OpenSIPS: a reply names the fixture.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the node does with a request. Every fixture but [`Behaviour::Mute`] answers the
/// health probe (`which` without parameters) well: its faults are those of a node that is
/// up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers `which` with a short list and anything else with
    /// `{"fixture": <name>, "method": …, "params": …}`.
    Answer,
    /// Never replies.
    Silent,
    /// Replies bytes that are not JSON.
    Garbage,
    /// Replies the first half of a good reply.
    Half,
    /// Replies to another request id.
    WrongId,
    /// Answers after this many milliseconds.
    Slow(u64),
    /// Answers with OpenSIPS's `500 Internal error` (a reply over its datagram buffer).
    Overflow,
    /// Never replies, not even to the health probe: a node that is down.
    Mute,
}

/// A fixture node on a UDP socket (or HTTP, for [`HostileNode::http_broken`]).
pub struct HostileNode {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests it has received.
    pub received: Arc<AtomicU64>,
    /// The methods of the requests it has received (the UDP fixture's).
    methods: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

/// The good reply of the [`Behaviour::Answer`] fixture called `name` to `request`.
pub fn answer(name: &str, request: &Value) -> Value {
    let method = request.get("method").cloned().unwrap_or(Value::Null);
    let result = if method == "which" && request.get("params").is_none() {
        json!(["ps", "uptime", "fixture_only"])
    } else {
        json!({"fixture": name, "method": method, "params": request.get("params")})
    };
    json!({"jsonrpc": "2.0", "result": result, "id": request.get("id").cloned().unwrap_or(Value::Null)})
}

impl HostileNode {
    /// A UDP fixture called `name` behaving as `behaviour`.
    pub fn udp(name: &str, behaviour: Behaviour) -> HostileNode {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind fixture socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let addr = socket.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let methods = Arc::new(Mutex::new(Vec::new()));
        let (name, stopping, counted) = (name.to_string(), stop.clone(), received.clone());
        let seen = methods.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65536];
            while !stopping.load(Ordering::Relaxed) {
                let Ok((length, from)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                counted.fetch_add(1, Ordering::Relaxed);
                let request: Value =
                    serde_json::from_slice(&buffer[..length]).unwrap_or(Value::Null);
                if let Some(method) = request.get("method").and_then(Value::as_str) {
                    seen.lock().unwrap().push(method.to_string());
                }
                let good = answer(&name, &request).to_string();
                let probe = request.get("method") == Some(&json!("which"))
                    && request.get("params").is_none();
                let reply = match behaviour {
                    Behaviour::Mute => continue,
                    _ if probe => good,
                    Behaviour::Answer => good,
                    Behaviour::Silent => continue,
                    Behaviour::Garbage => "<html>not json</html>".into(),
                    Behaviour::Half => good[..good.len() / 2].to_string(),
                    Behaviour::WrongId => {
                        let mut other = answer(&name, &request);
                        other["id"] = json!("someone-else");
                        other.to_string()
                    }
                    Behaviour::Slow(ms) => {
                        let (socket, stop) = (socket.try_clone().expect("clone"), stopping.clone());
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(ms));
                            if !stop.load(Ordering::Relaxed) {
                                let _ = socket.send_to(good.as_bytes(), from);
                            }
                        });
                        continue;
                    }
                    Behaviour::Overflow => "500 Internal error".into(),
                };
                let _ = socket.send_to(reply.as_bytes(), from);
            }
        });
        HostileNode {
            addr,
            received,
            methods,
            stop,
        }
    }

    /// How many requests for `method` it has received.
    pub fn received_method(&self, method: &str) -> usize {
        self.methods
            .lock()
            .unwrap()
            .iter()
            .filter(|m| *m == method)
            .count()
    }

    /// An HTTP fixture that reads a request and sends half of a response announced with
    /// its full length, then closes: a node that restarts mid-reply. The health probe
    /// (`which`) is answered whole.
    pub fn http_broken() -> HostileNode {
        tcp_fixture(|mut stream, _, counted| {
            counted.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = [0u8; 4096];
            let length = stream.read(&mut head).unwrap_or(0);
            let text = String::from_utf8_lossy(&head[..length]);
            if text.contains(r#""method":"which","id""#) {
                let body =
                    answer("broken", &json!({"method": "which", "id": "miwa-probe"})).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                return;
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"jsonrpc\":\"2.0\",\"res",
            );
        })
    }

    /// An HTTP fixture that answers as OpenSIPS's mi_http does on a keep-alive connection,
    /// and stalls on a notification (no `id`): it sends nothing back until the client
    /// gives up. `received` counts the notifications it got.
    pub fn http_stalling_on_notifications() -> HostileNode {
        tcp_fixture(|mut stream, stopping, counted| {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            while !stopping.load(Ordering::Relaxed) {
                match stream.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    Err(_) => continue,
                }
                let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buffer.len() < end + 4 + length {
                    continue;
                }
                let body: Value = serde_json::from_slice(&buffer[end + 4..end + 4 + length])
                    .unwrap_or(Value::Null);
                buffer.drain(..end + 4 + length);
                if body.get("id").is_none() {
                    counted.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let reply = answer("opensips-like", &body).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                    reply.len()
                );
            }
        })
    }
}

/// A TCP fixture: every accepted connection goes to `serve` on a thread of its own, with
/// the stop flag and the counter, until the fixture is dropped.
fn tcp_fixture<F>(serve: F) -> HostileNode
where
    F: Fn(std::net::TcpStream, &AtomicBool, &AtomicU64) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fixture listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("address");
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let (stopping, counted, serve) = (stop.clone(), received.clone(), Arc::new(serve));
    std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let (stopping, counted, serve) = (stopping.clone(), counted.clone(), serve.clone());
            std::thread::spawn(move || serve(stream, &stopping, &counted));
        }
    });
    HostileNode {
        addr,
        received,
        methods: Arc::default(),
        stop,
    }
}

impl Drop for HostileNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
