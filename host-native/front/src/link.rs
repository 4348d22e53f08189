//! The wire to one node: one JSON-RPC exchange over its FIFO, datagram socket or HTTP URL.
//!
//! Every exchange has its own reply channel, so a reply can only reach the request it
//! answers: a reply FIFO per request, a datagram socket that is used for one exchange at a
//! time and dropped (late replies with it) when the exchange fails, an HTTP/1.1
//! connection that carries one request at a time.

use super::settings::{Dialect, UpstreamConfig, OPENSIPS_FIFO_REQUEST};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why an exchange with a node gave no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LinkError {
    /// The node could not be reached: no FIFO reader, connection refused, no socket.
    #[error("{0}")]
    Unreachable(String),
    /// The reply is not a JSON-RPC reply (garbage, half a reply, an HTTP error).
    #[error("{0}")]
    BadReply(String),
    /// The reply is over the upstream's `max_reply`.
    #[error("the reply is over the {0}-byte limit (max_reply)")]
    TooLarge(usize),
    /// The node's datagram reply said the answer does not fit a datagram.
    #[error("the node answered `500 Internal error`: its reply may not fit a datagram")]
    DatagramOverflow,
    /// Replies being read from nodes hold all of `front.max_buffered`.
    #[error("replies being read from the nodes hold all of front.max_buffered")]
    NoRoom,
}

/// The bytes of node replies being read at once, over all nodes (`front.max_buffered`).
pub(crate) type Budget = Arc<transports::budget::ByteBudget>;

/// What a reply being read holds of the budget.
type Held = Option<transports::budget::Share>;

/// Takes `bytes` more of `budget` into `held`.
fn hold(budget: &Budget, held: &mut Held, bytes: usize) -> Result<(), LinkError> {
    let permit = budget.take(bytes).ok_or(LinkError::NoRoom)?;
    match held {
        Some(all) => all.merge(permit),
        None => *held = Some(permit),
    }
    Ok(())
}

/// Largest datagram a node can send (OpenSIPS's reply buffer is 65457 bytes).
const DATAGRAM: usize = 65536;

