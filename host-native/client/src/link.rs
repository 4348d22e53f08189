//! The wire to one MI server: one JSON-RPC exchange over its FIFO, its UDP or UNIX
//! datagram socket, or its HTTP(S) URL, with idle sockets and connections pooled.
//!
//! Every exchange has its own reply channel, so a reply can only reach the request it
//! answers: a reply FIFO per request, a datagram socket that is used for one exchange at a
//! time and dropped (late replies with it) when the exchange fails, an HTTP/1.1
//! connection that carries one request at a time. [`crate::reply::check`] then holds the
//! reply to the request's id.
//!
//! A link bounds a reply's size (`max_reply`) and, given a [`Budget`], the bytes all
//! replies being read hold at once; the caller bounds the time an exchange may take.

use crate::tls::{self, Io};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why an exchange gave no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The server could not be reached: no FIFO reader, connection refused, no socket.
    #[error("{0}")]
    Unreachable(String),
    /// The TLS handshake failed (an untrusted certificate, another name).
    #[error("{0}")]
    Tls(String),
    /// The server answered an HTTP error status.
    #[error("HTTP status {0}")]
    Status(hyper::StatusCode),
    /// The reply is not a JSON-RPC reply (garbage, half a reply, a reply to another id).
    #[error("{0}")]
    BadReply(String),
    /// The reply is over the exchange's `max_reply`.
    #[error("the reply is over the {0}-byte limit (max_reply)")]
    TooLarge(usize),
    /// The datagram reply said the answer does not fit a datagram.
    #[error("the node answered `500 Internal error`: its reply may not fit a datagram")]
    DatagramOverflow,
    /// Replies being read hold all of the link's [`Budget`].
    #[error("replies being read from the nodes hold all of front.max_buffered")]
    NoRoom,
}

/// The bytes of replies being read at once, shared by the links given it.
pub type Budget = Arc<transports::budget::ByteBudget>;

/// What a reply being read holds of the budget.
type Held = Option<transports::budget::Share>;

/// Takes `bytes` more of `budget` (if there is one) into `held`.
fn hold(budget: Option<&Budget>, held: &mut Held, bytes: usize) -> Result<(), LinkError> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let permit = budget.take(bytes).ok_or(LinkError::NoRoom)?;
    match held {
        Some(all) => all.merge(permit),
        None => *held = Some(permit),
    }
    Ok(())
}

/// How a FIFO request names its reply FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// OpenSIPS (and miwa): `:<reply name>:<request>`.
    Opensips,
    /// Kamailio's jsonrpcs: `"reply_name"` as the request object's first member.
    Kamailio,
}

/// Who may write the reply FIFOs and reply sockets a link makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyAccess {
    /// Anyone may write (mode 0622), for a node that runs as another user; a reply must
    /// still carry its request's id to be taken.
    Anyone,
    /// The owner (0600); when the directory's group is not the caller's, that group too
    /// (0620), so a daemon running as its own user in its own group (the Debian package's
    /// `/run/miwa`) can answer. Best effort: without the right to change the group, 0600.
    DirectoryGroup,
}

impl ReplyAccess {
    /// Gives the file at `path`, made in `dir`, this access.
    fn apply(self, path: &Path, dir: &Path) {
        use rustix::fs::{chmod, Mode};
        match self {
            ReplyAccess::Anyone => {
                let _ = chmod(path, Mode::from_raw_mode(0o622));
            }
            ReplyAccess::DirectoryGroup => {
                let _ = chmod(path, Mode::from_raw_mode(0o600));
                share_with_directory_group(path, dir);
            }
        }
    }
}

/// Lets the group of `dir` write the file at `path` when that group is not the caller's.
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

/// Largest datagram a server can send (OpenSIPS's reply buffer is 65457 bytes).
const DATAGRAM: usize = 65536;

/// Largest request sent in one datagram (OpenSIPS's receive buffer).
const DATAGRAM_REQUEST: usize = 65457;

/// Largest request OpenSIPS's FIFO takes, bytes, framing included: it reads one request
/// in one read of at most this and drops the rest.
const OPENSIPS_FIFO_REQUEST: usize = 4096;

