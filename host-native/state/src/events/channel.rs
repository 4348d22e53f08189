//! Push channels: connections (WebSockets, event streams) that receive events themselves.
//! `event_subscribe` names one as its socket, `ws:` or `sse:` meaning "the connection this
//! request came over"; the subscription ends with the connection.
//!
//! Which channel a request came over is known only while the dispatcher runs it, on the
//! thread that runs it: [`on_channel`] marks it there for the core's `subscribe` import.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use transports::push::{ChannelKind, PushQueue};
use transports::{Channel, ChannelId};

thread_local! {
    static CURRENT: Cell<Option<ChannelId>> = const { Cell::new(None) };
}

/// Runs `f` with `channel` as the channel of the request being run on this thread.
pub fn on_channel<R>(channel: Option<ChannelId>, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|current| current.replace(channel));
    let result = f();
    CURRENT.with(|current| current.set(before));
    result
}

/// The channel of the request being run on this thread, if it came over one.
fn current() -> Option<ChannelId> {
    CURRENT.with(Cell::get)
}

/// What a subscriber socket names, as far as channels go.
pub enum Named {
    /// Not a channel's socket.
    NotAChannel,
    /// A channel's socket, but not one of the caller's own (or the caller came over none).
    Refused,
    /// The caller's own channel.
    Own(ChannelId, Arc<PushQueue>),
}

/// The open channels.
pub(crate) struct Channels {
    next: AtomicU64,
    open: Mutex<HashMap<ChannelId, (ChannelKind, Arc<PushQueue>)>>,
    queue_depth: usize,
    queue_bytes: usize,
}

impl Channels {
    /// No channels yet; each one opened gets a queue of `queue_depth` notifications and
    /// `queue_bytes` bytes at most.
    pub fn new(queue_depth: usize, queue_bytes: usize) -> Self {
        Channels {
            next: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
            queue_depth,
            queue_bytes,
        }
    }

    fn open(&self) -> MutexGuard<'_, HashMap<ChannelId, (ChannelKind, Arc<PushQueue>)>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a channel of `kind`.
    pub fn start(&self, kind: ChannelKind) -> Channel {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let queue = PushQueue::new(self.queue_depth, self.queue_bytes);
        self.open().insert(id, (kind, queue.clone()));
        Channel { id, queue }
    }

    /// Closes channel `id`: its queue is let go.
    pub fn end(&self, id: ChannelId) {
        if let Some((_, queue)) = self.open().remove(&id) {
            queue.close();
        }
    }

    /// The channel `socket` names for the request being run on this thread: `ws:` or
    /// `sse:` alone, or with the channel's own number (`ws:7`, as `subscribers_list`
    /// shows it).
    pub fn resolve(&self, socket: &str) -> Named {
        let Some((scheme, rest)) = socket.split_once(':') else {
            return Named::NotAChannel;
        };
        let Some(kind) = [
            ChannelKind::WebSocket,
            ChannelKind::EventStream,
            ChannelKind::Mcp,
        ]
        .into_iter()
        .find(|kind| kind.scheme() == scheme) else {
            return Named::NotAChannel;
        };
        let resolved = current()
            .filter(|id| rest.is_empty() || rest.parse::<ChannelId>() == Ok(*id))
            .and_then(|id| {
                let open = self.open();
                let (opened_as, queue) = open.get(&id)?;
                (*opened_as == kind).then(|| (id, queue.clone()))
            });
        match resolved {
            Some((id, queue)) => Named::Own(id, queue),
            None => Named::Refused,
        }
    }

    /// Queues `payload` (a JSON-RPC notification) on channel `id`; `false` when the channel
    /// is gone or its queue is full.
    pub fn push(&self, id: ChannelId, payload: &[u8]) -> bool {
        struct Unwatched;
        impl transports::push::Receipt for Unwatched {
            fn sent(&self) {}
            fn dropped(&self) {}
        }
        let queue = self.open().get(&id).map(|(_, queue)| queue.clone());
        queue.is_some_and(|queue| queue.push(Arc::from(payload), Arc::new(Unwatched)))
    }

    /// The socket text of channel `id`, `ws:<id>` or `sse:<id>`.
    pub fn socket(&self, id: ChannelId) -> Option<String> {
        self.open()
            .get(&id)
            .map(|(kind, _)| format!("{}:{id}", kind.scheme()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(named: Named) -> Option<ChannelId> {
        match named {
            Named::Own(id, _) => Some(id),
            Named::Refused => None,
            Named::NotAChannel => panic!("a channel's socket"),
        }
    }

    #[test]
    fn a_socket_names_only_the_callers_own_channel_of_its_kind() {
        let channels = Channels::new(4, 1024);
        let ws = channels.start(ChannelKind::WebSocket);
        let other = channels.start(ChannelKind::WebSocket);
        let sse = channels.start(ChannelKind::EventStream);
        assert!(matches!(
            channels.resolve("udp:127.0.0.1:1"),
            Named::NotAChannel
        ));
        assert_eq!(own(channels.resolve("ws:")), None, "no channel");
        on_channel(Some(ws.id), || {
            assert_eq!(own(channels.resolve("ws:")), Some(ws.id));
            assert_eq!(own(channels.resolve(&format!("ws:{}", ws.id))), Some(ws.id));
            assert_eq!(own(channels.resolve(&format!("ws:{}", other.id))), None);
            assert_eq!(own(channels.resolve("sse:")), None, "another kind");
            on_channel(Some(sse.id), || {
                assert_eq!(own(channels.resolve("sse:")), Some(sse.id));
            });
            assert_eq!(own(channels.resolve("ws:")), Some(ws.id), "restored");
        });
        assert_eq!(channels.socket(ws.id), Some(format!("ws:{}", ws.id)));
        channels.end(ws.id);
        assert!(channels.socket(ws.id).is_none());
        on_channel(Some(ws.id), || {
            assert_eq!(own(channels.resolve("ws:")), None)
        });
    }
}