/// Distinguishes the reply FIFOs and sockets of this daemon's exchanges.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn unique_name(prefix: &str) -> String {
    format!(
        "miwa_{prefix}_{}_{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A file that is removed when the exchange that created it ends.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A bound UNIX datagram socket, its file removed when it is dropped.
pub(crate) struct UnixSocket {
    socket: tokio::net::UnixDatagram,
    _path: Removed,
}

/// How requests reach one node.
pub(crate) enum Link {
    /// The node's request FIFO; replies come back on a FIFO made per request.
    Fifo {
        /// The node's FIFO.
        path: PathBuf,
        /// Where reply FIFOs are made (the node's reply directory).
        reply_dir: PathBuf,
        /// How the reply FIFO's name is passed.
        dialect: Dialect,
        /// What replies being read may hold.
        budget: Budget,
    },
    /// The node's UDP socket; idle connected sockets are kept for reuse.
    Udp {
        /// `host:port`.
        address: String,
        /// Sockets whose last exchange completed, with their receive buffers.
        idle: Mutex<Vec<(tokio::net::UdpSocket, Vec<u8>)>>,
    },
    /// The node's UNIX datagram socket; each local socket is bound in `reply_dir`.
    Unix {
        /// The node's socket.
        path: PathBuf,
        /// Where local sockets are bound.
        reply_dir: PathBuf,
        /// Sockets whose last exchange completed, with their receive buffers.
        idle: Mutex<Vec<(UnixSocket, Vec<u8>)>>,
    },
    /// JSON-RPC over HTTP(S); idle keep-alive connections are kept for reuse.
    Http {
        /// The request target.
        uri: hyper::Uri,
        /// `host:port`, for connecting and the `Host` header.
        authority: String,
        /// For `https://`.
        tls: Option<tokio_rustls::TlsConnector>,
        /// Connections ready for another request.
        idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
        /// What replies being read may hold.
        budget: Budget,
        /// `Authorization` of every request (basic authentication), if the node needs it.
        authorization: Option<hyper::header::HeaderValue>,
        /// Largest request body the node's server takes (`max_http_request`).
        max_request: usize,
    },
}

/// Largest request sent in one datagram (OpenSIPS's receive buffer).
pub(crate) const DATAGRAM_REQUEST: usize = 65457;

/// Longest reply FIFO name [`unique_name`] makes (`miwa_front_<pid>_<sequence>`).
const REPLY_NAME: usize = 48;

/// Largest request sent to an OpenSIPS FIFO: its read of at most 4096 bytes, less the
/// framing `:<reply name>:` and the newline.
pub(crate) const OPENSIPS_FIFO_JSON: usize = OPENSIPS_FIFO_REQUEST - REPLY_NAME - 3;

/// Mode of the reply FIFOs and sockets the node writes to: owner read-write, others may
/// only write (the node may run as another user); a reply must still carry its request's
/// id to be taken.
const REPLY_MODE: u32 = 0o622;

impl Link {
    /// The datagram link (`udp` or `unix`) of `config`, if it has one.
    pub fn datagram(config: &UpstreamConfig) -> Option<Link> {
        if let Some(address) = &config.udp {
            return Some(Link::Udp {
                address: address.strip_prefix("udp:").unwrap_or(address).to_string(),
                idle: Mutex::new(Vec::new()),
            });
        }
        config.unix.as_ref().map(|path| Link::Unix {
            path: path.clone(),
            reply_dir: config.reply_dir.clone(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The stream link (`fifo` or `url`) of `config`, if it has one.
    /// Its replies are read within `budget`.
    pub fn stream(config: &UpstreamConfig, budget: &Budget) -> anyhow::Result<Option<Link>> {
        if let Some(path) = &config.fifo {
            return Ok(Some(Link::Fifo {
                path: path.clone(),
                reply_dir: config.reply_dir.clone(),
                dialect: config.dialect,
                budget: budget.clone(),
            }));
        }
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let (uri, user, password) = without_credentials(url)?;
        let password = match &config.password_file {
            Some(file) => Some(read_password(file)?),
            None => password,
        };
        let authorization = user.map(|user| basic_authorization(&user, password.as_deref()));
        let secure = uri.scheme_str() == Some("https");
        let host = uri.host().unwrap_or("localhost").to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = secure
            .then(|| miwa_client::tls_connector(config.cacert.as_deref()))
            .transpose()?;
        Ok(Some(Link::Http {
            uri,
            authority: format!("{host}:{port}"),
            tls,
            idle: Mutex::new(Vec::new()),
            budget: budget.clone(),
            authorization: authorization.transpose()?,
            max_request: config.http_request_limit(),
        }))
    }

    /// Drops the idle sockets and connections (a UNIX reply socket's file with it).
    pub fn close(&self) {
        match self {
            Link::Fifo { .. } => {}
            Link::Udp { idle, .. } => drop(std::mem::take(&mut *lock(idle))),
            Link::Unix { idle, .. } => drop(std::mem::take(&mut *lock(idle))),
            Link::Http { idle, .. } => drop(std::mem::take(&mut *lock(idle))),
        }
    }

    /// `fifo:/path`, `udp:host:port`, `unix:/path` or the URL.
    pub fn describe(&self) -> String {
        match self {
            Link::Fifo { path, .. } => format!("fifo:{}", path.display()),
            Link::Udp { address, .. } => format!("udp:{address}"),
            Link::Unix { path, .. } => format!("unix:{}", path.display()),
            Link::Http { uri, .. } => uri.to_string(),
        }
    }

    /// The largest request (JSON text) the node takes over this link.
    pub fn max_request(&self) -> usize {
        match self {
            Link::Fifo {
                dialect: Dialect::Opensips,
                ..
            } => OPENSIPS_FIFO_JSON,
            Link::Fifo { .. } => usize::MAX,
            Link::Udp { .. } | Link::Unix { .. } => DATAGRAM_REQUEST,
            Link::Http { max_request, .. } => *max_request,
        }
    }

    /// The transport's name: `fifo`, `udp`, `unix` or `http`.
    pub fn kind(&self) -> &'static str {
        match self {
            Link::Fifo { .. } => "fifo",
            Link::Udp { .. } => "udp",
            Link::Unix { .. } => "unix",
            Link::Http { .. } => "http",
        }
    }

    /// Sends one request and returns the node's reply text (not yet checked). The caller
    /// bounds the time it may take; `max_reply` bounds its size.
    pub async fn exchange(&self, request: &[u8], max_reply: usize) -> Result<Vec<u8>, LinkError> {
        match self {
            Link::Fifo {
                path,
                reply_dir,
                dialect,
                budget,
            } => {
                let exchange = FifoExchange {
                    fifo: path,
                    reply_dir,
                    dialect: *dialect,
                    budget,
                };
                exchange.run(request, max_reply).await
            }
            Link::Udp { address, idle } => {
                let (socket, mut buffer) = match take(idle) {
                    Some(pooled) => pooled,
                    None => (udp_socket(address).await?, receive_buffer(max_reply)),
                };
                let reply =
                    datagram_exchange(Datagram::Udp(&socket), &mut buffer, request, max_reply)
                        .await?;
                keep(idle, (socket, buffer));
                Ok(reply)
            }
            Link::Unix {
                path,
                reply_dir,
                idle,
            } => {
                let (socket, mut buffer) = match take(idle) {
                    Some(pooled) => pooled,
                    None => (unix_socket(reply_dir)?, receive_buffer(max_reply)),
                };
                let reply = datagram_exchange(
                    Datagram::Unix(&socket.socket, path),
                    &mut buffer,
                    request,
                    max_reply,
                )
                .await
                .map_err(|error| match error {
                    LinkError::Unreachable(e) => {
                        LinkError::Unreachable(format!("{}: {e}", path.display()))
                    }
                    other => other,
                })?;
                keep(idle, (socket, buffer));
                Ok(reply)
            }
            Link::Http {
                uri,
                authority,
                tls,
                idle,
                budget,
                authorization,
                ..
            } => {
                let exchange = HttpExchange {
                    uri,
                    authority,
                    tls: tls.as_ref(),
                    idle,
                    budget,
                    authorization: authorization.as_ref(),
                };
                exchange.run(request, max_reply).await
            }
        }
    }
}

/// Most idle sockets or connections kept per link.
const IDLE: usize = 256;

fn lock<T>(idle: &Mutex<Vec<T>>) -> std::sync::MutexGuard<'_, Vec<T>> {
    idle.lock().unwrap_or_else(|e| e.into_inner())
}

fn take<T>(idle: &Mutex<Vec<T>>) -> Option<T> {
    lock(idle).pop()
}

fn keep<T>(idle: &Mutex<Vec<T>>, item: T) {
    let mut idle = lock(idle);
    if idle.len() < IDLE {
        idle.push(item);
    }
}

async fn udp_socket(address: &str) -> Result<tokio::net::UdpSocket, LinkError> {
    let unreachable = |e: std::io::Error| LinkError::Unreachable(format!("udp:{address}: {e}"));
    let target = tokio::net::lookup_host(address)
        .await
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| LinkError::Unreachable(format!("udp:{address}: no address")))?;
    let local = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(unreachable)?;
    socket.connect(target).await.map_err(unreachable)?;
    Ok(socket)
}

fn unix_socket(reply_dir: &Path) -> Result<UnixSocket, LinkError> {
    use std::os::unix::fs::PermissionsExt;
    let path = reply_dir.join(unique_name("front"));
    let socket = tokio::net::UnixDatagram::bind(&path).map_err(|e| {
        LinkError::Unreachable(format!(
            "cannot bind a reply socket in {}: {e}",
            reply_dir.display()
        ))
    })?;
    let path = Removed(path);
    let _ = std::fs::set_permissions(&path.0, std::fs::Permissions::from_mode(REPLY_MODE));
    Ok(UnixSocket {
        socket,
        _path: path,
    })
}

/// A datagram socket of one exchange.
enum Datagram<'a> {
    Udp(&'a tokio::net::UdpSocket),
    Unix(&'a tokio::net::UnixDatagram, &'a Path),
}

impl Datagram<'_> {
    async fn send(&self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Datagram::Udp(socket) => socket.send(data).await,
            Datagram::Unix(socket, to) => socket.send_to(data, to).await,
        }
    }

    async fn recv(&self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Datagram::Udp(socket) => socket.recv(buffer).await,
            Datagram::Unix(socket, _) => socket.recv(buffer).await,
        }
    }
}

