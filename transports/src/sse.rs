//! Server-Sent Events: `GET /events?subscribe=E_A,E_B` (`/events/<node>` in front mode)
//! answered `text/event-stream`, on which each event the stream subscribed to arrives as
//! one `data:` message holding the JSON-RPC notification datagram subscribers get — what a
//! dashboard's `EventSource` reads with `onmessage`.
//!
//! The stream is a push channel ([`Dispatcher::open_channel`]): the request's events are
//! subscribed with `event_subscribe` on the socket `sse:`, run through the dispatcher with
//! the request's role, so a role that may not subscribe gets that refusal. Hooks, in the
//! order they run:
//! - on the request: the channel is opened and each event subscribed; the first refusal
//!   answers the request with the JSON-RPC error (status from its code) and closes the
//!   channel;
//! - while the stream is open: every `ping_interval` a `: ping` comment is sent and the
//!   subscriptions are renewed (so they last as long as the stream, whatever their
//!   `expire`);
//! - when the client goes (or stops reading for the connection's idle timeout): the channel
//!   is closed and its subscriptions end.
//!
//! Secure defaults: authentication and roles of `/mi` (route `mi`), or a single-use
//! ticket in `ticket=` for `EventSource`, which can set no header ([`crate::ticket`]); at most `slots` streams
//! at once (`503` past them), each stream's events bounded by its channel's queue (what does
//! not fit is dropped and counted), and a client that stops reading holds only its own
//! stream until the connection's idle timeout closes it.

use crate::push::ChannelKind;
use crate::{ChannelId, Dispatcher, Reply, Session, TransportKind};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Where the event stream is served.
pub const SSE_ROOT: &str = "events";

/// Settings of event streams.
#[derive(Debug, Clone)]
pub struct SseSettings {
    /// Open streams, at most: a request past them is answered `503`.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Each client's share of `slots`: a request past it is answered `503`.
    pub client_shares: Arc<crate::share::ClientShares>,
    /// How often a `: ping` comment is sent and the subscriptions renewed.
    pub ping_interval: Duration,
    /// The WebSocket tickets, which a stream's `ticket=` may redeem instead of credentials
    /// (`None`: WebSockets are off, and so are tickets).
    pub tickets: Option<Arc<crate::ticket::Tickets>>,
}

/// Who the stream serves: its role and identity from the request's credentials.
pub struct SseCaller {
    /// The role granted.
    pub role: Option<String>,
    /// Who the credentials name.
    pub identity: Option<String>,
    /// The peer.
    pub peer: std::net::SocketAddr,
    /// The access rules' version when its credentials were granted.
    pub granted_at: u64,
}

/// Why a stream was not opened: the HTTP status and the body explaining it.
#[derive(Debug)]
pub struct Refusal {
    /// The status.
    pub status: u16,
    /// A JSON body: the JSON-RPC reply refusing a subscription, or an error object.
    pub body: String,
}

impl Refusal {
    fn plain(status: u16, message: &str) -> Refusal {
        Refusal {
            status,
            body: serde_json::json!({ "error": { "code": status, "message": message } })
                .to_string(),
        }
    }
}

/// An open stream: its messages, as the connection should send them.
pub struct Stream {
    /// Each message (`data:` lines, or a comment), ready to be written.
    pub messages: mpsc::Receiver<Bytes>,
}

/// The event names of a query string's `subscribe` field, comma-separated.
fn requested_events(query: Option<&str>) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "subscribe")
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(|name| name.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Closes the channel when the stream ends, however it ends.
struct OwnedChannel {
    dispatcher: Arc<dyn Dispatcher>,
    id: ChannelId,
}

impl Drop for OwnedChannel {
    fn drop(&mut self) {
        self.dispatcher.close_channel(self.id);
    }
}

/// Subscribes the channel of `session` to each of `events`; the first refusal as the
/// response to give.
async fn subscribe_all(session: &Session<'_>, events: &[String]) -> Result<(), Refusal> {
    for event in events {
        let request = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "event_subscribe",
            "params": [event, "sse:"],
            "id": 1
        })
        .to_string();
        let reply = session
            .dispatch_async(TransportKind::Http, request.as_bytes(), false)
            .await;
        let Reply::Text(text) = reply else {
            return Err(Refusal::plain(500, "the subscription could not be run"));
        };
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if let Some(code) = parsed["error"]["code"].as_i64() {
            let status = u16::try_from(code)
                .ok()
                .filter(|status| (400..600).contains(status))
                .unwrap_or(400);
            return Err(Refusal { status, body: text });
        }
    }
    Ok(())
}

/// One event as an SSE message: a `data:` line per line of the notification.
fn message(payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 8);
    for line in payload.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    Bytes::from(out)
}