/// Longest reply FIFO name [`unique_name`] makes (`miwa_reply_<pid>_<sequence>`).
const REPLY_NAME: usize = 48;

/// Largest request (JSON text) sent to an OpenSIPS FIFO: its one read, less the framing
/// `:<reply name>:` and the newline.
const OPENSIPS_FIFO_JSON: usize = OPENSIPS_FIFO_REQUEST - REPLY_NAME - 3;

/// Distinguishes the reply FIFOs and sockets of this process's exchanges.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    format!(
        "miwa_reply_{}_{}",
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
struct UnixSocket {
    socket: tokio::net::UnixDatagram,
    _path: Removed,
}

/// The options of an HTTP link ([`Link::http`]).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `Authorization` of every request, if the server needs one (see
    /// [`crate::credentials`]).
    pub authorization: Option<hyper::header::HeaderValue>,
    /// For `https://`: the certificates to trust (default: the public web roots).
    pub ca_file: Option<PathBuf>,
    /// `Content-Type` of the requests: `application/json`, or `text/xml` for XML-RPC.
    pub content_type: &'static str,
    /// Largest request body the server takes.
    pub max_request: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            authorization: None,
            ca_file: None,
            content_type: "application/json",
            max_request: usize::MAX,
        }
    }
}

/// How requests reach one server.
pub struct Link {
    wire: Wire,
    /// What replies being read may hold, if they are bounded together.
    budget: Option<Budget>,
}

enum Wire {
    /// The server's request FIFO; replies come back on a FIFO made per request.
    Fifo {
        path: PathBuf,
        reply_dir: PathBuf,
        framing: Framing,
        access: ReplyAccess,
    },
    /// The server's UDP socket; idle connected sockets are kept for reuse.
    Udp {
        address: String,
        idle: Mutex<Vec<(tokio::net::UdpSocket, Vec<u8>)>>,
    },
    /// The server's UNIX datagram socket; each local socket is bound in `reply_dir`.
    Unix {
        path: PathBuf,
        reply_dir: PathBuf,
        access: ReplyAccess,
        idle: Mutex<Vec<(UnixSocket, Vec<u8>)>>,
    },
    /// HTTP(S); idle keep-alive connections are kept for reuse.
    Http {
        uri: hyper::Uri,
        /// `host:port`, for connecting and the `Host` header.
        authority: String,
        tls: Option<tokio_rustls::TlsConnector>,
        idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
        options: HttpOptions,
    },
}

impl Link {
    /// A link to the request FIFO at `path`; reply FIFOs are made in `reply_dir`.
    pub fn fifo(path: &Path, reply_dir: &Path, framing: Framing, access: ReplyAccess) -> Link {
        Link::over(Wire::Fifo {
            path: path.to_path_buf(),
            reply_dir: reply_dir.to_path_buf(),
            framing,
            access,
        })
    }

