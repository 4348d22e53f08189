//! JSON-RPC over WebSocket: `GET /ws` (`/ws/<node>` in front mode) upgraded to a WebSocket
//! (RFC 6455, framing by tungstenite) on which every text frame is a JSON-RPC request or
//! batch and gets, as one text frame, exactly the reply `/mi` gives; notifications get none.
//!
//! Authentication and roles are those of `/mi`, checked on the upgrade request
//! (`Authorization` header), or a single-use ticket offered as the subprotocol
//! `miwa.ticket.<ticket>`, for browsers ([`crate::ticket`]). Secure defaults:
//! - an upgrade from another site's page (an `Origin` naming another host than its
//!   `Host`, `Sec-Fetch-Site: cross-site`) or naming another host than the daemon is
//!   refused before it reaches here, as every HTTP request is ([`crate::browser`]);
//! - a message over `max_message` bytes closes the connection with code 1009, a binary
//!   frame with code 1003;
//! - the daemon pings a connection every `ping_interval` and closes it when nothing has
//!   arrived for two intervals (a half-open TCP connection is let go);
//! - requests on one connection run one at a time, in order; the socket is not read
//!   while a reply is being sent, so a client that does not read holds only its own
//!   connection.
//!
//! Each connection is a push channel ([`Dispatcher::open_channel`]): `event_subscribe`
//! with the socket `ws:` subscribes the connection itself, and every event it then raises
//! arrives as a text frame holding the JSON-RPC notification datagram subscribers get.
//! Notifications wait in the connection's bounded queue (the dispatcher's bounds) while a
//! request runs or the client is slow; what does not fit is dropped and counted. The
//! subscriptions end with the connection.

use crate::push::{ChannelKind, Pushed};
use crate::{ChannelId, Dispatcher, Reply, Session, TransportKind};
use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Where the WebSocket endpoint is served.
pub const WS_ROOT: &str = "ws";

/// Where a browser gets a ticket (`POST`, with its credentials): see [`crate::ticket`].
pub const TICKET_PATH: &str = "/ws/ticket";

/// Settings of WebSocket connections.
#[derive(Debug, Clone)]
pub struct WsSettings {
    /// Open WebSocket connections, at most: an upgrade past them is answered `503`.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Each client's share of `slots`: an upgrade past it is answered `503`.
    pub client_shares: Arc<crate::share::ClientShares>,
    /// Largest message (a request or batch), bytes; more closes the connection (1009).
    pub max_message: usize,
    /// How often the daemon pings; a connection silent for two periods is closed.
    pub ping_interval: Duration,
    /// Pretty-print replies.
    pub pretty: bool,
    /// Tickets issued at [`TICKET_PATH`] for upgrades that cannot carry credentials.
    pub tickets: Arc<crate::ticket::Tickets>,
}

/// The ticket an upgrade offers as its subprotocol, if it offers one: whom it was issued
/// to, or `None` inside when it is not outstanding (used, expired or never issued).
pub fn offered_ticket(
    request: &Request<Incoming>,
    tickets: &crate::ticket::Tickets,
) -> Option<Option<crate::ticket::Holder>> {
    Some(tickets.redeem(ticket_in(request)?))
}

/// The ticket among the subprotocols `request` offers.
fn ticket_in(request: &Request<Incoming>) -> Option<&str> {
    request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(crate::ticket::offered)
}

/// Whether `request` asks to be upgraded to a WebSocket.
pub fn is_upgrade(request: &Request<Incoming>) -> bool {
    let has = |name, token: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// Who the connection serves: its role and identity from the upgrade's credentials.
pub struct WsCaller {
    /// The role granted.
    pub role: Option<String>,
    /// Who the credentials name.
    pub identity: Option<String>,
    /// The node addressed (front mode).
    pub node: Option<String>,
    /// The peer.
    pub peer: std::net::SocketAddr,
    /// The access rules' version when its credentials were granted.
    pub granted_at: u64,
}

/// Answers an upgrade request: `101 Switching Protocols` and the connection served on a
/// task of its own once hyper hands it over, or the status refusing it (`400` a malformed
/// handshake).
pub fn accept(
    mut request: Request<Incoming>,
    settings: WsSettings,
    dispatcher: Arc<dyn Dispatcher>,
    caller: WsCaller,
) -> Response<Full<Bytes>> {
    let version_13 = request
        .headers()
        .get("sec-websocket-version")
        .is_some_and(|v| v == "13");
    let Some(key) = request
        .headers()
        .get("sec-websocket-key")
        .filter(|_| version_13)
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return plain(StatusCode::BAD_REQUEST);
    };
    let Some(share) = settings.client_shares.take(caller.peer.ip()) else {
        tracing::warn!(peer = %caller.peer, "websocket refused: this client holds http.ws_connections_per_client");
        return plain(StatusCode::SERVICE_UNAVAILABLE);
    };
    let Ok(slot) = settings.slots.clone().try_acquire_owned() else {
        tracing::warn!(peer = %caller.peer, "websocket refused: http.ws_max_connections reached");
        return plain(StatusCode::SERVICE_UNAVAILABLE);
    };
    let ticket_protocol =
        ticket_in(&request).map(|ticket| format!("{}{ticket}", crate::ticket::PROTOCOL_PREFIX));
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default()
                    .max_message_size(Some(settings.max_message))
                    .max_frame_size(Some(settings.max_message));
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                serve(socket, &settings, dispatcher, caller).await;
                drop((slot, share));
            }
            Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
        }
    });
    let mut response = plain(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&key) {
        headers.insert("sec-websocket-accept", accept);
    }
    if let Some(protocol) = ticket_protocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert("sec-websocket-protocol", protocol);
    }
    response
}

