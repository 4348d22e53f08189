//! Resources: the statistics by group (`miwa://statistics/<group>`), the node list
//! (`miwa://nodes`, in front mode) and the events (`miwa://events/<event>`), each listed
//! only to a role whose tools include the command that reads it (`get_statistics`,
//! `nodes_list`, `event_subscribe`). Reading one is that command, run as the caller. A
//! subscription to an event is an `event_subscribe` on the session's push channel
//! (socket `mcp:`, one [`Feed`] per session), renewed while it lasts; each event raised
//! is a resource update, and reading the resource then gives the event's parameters.

use super::tools::ToolPlan;
use super::{Backend, McpCaller};
use rmcp::ErrorData as McpError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STATISTICS: &str = "miwa://statistics/";
const NODES: &str = "miwa://nodes";
const EVENTS: &str = "miwa://events/";

/// How long an event subscription is asked for; it is renewed at half of it.
const EXPIRE: Duration = Duration::from_secs(3600);

/// What a resource URI names.
enum Named<'u> {
    Statistics(&'u str),
    Nodes,
    Event(&'u str),
}

fn named(uri: &str) -> Option<Named<'_>> {
    if uri == NODES {
        return Some(Named::Nodes);
    }
    let valid = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if let Some(group) = uri.strip_prefix(STATISTICS).filter(|g| valid(g)) {
        return Some(Named::Statistics(group));
    }
    uri.strip_prefix(EVENTS)
        .filter(|e| valid(e))
        .map(Named::Event)
}

/// Whether the caller's tools include `method`.
fn may(plans: &[ToolPlan], method: &str) -> bool {
    plans.iter().any(|p| p.method == method)
}

/// The result of one MI request, or its error as text.
async fn mi(
    backend: &dyn Backend,
    caller: Option<&McpCaller>,
    channel: Option<crate::ChannelId>,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let request = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let reply = backend.call(caller, channel, request.to_string()).await?;
    let mut reply: Value = serde_json::from_str(&reply).map_err(|e| e.to_string())?;
    match reply.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(format!("{method}: {}", reply["error"])),
    }
}

/// A resource as `resources/list` shows it.
fn resource(uri: String, name: String, description: &str) -> Value {
    json!({"uri": uri, "name": name, "description": description, "mimeType": "application/json"})
}

/// The resources the caller (whose tools are `plans`) may read.
pub(crate) async fn list(
    backend: &dyn Backend,
    caller: Option<&McpCaller>,
    plans: &[ToolPlan],
) -> Vec<Value> {
    let mut out = Vec::new();
    if may(plans, "get_statistics") {
        if let Ok(Value::Object(all)) =
            mi(backend, caller, None, "get_statistics", json!([["all"]])).await
        {
            let mut groups: Vec<&str> = Vec::new();
            for name in all.keys() {
                if let Some((group, _)) = name.split_once(':') {
                    if !groups.contains(&group) {
                        groups.push(group);
                    }
                }
            }
            out.extend(groups.into_iter().map(|group| {
                resource(
                    format!("{STATISTICS}{group}"),
                    format!("statistics {group}"),
                    "The statistics of one group, as get_statistics answers them.",
                )
            }));
        }
    }
    if may(plans, "nodes_list") {
        out.push(resource(
            NODES.to_string(),
            "nodes".to_string(),
            "The nodes miwa is in front of: transport, address, labels, state.",
        ));
    }
    if may(plans, "event_subscribe") {
        if let Ok(listed) = mi(backend, caller, None, "events_list", json!([])).await {
            let events = listed["Events"].as_array().map_or(&[][..], Vec::as_slice);
            out.extend(
                events
                    .iter()
                    .filter_map(|e| e["name"].as_str())
                    .map(|event| {
                        resource(
                            format!("{EVENTS}{event}"),
                            format!("event {event}"),
                            "An event: subscribe for an update each time it is raised; read \
                             for the parameters it was last raised with.",
                        )
                    }),
            );
        }
    }
    out
}

