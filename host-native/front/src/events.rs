//! Node events for miwa's subscribers: when a client subscribes through miwa to an event
//! a node raises, miwa subscribes itself at the node on a UDP socket of its own, renews
//! that subscription before it expires, drops it when nobody listens any more, and raises
//! every notification the node sends through its own fan-out.

use super::node::{Node, NodeError};
use mi_core::host::{EventParams, EventValue};
use miwa_state::HostState;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A subscription of miwa's at a node.
struct AtNode {
    node: Arc<Node>,
    event: String,
    renewed: Instant,
}

/// miwa's subscriptions at its nodes, and the socket their notifications arrive on.
pub(crate) struct NodeEvents {
    socket: String,
    expire: u32,
    subscriptions: Mutex<Vec<AtNode>>,
    state: Arc<HostState>,
}

impl NodeEvents {
    /// Binds `bind` (`host:port`) for notifications and starts, on `runtime`, the receiver
    /// and the renewal task; subscriptions at nodes last `expire` seconds and are renewed
    /// at half of it.
    pub fn start(
        bind: &str,
        expire: u32,
        state: Arc<HostState>,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<Arc<NodeEvents>> {
        let socket = std::net::UdpSocket::bind(bind)
            .map_err(|e| anyhow::anyhow!("cannot bind {bind} (key front.event_socket): {e}"))?;
        socket.set_nonblocking(true)?;
        let address = socket.local_addr()?;
        let socket = {
            let _inside = runtime.enter();
            tokio::net::UdpSocket::from_std(socket)?
        };
        let events = Arc::new(NodeEvents {
            socket: format!("udp:{address}"),
            expire,
            subscriptions: Mutex::new(Vec::new()),
            state,
        });
        runtime.spawn(receive(socket, Arc::downgrade(&events)));
        runtime.spawn(maintain(Arc::downgrade(&events)));
        Ok(events)
    }

    /// Makes sure miwa is subscribed to `event` at `node` when the node raises it (its
    /// `events_list` names it); the event is then published in miwa too. `Ok(false)`: the
    /// node does not raise it.
    pub async fn ensure(&self, node: &Arc<Node>, event: &str) -> Result<bool, NodeError> {
        if self.held(node, event) {
            return Ok(true);
        }
        let list = node
            .forward(
                br#"{"jsonrpc":"2.0","method":"events_list","id":"miwa-events"}"#,
                "\"miwa-events\"",
            )
            .await?;
        let listed: Value = serde_json::from_str(&list.text).unwrap_or(Value::Null);
        let raised = listed["result"]["Events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["name"] == event));
        if !raised {
            return Ok(false);
        }
        self.state.events.declare(event);
        self.subscribe_at(node, event, self.expire).await?;
        let mut subscriptions = self.lock();
        if !subscriptions
            .iter()
            .any(|s| Arc::ptr_eq(&s.node, node) && s.event == event)
        {
            subscriptions.push(AtNode {
                node: node.clone(),
                event: event.to_string(),
                renewed: Instant::now(),
            });
        }
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AtNode>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn held(&self, node: &Arc<Node>, event: &str) -> bool {
        self.lock()
            .iter()
            .any(|s| Arc::ptr_eq(&s.node, node) && s.event == event)
    }

    /// `event_subscribe` at the node for miwa's socket (`expire` 0 unsubscribes).
    async fn subscribe_at(&self, node: &Node, event: &str, expire: u32) -> Result<(), NodeError> {
        let request = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "event_subscribe",
            "params": [event, self.socket, expire],
            "id": "miwa-subscribe",
        })
        .to_string();
        let reply = node
            .forward(request.as_bytes(), "\"miwa-subscribe\"")
            .await?;
        let reply: Value = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
        match reply.get("error") {
            None => Ok(()),
            Some(error) => Err(NodeError::BadReply(format!(
                "event_subscribe {event} was refused: {error}"
            ))),
        }
    }

    /// After a local unsubscription (`expire` 0) of `event`: drops miwa's subscription at
    /// `node` at once when nobody listens any more.
    pub async fn release(&self, node: &Arc<Node>, event: &str) {
        if self.state.events.listened(event) {
            return;
        }
        let held = {
            let mut subscriptions = self.lock();
            let before = subscriptions.len();
            subscriptions.retain(|s| !(Arc::ptr_eq(&s.node, node) && s.event == event));
            subscriptions.len() != before
        };
        if held {
            if let Err(error) = self.subscribe_at(node, event, 0).await {
                tracing::warn!(node = %node.name, event, %error, "unsubscribing at the node failed");
            }
        }
    }

    /// One pass of the renewal task: drops the subscriptions nobody listens to any more
    /// (unsubscribing at the node), renews those past half their time.
    async fn tend(&self) {
        let due: Vec<(Arc<Node>, String, bool)> = {
            let mut subscriptions = self.lock();
            let mut due = Vec::new();
            subscriptions.retain(|s| {
                let listened = self.state.events.listened(&s.event);
                if !listened {
                    due.push((s.node.clone(), s.event.clone(), false));
                } else if s.renewed.elapsed() >= Duration::from_secs(u64::from(self.expire) / 2) {
                    due.push((s.node.clone(), s.event.clone(), true));
                }
                listened
            });
            due
        };
        for (node, event, renew) in due {
            let expire = if renew { self.expire } else { 0 };
            match self.subscribe_at(&node, &event, expire).await {
                Ok(()) if renew => {
                    if let Some(s) = self
                        .lock()
                        .iter_mut()
                        .find(|s| Arc::ptr_eq(&s.node, &node) && s.event == event)
                    {
                        s.renewed = Instant::now();
                    }
                }
                Ok(()) => {
                    tracing::info!(node = %node.name, event, "unsubscribed at the node: nobody listens")
                }
                Err(error) => {
                    tracing::warn!(node = %node.name, event, %error, "event subscription at the node failed")
                }
            }
        }
    }
}

/// Renews and drops subscriptions every second while miwa runs.
async fn maintain(events: std::sync::Weak<NodeEvents>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(events) = events.upgrade() else {
            return;
        };
        events.tend().await;
    }
}

