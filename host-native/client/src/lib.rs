//! The MI wire client: sends one MI command over FIFO, UDP or UNIX datagrams, HTTP
//! (JSON-RPC, XML-RPC) or WebSocket the way opensips-cli does, and reads the reply.
//!
//! # Layout
//! - this file: parameters from command-line arguments, endpoints, the exchange per
//!   transport, TLS, and reading a reply;
//! - `ws`: the WebSocket side (`--transport ws`, `miwa events`).
//!
//! `miwa call` and the tests drive it; the front takes its TLS connector.

#![forbid(unsafe_code)]

pub mod ws;

use anyhow::{bail, Context as _};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Commands whose parameter at (index, name) is an array (opensips-cli's table).
const ARRAY_PARAMS: [(&str, usize, &str); 9] = [
    ("get_statistics", 0, "statistics"),
    ("list_statistics", 0, "statistics"),
    ("reset_statistics", 0, "statistics"),
    ("raise_event", 1, "params"),
    ("trace_start", 0, "filter"),
    ("dlg_push_var", 2, "DID"),
    ("fs_subscribe", 1, "events"),
    ("fs_unsubscribe", 1, "events"),
    ("cluster_broadcast_mi", 2, "cmd_params"),
];

fn is_named(arg: &str) -> bool {
    match arg.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => false,
    }
}

/// Builds `params` from command-line arguments with opensips-cli's rules: all `name=value`
/// → named; otherwise positional strings; array parameters gather the rest; with `json`,
/// positional values are JSON-decoded where they parse.
pub fn build_params(command: &str, args: &[String], json_values: bool) -> Value {
    let array = ARRAY_PARAMS.iter().find(|(c, _, _)| *c == command);
    if args.is_empty() {
        return json!({});
    }
    if args.iter().all(|a| is_named(a)) {
        let mut named = serde_json::Map::new();
        for arg in args {
            let (name, value) = arg.split_once('=').expect("checked by is_named");
            let value = match array {
                Some((_, _, array_name)) if *array_name == name && !json_values => Value::Array(
                    value
                        .split_whitespace()
                        .map(|v| Value::String(v.into()))
                        .collect(),
                ),
                _ => Value::String(value.into()),
            };
            named.insert(name.to_string(), value);
        }
        return Value::Object(named);
    }
    let decode = |arg: &String| {
        if json_values {
            serde_json::from_str(arg).unwrap_or_else(|_| Value::String(arg.clone()))
        } else {
            Value::String(arg.clone())
        }
    };
    match array {
        Some((_, index, _)) if !json_values && args.len() > *index => {
            let mut values: Vec<Value> = args[..*index].iter().map(decode).collect();
            values.push(Value::Array(
                args[*index..]
                    .iter()
                    .map(|a| Value::String(a.clone()))
                    .collect(),
            ));
            Value::Array(values)
        }
        _ => Value::Array(args.iter().map(decode).collect()),
    }
}

/// The request text sent for a command.
pub fn request_body(command: &str, params: &Value) -> String {
    let id = std::process::id() % 32768;
    json!({"jsonrpc": "2.0", "id": id.to_string(), "method": command, "params": params}).to_string()
}

/// An HTTP(S) URL and how to authenticate to it.
#[derive(Debug, Clone, Default)]
pub struct HttpTarget {
    /// `http://host:port/path` or `https://…`.
    pub url: String,
    /// The `Authorization` header value to send, if any.
    pub authorization: Option<String>,
    /// A PEM file of certificates to trust for `https://` (default: the public web roots).
    pub ca_file: Option<PathBuf>,
}

impl HttpTarget {
    /// Sets HTTP Basic credentials.
    pub fn basic(mut self, user: &str, password: &str) -> Self {
        use base64::Engine;
        let pair = format!("{user}:{password}");
        self.authorization = Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ));
        self
    }

    /// Sets a bearer token.
    pub fn bearer(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }
}

/// Where `miwa call` and `miwa script` send their requests.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// JSON-RPC over HTTP.
    Http(HttpTarget),
    /// XML-RPC over HTTP.
    Xmlrpc(HttpTarget),
    /// JSON-RPC over a WebSocket (`ws://`, `wss://`).
    Ws(HttpTarget),
    /// A UDP datagram socket.
    Udp(String),
    /// A UNIX datagram socket.
    Unix(PathBuf),
    /// The request FIFO, and the directory reply FIFOs are created in.
    Fifo {
        /// The daemon's request FIFO.
        fifo: PathBuf,
        /// Where the reply FIFO is created (the daemon's `reply_dir`).
        reply_dir: PathBuf,
    },
}

