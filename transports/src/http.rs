//! The HTTP server: JSON-RPC (`mi_http`) and XML-RPC (`mi_xmlrpc_ng`), with httpd's routing
//! and method rules.
//!
//! Differences from OpenSIPS, all deliberate: replies with an empty body complete at once;
//! the body limit is configurable and an oversize body gets `413`; a POST with an
//! unsupported `Content-Type` gets `415` instead of a dropped connection.

use crate::html;
use crate::tls::TlsIdentity;
use crate::xmlrpc::{self, CallError};
use crate::{Authentication, Dispatcher, Reply, Session, TransportKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mi_core::json::{object, Value};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Settings of the HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// URL root of the JSON-RPC handler (`mi` → `/mi`).
    pub root: String,
    /// URL root of the XML-RPC handler (`RPC2` → `/RPC2`); `None` disables it.
    pub xmlrpc_root: Option<String>,
    /// URL root of the HTML interface (`html` → `/html`); `None` disables it.
    pub html_root: Option<String>,
    /// Largest accepted request body, bytes; larger bodies get `413`.
    pub max_body: usize,
    /// How long a connection may stay without receiving a byte — idle between requests or
    /// stalled inside one (`None` = no limit).
    pub idle_timeout: Option<Duration>,
    /// Pretty-print JSON replies.
    pub pretty: bool,
    /// Deepest XML element nesting accepted in an XML-RPC call.
    pub max_xml_depth: usize,
    /// Deepest JSON nesting accepted in the HTML interface's `arg`.
    pub max_json_depth: u32,
    /// The built playground served at `/playground/` (`None` disables the route).
    pub playground_dir: Option<std::path::PathBuf>,
    /// WebSocket connections (`/ws`); `None` disables the route.
    pub ws: Option<crate::ws::WsSettings>,
    /// Event streams (`GET /events`); `None` disables the route.
    pub sse: Option<crate::sse::SseSettings>,
    /// Serve `GET /metrics` (the dispatcher's [`Dispatcher::scrape`]).
    pub metrics: bool,
    /// The MCP server at `/mcp`; `None` disables the route.
    pub mcp: Option<crate::mcp::McpSettings>,
    /// Connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// Header fields per request; more get `431`.
    pub max_headers: usize,
    /// Bytes of a request head (and of pipelined data read ahead); more get `431`.
    pub max_header_bytes: usize,
    /// Requests served on one connection before it is closed (`0`: no limit).
    pub max_requests_per_connection: u64,
    /// How long a client may take to send a request head once its first byte arrived, and
    /// then its body, and to finish a TLS handshake (`None` = no limit): slow clients are
    /// disconnected (head, handshake) or answered `408` (body).
    pub request_timeout: Option<Duration>,
    /// Serve HTTPS with this identity instead of plain HTTP.
    pub tls: Option<Arc<TlsIdentity>>,
    /// Bytes of request bodies being read and of replies not yet sent, over all
    /// connections; a body or reply that does not fit is answered `503`.
    pub max_buffered: usize,
    /// The names the daemon answers to in `Host` (see [`crate::browser`]).
    pub hosts: crate::browser::HostNames,
    /// The HTML page's form tokens.
    pub form_tokens: Arc<crate::browser::FormTokens>,
    /// Each client's share of `max_connections`.
    pub client_shares: Arc<crate::share::ClientShares>,
}

/// The bytes of request bodies and replies held at once, over all connections.
type Buffered = Arc<crate::budget::ByteBudget>;

/// A reply body: a whole one with the buffer budget it holds, given back once hyper drops
/// it (sent, or the connection gone), or an event stream's messages as they come.
pub struct HeldBody {
    body: Content,
    _held: Option<crate::budget::Share>,
}

/// What a [`HeldBody`] sends.
enum Content {
    Whole(Full<Bytes>),
    /// An event stream; each message sent counts as activity on the connection, so a
    /// stream the client reads is not idle, and one it stopped reading is.
    Stream(tokio::sync::mpsc::Receiver<Bytes>, Arc<Clock>),
    /// An MCP reply, whole or an event stream, counted as activity the same way.
    Mcp(crate::mcp::McpBody, Arc<Clock>),
}

