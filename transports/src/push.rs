//! A push channel's queue: notifications the daemon delivers to one connection (a
//! WebSocket, a Server-Sent Events stream), bounded in count and bytes. The event fan-out
//! thread pushes without waiting; the connection's task takes them as it can send them. A
//! client that stops reading fills only its own queue, and what does not fit is dropped
//! and counted.
//!
//! Every notification carries a [`Receipt`]: the queue tells it when the notification was
//! refused (full or closed) or let go unsent (the connection closed), and the connection
//! tells it once the notification is written.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a push channel is: the socket form `event_subscribe` takes to mean "here".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A WebSocket connection (`ws:`).
    WebSocket,
    /// A Server-Sent Events stream (`sse:`).
    EventStream,
    /// An MCP session's resource subscription (`mcp:`).
    Mcp,
}

impl ChannelKind {
    /// The socket scheme of this kind, `ws`, `sse` or `mcp`.
    pub fn scheme(self) -> &'static str {
        match self {
            ChannelKind::WebSocket => "ws",
            ChannelKind::EventStream => "sse",
            ChannelKind::Mcp => "mcp",
        }
    }
}

/// Told what became of one notification: counters of its subscription.
pub trait Receipt: Send + Sync {
    /// It was written to the connection.
    fn sent(&self);
    /// It was refused or let go unsent.
    fn dropped(&self);
}

/// A queued notification and whom to tell what became of it.
pub struct Pushed {
    /// The notification, a JSON-RPC request text without `id`.
    pub payload: Arc<[u8]>,
    /// Its subscription's counters.
    pub receipt: Arc<dyn Receipt>,
}

#[derive(Default)]
struct Held {
    items: VecDeque<Pushed>,
    bytes: usize,
    closed: bool,
}

/// One connection's queue of notifications.
pub struct PushQueue {
    held: Mutex<Held>,
    ready: tokio::sync::Notify,
    max_items: usize,
    max_bytes: usize,
}

impl PushQueue {
    /// A queue holding at most `max_items` notifications and `max_bytes` bytes of them.
    pub fn new(max_items: usize, max_bytes: usize) -> Arc<PushQueue> {
        Arc::new(PushQueue {
            held: Mutex::new(Held::default()),
            ready: tokio::sync::Notify::new(),
            max_items: max_items.max(1),
            max_bytes: max_bytes.max(1),
        })
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `payload` without waiting; `false` (and counted as dropped on `receipt`)
    /// when the queue is full or closed.
    pub fn push(&self, payload: Arc<[u8]>, receipt: Arc<dyn Receipt>) -> bool {
        let mut held = self.held();
        let fits = !held.closed
            && held.items.len() < self.max_items
            && held.bytes + payload.len() <= self.max_bytes;
        if !fits {
            drop(held);
            receipt.dropped();
            return false;
        }
        held.bytes += payload.len();
        held.items.push_back(Pushed { payload, receipt });
        drop(held);
        self.ready.notify_one();
        true
    }

    /// The next notification, waiting for one; `None` once the queue is closed.
    pub async fn next(&self) -> Option<Pushed> {
        loop {
            {
                let mut held = self.held();
                if held.closed {
                    return None;
                }
                if let Some(pushed) = held.items.pop_front() {
                    held.bytes -= pushed.payload.len();
                    return Some(pushed);
                }
            }
            self.ready.notified().await;
        }
    }

    /// Closes the queue: what it holds is let go (counted as dropped), and `push` refuses
    /// from now on.
    pub fn close(&self) {
        let mut held = self.held();
        held.closed = true;
        let unsent: Vec<Pushed> = held.items.drain(..).collect();
        held.bytes = 0;
        drop(held);
        self.ready.notify_one();
        for pushed in unsent {
            pushed.receipt.dropped();
        }
    }

    /// Notifications queued now.
    pub fn queued(&self) -> usize {
        self.held().items.len()
    }

    /// Their bytes.
    pub fn queued_bytes(&self) -> usize {
        self.held().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::{PushQueue, Receipt};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[derive(Default)]
    struct Counted {
        sent: AtomicU64,
        dropped: AtomicU64,
    }

    impl Receipt for Counted {
        fn sent(&self) {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
        fn dropped(&self) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn payload(text: &str) -> Arc<[u8]> {
        text.as_bytes().into()
    }

    #[test]
    fn bounded_in_count_and_bytes_with_drops_counted() {
        let counted = Arc::new(Counted::default());
        let receipt = || counted.clone() as Arc<dyn Receipt>;
        let queue = PushQueue::new(2, 10);
        assert!(queue.push(payload("abcd"), receipt()));
        assert!(queue.push(payload("efgh"), receipt()));
        assert!(
            !queue.push(payload("i"), receipt()),
            "a third is over the count"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let first = runtime.block_on(queue.next()).unwrap();
        assert_eq!(&first.payload[..], b"abcd");
        assert!(
            !queue.push(payload("1234567"), receipt()),
            "4 + 7 bytes is over 10"
        );
        assert!(
            queue.push(payload("123456"), receipt()),
            "4 + 6 bytes is exactly 10"
        );
        assert_eq!((queue.queued(), queue.queued_bytes()), (2, 10));
        assert_eq!(
            counted.dropped.load(Ordering::Relaxed),
            2,
            "both refusals counted"
        );
        queue.close();
        assert!(!queue.push(payload("x"), receipt()));
        assert!(runtime.block_on(queue.next()).is_none());
        assert_eq!(
            counted.dropped.load(Ordering::Relaxed),
            5,
            "2 refused, 2 let go at the close, 1 after it"
        );
        assert_eq!(counted.sent.load(Ordering::Relaxed), 0);
    }
}