/// The text of resource `uri` for the caller: the command's result, or an event's last
/// parameters (`last`, what its subscriptions received).
pub(crate) async fn read(
    backend: &dyn Backend,
    caller: Option<&McpCaller>,
    plans: &[ToolPlan],
    uri: &str,
    last: &Mutex<HashMap<String, Value>>,
) -> Result<String, McpError> {
    let unknown = || McpError::resource_not_found(format!("no resource {uri}"), None);
    let result = match named(uri).ok_or_else(unknown)? {
        Named::Statistics(group) if may(plans, "get_statistics") => {
            mi(
                backend,
                caller,
                None,
                "get_statistics",
                json!([[format!("{group}:")]]),
            )
            .await
        }
        Named::Nodes if may(plans, "nodes_list") => {
            mi(backend, caller, None, "nodes_list", json!({})).await
        }
        Named::Event(event) if may(plans, "event_subscribe") => Ok(lock(last)
            .get(uri)
            .cloned()
            .unwrap_or_else(|| json!({"event": event, "raised": null}))),
        _ => return Err(unknown()),
    };
    result
        .map(|value| value.to_string())
        .map_err(|why| McpError::internal_error(why, None))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Event subscriptions over one push channel (socket `mcp:`): a session's, or one
/// `subscriptions/listen` request's. Sharing the channel makes `[events]
/// max_per_channel` bound them as it bounds a WebSocket connection's. Dropping the feed
/// closes the channel, which ends its subscriptions.
pub(crate) struct Feed {
    backend: Arc<dyn Backend>,
    channel: crate::ChannelId,
    /// Each event subscribed to, with the caller that subscribed (renewals run as it).
    events: Arc<Mutex<HashMap<String, Option<McpCaller>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
        self.backend.close_channel(self.channel);
    }
}

impl Feed {
    /// Opens the channel: each event raised on it has its parameters kept in `last`, and
    /// `updated` called with its URI (the feed stops when that answers `false`).
    pub(crate) fn open<F, Fut>(
        backend: Arc<dyn Backend>,
        last: Arc<Mutex<HashMap<String, Value>>>,
        updated: F,
    ) -> Result<Feed, McpError>
    where
        F: Fn(String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let channel = backend
            .open_channel()
            .ok_or_else(|| McpError::internal_error("events are not served here", None))?;
        let channel_id = channel.id;
        let events: Arc<Mutex<HashMap<String, Option<McpCaller>>>> = Arc::default();
        let subscribed = events.clone();
        let task_backend = backend.clone();
        let task = tokio::spawn(async move {
            let mut renew = tokio::time::interval(EXPIRE / 2);
            renew.tick().await;
            loop {
                tokio::select! {
                    pushed = channel.queue.next() => {
                        let Some(pushed) = pushed else { return };
                        pushed.receipt.sent();
                        let notification: Value =
                            serde_json::from_slice(&pushed.payload).unwrap_or_default();
                        let Some(event) = notification["method"].as_str() else { continue };
                        if !lock(&subscribed).contains_key(event) {
                            continue;
                        }
                        let uri = format!("{EVENTS}{event}");
                        let raised = json!({"event": event, "params": notification["params"]});
                        lock(&last).insert(uri.clone(), raised);
                        if !updated(uri).await {
                            return;
                        }
                    }
                    _ = renew.tick() => {
                        let renewing: Vec<(String, Option<McpCaller>)> =
                            lock(&subscribed).iter().map(|(e, c)| (e.clone(), c.clone())).collect();
                        for (event, caller) in renewing {
                            let params = json!({"event": event, "socket": "mcp:", "expire": EXPIRE.as_secs()});
                            let renewed = mi(task_backend.as_ref(), caller.as_ref(), Some(channel.id), "event_subscribe", params).await;
                            if renewed.is_err() {
                                lock(&subscribed).remove(&event);
                            }
                        }
                    }
                }
            }
        });
        Ok(Feed {
            backend,
            channel: channel_id,
            events,
            task,
        })
    }

    /// Subscribes the caller (whose tools are `plans`) to the event `uri` names; again
    /// for an event already subscribed to renews it.
    pub(crate) async fn add(
        &self,
        caller: Option<McpCaller>,
        plans: &[ToolPlan],
        uri: &str,
    ) -> Result<(), McpError> {
        let refused = || {
            McpError::invalid_params(
                format!("{uri} is not an event this role may subscribe to"),
                None,
            )
        };
        let Some(Named::Event(event)) = named(uri) else {
            return Err(refused());
        };
        if !may(plans, "event_subscribe") {
            return Err(refused());
        }
        let params = json!({"event": event, "socket": "mcp:", "expire": EXPIRE.as_secs()});
        mi(
            self.backend.as_ref(),
            caller.as_ref(),
            Some(self.channel),
            "event_subscribe",
            params,
        )
        .await
        .map_err(|why| McpError::invalid_params(why, None))?;
        lock(&self.events).insert(event.to_string(), caller);
        Ok(())
    }

    /// Ends the subscription to the event `uri` names, if there is one (an
    /// `event_subscribe` with `expire` 0, as the caller that subscribed).
    pub(crate) async fn remove(&self, uri: &str) {
        let Some(Named::Event(event)) = named(uri) else {
            return;
        };
        let Some(caller) = lock(&self.events).remove(event) else {
            return;
        };
        let params = json!({"event": event, "socket": "mcp:", "expire": 0});
        let ended = mi(
            self.backend.as_ref(),
            caller.as_ref(),
            Some(self.channel),
            "event_subscribe",
            params,
        )
        .await;
        if let Err(why) = ended {
            tracing::debug!(%why, "MCP unsubscription not acknowledged");
        }
    }
}