impl hyper::body::Body for HeldBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match &mut self.get_mut().body {
            Content::Whole(body) => Pin::new(body).poll_frame(cx),
            Content::Stream(messages, clock) => messages.poll_recv(cx).map(|message| {
                message.map(|bytes| {
                    clock.active();
                    Ok(hyper::body::Frame::data(bytes))
                })
            }),
            Content::Mcp(body, clock) => Pin::new(body).poll_frame(cx).map(|frame| {
                if frame.is_some() {
                    clock.active();
                }
                frame
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            Content::Whole(body) => body.is_end_stream(),
            Content::Stream(..) => false,
            Content::Mcp(body, _) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match &self.body {
            Content::Whole(body) => body.size_hint(),
            Content::Stream(..) => hyper::body::SizeHint::default(),
            Content::Mcp(body, _) => body.size_hint(),
        }
    }
}

/// Takes `bytes` of the buffer budget, if they are free.
fn hold(budget: &Buffered, bytes: usize) -> Option<crate::budget::Share> {
    budget.take(bytes)
}

/// `response` holding its size of the budget; a `503` if the budget has no room for it.
fn held(response: Response<Full<Bytes>>, budget: &Buffered) -> Response<HeldBody> {
    use hyper::body::Body as _;
    let size = response.body().size_hint().exact().unwrap_or(0) as usize;
    match hold(budget, size) {
        Some(permit) => response.map(|body| HeldBody {
            body: Content::Whole(body),
            _held: Some(permit),
        }),
        None => {
            tracing::warn!(
                bytes = size,
                "reply refused: http.max_buffered is taken by other requests and replies"
            );
            busy().map(|body| HeldBody {
                body: Content::Whole(body),
                _held: None,
            })
        }
    }
}

/// `503 Service Unavailable` with `Retry-After`, for a body or reply over the budget.
fn busy() -> Response<Full<Bytes>> {
    let mut response = respond(StatusCode::SERVICE_UNAVAILABLE, HTML, Bytes::new());
    response
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The answer to a connection over `max_connections`.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Where the playground is served.
pub const PLAYGROUND_ROOT: &str = "playground";

const JSON: &str = "application/json";
const XML: &str = "text/xml; charset=utf-8";
const HTML: &str = "text/html";
const HTML_PAGE: &str = "text/html; charset=utf-8";
const BAD_URL: &str = "<html><body>Unable to parse URL!</body></html>";
const BAD_METHOD: &str = "<html><body>Unsupported HTTP request!</body></html>";
const UNAUTHORIZED: &str = "<html><body>Authentication required.</body></html>";
const FOREIGN_HOST: &str =
    "<html><body>This server does not answer to that host name (see http.hosts).</body></html>";
const CROSS_SITE: &str = "<html><body>Requests from another site's page are refused.</body></html>";
const THROTTLED: &str =
    "<html><body>Too many failed authentications: try again later.</body></html>";

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

/// The first path segment after `/root/`, if any: the node a request is addressed to.
fn node_segment<'p>(path: &'p str, root: &str) -> Option<&'p str> {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(root))
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split('/').next())
        .filter(|segment| !segment.is_empty())
}

/// Whether `path` belongs to the handler rooted at `root`: `/root` or `/root/…`.
fn under_root(path: &str, root: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(root))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// How a POST body is handled, from its `Content-Type`: the media type is what precedes
/// any `;`, blanks trimmed, compared case-insensitively; `application/json` by prefix, as
/// OpenSIPS's httpd does (so `application/json-rpc` is JSON too), `text/xml` exactly.
#[derive(Debug, PartialEq, Eq)]
enum BodyKind {
    /// `application/json` or `text/xml`: the raw body is the request.
    Raw,
    /// A form encoding: the handlers see no body (400, as in OpenSIPS).
    Form,
    /// Anything else, or no `Content-Type`: 415.
    Unsupported,
}