/// Closes `socket` with `code` and `reason`.
async fn close<S>(socket: &mut WebSocketStream<S>, code: CloseCode, reason: &'static str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.close(Some(frame)).await;
}

/// Closes the connection's push channel when the connection ends, however it ends.
struct OpenChannel<'d> {
    dispatcher: &'d dyn Dispatcher,
    id: ChannelId,
}

impl Drop for OpenChannel<'_> {
    fn drop(&mut self) {
        self.dispatcher.close_channel(self.id);
    }
}

/// Sends one pushed notification and tells its receipt; `false` when the connection broke.
async fn send_pushed<S>(socket: &mut WebSocketStream<S>, pushed: Pushed) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(text) = Utf8Bytes::try_from(Bytes::from_owner(pushed.payload.clone())) else {
        pushed.receipt.dropped();
        return true;
    };
    if socket.send(Message::Text(text)).await.is_err() {
        pushed.receipt.dropped();
        return false;
    }
    pushed.receipt.sent();
    true
}

/// The next notification of `channel`, or never when there is none.
async fn next_pushed(channel: Option<&crate::Channel>) -> Option<Pushed> {
    match channel {
        Some(channel) => channel.queue.next().await,
        None => std::future::pending().await,
    }
}

async fn serve<S>(
    mut socket: WebSocketStream<S>,
    settings: &WsSettings,
    dispatcher: Arc<dyn Dispatcher>,
    caller: WsCaller,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let channel = dispatcher.open_channel(ChannelKind::WebSocket);
    let _open = channel.as_ref().map(|channel| OpenChannel {
        dispatcher: dispatcher.as_ref(),
        id: channel.id,
    });
    let session = Session::new(dispatcher.as_ref(), caller.role.as_deref())
        .to_node(caller.node.as_deref())
        .of(caller.identity.as_deref(), Some(caller.peer))
        .on_channel(channel.as_ref().map(|channel| channel.id));
    let mut access = dispatcher.access_changes();
    let mut pings = tokio::time::interval(settings.ping_interval);
    pings.tick().await;
    let mut silent_periods = 0u32;
    loop {
        let message = tokio::select! {
            // First: a message that arrives with a reload is run under the new rules.
            biased;
            changed = crate::access_changed(access.as_mut()) => {
                if !changed {
                    access = None;
                } else if !dispatcher.still_granted(
                    caller.role.as_deref(),
                    caller.identity.as_deref(),
                    caller.granted_at,
                ) {
                    tracing::info!(peer = %caller.peer, "websocket closed: its credentials are no longer granted");
                    close(&mut socket, CloseCode::Policy, "credentials no longer granted").await;
                    return;
                }
                continue;
            }
            message = socket.next() => message,
            pushed = next_pushed(channel.as_ref()) => {
                let Some(pushed) = pushed else { return };
                if !send_pushed(&mut socket, pushed).await {
                    return;
                }
                continue;
            }
            _ = pings.tick() => {
                silent_periods += 1;
                if silent_periods > 2 {
                    tracing::debug!(peer = %caller.peer, "closing a silent websocket");
                    return;
                }
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        silent_periods = 0;
        let text = match message {
            None | Some(Ok(Message::Close(_))) => return,
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                close(&mut socket, CloseCode::Unsupported, "text frames only").await;
                return;
            }
            Some(Ok(_)) => continue,
            Some(Err(WsError::Capacity(_))) => {
                close(&mut socket, CloseCode::Size, "message over ws.max_message").await;
                return;
            }
            Some(Err(error)) => {
                tracing::debug!(peer = %caller.peer, %error, "websocket ended with an error");
                return;
            }
        };
        // While the request runs, what it pushes to this connection (a fleet run's
        // entries as they arrive) goes out at once.
        let dispatching =
            session.dispatch_async(TransportKind::Http, text.as_bytes(), settings.pretty);
        tokio::pin!(dispatching);
        let reply = loop {
            tokio::select! {
                reply = &mut dispatching => break reply,
                pushed = next_pushed(channel.as_ref()) => {
                    let Some(pushed) = pushed else { return };
                    if !send_pushed(&mut socket, pushed).await {
                        return;
                    }
                }
            }
        };
        // What the request pushed before it ended goes before its reply.
        while let Some(Some(pushed)) = next_pushed(channel.as_ref()).now_or_never() {
            if !send_pushed(&mut socket, pushed).await {
                return;
            }
        }
        let sent = match reply {
            Reply::Text(text) | Reply::ParseError(text) => socket.send(Message::text(text)).await,
            Reply::Nothing => Ok(()),
            Reply::Unprintable => {
                close(
                    &mut socket,
                    CloseCode::Error,
                    "the reply cannot be rendered",
                )
                .await;
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}
