//! The fleet benchmark baseline: a bare hyper server that sends each request body to every
//! node of an `upstreams.toml` (the one `simulated_nodes` writes) from one UDP socket, and
//! answers `{"<node>": <its reply's result>, …}` once every node answered or after one
//! second. No routing, checks, limits, counters or per-node timeouts: the least any
//! HTTP front can cost to run one command on a thousand UDP nodes, so `nodes_run` is
//! measured against it.
//!
//! `cargo run --release -p transports --example bare_fanout -- 127.0.0.1:8934 <dir>/upstreams.toml`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// The nodes: each one's name and address.
struct Nodes {
    names: HashMap<SocketAddr, String>,
    order: Vec<SocketAddr>,
}

/// Reads `[upstreams.<name>]` / `udp = "<address>"` pairs.
fn nodes(text: &str) -> Nodes {
    let (mut names, mut order, mut name) = (HashMap::new(), Vec::new(), String::new());
    for line in text.lines() {
        if let Some(table) = line.strip_prefix("[upstreams.") {
            name = table.trim_end_matches(']').to_string();
        } else if let Some(address) = line.strip_prefix("udp = ") {
            let address: SocketAddr = address.trim_matches('"').parse().expect("an address");
            names.insert(address, name.clone());
            order.push(address);
        }
    }
    Nodes { names, order }
}

async fn fan_out(
    request: Request<hyper::body::Incoming>,
    nodes: Arc<Nodes>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    // Room for every node's reply at once: the default buffer drops most of a thousand.
    rustix::net::sockopt::set_socket_recv_buffer_size(&socket, 4 << 20)?;
    for address in &nodes.order {
        socket.send_to(&body, address).await?;
    }
    let mut out = serde_json::Map::new();
    let mut buffer = vec![0u8; 65536];
    let gather = async {
        while out.len() < nodes.order.len() {
            let (length, from) = socket.recv_from(&mut buffer).await?;
            let Some(name) = nodes.names.get(&from) else {
                continue;
            };
            let mut reply: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&buffer[..length]).unwrap_or_default();
            out.insert(
                name.clone(),
                reply.remove("result").unwrap_or(serde_json::Value::Null),
            );
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), gather).await;
    let reply = serde_json::json!({"jsonrpc": "2.0", "result": out, "id": 1});
    Ok(Response::new(Full::new(Bytes::from(reply.to_string()))))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8934".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let file = args.next().unwrap_or_else(|| "upstreams.toml".into());
    let nodes = Arc::new(nodes(&std::fs::read_to_string(file)?));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("ready: {} nodes", nodes.order.len());
    loop {
        let (stream, _) = listener.accept().await?;
        let nodes = nodes.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| fan_out(request, nodes.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