fn body_kind(request: &Request<Incoming>) -> BodyKind {
    media_kind(
        request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn media_kind(content_type: Option<&str>) -> BodyKind {
    let Some(value) = content_type else {
        return BodyKind::Unsupported;
    };
    let media = value.split(';').next().unwrap_or("").trim();
    let is = |name: &str| media.eq_ignore_ascii_case(name);
    let json = media
        .get(..JSON.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(JSON));
    if json || is("text/xml") {
        BodyKind::Raw
    } else if is("application/x-www-form-urlencoded") || is("multipart/form-data") {
        BodyKind::Form
    } else {
        BodyKind::Unsupported
    }
}

/// Which handler a path reaches.
enum Handler {
    JsonRpc,
    XmlRpc,
}

/// Which resource a path reaches.
enum Route {
    Metrics,
    OpenRpc,
    Playground,
    WebSocket,
    Html(String),
    Rpc(Handler),
}

impl Route {
    /// The name access control knows it by: `mi`, `xmlrpc`, `html`, `playground` or
    /// `metrics`.
    fn name(&self) -> &'static str {
        match self {
            Route::Metrics => "metrics",
            Route::OpenRpc => "mi",
            Route::Playground => "playground",
            Route::WebSocket => "mi",
            Route::Html(_) => "html",
            Route::Rpc(Handler::JsonRpc) => "mi",
            Route::Rpc(Handler::XmlRpc) => "xmlrpc",
        }
    }
}

/// The `arg` field of a query string or form body, if present.
fn arg_field(encoded: &[u8]) -> Option<String> {
    form_field(encoded, "arg")
}

/// The field `name` of a query string or form body, if present.
fn form_field(encoded: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(encoded)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The typed form fields of an HTML request: `p.<name>=<text>` pairs, in order, `p.`
/// stripped (see [`html::PageRequest::fields`]).
fn param_fields(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded)
        .filter_map(|(k, v)| Some((k.strip_prefix("p.")?.to_string(), v.into_owned())))
        .collect()
}

/// Who sends an HTML request: the role and identity its credentials were granted, and its
/// address.
struct Who {
    role: Option<String>,
    identity: Option<String>,
    peer: SocketAddr,
}

/// The HTML interface: GET (or a POSTed form) under the HTML root.
///
/// `/html/<node>/…` is the page of that node. The page is rendered on a blocking thread:
/// it runs several commands, which in front mode wait on the node.
async fn html(
    request: Request<Incoming>,
    root: &str,
    node: Option<String>,
    settings: &HttpSettings,
    dispatcher: Arc<dyn Dispatcher>,
    who: Who,
    budget: &Buffered,
) -> Response<Full<Bytes>> {
    let root = match &node {
        Some(node) => format!("{root}/{node}"),
        None => root.to_string(),
    };
    let path = request
        .uri()
        .path()
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(root.as_str()))
        .unwrap_or("")
        .to_string();
    let query = request
        .uri()
        .query()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let query_arg = arg_field(&query);
    let query_fields = param_fields(&query);
    let charts = html::ChartsRequest::from_query(request.uri().query());
    let post = request.method() == Method::POST;
    let (arg, fields, offered) = if post {
        let form = matches!(body_kind(&request), BodyKind::Form);
        let body = request.into_body();
        match collect_body(body, settings.max_body, settings.request_timeout, budget).await {
            Ok((body, _held)) if form => {
                let fields = param_fields(&body);
                let fields = if fields.is_empty() {
                    query_fields
                } else {
                    fields
                };
                (
                    arg_field(&body).or(query_arg),
                    fields,
                    form_field(&body, "csrf"),
                )
            }
            Ok(_) => (query_arg, query_fields, None),
            Err(StatusCode::SERVICE_UNAVAILABLE) => return busy(),
            Err(status) => return respond(status, HTML, Bytes::new()),
        }
    } else {
        (query_arg, query_fields, None)
    };
    let max_depth = settings.max_json_depth;
    let tokens = settings.form_tokens.clone();
    let rendering = tokio::task::spawn_blocking(move || {
        let session = Session::new(dispatcher.as_ref(), who.role.as_deref())
            .to_node(node.as_deref())
            .of(who.identity.as_deref(), Some(who.peer));
        let form_token = tokens.token(who.identity.as_deref(), node.as_deref());
        let request = html::PageRequest {
            path: &path,
            arg: arg.as_deref(),
            fields: &fields,
            post_form: post,
            form_token: &form_token,
            token_offered: post
                && tokens.valid(offered.as_deref(), who.identity.as_deref(), node.as_deref()),
            charts: &charts,
        };
        html::page(&root, &request, max_depth, &session)
    });
    let Ok(page) = rendering.await else {
        return respond(StatusCode::INTERNAL_SERVER_ERROR, HTML, Bytes::new());
    };
    let mut response = respond(
        StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK),
        HTML_PAGE,
        page.body,
    );
    crate::browser::protect_page(response.headers_mut());
    response
}

/// The answer to a request whose credentials were refused or throttled.
fn unauthorized(outcome: &Authentication) -> Option<Response<Full<Bytes>>> {
    match outcome {
        Authentication::Granted { .. } => None,
        Authentication::Refused | Authentication::Deferred(_) => {
            let mut response = respond(StatusCode::UNAUTHORIZED, HTML, UNAUTHORIZED);
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Basic realm=\"miwa\", charset=\"UTF-8\", Bearer realm=\"miwa\"",
                ),
            );
            Some(response)
        }
        Authentication::Throttled => {
            let mut response = respond(StatusCode::TOO_MANY_REQUESTS, HTML, THROTTLED);
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("60"));
            Some(response)
        }
    }
}

/// The access rules' version now ([`Dispatcher::access_changes`]; 0 when they never
/// change).
fn access_version(dispatcher: &dyn Dispatcher) -> u64 {
    dispatcher
        .access_changes()
        .map_or(0, |changes| *changes.borrow())
}

/// What `request`'s credentials are worth on `route`; a slow check (a password hash) runs
/// on a blocking thread.
async fn authenticate(
    request: &Request<Incoming>,
    peer: SocketAddr,
    dispatcher: &dyn Dispatcher,
    route: &str,
) -> Authentication {
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match dispatcher.authenticate(authorization, peer.ip(), route) {
        Authentication::Deferred(check) => tokio::task::spawn_blocking(move || check.check())
            .await
            .unwrap_or(Authentication::Refused),
        outcome => outcome,
    }
}

/// The answer to credentials that were not granted.
fn refusal(outcome: &Authentication) -> Response<Full<Bytes>> {
    unauthorized(outcome).unwrap_or_else(|| respond(StatusCode::UNAUTHORIZED, HTML, UNAUTHORIZED))
}

/// A whole reply that holds no share of the buffer budget (refusals and errors of the
/// streaming routes).
fn whole(response: Response<Full<Bytes>>) -> Response<HeldBody> {
    response.map(|body| HeldBody {
        body: Content::Whole(body),
        _held: None,
    })
}