/// Why an exchange failed, as far as the exit code of `miwa call` tells: it sits in the
/// error's context chain (find it with [`Failure::of`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// Nothing listens where the request was to go (no daemon, no FIFO, refused).
    #[error("cannot reach {0} (is miwa running?)")]
    Unreachable(String),
    /// No reply came within the timeout.
    #[error("no reply within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The transport refused the request before the core saw it (an HTTP status such as
    /// 401, 429 or 503; a refused WebSocket handshake).
    #[error("{0}")]
    Refused(String),
}

impl Failure {
    /// The failure recorded in `error`'s chain, if any.
    pub fn of(error: &anyhow::Error) -> Option<&Failure> {
        error.downcast_ref::<Failure>()
    }
}

/// `future`, failing with [`Failure::TimedOut`] when it takes longer than `limit`.
async fn within<T>(
    limit: Duration,
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| Err(Failure::TimedOut(limit).into()))
}

impl Endpoint {
    /// Sends one JSON-RPC request text and returns the JSON-RPC reply text, waiting at
    /// most `limit` for it (connecting included).
    pub fn exchange(&self, request: &str, limit: Duration) -> anyhow::Result<String> {
        match self {
            Endpoint::Http(target) => run_async(within(
                limit,
                post(target, "application/json", request.to_string()),
            )),
            Endpoint::Ws(target) => run_async(within(limit, ws::exchange(target, request))),
            Endpoint::Xmlrpc(target) => {
                let (parsed, _) = mi_core::json::parse(request.as_bytes(), 128)
                    .map_err(|_| anyhow::anyhow!("bad request"))?;
                let method = match parsed.get_ci("method") {
                    Some(mi_core::json::Value::String(m)) => m.clone(),
                    _ => bail!("request without method"),
                };
                let call = transports::xmlrpc::call_text(&method, parsed.get_ci("params"));
                let body = run_async(within(limit, post(target, "text/xml", call)))?;
                let reply = transports::xmlrpc::parse_response(body.as_bytes())
                    .map_err(|e| anyhow::anyhow!("bad XML-RPC reply ({e:?}): {body}"))?;
                Ok(mi_core::json::to_compact(&reply))
            }
            Endpoint::Udp(address) => {
                let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
                let unreachable = || Failure::Unreachable(format!("udp:{address}"));
                socket
                    .connect(address.strip_prefix("udp:").unwrap_or(address))
                    .with_context(unreachable)?;
                socket.send(request.as_bytes()).with_context(unreachable)?;
                socket.set_read_timeout(Some(limit))?;
                reply_datagram(limit, &format!("udp:{address}"), |buf| socket.recv(buf))
            }
            Endpoint::Unix(path) => {
                let local =
                    std::env::temp_dir().join(format!("miwa_call_{}.sock", std::process::id()));
                let _ = std::fs::remove_file(&local);
                let socket = std::os::unix::net::UnixDatagram::bind(&local)?;
                let outcome = (|| {
                    socket
                        .send_to(request.as_bytes(), path)
                        .with_context(|| Failure::Unreachable(path.display().to_string()))?;
                    socket.set_read_timeout(Some(limit))?;
                    reply_datagram(limit, &path.display().to_string(), |buf| socket.recv(buf))
                })();
                let _ = std::fs::remove_file(&local);
                outcome
            }
            Endpoint::Fifo { fifo, reply_dir } => fifo_exchange(fifo, reply_dir, request, limit),
        }
    }
}

/// The reply datagram read by `recv` (whose socket waits at most `limit`) from `peer`,
/// as text.
fn reply_datagram(
    limit: Duration,
    peer: &str,
    recv: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
) -> anyhow::Result<String> {
    let mut buf = vec![0u8; 65536];
    let n = recv(&mut buf).map_err(|error| match error.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            anyhow::Error::new(error).context(Failure::TimedOut(limit))
        }
        std::io::ErrorKind::ConnectionRefused => {
            anyhow::Error::new(error).context(Failure::Unreachable(peer.to_string()))
        }
        _ => anyhow::Error::new(error).context("no reply datagram"),
    })?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// One FIFO exchange: a reply FIFO is created and opened first, then the framed request
