//! The front-mode benchmark baseline: a bare hyper server that forwards each request body
//! to a node over UDP and answers with the node's datagram, with no routing, checks,
//! limits, timeouts or counters. It is the least any HTTP-to-UDP front can cost, so the
//! front's own overhead is measured against it.
//!
//! `cargo run --release -p transports --example bare_forward -- 127.0.0.1:8895 127.0.0.1:18900`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

/// Connected sockets not in use, each with its receive buffer.
type Idle = Mutex<Vec<(UdpSocket, Vec<u8>)>>;

async fn forward(
    request: Request<hyper::body::Incoming>,
    node: SocketAddr,
    idle: Arc<Idle>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let pooled = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let (socket, mut buffer) = match pooled {
        Some(pooled) => pooled,
        None => {
            let socket = UdpSocket::bind("127.0.0.1:0").await?;
            socket.connect(node).await?;
            (socket, vec![0u8; 65535])
        }
    };
    socket.send(&body).await?;
    let length = socket.recv(&mut buffer).await?;
    let reply = Bytes::copy_from_slice(&buffer[..length]);
    idle.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((socket, buffer));
    let mut response = Response::new(Full::new(reply));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let mut arguments = std::env::args().skip(1);
    let address = arguments.next().unwrap_or_else(|| "127.0.0.1:8895".into());
    let node: SocketAddr = arguments
        .next()
        .unwrap_or_else(|| "127.0.0.1:18900".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let idle = Arc::new(Idle::default());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&address).await?;
            println!("bare forward ready: {address} -> udp:{node}");
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let idle = idle.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| forward(request, node, idle.clone()));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .pipeline_flush(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
}
