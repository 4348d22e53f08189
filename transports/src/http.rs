//! JSON-RPC over HTTP (`mi_http`), with httpd's routing and method rules.
//!
//! Differences from OpenSIPS, all deliberate: replies with an empty body complete at once;
//! the body limit is configurable and an oversize body gets `413`; a POST with an
//! unsupported `Content-Type` gets `415` instead of a dropped connection.

use crate::{Dispatcher, Reply, TransportKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Settings of the HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// URL root of the JSON-RPC handler (`mi` → `/mi`).
    pub root: String,
    /// Largest accepted request body, bytes; larger bodies get `413`.
    pub max_body: usize,
    /// Idle keep-alive connection timeout (`None` = never).
    pub idle_timeout: Option<Duration>,
    /// Pretty-print JSON replies.
    pub pretty: bool,
}

const JSON: &str = "application/json";
const HTML: &str = "text/html";
const BAD_URL: &str = "<html><body>Unable to parse URL!</body></html>";
const BAD_METHOD: &str = "<html><body>Unsupported HTTP request!</body></html>";

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Whether `path` belongs to the handler rooted at `root`: `/root` or `/root/…`.
fn under_root(path: &str, root: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(root))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The media type of a `Content-Type` header, lower-cased, parameters dropped.
fn media_type(request: &Request<Incoming>) -> Option<String> {
    let value = request.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

async fn serve_request(
    request: Request<Incoming>,
    settings: Arc<HttpSettings>,
    dispatcher: Arc<dyn Dispatcher>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if request.method() != Method::GET && request.method() != Method::POST {
        let mut response = respond(StatusCode::NOT_ACCEPTABLE, HTML, BAD_METHOD);
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    if !under_root(request.uri().path(), &settings.root) {
        return Ok(respond(StatusCode::BAD_REQUEST, HTML, BAD_URL));
    }
    if request.method() == Method::GET {
        return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, JSON, Bytes::new()));
    }
    let body_is_raw = match media_type(&request).as_deref() {
        Some("application/json" | "text/xml") => true,
        Some("application/x-www-form-urlencoded" | "multipart/form-data") => false,
        _ => {
            return Ok(respond(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                JSON,
                Bytes::new(),
            ))
        }
    };
    let body = match Limited::new(request.into_body(), settings.max_body)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Ok(respond(StatusCode::PAYLOAD_TOO_LARGE, JSON, Bytes::new()));
            }
            return Ok(respond(StatusCode::BAD_REQUEST, JSON, Bytes::new()));
        }
    };
    if !body_is_raw || body.is_empty() {
        return Ok(respond(StatusCode::BAD_REQUEST, JSON, Bytes::new()));
    }
    Ok(
        match dispatcher.dispatch(TransportKind::Http, &body, settings.pretty) {
            Reply::Text(text) | Reply::ParseError(text) => respond(StatusCode::OK, JSON, text),
            Reply::Nothing => respond(StatusCode::ACCEPTED, JSON, Bytes::new()),
            Reply::Unprintable => respond(StatusCode::INTERNAL_SERVER_ERROR, JSON, Bytes::new()),
        },
    )
}

/// Serves HTTP on `listener` until `shutdown` turns true; then stops accepting and lets
/// open connections finish their current request.
pub async fn serve(
    listener: TcpListener,
    settings: HttpSettings,
    dispatcher: Arc<dyn Dispatcher>,
    mut shutdown: watch::Receiver<bool>,
) {
    let settings = Arc::new(settings);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "http accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let settings = settings.clone();
        let dispatcher = dispatcher.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, settings, dispatcher, &mut shutdown).await;
        });
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    settings: Arc<HttpSettings>,
    dispatcher: Arc<dyn Dispatcher>,
    shutdown: &mut watch::Receiver<bool>,
) {
    let service_settings = settings.clone();
    let service = service_fn(move |request| {
        serve_request(request, service_settings.clone(), dispatcher.clone())
    });
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .pipeline_flush(true)
        .timer(TokioTimer::new());
    if let Some(idle) = settings.idle_timeout {
        builder.header_read_timeout(idle);
    }
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "http connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::under_root;

    #[test]
    fn root_matching() {
        assert!(under_root("/mi", "mi"));
        assert!(under_root("/mi/anything", "mi"));
        assert!(!under_root("/mix", "mi"));
        assert!(!under_root("/MI", "mi"));
        assert!(!under_root("/", "mi"));
        assert!(!under_root("mi", "mi"));
    }
}