/// is written in one `write()`, then the reply is read until the daemon closes it.
fn fifo_exchange(
    fifo: &Path,
    reply_dir: &Path,
    request: &str,
    limit: Duration,
) -> anyhow::Result<String> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::fs::{mknodat, open, FileType, Mode, OFlags, CWD};
    use std::io::Write;
    let name = format!("miwa_reply_{}", std::process::id());
    let path = reply_dir.join(&name);
    let _ = std::fs::remove_file(&path);
    mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o600), 0)?;
    share_with_directory_group(&path, reply_dir);
    let outcome = (|| {
        let fd = open(
            &path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        // Non-blocking, so that a FIFO nobody reads fails at once (ENXIO) instead of
        // waiting for a reader; then blocking again for the write.
        let server = open(
            fifo,
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| Failure::Unreachable(fifo.display().to_string()))?;
        rustix::fs::fcntl_setfl(&server, OFlags::WRONLY)?;
        let mut server = std::fs::File::from(server);
        server.write_all(format!(":{name}:{request}").as_bytes())?;
        drop(server);
        let deadline = std::time::Instant::now() + limit;
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Failure::TimedOut(limit).into());
            }
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            poll(&mut fds, Some(&Timespec::try_from(left)?))?;
            if fds[0].revents().is_empty() {
                continue;
            }
            loop {
                match rustix::io::read(&fd, &mut buf) {
                    Ok(0) => return Ok(String::from_utf8_lossy(&out).into_owned()),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    })();
    let _ = std::fs::remove_file(&path);
    outcome
}

/// Lets the group of `dir` write the reply FIFO at `path` when that group is not the
/// caller's: a daemon running as its own user (the Debian package's `miwa`, whose
/// `/run/miwa` is group `miwa`) can then answer a client of that group. Nobody else may
/// write it. Best effort: without the right to change the group, the FIFO stays 0600.
fn share_with_directory_group(path: &Path, dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(dir_group) = std::fs::metadata(dir).map(|m| m.gid()) else {
        return;
    };
    if dir_group == rustix::process::getegid().as_raw() {
        return;
    }
    let group = rustix::fs::Gid::from_raw(dir_group);
    if rustix::fs::chown(path, None, Some(group)).is_ok() {
        let _ = rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(0o620));
    }
}

/// Runs `future` to completion on a runtime of its own.
pub fn run_async<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

/// A TLS client configuration trusting `ca_file`'s certificates, or the public web roots.
pub fn tls_connector(ca_file: Option<&Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for certificate in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                let certificate =
                    certificate.with_context(|| format!("bad PEM in {}", path.display()))?;
                roots
                    .add(certificate)
                    .with_context(|| format!("unusable certificate in {}", path.display()))?;
            }
            if roots.is_empty() {
                bail!("no certificate in {}", path.display());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

/// Sends `request` over an HTTP/1.1 connection on `stream`.
async fn send<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}

/// What an HTTP refusal means to a `miwa call` user.
fn refusal(status: hyper::StatusCode) -> String {
    let hint = match status.as_u16() {
        401 => ": credentials needed or wrong (--user with MIWA_PASSWORD, or --token / MIWA_TOKEN)",
        429 => ": too many failed authentications from this address; wait and retry",
        503 => ": the daemon is busy (too many connections)",
        _ => "",
    };
    format!("HTTP error {status}{hint}")
}

/// A byte stream to a daemon, over plain TCP or TLS.
pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Where a URL leads: its parsed form, host and port, and an open stream there (TLS when
/// its scheme is `secure_scheme`, trusting `ca_file`).
pub(crate) struct Connected {
    pub uri: hyper::Uri,
    pub host: String,
    pub port: u16,
    pub stream: Box<dyn Io>,
}

/// Connects to `url`, whose scheme must be `plain_scheme` or `secure_scheme`.
pub(crate) async fn connect(
    url: &str,
    plain_scheme: &str,
    secure_scheme: &str,
    ca_file: Option<&Path>,
) -> anyhow::Result<Connected> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    let secure = match uri.scheme_str() {
        Some(scheme) if scheme == plain_scheme => false,
        Some(scheme) if scheme == secure_scheme => true,
        _ => bail!("only {plain_scheme}:// and {secure_scheme}:// URLs are supported here: {url}"),
    };
    let host = uri.host().context("URL without host")?.to_string();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| Failure::Unreachable(format!("{host}:{port}")))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if secure {
        let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']))
            .with_context(|| format!("bad server name {host}"))?
            .to_owned();
        Box::new(
            tls_connector(ca_file)?
                .connect(name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {host}:{port} failed"))?,
        )
    } else {
        Box::new(tcp)
    };
    Ok(Connected {
        uri,
        host,
        port,
        stream,
    })
}