/// Raises every notification that arrives on `socket` through miwa's fan-out.
async fn receive(socket: tokio::net::UdpSocket, events: std::sync::Weak<NodeEvents>) {
    let mut buffer = vec![0u8; 65536];
    loop {
        let Ok(length) = socket.recv(&mut buffer).await else {
            continue;
        };
        let Some(events) = events.upgrade() else {
            return;
        };
        match notification(&buffer[..length]) {
            Some((event, params)) => {
                let _ = events.state.events.raise(&event, &params);
            }
            None => tracing::debug!(
                bytes = length,
                "not a notification on the node event socket"
            ),
        }
    }
}

/// A JSON-RPC notification's event name and parameters.
fn notification(datagram: &[u8]) -> Option<(String, EventParams)> {
    let value: Value = serde_json::from_slice(datagram).ok()?;
    let event = value.get("method")?.as_str()?.to_string();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let params = match value.get("params") {
        None | Some(Value::Null) => EventParams::None,
        Some(Value::Array(list)) => EventParams::Unnamed(list.iter().map(text).collect()),
        Some(Value::Object(members)) => EventParams::Named(
            members
                .iter()
                .map(|(name, v)| {
                    let value = match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
                        Some(n) => EventValue::Int(n),
                        None => EventValue::Text(text(v)),
                    };
                    (name.clone(), value)
                })
                .collect(),
        ),
        Some(other) => EventParams::Unnamed(vec![text(other)]),
    };
    Some((event, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_become_event_parameters() {
        let (event, params) =
            notification(br#"{"jsonrpc":"2.0","method":"E_X","params":{"n":5,"s":"a","o":[1]}}"#)
                .unwrap();
        assert_eq!(event, "E_X");
        assert_eq!(
            params,
            EventParams::Named(vec![
                ("n".into(), EventValue::Int(5)),
                ("s".into(), EventValue::Text("a".into())),
                ("o".into(), EventValue::Text("[1]".into())),
            ])
        );
        assert!(notification(b"garbage").is_none());
    }
}