/// `GET /events?subscribe=…`: an event stream, authenticated as route `mi`.
async fn event_stream(
    request: Request<Incoming>,
    peer: SocketAddr,
    settings: &crate::sse::SseSettings,
    dispatcher: Arc<dyn Dispatcher>,
    clock: Arc<Clock>,
) -> Response<HeldBody> {
    let ticket = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "ticket")
            .map(|(_, value)| value.into_owned())
    });
    let mut granted_at = access_version(dispatcher.as_ref());
    let outcome = match (ticket, &settings.tickets) {
        (Some(ticket), Some(tickets)) => match tickets.redeem(&ticket) {
            Some(holder) => {
                granted_at = holder.granted_at;
                Authentication::Granted {
                    role: holder.role,
                    identity: holder.identity,
                }
            }
            None => Authentication::Refused,
        },
        _ => authenticate(&request, peer, dispatcher.as_ref(), "mi").await,
    };
    let Authentication::Granted { role, identity } = outcome else {
        return whole(refusal(&outcome));
    };
    let caller = crate::sse::SseCaller {
        role,
        identity,
        peer,
        granted_at,
    };
    let node = node_segment(request.uri().path(), crate::sse::SSE_ROOT).map(str::to_string);
    match crate::sse::open(request.uri().query(), node, settings, dispatcher, caller).await {
        Ok(stream) => {
            clock.streaming.store(true, Ordering::Relaxed);
            let mut response = Response::new(HeldBody {
                body: Content::Stream(stream.messages, clock),
                _held: None,
            });
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(
                hyper::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            );
            response
        }
        Err(refusal) => whole(respond(
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST),
            JSON,
            refusal.body,
        )),
    }
}

/// The answer to a request whose `Host` names another server (`421`) or that a page of
/// another site sent (`403`); `None` for any other.
fn browser_refusal(
    settings: &HttpSettings,
    request: &Request<Incoming>,
    peer: SocketAddr,
) -> Option<Response<Full<Bytes>>> {
    match settings.hosts.check(request.headers()) {
        Ok(()) => None,
        Err(crate::browser::Refusal::ForeignHost) => {
            tracing::warn!(%peer, path = request.uri().path(), "HTTP request refused: Host names another server");
            Some(respond(StatusCode::MISDIRECTED_REQUEST, HTML, FOREIGN_HOST))
        }
        Err(crate::browser::Refusal::CrossSite) => {
            tracing::warn!(%peer, path = request.uri().path(), "HTTP request refused: sent from another site's page");
            Some(respond(StatusCode::FORBIDDEN, HTML, CROSS_SITE))
        }
    }
}

/// `/mcp` (GET, POST, DELETE): the MCP server, once the `Host` and `Origin` rules, the
/// credentials (as route `mi`) and the body limits passed.
async fn mcp_request(
    request: Request<Incoming>,
    peer: SocketAddr,
    settings: &HttpSettings,
    route: &crate::mcp::McpRoute,
    dispatcher: Arc<dyn Dispatcher>,
    budget: &Buffered,
    clock: Arc<Clock>,
) -> Response<HeldBody> {
    if let Some(refused) = browser_refusal(settings, &request, peer) {
        return whole(refused);
    }
    let granted_at = access_version(dispatcher.as_ref());
    let outcome = authenticate(&request, peer, dispatcher.as_ref(), "mi").await;
    let Authentication::Granted { role, identity } = outcome else {
        return whole(refusal(&outcome));
    };
    let node = node_segment(request.uri().path(), crate::mcp::MCP_ROOT).map(str::to_string);
    if let Some(name) = &node {
        if !dispatcher.nodes().contains(name) {
            return whole(respond(StatusCode::NOT_FOUND, HTML, Bytes::new()));
        }
    }
    let (parts, body) = request.into_parts();
    let (body, _held) = match parts.method {
        Method::POST => {
            match collect_body(body, settings.max_body, settings.request_timeout, budget).await {
                Ok(read) => read,
                Err(StatusCode::SERVICE_UNAVAILABLE) => return whole(busy()),
                Err(status) => return whole(respond(status, JSON, Bytes::new())),
            }
        }
        Method::GET | Method::DELETE => (Bytes::new(), None),
        _ => return whole(respond(StatusCode::METHOD_NOT_ALLOWED, HTML, Bytes::new())),
    };
    let caller = crate::mcp::McpCaller {
        role,
        identity,
        peer: Some(peer),
        node,
        granted_at,
    };
    let response = route.serve(parts, body, caller).await;
    response.map(|body| HeldBody {
        body: Content::Mcp(body, clock),
        _held: None,
    })
}

