//! JSON-RPC over WebSocket against the real daemon (`miwa serve`, started by the bench on
//! a free port with its component core):
//! - `uptime` over one WebSocket connection, pipelined and one at a time, against the same
//!   requests over one keep-alive HTTP connection;
//! - event delivery rate to 1 and to 100 WebSocket subscribers (`ws:`), events raised in
//!   batches over HTTP;
//! - the latency of one `raise_event` over HTTP with no subscriber and with 100.
//!
//! Run with `cargo bench -p host-native --bench websocket` (after `cargo build --release`,
//! whose `miwa` it starts). The client and the daemon share the machine's cores.

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const UPTIME: &str = r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#;

mod support;
use support::Daemon;

fn start_daemon() -> Daemon {
    Daemon::start(|port| {
        format!(
            "[datagram]\nudp = []\nunix = []\n[fifo]\nenabled = false\n[http]\nport = {port}\nmax_requests_per_connection = 0\n[events]\nthreshold_ms = 0\nmax_subscribers = 200\n"
        )
    })
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn websocket(port: u16) -> Socket {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (socket, _) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/ws"), stream)
        .await
        .expect("upgrade");
    socket
}

/// One keep-alive HTTP connection to `/mi`.
struct Http {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Http {
    async fn connect(port: u16) -> Http {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(connection);
        Http { sender }
    }

    async fn post(&mut self, body: String) -> Bytes {
        let request = hyper::Request::post("/mi")
            .header(hyper::header::HOST, "127.0.0.1")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("response");
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
    }
}

fn per_second(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn requests(port: u16, count: u64) {
    let mut http = Http::connect(port).await;
    let began = Instant::now();
    for _ in 0..count {
        http.post(UPTIME.into()).await;
    }
    let http_rate = per_second(count, began.elapsed());

    let mut socket = websocket(port).await;
    let began = Instant::now();
    for _ in 0..count {
        socket.send(Message::text(UPTIME)).await.expect("send");
        socket.next().await.expect("reply").expect("frame");
    }
    let sequential_rate = per_second(count, began.elapsed());

    let (mut sink, mut stream) = websocket(port).await.split();
    let began = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..count {
            sink.feed(Message::text(UPTIME)).await.expect("send");
        }
        sink.flush().await.expect("flush");
        sink
    });
    for _ in 0..count {
        stream.next().await.expect("reply").expect("frame");
    }
    let pipelined_rate = per_second(count, began.elapsed());
    drop(writer.await);
    println!(
        "uptime, {count} requests on one connection: HTTP keep-alive {http_rate:.0}/s, \
         WebSocket one at a time {sequential_rate:.0}/s, WebSocket pipelined {pipelined_rate:.0}/s \
         ({:.2}x HTTP)",
        pipelined_rate / http_rate
    );
}

/// Subscribes `count` WebSockets to E_CORE_THRESHOLD; each counts the events it receives.
async fn subscribers(
    port: u16,
    count: usize,
) -> (Arc<AtomicU64>, Vec<tokio::task::JoinHandle<()>>) {
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..count {
        let mut socket = websocket(port).await;
        socket
            .send(Message::text(
                r#"{"jsonrpc":"2.0","method":"event_subscribe","params":["E_CORE_THRESHOLD","ws:",3600],"id":1}"#,
            ))
            .await
            .expect("subscribe");
        let reply = socket.next().await.expect("reply").expect("frame");
        assert!(reply.to_text().unwrap_or("").contains("OK"), "{reply}");
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(_)) = socket.next().await {
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    (received, readers)
}

async fn delivery(port: u16, count: usize) {
    let (received, readers) = subscribers(port, count).await;
    let mut http = Http::connect(port).await;
    let batch: Vec<String> = (0..200)
        .map(|n| format!(r#"{{"jsonrpc":"2.0","method":"raise_event","params":["E_CORE_THRESHOLD",[{n}]],"id":{n}}}"#))
        .collect();
    let batch = format!("[{}]", batch.join(","));
    let window = Duration::from_secs(3);
    let began = Instant::now();
    let mut raised = 0u64;
    while began.elapsed() < window {
        http.post(batch.clone()).await;
        raised += 200;
        if count > 1 {
            let expected = raised * count as u64;
            let settle = Instant::now();
            while received.load(Ordering::Relaxed) < expected * 9 / 10
                && settle.elapsed() < Duration::from_secs(1)
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    let expected = raised * count as u64;
    let settle = Instant::now();
    while received.load(Ordering::Relaxed) < expected && settle.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = began.elapsed();
    let got = received.load(Ordering::Relaxed);
    println!(
        "events to {count} WebSocket subscriber(s): {raised} raised, {got} of {expected} delivered \
         in {took:.2?}: {:.0} notifications/s",
        per_second(got, took)
    );
    for reader in readers {
        reader.abort();
    }
}

async fn raise_latency(port: u16, subscribers_now: usize) {
    let mut http = Http::connect(port).await;
    let raise = r#"{"jsonrpc":"2.0","method":"raise_event","params":["E_CORE_THRESHOLD",["bench"]],"id":1}"#;
    let mut samples = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let began = Instant::now();
        http.post(raise.into()).await;
        samples.push(began.elapsed());
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    samples.sort();
    println!(
        "raise_event over HTTP with {subscribers_now} WebSocket subscribers: p50 {:?}, p99 {:?}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let daemon = start_daemon();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        requests(daemon.port, 20_000).await;
        delivery(daemon.port, 1).await;
        delivery(daemon.port, 100).await;
        raise_latency(daemon.port, 0).await;
        let (_received, readers) = subscribers(daemon.port, 100).await;
        raise_latency(daemon.port, 100).await;
        for reader in readers {
            reader.abort();
        }
    });
}
