//! Resources: the statistics by group (`miwa://statistics/<group>`), the node list
//! (`miwa://nodes`, in front mode) and the events (`miwa://events/<event>`), each listed
//! only to a role whose tools include the command that reads it (`get_statistics`,
//! `nodes_list`, `event_subscribe`). Reading one is that command, run as the caller. A
//! subscription to an event is an `event_subscribe` on a push channel of its own
//! (socket `mcp:`), renewed while it lasts; each event raised is a resource update, and
//! reading the resource then gives the event's parameters.

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

/// An event subscription: its channel, closed with it, and the task that reads it.
pub(crate) struct Subscription {
    backend: Arc<dyn Backend>,
    channel: crate::ChannelId,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
        self.backend.close_channel(self.channel);
    }
}

/// Subscribes the caller to the event `uri` names: each time it is raised, its
/// parameters are kept in `last` and `updated` is called with the URI.
pub(crate) async fn subscribe<F, Fut>(
    backend: Arc<dyn Backend>,
    caller: Option<McpCaller>,
    plans: &[ToolPlan],
    uri: &str,
    last: Arc<Mutex<HashMap<String, Value>>>,
    updated: F,
) -> Result<Subscription, McpError>
where
    F: Fn(String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
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
    let channel = backend
        .open_channel()
        .ok_or_else(|| McpError::internal_error("events are not served here", None))?;
    let params = json!({"event": event, "socket": "mcp:", "expire": EXPIRE.as_secs()});
    if let Err(why) = mi(
        backend.as_ref(),
        caller.as_ref(),
        Some(channel.id),
        "event_subscribe",
        params.clone(),
    )
    .await
    {
        backend.close_channel(channel.id);
        return Err(McpError::invalid_params(why, None));
    }
    let uri = uri.to_string();
    let channel_id = channel.id;
    let task_backend = backend.clone();
    let task = tokio::spawn(async move {
        let mut renew = tokio::time::interval(EXPIRE / 2);
        renew.tick().await;
        loop {
            tokio::select! {
                pushed = channel.queue.next() => {
                    let Some(pushed) = pushed else { return };
                    let notification: Value =
                        serde_json::from_slice(&pushed.payload).unwrap_or_default();
                    let raised = json!({"event": notification["method"], "params": notification["params"]});
                    lock(&last).insert(uri.clone(), raised);
                    pushed.receipt.sent();
                    if !updated(uri.clone()).await {
                        return;
                    }
                }
                _ = renew.tick() => {
                    let renewed = mi(task_backend.as_ref(), caller.as_ref(), Some(channel.id), "event_subscribe", params.clone()).await;
                    if renewed.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(Subscription {
        backend,
        channel: channel_id,
        task,
    })
}