async fn serve_request(
    request: Request<Incoming>,
    peer: SocketAddr,
    settings: Arc<HttpSettings>,
    dispatcher: Arc<dyn Dispatcher>,
    budget: &Buffered,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if request.method() != Method::GET && request.method() != Method::POST {
        let mut response = respond(StatusCode::NOT_ACCEPTABLE, HTML, BAD_METHOD);
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    if let Some(refused) = browser_refusal(&settings, &request, peer) {
        return Ok(refused);
    }
    let path = request.uri().path();
    let route = if settings.metrics && under_root(path, crate::metrics::METRICS_ROOT) {
        Route::Metrics
    } else if path == crate::openrpc::OPENRPC_PATH {
        Route::OpenRpc
    } else if settings.ws.is_some() && under_root(path, crate::ws::WS_ROOT) {
        Route::WebSocket
    } else if settings.playground_dir.is_some() && under_root(path, PLAYGROUND_ROOT) {
        Route::Playground
    } else if let Some(root) = settings
        .html_root
        .as_deref()
        .filter(|root| under_root(path, root))
    {
        Route::Html(root.to_string())
    } else if under_root(path, &settings.root) {
        Route::Rpc(Handler::JsonRpc)
    } else if settings
        .xmlrpc_root
        .as_deref()
        .is_some_and(|root| under_root(path, root))
    {
        Route::Rpc(Handler::XmlRpc)
    } else {
        return Ok(respond(StatusCode::BAD_REQUEST, HTML, BAD_URL));
    };
    let offered_ticket = match (&route, &settings.ws) {
        (Route::WebSocket, Some(ws)) => crate::ws::offered_ticket(&request, &ws.tickets),
        _ => None,
    };
    // Read before the credentials are checked: a reload after it is one they may not
    // have seen.
    let mut granted_at = access_version(dispatcher.as_ref());
    let outcome = match offered_ticket {
        Some(Some(holder)) => {
            granted_at = holder.granted_at;
            Authentication::Granted {
                role: holder.role,
                identity: holder.identity,
            }
        }
        Some(None) => Authentication::Refused,
        None => authenticate(&request, peer, dispatcher.as_ref(), route.name()).await,
    };
    let Authentication::Granted { role, identity } = outcome else {
        return Ok(refusal(&outcome));
    };
    let session =
        Session::new(dispatcher.as_ref(), role.as_deref()).of(identity.as_deref(), Some(peer));
    let handler = match route {
        Route::Metrics if path.len() != crate::metrics::METRICS_ROOT.len() + 1 => {
            return Ok(respond(StatusCode::NOT_FOUND, HTML, Bytes::new()));
        }
        Route::Metrics if request.method() != Method::GET => {
            return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, HTML, Bytes::new()));
        }
        Route::Metrics => {
            let accept = request
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let query = request.uri().query();
            return Ok(
                crate::metrics::serve(dispatcher.as_ref(), role.as_deref(), query, accept).await,
            );
        }
        Route::OpenRpc if request.method() != Method::GET => {
            return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, HTML, Bytes::new()));
        }
        Route::OpenRpc => {
            let node = crate::openrpc::node_of(request.uri().query());
            let answer = crate::openrpc::answer(&session.to_node(node.as_deref()), true).await;
            return Ok(respond(
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                JSON,
                answer.body,
            ));
        }
        Route::Playground => {
            let dir = settings
                .playground_dir
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            return Ok(playground(path, dir, settings.ws.is_some()).await);
        }
        Route::Html(root) => {
            let nodes = dispatcher.nodes();
            let node = node_segment(path, &root)
                .filter(|segment| nodes.iter().any(|n| n == segment))
                .map(str::to_string);
            let who = Who {
                role: role.clone(),
                identity: identity.clone(),
                peer,
            };
            return Ok(html(
                request,
                &root,
                node,
                &settings,
                dispatcher.clone(),
                who,
                budget,
            )
            .await);
        }
        Route::WebSocket if request.method() == Method::POST => {
            let Some(ws) = settings
                .ws
                .as_ref()
                .filter(|_| path == crate::ws::TICKET_PATH)
            else {
                return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, HTML, Bytes::new()));
            };
            let owner = identity
                .clone()
                .unwrap_or_else(|| format!("address {}", peer.ip()));
            let holder = crate::ticket::Holder {
                role,
                identity,
                granted_at,
            };
            let Some(ticket) = ws.tickets.issue(holder, &owner) else {
                return Ok(respond(StatusCode::SERVICE_UNAVAILABLE, JSON, Bytes::new()));
            };
            let body = serde_json::json!({
                "ticket": ticket,
                "protocol": format!("{}{ticket}", crate::ticket::PROTOCOL_PREFIX),
                "expires_ms": ws.tickets.ttl().as_millis() as u64,
            })
            .to_string();
            let mut response = respond(StatusCode::OK, JSON, body);
            response.headers_mut().insert(
                hyper::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            );
            return Ok(response);
        }
        Route::WebSocket => {
            let Some(ws) = settings
                .ws
                .clone()
                .filter(|_| crate::ws::is_upgrade(&request))
            else {
                return Ok(respond(StatusCode::UPGRADE_REQUIRED, HTML, Bytes::new()));
            };
            let caller = crate::ws::WsCaller {
                role,
                identity,
                node: node_segment(path, crate::ws::WS_ROOT).map(str::to_string),
                peer,
                granted_at,
            };
            return Ok(crate::ws::accept(request, ws, dispatcher.clone(), caller));
        }
        Route::Rpc(handler) => handler,
    };
    let root = match handler {
        Handler::JsonRpc => settings.root.as_str(),
        Handler::XmlRpc => settings.xmlrpc_root.as_deref().unwrap_or_default(),
    };
    let node = node_segment(path, root).map(str::to_string);
    let session = session.to_node(node.as_deref());
    let content_type = match handler {
        Handler::JsonRpc => JSON,
        Handler::XmlRpc => XML,
    };
    let (body, _held) =
        match read_body(request, settings.max_body, settings.request_timeout, budget).await {
            Ok(read) => read,
            Err(StatusCode::SERVICE_UNAVAILABLE) => return Ok(busy()),
            Err(status) => return Ok(respond(status, content_type, Bytes::new())),
        };
    Ok(match handler {
        Handler::JsonRpc => json_rpc(&body, &settings, &session).await,
        Handler::XmlRpc => xml_rpc(&body, settings.max_xml_depth, &session).await,
    })
}