/// POSTs `body` to the target's URL and returns the response body.
async fn post(target: &HttpTarget, content_type: &str, body: String) -> anyhow::Result<String> {
    let Connected {
        uri,
        host,
        port,
        stream,
    } = connect(&target.url, "http", "https", target.ca_file.as_deref()).await?;
    let mut request = Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::CONTENT_TYPE, content_type);
    if let Some(authorization) = &target.authorization {
        request = request.header(hyper::header::AUTHORIZATION, authorization);
    }
    let request = request.body(Full::new(Bytes::from(body)))?;
    let response = send(stream, request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(Failure::Refused(refusal(status)).into());
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Why a reply holds no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The reply is a JSON-RPC error: `code: message (data)`.
    #[error("{0}")]
    Mi(String),
    /// The reply is not a JSON-RPC reply.
    #[error("{0}")]
    Unreadable(String),
}

/// The entry of `node` in a `nodes_run` result: its result, or its error line.
pub fn node_entry(result: &Value, node: &str) -> Result<Value, ReplyError> {
    let entry = result
        .get(node)
        .ok_or_else(|| ReplyError::Unreadable(format!("the reply has no entry for node {node}")))?;
    match (entry.get("result"), entry.get("error")) {
        (Some(result), _) => Ok(result.clone()),
        (None, Some(error)) => interpret(&serde_json::json!({"error": error}).to_string()),
        _ => Err(ReplyError::Unreadable(format!(
            "the entry of node {node} has neither result nor error"
        ))),
    }
}

/// What a reply means for the command line: the result, or an error line.
pub fn interpret(reply: &str) -> Result<Value, ReplyError> {
    let value: Value = serde_json::from_str(reply.trim()).map_err(|e| {
        ReplyError::Unreadable(format!("could not decode the reply ({e}): {reply}"))
    })?;
    if let Some(error) = value.get("error").filter(|e| e.is_object()) {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(500);
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(ReplyError::Mi(match error.get("data") {
            Some(Value::String(data)) => format!("{code}: {message} ({data})"),
            Some(data) if !data.is_null() => format!("{code}: {message} ({data})"),
            _ => format!("{code}: {message}"),
        }));
    }
    value
        .get("result")
        .cloned()
        .ok_or_else(|| ReplyError::Unreadable("a reply without result or error".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn opensips_cli_parameter_rules() {
        assert_eq!(build_params("ps", &[], false), json!({}));
        assert_eq!(
            build_params("log_level", &args(&["level=4"]), false),
            json!({"level": "4"})
        );
        assert_eq!(
            build_params("log_level", &args(&["4", "123"]), false),
            json!(["4", "123"])
        );
        assert_eq!(
            build_params("log_level", &args(&["level=4", "9"]), false),
            json!(["level=4", "9"])
        );
        assert_eq!(
            build_params("get_statistics", &args(&["core:", "shmem:"]), false),
            json!([["core:", "shmem:"]])
        );
        assert_eq!(
            build_params("get_statistics", &args(&["statistics=load: net:"]), false),
            json!({"statistics": ["load:", "net:"]})
        );
        assert_eq!(
            build_params("raise_event", &args(&["E_X", "a", "b"]), false),
            json!(["E_X", ["a", "b"]])
        );
        assert_eq!(
            build_params("raise_event", &args(&["E_X", "[\"a\", 5]"]), true),
            json!(["E_X", ["a", 5]])
        );
    }

    #[test]
    fn reply_interpretation() {
        assert_eq!(
            interpret(r#"{"jsonrpc":"2.0","result":{"a":1},"id":"1"}"#),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            interpret(r#"{"jsonrpc":"2.0","result":null,"id":"1"}"#),
            Ok(Value::Null)
        );
        assert_eq!(
            interpret(
                r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad PID"},"id":"1"}"#
            ),
            Err(ReplyError::Mi("-32602: Invalid params (Bad PID)".into()))
        );
        assert_eq!(
            interpret(
                r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown MI command"},"id":"1"}"#
            ),
            Err(ReplyError::Mi("404: unknown MI command".into()))
        );
        assert!(matches!(
            interpret("400 Parse_error"),
            Err(ReplyError::Unreadable(_))
        ));
    }
}
