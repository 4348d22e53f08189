//! Capability `http`: outgoing HTTP(S) through `wasi:http/outgoing-handler`, only to the
//! module's `allowed_outbound_hosts`.
//!
//! A pattern is `scheme://host:port` (Spin's grammar): the scheme `http`, `https` or `*`;
//! the host and port as in `allowed_tcp` ([`super::allow`]); the port may be left out for
//! `http` (80) and `https` (443). Enforced in [`Outbound::send_request`], the one place
//! every request of a module goes through:
//! - the daemon resolves the request's host itself and connects to a resolved address a
//!   pattern of the request's scheme allows — so a name that resolves to a denied
//!   network is refused, and nothing resolves again between the check and the connection;
//! - redirects are not followed: a module that follows one makes a new request, checked
//!   like the first;
//! - a response body is cut off past `max_http_response` bytes (the module's read fails);
//!   connecting and waiting for the response are bounded by the call's `io_timeout_ms`;
//! - each connection counts against the module's `max_descriptors` and
//!   `max_host_memory` ([`super::holdings`]) until it closes; over the limit the request
//!   fails at once with an internal error naming it. An outgoing body takes writes of at
//!   most [`OUTGOING_BODY_CHUNK`] bytes, a connection reads into at most
//!   [`CONNECTION_BYTES`].
//!
//! [`OUTGOING_BODY_CHUNK`]: super::holdings::OUTGOING_BODY_CHUNK
//! [`CONNECTION_BYTES`]: super::holdings::CONNECTION_BYTES

use super::allow;
use super::holdings::{Connection, Shares, CONNECTION_BYTES, OUTGOING_BODY_CHUNK};
use http_body_util::BodyExt;
use hyper::{Request, Response};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, WasiBody, WasiHttpHooks};

/// One `allowed_outbound_hosts` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlPattern {
    /// `http`, `https`, or `None` for `*`.
    scheme: Option<&'static str>,
    address: allow::Pattern,
}

impl UrlPattern {
    /// Parses `scheme://host[:port]`; `None` if it is not one.
    pub fn parse(text: &str) -> Option<UrlPattern> {
        let (scheme, rest) = text.split_once("://")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (scheme, default_port) = match scheme {
            "http" => (Some("http"), Some("80")),
            "https" => (Some("https"), Some("443")),
            "*" => (None, None),
            _ => return None,
        };
        let has_port = match rest.rfind(']') {
            Some(close) => rest[close..].contains(':'),
            None => rest.contains(':') && !rest.contains('/'),
        };
        let address = if has_port {
            allow::Pattern::parse(rest)?
        } else {
            allow::Pattern::parse(&format!("{rest}:{}", default_port?))?
        };
        Some(UrlPattern { scheme, address })
    }

    async fn allows(&self, scheme: &str, address: SocketAddr) -> bool {
        self.scheme.is_none_or(|s| s == scheme) && self.address.allows(address).await
    }
}

/// The TLS client settings of every module's HTTPS requests: the Web PKI roots, built
/// once for the process rather than for each instance.
static TLS: std::sync::LazyLock<Arc<rustls::ClientConfig>> = std::sync::LazyLock::new(|| {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
    .expect("ring supports the default protocol versions");
    Arc::new(config)
});

/// The `wasi:http` hooks of one instance: its allow-list, response cap and the module's
/// shares.
pub(crate) struct Outbound {
    allowed: Arc<Vec<UrlPattern>>,
    max_response: usize,
    shares: Arc<Shares>,
}

impl Outbound {
    /// Hooks allowing `allowed`, with responses cut off past `max_response` bytes and
    /// connections counted in `shares`.
    pub fn new(
        allowed: Arc<Vec<UrlPattern>>,
        max_response: usize,
        shares: Arc<Shares>,
    ) -> Outbound {
        Outbound {
            allowed,
            max_response,
            shares,
        }
    }
}

/// What `send_request` answers: the response, and a future that ends with its
/// connection.
type Sent = wasmtime_wasi_http::Result<(
    Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let allowed = self.allowed.clone();
        let max_response = self.max_response;
        let tls = TLS.clone();
        let connection = self.shares.connection();
        Box::new(async move {
            let connection = connection
                .map_err(|limit| Error::InternalError(Some(format!("the module {limit}"))))?;
            let response = send(request, &allowed, max_response, tls, connection).await?;
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_BODY_CHUNK
    }
}

/// The first address `host` resolves to that a pattern allows for `scheme`.
async fn allowed_address(
    allowed: &[UrlPattern],
    scheme: &str,
    host: &str,
    port: u16,
) -> Result<SocketAddr, Error> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|_| Error::DestinationNotFound)?
        .collect();
    for address in resolved {
        for pattern in allowed {
            if pattern.allows(scheme, address).await {
                return Ok(address);
            }
        }
    }
    Err(Error::HttpRequestDenied)
}

async fn send(
    mut request: Request<WasiBody>,
    allowed: &[UrlPattern],
    max_response: usize,
    tls: Arc<rustls::ClientConfig>,
    connection: Connection,
) -> Result<Response<WasiBody>, Error> {
    let uri = request.uri().clone();
    let https = uri.scheme() == Some(&hyper::http::uri::Scheme::HTTPS);
    let scheme = if https { "https" } else { "http" };
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let address = allowed_address(allowed, scheme, host, port).await?;
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|_| Error::ConnectionRefused)?;
    let _ = stream.set_nodelay(true);
    *request.uri_mut() = hyper::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = if https {
        let name = rustls::pki_types::ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
        .map_err(|_| Error::HttpRequestUriInvalid)?;
        let secured = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(|_| Error::TlsCertificateError)?;
        exchange(secured, request, connection).await?
    } else {
        exchange(stream, request, connection).await?
    };
    Ok(response.map(|body| {
        http_body_util::Limited::new(body, max_response)
            .map_err(move |error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    Error::HttpResponseBodySize(Some(max_response as u64))
                } else {
                    Error::InternalError(Some(error.to_string()))
                }
            })
            .boxed_unsync()
    }))
}

/// One request on a new connection, the connection driven by a task of its own that
/// holds `counted` until it ends.
async fn exchange<S>(
    stream: S,
    request: Request<WasiBody>,
    counted: Connection,
) -> Result<Response<hyper::body::Incoming>, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(CONNECTION_BYTES)
        .handshake::<_, WasiBody>(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(Error::Hyper)?;
    tokio::spawn(async move {
        let _ended = connection.await;
        drop(counted);
    });
    sender.send_request(request).await.map_err(Error::Hyper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_patterns_take_a_scheme_and_a_default_port() {
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "*://example.com",
            "http://",
            "http://a b",
        ] {
            assert_eq!(UrlPattern::parse(bad), None, "{bad}");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let allows = |pattern: &str, scheme: &str, address: &str| {
            let pattern = UrlPattern::parse(pattern).expect(pattern);
            runtime.block_on(pattern.allows(scheme, address.parse().unwrap()))
        };
        assert!(allows("http://127.0.0.1", "http", "127.0.0.1:80"));
        assert!(!allows("http://127.0.0.1", "http", "127.0.0.1:8080"));
        assert!(!allows("http://127.0.0.1", "https", "127.0.0.1:80"));
        assert!(allows("https://10.0.0.0/8", "https", "10.1.2.3:443"));
        assert!(allows("*://127.0.0.1:8000-8100", "https", "127.0.0.1:8080"));
        assert!(allows("http://localhost:9000/", "http", "127.0.0.1:9000"));
        assert!(allows("http://[::1]:80", "http", "[::1]:80"));
        assert!(allows("https://[::1]", "https", "[::1]:443"));
    }
}