/// A receive buffer for one pooled datagram socket: a whole datagram, or one byte more
/// than `max_reply`.
fn receive_buffer(max_reply: usize) -> Vec<u8> {
    vec![0u8; DATAGRAM.min(max_reply + 1)]
}

/// One datagram out, one back. A plain-text `500 Internal error` is OpenSIPS's answer for
/// a reply over its datagram buffer.
async fn datagram_exchange(
    socket: Datagram<'_>,
    buffer: &mut [u8],
    request: &[u8],
    max_reply: usize,
) -> Result<Vec<u8>, LinkError> {
    socket.send(request).await.map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::MSGSIZE.raw_os_error()) {
            LinkError::BadReply(format!("the request does not fit a datagram: {e}"))
        } else {
            LinkError::Unreachable(e.to_string())
        }
    })?;
    let length = socket
        .recv(buffer)
        .await
        .map_err(|e| LinkError::Unreachable(e.to_string()))?;
    if length > max_reply {
        return Err(LinkError::TooLarge(max_reply));
    }
    let reply = &buffer[..length];
    if reply.starts_with(b"500 Internal error") {
        return Err(LinkError::DatagramOverflow);
    }
    Ok(reply.to_vec())
}

/// One FIFO exchange: the reply FIFO is made and opened for reading, the framed request
/// written to the node's FIFO in one write, the reply read until the node closes it.
struct FifoExchange<'a> {
    fifo: &'a Path,
    reply_dir: &'a Path,
    dialect: Dialect,
    budget: &'a Budget,
}