/// A playground file; `/playground` itself redirects to `/playground/` so that the page's
/// relative links resolve. `live.json` is the daemon's own answer, not a file: where the
/// page reaches this daemon (its WebSocket and tickets), so that the page offers its live
/// mode only when a daemon serves it.
async fn playground(path: &str, dir: &std::path::Path, ws: bool) -> Response<Full<Bytes>> {
    let rest = &path[PLAYGROUND_ROOT.len() + 1..];
    let Some(name) = rest.strip_prefix('/') else {
        let mut response = respond(StatusCode::MOVED_PERMANENTLY, HTML, Bytes::new());
        response.headers_mut().insert(
            hyper::header::LOCATION,
            HeaderValue::from_static("/playground/"),
        );
        return response;
    };
    if name == crate::playground::LIVE_FILE {
        return match ws {
            true => respond(StatusCode::OK, JSON, crate::playground::live_description()),
            false => respond(StatusCode::NOT_FOUND, JSON, Bytes::new()),
        };
    }
    let file = crate::playground::serve(dir, name).await;
    let mut response = respond(
        StatusCode::from_u16(file.status).unwrap_or(StatusCode::NOT_FOUND),
        file.content_type,
        file.body,
    );
    crate::browser::protect_page(response.headers_mut());
    response
}

/// What a body read holds of the buffer budget until the request is done.
type Held = Option<crate::budget::Share>;

/// The raw body of a POST, or the status refusing it (405 not a POST, 415 unsupported
/// `Content-Type`, 413 over the limit, 408 not all there within `limit`, 400 empty or
/// form-encoded, 503 no room in the buffer budget).
async fn read_body(
    request: Request<Incoming>,
    max_body: usize,
    limit: Option<Duration>,
    budget: &Buffered,
) -> Result<(Bytes, Held), StatusCode> {
    if request.method() == Method::GET {
        return Err(StatusCode::METHOD_NOT_ALLOWED);
    }
    let body_is_raw = match body_kind(&request) {
        BodyKind::Raw => true,
        BodyKind::Form => false,
        BodyKind::Unsupported => return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    let (body, held) = collect_body(request.into_body(), max_body, limit, budget).await?;
    if !body_is_raw || body.is_empty() {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok((body, held))
}

/// A whole request body and the budget it holds, or the status refusing it: 413 over
/// `max_body`, 408 not all there within `limit`, 400 broken off, 503 no room in the
/// buffer budget (taken chunk by chunk as the body arrives).
async fn collect_body(
    body: Incoming,
    max_body: usize,
    limit: Option<Duration>,
    budget: &Buffered,
) -> Result<(Bytes, Held), StatusCode> {
    let collecting = async {
        let mut body = Limited::new(body, max_body);
        let mut data = bytes::BytesMut::new();
        let mut held: Held = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| {
                if error
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                }
            })?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            let permit = hold(budget, chunk.len()).ok_or_else(|| {
                tracing::warn!("request body refused: http.max_buffered is taken");
                StatusCode::SERVICE_UNAVAILABLE
            })?;
            match &mut held {
                Some(all) => all.merge(permit),
                None => held = Some(permit),
            }
            data.extend_from_slice(&chunk);
        }
        Ok((data.freeze(), held))
    };
    match limit {
        Some(limit) => tokio::time::timeout(limit, collecting)
            .await
            .map_err(|_| StatusCode::REQUEST_TIMEOUT)?,
        None => collecting.await,
    }
}

