//! The HTTP benchmark baseline: a bare hyper server on the same runtime settings as miwa's
//! HTTP transport that answers every request with a fixed JSON-RPC reply (no MI at all).
//!
//! `cargo run --release -p transports --example bare_http -- 127.0.0.1:8890 [REPLY_FILE] [--tls CERT KEY]`
//!
//! With `REPLY_FILE`, the reply is that file's bytes (the big-reply benchmark sends the
//! very bytes miwa answers). With `--tls`, it speaks HTTPS with rustls, through the same
//! acceptor miwa's listener uses, from a PEM certificate chain and key.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use transports::tls::TlsIdentity;

const REPLY: &str = r#"{"jsonrpc":"2.0","result":{"Now":"Thu Nov 26 21:34:53 2026","Up since":"Thu Nov 26 21:33:41 2026","Up time":"72 [sec]"},"id":1}"#;

async fn answer(
    request: Request<hyper::body::Incoming>,
    reply: Bytes,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    request.into_body().collect().await?;
    let mut response = Response::new(Full::new(reply));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn serve<S>(stream: S, reply: Bytes)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = http1::Builder::new()
        .keep_alive(true)
        .pipeline_flush(true)
        .serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| answer(request, reply.clone())),
        )
        .await;
}

fn main() -> std::io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tls = match args.iter().position(|a| a == "--tls") {
        Some(at) if args.len() >= at + 3 => {
            let pair: Vec<String> = args.drain(at..at + 3).skip(1).collect();
            let identity = TlsIdentity::load(Path::new(&pair[0]), Path::new(&pair[1]))
                .map_err(std::io::Error::other)?;
            Some(Arc::new(identity))
        }
        Some(_) => return Err(std::io::Error::other("--tls takes CERT and KEY")),
        None => None,
    };
    let address = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8890".into());
    let reply = match args.get(1) {
        Some(file) => Bytes::from(std::fs::read(file)?),
        None => Bytes::from_static(REPLY.as_bytes()),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&address).await?;
            println!("bare http ready: {address}");
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let reply = reply.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, reply).await,
                        Some(identity) => {
                            if let Ok(secured) = identity.acceptor().accept(stream).await {
                                serve(secured, reply).await;
                            }
                        }
                    }
                });
            }
        })
}