    /// A link to the UDP socket at `address` (`host:port`, or `udp:host:port`).
    pub fn udp(address: &str) -> Link {
        Link::over(Wire::Udp {
            address: address.strip_prefix("udp:").unwrap_or(address).to_string(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// A link to the UNIX datagram socket at `path`; local sockets are bound in
    /// `reply_dir`.
    pub fn unix(path: &Path, reply_dir: &Path, access: ReplyAccess) -> Link {
        Link::over(Wire::Unix {
            path: path.to_path_buf(),
            reply_dir: reply_dir.to_path_buf(),
            access,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// A link to the `http://` or `https://` URL `uri` (without credentials: they go in
    /// `options.authorization`).
    pub fn http(uri: hyper::Uri, options: HttpOptions) -> anyhow::Result<Link> {
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => anyhow::bail!("only http:// and https:// URLs are supported here: {uri}"),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("URL without host: {uri}"))?
            .to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = secure
            .then(|| tls::connector(options.ca_file.as_deref()))
            .transpose()?;
        Ok(Link::over(Wire::Http {
            uri,
            authority: format!("{host}:{port}"),
            tls,
            idle: Mutex::new(Vec::new()),
            options,
        }))
    }

    fn over(wire: Wire) -> Link {
        Link { wire, budget: None }
    }

    /// The link with its FIFO and HTTP replies read within `budget`.
    pub fn within(mut self, budget: &Budget) -> Link {
        self.budget = Some(budget.clone());
        self
    }

    /// Drops the idle sockets and connections (a UNIX reply socket's file with it).
    pub fn close(&self) {
        match &self.wire {
            Wire::Fifo { .. } => {}
            Wire::Udp { idle, .. } => drop(std::mem::take(&mut *lock(idle))),
            Wire::Unix { idle, .. } => drop(std::mem::take(&mut *lock(idle))),
            Wire::Http { idle, .. } => drop(std::mem::take(&mut *lock(idle))),
        }
    }

    /// `fifo:/path`, `udp:host:port`, `unix:/path` or the URL.
    pub fn describe(&self) -> String {
        match &self.wire {
            Wire::Fifo { path, .. } => format!("fifo:{}", path.display()),
            Wire::Udp { address, .. } => format!("udp:{address}"),
            Wire::Unix { path, .. } => format!("unix:{}", path.display()),
            Wire::Http { uri, .. } => uri.to_string(),
        }
    }

    /// The largest request (JSON text) the server takes over this link.
    pub fn max_request(&self) -> usize {
        match &self.wire {
            Wire::Fifo {
                framing: Framing::Opensips,
                ..
            } => OPENSIPS_FIFO_JSON,
            Wire::Fifo { .. } => usize::MAX,
            Wire::Udp { .. } | Wire::Unix { .. } => DATAGRAM_REQUEST,
            Wire::Http { options, .. } => options.max_request,
        }
    }

    /// The transport's name: `fifo`, `udp`, `unix` or `http`.
    pub fn kind(&self) -> &'static str {
        match &self.wire {
            Wire::Fifo { .. } => "fifo",
            Wire::Udp { .. } => "udp",
            Wire::Unix { .. } => "unix",
            Wire::Http { .. } => "http",
        }
    }

    /// Sends one request and returns the server's reply text (not yet checked: see
    /// [`crate::reply::check`]). The caller bounds the time it may take; `max_reply`
    /// bounds its size.
    pub async fn exchange(&self, request: &[u8], max_reply: usize) -> Result<Vec<u8>, LinkError> {
        let budget = self.budget.as_ref();
        match &self.wire {
            Wire::Fifo {
                path,
                reply_dir,
                framing,
                access,
            } => {
                let exchange = FifoExchange {
                    fifo: path,
                    reply_dir,
                    framing: *framing,
                    access: *access,
                    budget,
                };
                exchange.run(request, max_reply).await
            }
            Wire::Udp { address, idle } => {
                let (socket, mut buffer) = match take(idle) {
                    Some(pooled) => pooled,
                    None => (udp_socket(address).await?, receive_buffer(max_reply)),
                };
                let reply =
                    datagram_exchange(Datagram::Udp(&socket), &mut buffer, request, max_reply)
                        .await
                        .map_err(|error| match error {
                            LinkError::Unreachable(e) => {
                                LinkError::Unreachable(format!("udp:{address}: {e}"))
                            }
                            other => other,
                        })?;
                keep(idle, (socket, buffer));
                Ok(reply)
            }
            Wire::Unix {
                path,
                reply_dir,
                access,
                idle,
            } => {
                let (socket, mut buffer) = match take(idle) {
                    Some(pooled) => pooled,
                    None => (unix_socket(reply_dir, *access)?, receive_buffer(max_reply)),
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
            Wire::Http {
                uri,
                authority,
                tls,
                idle,
                options,
            } => {
                let exchange = HttpExchange {
                    uri,
                    authority,
                    tls: tls.as_ref(),
                    idle,
                    budget,
                    options,
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

fn unix_socket(reply_dir: &Path, access: ReplyAccess) -> Result<UnixSocket, LinkError> {
    let path = reply_dir.join(unique_name());
    let socket = tokio::net::UnixDatagram::bind(&path).map_err(|e| {
        LinkError::Unreachable(format!(
            "cannot bind a reply socket in {}: {e}",
            reply_dir.display()
        ))
    })?;
    let path = Removed(path);
    access.apply(&path.0, reply_dir);
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
    vec![0u8; DATAGRAM.min(max_reply.saturating_add(1))]
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
/// written to the server's FIFO in one write, the reply read until the server closes it.
/// The server's FIFO is opened without blocking, so one nobody reads fails at once.
struct FifoExchange<'a> {
    fifo: &'a Path,
    reply_dir: &'a Path,
    framing: Framing,
    access: ReplyAccess,
    budget: Option<&'a Budget>,
}

impl FifoExchange<'_> {
    async fn run(&self, request: &[u8], max_reply: usize) -> Result<Vec<u8>, LinkError> {
        use rustix::fs::{mknodat, FileType, Mode, CWD};
        let (fifo, reply_dir) = (self.fifo, self.reply_dir);
        let name = unique_name();
        let path = reply_dir.join(&name);
        mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).map_err(|e| {
            LinkError::Unreachable(format!(
                "cannot make a reply FIFO in {}: {e}",
                reply_dir.display()
            ))
        })?;
        let removed = Removed(path);
        self.access.apply(&removed.0, reply_dir);
        let mut reply = tokio::net::unix::pipe::OpenOptions::new()
            .open_receiver(&removed.0)
            .map_err(|e| LinkError::Unreachable(format!("cannot open the reply FIFO: {e}")))?;
        let framed = match self.framing {
            Framing::Opensips => {
                let mut framed = format!(":{name}:").into_bytes();
                framed.extend_from_slice(request);
                framed.push(b'\n');
                framed
            }
            Framing::Kamailio => with_reply_name(request, &name),
        };
        let mut server = tokio::net::unix::pipe::OpenOptions::new()
            .open_sender(fifo)
            .map_err(|e| LinkError::Unreachable(format!("fifo:{}: {e}", fifo.display())))?;
        server
            .write_all(&framed)
            .await
            .map_err(|e| LinkError::Unreachable(format!("fifo:{}: {e}", fifo.display())))?;
        drop(server);
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

/// One POST on an idle keep-alive connection, or a new one.
struct HttpExchange<'a> {
    uri: &'a hyper::Uri,
    authority: &'a str,
    tls: Option<&'a tokio_rustls::TlsConnector>,
    idle: &'a Mutex<Vec<SendRequest<Full<Bytes>>>>,
    budget: Option<&'a Budget>,
    options: &'a HttpOptions,
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
            .header(hyper::header::CONTENT_TYPE, self.options.content_type);
        if let Some(authorization) = &self.options.authorization {
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
            return Err(LinkError::Status(status));
        }
        Ok(out)
    }
}

async fn connect(
    authority: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<SendRequest<Full<Bytes>>, LinkError> {
    let stream = tls::open(authority, tls).await?;
    handshake(stream)
        .await
        .map_err(|e| LinkError::Unreachable(format!("{authority}: {e}")))
}

async fn handshake(stream: Box<dyn Io>) -> hyper::Result<SendRequest<Full<Bytes>>> {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamailio_requests_carry_the_reply_name_first() {
        let framed = with_reply_name(br#" {"jsonrpc":"2.0","method":"core.ps","id":1}"#, "r1");
        assert_eq!(
            framed,
            b" {\"reply_name\":\"r1\",\"jsonrpc\":\"2.0\",\"method\":\"core.ps\",\"id\":1}\n"
        );
    }

    #[test]
    fn limits_per_transport() {
        let http = Link::http(
            "http://node:1/mi".parse().unwrap(),
            HttpOptions {
                max_request: 1024,
                ..HttpOptions::default()
            },
        )
        .unwrap();
        assert_eq!((http.kind(), http.max_request()), ("http", 1024));
        assert_eq!(http.describe(), "http://node:1/mi");
        let fifo = Link::fifo(
            Path::new("/f"),
            Path::new("/tmp"),
            Framing::Opensips,
            ReplyAccess::Anyone,
        );
        assert_eq!(fifo.max_request(), 4096 - 48 - 3);
        assert_eq!(Link::udp("udp:h:1").describe(), "udp:h:1");
        assert!(Link::http("ftp://x/".parse().unwrap(), HttpOptions::default()).is_err());
    }
}