impl FifoExchange<'_> {
    async fn run(&self, request: &[u8], max_reply: usize) -> Result<Vec<u8>, LinkError> {
        use rustix::fs::{mknodat, FileType, Mode, CWD};
        let (fifo, reply_dir) = (self.fifo, self.reply_dir);
        let name = unique_name("front");
        let path = reply_dir.join(&name);
        mknodat(
            CWD,
            &path,
            FileType::Fifo,
            Mode::from_raw_mode(REPLY_MODE),
            0,
        )
        .map_err(|e| {
            LinkError::Unreachable(format!(
                "cannot make a reply FIFO in {}: {e}",
                reply_dir.display()
            ))
        })?;
        let removed = Removed(path);
        let _ = rustix::fs::chmod(&removed.0, Mode::from_raw_mode(REPLY_MODE));
        let mut reply = tokio::net::unix::pipe::OpenOptions::new()
            .open_receiver(&removed.0)
            .map_err(|e| LinkError::Unreachable(format!("cannot open the reply FIFO: {e}")))?;
        let framed = match self.dialect {
            Dialect::Opensips => {
                let mut framed = format!(":{name}:").into_bytes();
                framed.extend_from_slice(request);
                framed.push(b'\n');
                framed
            }
            Dialect::Kamailio => with_reply_name(request, &name),
        };
        let mut node = tokio::net::unix::pipe::OpenOptions::new()
            .open_sender(fifo)
            .map_err(|e| LinkError::Unreachable(format!("fifo:{}: {e}", fifo.display())))?;
        node.write_all(&framed)
            .await
            .map_err(|e| LinkError::Unreachable(format!("fifo:{}: {e}", fifo.display())))?;
        drop(node);
        let mut out = Vec::new();
        let mut held: Held = None;
        let mut chunk = vec![0u8; 65536];
        loop {
            let read = reply
                .read(&mut chunk)
                .await
                .map_err(|e| LinkError::BadReply(format!("reading the reply FIFO: {e}")))?;
            if read == 0 {
                return Ok(out);
            }
            if out.len() + read > max_reply {
                return Err(LinkError::TooLarge(max_reply));
            }
            hold(self.budget, &mut held, read)?;
            out.extend_from_slice(&chunk[..read]);
        }
    }
}

/// A Kamailio FIFO request: the JSON object with `"reply_name"` as its first member.
fn with_reply_name(request: &[u8], name: &str) -> Vec<u8> {
    let start = request.iter().position(|b| *b == b'{').map_or(0, |i| i + 1);
    let mut framed = request[..start].to_vec();
    framed.extend_from_slice(format!("\"reply_name\":\"{name}\",").as_bytes());
    framed.extend_from_slice(&request[start..]);
    framed.push(b'\n');
    framed
}

/// `url` without its `user:password@` (percent-decoded), which never leaves the link:
/// the URI kept, shown and logged has none.
fn without_credentials(url: &str) -> anyhow::Result<(hyper::Uri, Option<String>, Option<String>)> {
    let uri: hyper::Uri = url.parse()?;
    let Some(authority) = uri.authority() else {
        return Ok((uri, None, None));
    };
    let Some((userinfo, host)) = authority.as_str().rsplit_once('@') else {
        return Ok((uri, None, None));
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (percent_decoded(user)?, Some(percent_decoded(password)?)),
        None => (percent_decoded(userinfo)?, None),
    };
    let host: hyper::http::uri::Authority = host.parse()?;
    let mut parts = uri.into_parts();
    parts.authority = Some(host);
    Ok((hyper::Uri::from_parts(parts)?, Some(user), password))
}

/// `text` with its `%XX` escapes decoded.
fn percent_decoded(text: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| anyhow::anyhow!("url: a bad %-escape in its credentials"))?;
            bytes.push(hex);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("url: its credentials are not UTF-8"))
}

/// The first line of `file`: a password.
fn read_password(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("password_file: {}: {e}", file.display()))?;
    let line = text.lines().next().unwrap_or_default();
    anyhow::ensure!(
        !line.is_empty(),
        "password_file: {} holds no password",
        file.display()
    );
    Ok(line.to_string())
}