/// A JSON-RPC request.
async fn json_rpc(
    body: &[u8],
    settings: &HttpSettings,
    session: &Session<'_>,
) -> Response<Full<Bytes>> {
    match session
        .dispatch_async(TransportKind::Http, body, settings.pretty)
        .await
    {
        Reply::Text(text) | Reply::ParseError(text) => respond(StatusCode::OK, JSON, text),
        Reply::Nothing => respond(StatusCode::ACCEPTED, JSON, Bytes::new()),
        Reply::Unprintable => respond(StatusCode::INTERNAL_SERVER_ERROR, JSON, Bytes::new()),
    }
}

/// An XML-RPC call: translated to JSON-RPC for the core, the reply translated back.
async fn xml_rpc(body: &[u8], max_depth: usize, session: &Session<'_>) -> Response<Full<Bytes>> {
    let fault = |code| respond(StatusCode::OK, XML, xmlrpc::fault(code, ""));
    let call = match xmlrpc::parse_call(body, max_depth) {
        Ok(call) => call,
        Err(CallError::Parse) => return fault(-32700),
        Err(CallError::Invalid) => return fault(-32600),
    };
    let params = match call.params {
        Ok(params) => params,
        Err(_) => {
            let probe = xmlrpc::request_text(
                "which",
                Some(object([("command", Value::str(call.method.as_str()))])),
            );
            let reply = session
                .dispatch_async(TransportKind::Xmlrpc, probe.as_bytes(), false)
                .await;
            let known = matches!(reply, Reply::Text(t) if !t.contains(r#""error""#));
            return fault(if known { -32600 } else { -32601 });
        }
    };
    let request = xmlrpc::request_text(&call.method, params);
    match session
        .dispatch_async(TransportKind::Xmlrpc, request.as_bytes(), false)
        .await
    {
        Reply::Text(text) | Reply::ParseError(text) => match xmlrpc::response(&text) {
            Some(xml) => respond(StatusCode::OK, XML, xml),
            None => respond(StatusCode::INTERNAL_SERVER_ERROR, XML, Bytes::new()),
        },
        Reply::Nothing | Reply::Unprintable => {
            respond(StatusCode::INTERNAL_SERVER_ERROR, XML, Bytes::new())
        }
    }
}

/// Serves HTTP on `listener` until `shutdown` turns true; then stops accepting, lets open
/// connections finish their current request, and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    settings: HttpSettings,
    dispatcher: Arc<dyn Dispatcher>,
    mut shutdown: watch::Receiver<bool>,
) {
    let settings = Arc::new(settings);
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.max_connections));
    let budget: Buffered = crate::budget::ByteBudget::new(settings.max_buffered);
    let mcp = settings.mcp.clone().map(|mcp| {
        Arc::new(crate::mcp::McpRoute::new(
            dispatcher.clone(),
            mcp,
            settings.max_body,
        ))
    });
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
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
        let refuse = |stream: TcpStream| {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = stream;
                let _ = stream.write_all(BUSY).await;
                let _ = stream.shutdown().await;
            });
        };
        let Some(share) = settings.client_shares.take(peer.ip()) else {
            tracing::warn!(%peer, "this client holds its share of http connections; refusing one");
            refuse(stream);
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many http connections; refusing one");
            refuse(stream);
            continue;
        };
        let listener = Listener {
            settings: settings.clone(),
            dispatcher: dispatcher.clone(),
            budget: budget.clone(),
            mcp: mcp.clone(),
        };
        let settings = settings.clone();
        let mut shutdown = shutdown.clone();
        connections.spawn(async move {
            match settings.tls.as_ref().map(|tls| tls.acceptor()) {
                None => serve_connection(stream, peer, listener, &mut shutdown).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    let secured = match settings.request_timeout.or(settings.idle_timeout) {
                        Some(limit) => tokio::time::timeout(limit, handshake)
                            .await
                            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
                        None => handshake.await,
                    };
                    match secured {
                        Ok(stream) => serve_connection(stream, peer, listener, &mut shutdown).await,
                        Err(error) => tracing::debug!(%peer, %error, "tls handshake failed"),
                    }
                }
            }
            drop((slot, share));
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// When a connection last received bytes and since when a request has been arriving, in
/// milliseconds since `epoch`, so one coarse per-connection timer can enforce
/// `conn_timeout` and `request_timeout` instead of timers per request.
#[derive(Debug)]
struct Clock {
    epoch: Instant,
    last_read: AtomicU64,
    /// When the first byte of a request head not yet handed to the service arrived, plus
    /// one; `0` when none is arriving.
    head_started: AtomicU64,
    /// A request is with the service (its body reading has its own deadline).
    in_service: std::sync::atomic::AtomicBool,
    /// The connection carries an event stream, which ends only when the client goes.
    streaming: std::sync::atomic::AtomicBool,
}

impl Clock {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_read: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            in_service: std::sync::atomic::AtomicBool::new(false),
            streaming: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn received(&self) {
        let now = self.now();
        self.last_read.store(now, Ordering::Relaxed);
        if !self.in_service.load(Ordering::Relaxed) {
            let _ = self.head_started.compare_exchange(
                0,
                now + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn service_started(&self) {
        self.in_service.store(true, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
    }

    fn service_ended(&self) {
        self.in_service.store(false, Ordering::Relaxed);
    }

    /// The connection made progress other than receiving (a streamed message was taken
    /// to be sent): it is not idle.
    fn active(&self) {
        self.last_read.store(self.now(), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        Duration::from_millis(
            self.now()
                .saturating_sub(self.last_read.load(Ordering::Relaxed)),
        )
    }

    fn head_arriving_for(&self) -> Option<Duration> {
        match self.head_started.load(Ordering::Relaxed) {
            0 => None,
            started => Some(Duration::from_millis(
                (self.now() + 1).saturating_sub(started),
            )),
        }
    }
}

/// A stream that tells its [`Clock`] when bytes arrive.
struct Watched<S> {
    inner: S,
    clock: Arc<Clock>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.received();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Waits for the next idle check, or forever when there is no idle limit.
async fn next_check(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// What every connection of one listener shares.
#[derive(Clone)]
struct Listener {
    settings: Arc<HttpSettings>,
    dispatcher: Arc<dyn Dispatcher>,
    budget: Buffered,
    mcp: Option<Arc<crate::mcp::McpRoute>>,
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    listener: Listener,
    shutdown: &mut watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Listener {
        settings,
        dispatcher,
        budget,
        mcp,
    } = listener;
    let service_settings = settings.clone();
    let served = Arc::new(AtomicU64::new(0));
    let limit = settings.max_requests_per_connection;
    let clock = Arc::new(Clock::new());
    let service_clock = clock.clone();
    let service = service_fn(move |request| {
        let settings = service_settings.clone();
        let dispatcher = dispatcher.clone();
        let served = served.clone();
        let clock = service_clock.clone();
        let budget = budget.clone();
        let mcp = mcp.clone();
        clock.service_started();
        async move {
            if let Some(route) = mcp
                .as_ref()
                .filter(|_| under_root(request.uri().path(), crate::mcp::MCP_ROOT))
            {
                let response = mcp_request(
                    request,
                    peer,
                    &settings,
                    route,
                    dispatcher,
                    &budget,
                    clock.clone(),
                )
                .await;
                clock.service_ended();
                return Ok::<_, hyper::Error>(response);
            }
            let streams = settings.sse.as_ref().filter(|_| {
                request.method() == Method::GET
                    && under_root(request.uri().path(), crate::sse::SSE_ROOT)
            });
            let mut response = match streams {
                Some(sse) => {
                    let sse = sse.clone();
                    let response =
                        event_stream(request, peer, &sse, dispatcher, clock.clone()).await;
                    clock.service_ended();
                    response
                }
                None => {
                    let served_request =
                        serve_request(request, peer, settings, dispatcher, &budget).await;
                    clock.service_ended();
                    held(served_request?, &budget)
                }
            };
            if limit > 0 && served.fetch_add(1, Ordering::Relaxed) + 1 >= limit {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, hyper::Error>(response)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .half_close(true)
        .max_headers(settings.max_headers)
        .max_buf_size(settings.max_header_bytes.max(8192));
    let io = Watched {
        inner: stream,
        clock: clock.clone(),
    };
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let idle = settings.idle_timeout;
    let slow = settings.request_timeout;
    let shortest = match (idle, slow) {
        (Some(idle), Some(slow)) => Some(idle.min(slow)),
        (idle, slow) => idle.or(slow),
    };
    let mut ticker = shortest.map(|limit| {
        let period = (limit / 4).max(Duration::from_millis(50));
        tokio::time::interval_at(tokio::time::Instant::now() + period, period)
    });
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "http connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed() => {
                if clock.streaming.load(Ordering::Relaxed) {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
                return;
            }
            _ = next_check(&mut ticker) => {
                if idle.is_some_and(|limit| clock.quiet_for() >= limit) {
                    tracing::debug!(%peer, "closing an idle http connection");
                    return;
                }
                let arriving = clock.head_arriving_for();
                if slow.is_some_and(|limit| arriving.is_some_and(|took| took >= limit)) {
                    tracing::info!(%peer, "closing a connection whose request head is too slow");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{media_kind, under_root, BodyKind};

    #[test]
    fn content_types_follow_opensips() {
        let raw = [
            "application/json",
            "application/json-rpc",
            "APPLICATION/JSON",
            "application/jsonfoo",
            " application/json ; charset=utf-8",
            "application/json\t",
            "text/xml",
            "Text/XML; charset=utf-8",
        ];
        for value in raw {
            assert_eq!(media_kind(Some(value)), BodyKind::Raw, "{value:?}");
        }
        for value in [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert_eq!(media_kind(Some(value)), BodyKind::Form, "{value:?}");
        }
        let refused = [
            "text/xmlx",
            "text/xml-rpc",
            "application/jso",
            "text/plain",
            "text/html",
            "application/xml",
            "",
        ];
        for value in refused {
            assert_eq!(media_kind(Some(value)), BodyKind::Unsupported, "{value:?}");
        }
        assert_eq!(media_kind(None), BodyKind::Unsupported);
    }

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