/// Opens a stream of the events `query` names for `caller`, or the refusal to answer
/// with (`400` no event named, `503` over the stream limit or no channel, a subscription's
/// own refusal).
pub async fn open(
    query: Option<&str>,
    node: Option<String>,
    settings: &SseSettings,
    dispatcher: Arc<dyn Dispatcher>,
    caller: SseCaller,
) -> Result<Stream, Refusal> {
    let events = requested_events(query);
    if events.is_empty() {
        return Err(Refusal::plain(
            400,
            "name the events to stream: /events?subscribe=E_A,E_B",
        ));
    }
    let Some(share) = settings.client_shares.take(caller.peer.ip()) else {
        tracing::warn!(peer = %caller.peer, "event stream refused: this client holds http.sse_streams_per_client");
        return Err(Refusal::plain(
            503,
            "too many event streams from this client",
        ));
    };
    let Ok(slot) = settings.slots.clone().try_acquire_owned() else {
        tracing::warn!(peer = %caller.peer, "event stream refused: http.sse_max_streams reached");
        return Err(Refusal::plain(503, "too many event streams"));
    };
    let Some(channel) = dispatcher.open_channel(ChannelKind::EventStream) else {
        return Err(Refusal::plain(503, "this daemon has no events to stream"));
    };
    let owned = OwnedChannel {
        dispatcher: dispatcher.clone(),
        id: channel.id,
    };
    let session = Session::new(dispatcher.as_ref(), caller.role.as_deref())
        .to_node(node.as_deref())
        .of(caller.identity.as_deref(), Some(caller.peer))
        .on_channel(Some(channel.id));
    subscribe_all(&session, &events).await?;
    let (sender, messages) = mpsc::channel(1);
    let ping_interval = settings.ping_interval;
    tokio::spawn(async move {
        pump(
            PumpState {
                channel,
                owned,
                events,
                caller,
                node,
                ping_interval,
                _slot: (slot, share),
            },
            sender,
        )
        .await
    });
    Ok(Stream { messages })
}

/// What the task feeding one stream holds.
struct PumpState {
    channel: crate::Channel,
    owned: OwnedChannel,
    events: Vec<String>,
    caller: SseCaller,
    node: Option<String>,
    ping_interval: Duration,
    _slot: (OwnedSemaphorePermit, crate::share::Share),
}

/// Feeds the stream until the client goes, or the access rules change so that its
/// credentials are no longer granted: events as they are pushed, a ping and the
/// subscriptions' renewal every interval.
async fn pump(state: PumpState, sender: mpsc::Sender<Bytes>) {
    let mut access = state.owned.dispatcher.access_changes();
    let mut pings = tokio::time::interval(state.ping_interval);
    pings.tick().await;
    if sender
        .send(Bytes::from_static(b": subscribed\n\n"))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            biased;
            changed = crate::access_changed(access.as_mut()) => {
                if !changed {
                    access = None;
                } else if !state.owned.dispatcher.still_granted(
                    state.caller.role.as_deref(),
                    state.caller.identity.as_deref(),
                    state.caller.granted_at,
                ) {
                    tracing::info!(peer = %state.caller.peer, "event stream closed: its credentials are no longer granted");
                    let _ = sender.send(Bytes::from_static(b": credentials no longer granted\n\n")).await;
                    return;
                }
            }
            pushed = state.channel.queue.next() => {
                let Some(pushed) = pushed else { return };
                if sender.send(message(&pushed.payload)).await.is_err() {
                    pushed.receipt.dropped();
                    return;
                }
                pushed.receipt.sent();
            }
            _ = pings.tick() => {
                if sender.send(Bytes::from_static(b": ping\n\n")).await.is_err() {
                    return;
                }
                let session = Session::new(state.owned.dispatcher.as_ref(), state.caller.role.as_deref())
                    .to_node(state.node.as_deref())
                    .of(state.caller.identity.as_deref(), Some(state.caller.peer))
                    .on_channel(Some(state.channel.id));
                if subscribe_all(&session, &state.events).await.is_err() {
                    tracing::warn!(peer = %state.caller.peer, "an event stream's subscriptions could not be renewed");
                    return;
                }
            }
            _ = sender.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{message, requested_events};

    #[test]
    fn events_are_named_comma_separated_in_one_or_more_fields() {
        assert_eq!(
            requested_events(Some("subscribe=E_A,%20E_B&x=1&subscribe=E_C,")),
            ["E_A", "E_B", "E_C"]
        );
        assert!(requested_events(Some("subscribe=")).is_empty());
        assert!(requested_events(None).is_empty());
    }

    #[test]
    fn a_notification_is_one_data_message() {
        assert_eq!(&message(br#"{"a":1}"#)[..], b"data: {\"a\":1}\n\n");
        assert_eq!(&message(b"x\ny")[..], b"data: x\ndata: y\n\n");
    }
}