/// `Basic <base64(user:password)>`, marked sensitive (never printed by hyper).
fn basic_authorization(
    user: &str,
    password: Option<&str>,
) -> anyhow::Result<hyper::header::HeaderValue> {
    use base64::Engine as _;
    let pair = format!("{user}:{}", password.unwrap_or_default());
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = hyper::header::HeaderValue::from_str(&format!("Basic {encoded}"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// One POST on an idle keep-alive connection, or a new one.
struct HttpExchange<'a> {
    uri: &'a hyper::Uri,
    authority: &'a str,
    tls: Option<&'a tokio_rustls::TlsConnector>,
    idle: &'a Mutex<Vec<SendRequest<Full<Bytes>>>>,
    budget: &'a Budget,
    authorization: Option<&'a hyper::header::HeaderValue>,
}

impl HttpExchange<'_> {
    async fn run(&self, request: &[u8], max_reply: usize) -> Result<Vec<u8>, LinkError> {
        let (uri, authority) = (self.uri, self.authority);
        let mut sender = loop {
            match take(self.idle) {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        break sender;
                    }
                }
                None => break connect(authority, self.tls).await?,
            }
        };
        let mut post = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(authorization) = self.authorization {
            post = post.header(hyper::header::AUTHORIZATION, authorization.clone());
        }
        let post = post
            .body(Full::new(Bytes::copy_from_slice(request)))
            .map_err(|e| LinkError::Unreachable(e.to_string()))?;
        let response = sender
            .send_request(post)
            .await
            .map_err(|e| LinkError::Unreachable(format!("{uri}: {e}")))?;
        let status = response.status();
        let mut body = response.into_body();
        let mut out = Vec::new();
        let mut held: Held = None;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| LinkError::BadReply(format!("the reply broke off: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if out.len() + data.len() > max_reply {
                return Err(LinkError::TooLarge(max_reply));
            }
            hold(self.budget, &mut held, data.len())?;
            out.extend_from_slice(&data);
        }
        keep(self.idle, sender);
        if !status.is_success() {
            return Err(LinkError::BadReply(format!("HTTP status {status}")));
        }
        Ok(out)
    }
}

async fn connect(
    authority: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<SendRequest<Full<Bytes>>, LinkError> {
    let unreachable =
        |e: &dyn std::fmt::Display| LinkError::Unreachable(format!("{authority}: {e}"));
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| unreachable(&e))?;
    let _ = stream.set_nodelay(true);
    match tls {
        None => handshake(stream).await.map_err(|e| unreachable(&e)),
        Some(tls) => {
            let host = authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host)
                .trim_matches(['[', ']']);
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| unreachable(&e))?;
            let stream = tls
                .connect(name, stream)
                .await
                .map_err(|e| unreachable(&format!("TLS: {e}")))?;
            handshake(stream).await.map_err(|e| unreachable(&e))
        }
    }
}

async fn handshake<S>(stream: S) -> hyper::Result<SendRequest<Full<Bytes>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_become_one_sensitive_header() {
        let (uri, user, password) =
            without_credentials("http://mi:p%40ss%3Aw@127.0.0.1:8888/mi").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:8888/mi");
        assert_eq!(
            (user.as_deref(), password.as_deref()),
            (Some("mi"), Some("p@ss:w"))
        );
        let header = basic_authorization("mi", password.as_deref()).unwrap();
        assert!(header.is_sensitive());
        assert_eq!(header, "Basic bWk6cEBzczp3");
        assert!(format!("{header:?}").contains("Sensitive"));
        let (plain, nobody, none) = without_credentials("https://node/mi").unwrap();
        assert_eq!(
            (plain.to_string(), nobody, none),
            ("https://node/mi".into(), None, None)
        );
        assert!(without_credentials("http://mi:%zz@node/mi").is_err());
        let config = UpstreamConfig {
            url: Some("http://mi@node:1/mi".into()),
            ..UpstreamConfig::default()
        };
        let budget = transports::budget::ByteBudget::new(1 << 20);
        let link = Link::stream(&config, &budget).unwrap().unwrap();
        assert_eq!(link.describe(), "http://node:1/mi");
        assert_eq!(
            link.max_request(),
            1024,
            "OpenSIPS httpd's receive_buf_size"
        );
    }

    #[test]
    fn kamailio_requests_carry_the_reply_name_first() {
        let framed = with_reply_name(br#" {"jsonrpc":"2.0","method":"core.ps","id":1}"#, "r1");
        assert_eq!(
            framed,
            b" {\"reply_name\":\"r1\",\"jsonrpc\":\"2.0\",\"method\":\"core.ps\",\"id\":1}\n"
        );
    }
}
