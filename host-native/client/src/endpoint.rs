//! One exchange of a command line (`miwa call`, `miwa script`, the tests): an
//! [`Endpoint`] says where, [`Endpoint::exchange`] sends one request over a [`Link`] (or
//! a WebSocket) and waits for its reply, and a [`Failure`] says how it failed, for the
//! exit code.

use crate::link::{Framing, HttpOptions, Link, LinkError, ReplyAccess};
use crate::{credentials, reply, ws};
use hyper::header::HeaderValue;
use std::path::PathBuf;
use std::time::Duration;

/// An HTTP(S) or WebSocket URL and how to authenticate to it.
#[derive(Debug, Clone, Default)]
pub struct HttpTarget {
    /// `http://host:port/path`, `https://…`, `ws://…` or `wss://…`; a `user:password@`
    /// in it is sent as HTTP Basic credentials when no `authorization` is given.
    pub url: String,
    /// The `Authorization` header to send (see [`crate::credentials`]).
    pub authorization: Option<HeaderValue>,
    /// A PEM file of certificates to trust for `https://` and `wss://` (default: the
    /// public web roots).
    pub ca_file: Option<PathBuf>,
}

impl HttpTarget {
    /// The URL without credentials, and the `Authorization` to send.
    pub(crate) fn resolve(&self) -> anyhow::Result<(hyper::Uri, Option<HeaderValue>)> {
        let stripped = credentials::strip(&self.url)?;
        let authorization = match (&self.authorization, &stripped.user) {
            (Some(given), _) => Some(given.clone()),
            (None, Some(user)) => Some(credentials::basic(user, stripped.password.as_deref())?),
            (None, None) => None,
        };
        Ok((stripped.uri, authorization))
    }

    /// An HTTP link to the URL posting `content_type`, and the `host:port` it reaches.
    fn link(&self, content_type: &'static str) -> anyhow::Result<(Link, String)> {
        let (uri, authorization) = self.resolve()?;
        let place = uri.authority().map_or("", |a| a.as_str()).to_string();
        let options = HttpOptions {
            authorization,
            ca_file: self.ca_file.clone(),
            content_type,
            ..HttpOptions::default()
        };
        Ok((Link::http(uri, options)?, place))
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
    /// A UNIX datagram socket (the reply socket is bound in the temporary directory).
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
    /// No reply within the timeout.
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

/// A command line reads replies of any size, one at a time.
const MAX_REPLY: usize = usize::MAX;

/// `error` of an exchange with `place`, with the [`Failure`] its exit code tells.
pub(crate) fn failure(error: LinkError, place: &str) -> anyhow::Error {
    match error {
        LinkError::Unreachable(_) => {
            anyhow::Error::new(error).context(Failure::Unreachable(place.to_string()))
        }
        LinkError::Status(status) => Failure::Refused(refusal(status)).into(),
        other => other.into(),
    }
}

/// What an HTTP refusal means to a `miwa call` user.
pub(crate) fn refusal(status: hyper::StatusCode) -> String {
    let hint = match status.as_u16() {
        401 => ": credentials needed or wrong (--user with MIWA_PASSWORD, or --token / MIWA_TOKEN)",
        429 => ": too many failed authentications from this address; wait and retry",
        503 => ": the daemon is busy (too many connections)",
        _ => "",
    };
    format!("HTTP error {status}{hint}")
}

impl Endpoint {
    /// Sends one JSON-RPC request text and returns the JSON-RPC reply text, waiting at
    /// most `limit` for it (connecting included). A reply to another id than the
    /// request's is refused.
    pub fn exchange(&self, request: &str, limit: Duration) -> anyhow::Result<String> {
        run_async(async {
            tokio::time::timeout(limit, self.send(request))
                .await
                .unwrap_or_else(|_| Err(Failure::TimedOut(limit).into()))
        })
    }

    async fn send(&self, request: &str) -> anyhow::Result<String> {
        let text = match self {
            Endpoint::Xmlrpc(target) => return xmlrpc(target, request).await,
            Endpoint::Ws(target) => ws::exchange(target, request).await?,
            Endpoint::Http(target) => {
                let (link, place) = target.link("application/json")?;
                over(&link, request.as_bytes(), &place).await?
            }
            Endpoint::Udp(address) => {
                let link = Link::udp(address);
                over(&link, request.as_bytes(), &link.describe()).await?
            }
            Endpoint::Unix(path) => {
                let link = Link::unix(path, &std::env::temp_dir(), ReplyAccess::DirectoryGroup);
                over(&link, request.as_bytes(), &path.display().to_string()).await?
            }
            Endpoint::Fifo { fifo, reply_dir } => {
                let link = Link::fifo(
                    fifo,
                    reply_dir,
                    Framing::Opensips,
                    ReplyAccess::DirectoryGroup,
                );
                over(&link, request.as_bytes(), &fifo.display().to_string()).await?
            }
        };
        if let Some(id) = reply::request_id(request) {
            reply::check(&text, &id)?;
        }
        Ok(text)
    }
}

/// Endpoints tried in order: the next one only when nothing listens at one
/// ([`Failure::Unreachable`]), so that the request reached no server and sending it again
/// cannot run it twice. A timeout or a refusal ends the exchange.
#[derive(Debug, Clone)]
pub struct Endpoints(pub Vec<Endpoint>);

impl Endpoints {
    /// [`Endpoint::exchange`] with the first endpoint that listens; each may take `limit`.
    pub fn exchange(&self, request: &str, limit: Duration) -> anyhow::Result<String> {
        let mut last = None;
        for endpoint in &self.0 {
            match endpoint.exchange(request, limit) {
                Err(error) if matches!(Failure::of(&error), Some(Failure::Unreachable(_))) => {
                    last = Some(error);
                }
                outcome => return outcome,
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no endpoint to send to")))
    }
}

/// One exchange over `link`, as text.
async fn over(link: &Link, request: &[u8], place: &str) -> anyhow::Result<String> {
    let reply = link
        .exchange(request, MAX_REPLY)
        .await
        .map_err(|error| failure(error, place))?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// The request as an XML-RPC call, and its XML-RPC reply as a JSON-RPC reply text.
async fn xmlrpc(target: &HttpTarget, request: &str) -> anyhow::Result<String> {
    let (parsed, _) = mi_core::json::parse(request.as_bytes(), 128)
        .map_err(|_| anyhow::anyhow!("bad request"))?;
    let method = match parsed.get_ci("method") {
        Some(mi_core::json::Value::String(m)) => m.clone(),
        _ => anyhow::bail!("request without method"),
    };
    let call = transports::xmlrpc::call_text(&method, parsed.get_ci("params"));
    let (link, place) = target.link("text/xml")?;
    let body = over(&link, call.as_bytes(), &place).await?;
    let reply = transports::xmlrpc::parse_response(body.as_bytes())
        .map_err(|e| anyhow::anyhow!("bad XML-RPC reply ({e:?}): {body}"))?;
    Ok(mi_core::json::to_compact(&reply))
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
