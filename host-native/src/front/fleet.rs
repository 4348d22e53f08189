//! The nodes together: lookup by name and glob, `nodes_list`, and `nodes_run` (one command
//! on many nodes in parallel).

use super::node::{Node, NodeError, State};
use mi_core::access::Access;
use mi_core::MiError;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Every node, in configuration order.
pub struct Fleet {
    nodes: Vec<Arc<Node>>,
    default: Option<usize>,
    max_parallel: usize,
}

impl Fleet {
    /// The nodes; requests without a node name go to `default` (an index in `nodes`).
    pub fn new(nodes: Vec<Arc<Node>>, default: Option<usize>, max_parallel: usize) -> Self {
        Fleet {
            nodes,
            default,
            max_parallel,
        }
    }

    /// All nodes, in configuration order.
    pub fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }

    /// The node called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Node>> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The default node, if `[front] upstream` names one.
    pub fn default_node(&self) -> Option<&Arc<Node>> {
        self.default.map(|i| &self.nodes[i])
    }

    /// Drops every idle socket and connection to the nodes (their reply sockets' files
    /// with them): at shutdown.
    pub fn close(&self) {
        for node in &self.nodes {
            node.close();
        }
    }

    /// Statistics of group `upstreams`, per node.
    pub fn statistics(&self) -> Vec<mi_core::host::Statistic> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = Vec::new();
        for node in &self.nodes {
            let c = &node.counters;
            let values = [
                ("requests", c.requests.load(Relaxed), true),
                ("errors", c.errors.load(Relaxed), true),
                ("timeouts", c.timeouts.load(Relaxed), true),
                ("latency_us", node.average_latency_us(), false),
                ("in_flight", node.in_flight() as u64, false),
                ("up", u64::from(node.state() == State::Up), false),
            ];
            for (name, value, incremental) in values {
                out.push(mi_core::host::Statistic {
                    group: "upstreams".into(),
                    name: format!("{}_{name}", node.name),
                    value,
                    incremental,
                });
            }
        }
        out
    }

    /// `nodes_list`: each node's transport, address, dialect, state, last error, average
    /// latency, requests in flight and number of commands.
    pub fn list(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                json!({
                    "name": node.name,
                    "transport": node.transport(),
                    "address": node.address(),
                    "dialect": node.config.dialect.name(),
                    "default": self.default == Some(i),
                    "state": node.state().name(),
                    "last_error": node.last_error(),
                    "latency_us": node.average_latency_us(),
                    "in_flight": node.in_flight(),
                    "commands": node.commands().len(),
                })
            })
            .collect();
        json!({ "nodes": nodes })
    }

    /// The nodes `patterns` selects (names or globs; all when `None`), in configuration
    /// order, or the pattern that matches none.
    fn select(&self, patterns: Option<&[String]>) -> Result<Vec<&Arc<Node>>, String> {
        let Some(patterns) = patterns else {
            return Ok(self.nodes.iter().collect());
        };
        if let Some(unmatched) = patterns
            .iter()
            .find(|p| !self.nodes.iter().any(|n| mi_core::access::glob(p, &n.name)))
        {
            return Err(unmatched.clone());
        }
        Ok(self
            .nodes
            .iter()
            .filter(|n| patterns.iter().any(|p| mi_core::access::glob(p, &n.name)))
            .collect())
    }

    /// `nodes_run`: `command` with `params` on the selected nodes in parallel (at most
    /// `max_parallel` at once); one member per node, in configuration order, holding the
    /// node's `result` or `error` — a node that is down or slow is an entry, not a failure.
    pub async fn run(
        &self,
        arguments: RunArguments,
        access: Option<&Access>,
    ) -> Result<Value, MiError> {
        let selected = self.select(arguments.nodes.as_deref()).map_err(|pattern| {
            MiError::with_data(404, "Unknown node", format!("no node matches '{pattern}'"))
        })?;
        let request = match &arguments.params {
            Some(params) => json!({"jsonrpc": "2.0", "method": arguments.command, "params": params, "id": "miwa-run"}),
            None => json!({"jsonrpc": "2.0", "method": arguments.command, "id": "miwa-run"}),
        }
        .to_string();
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_parallel));
        let runs = selected.iter().map(|node| {
            let (request, slots, command) = (&request, slots.clone(), &arguments.command);
            async move {
                if access.is_some_and(|a| !a.permits(command, &node.name)) {
                    let refusal = access
                        .map(|a| a.refusal(command))
                        .unwrap_or_else(|| MiError::new(403, "Forbidden"));
                    return json!({"error": error_value(&refusal)});
                }
                let _slot = slots.acquire().await;
                match node.forward(request.as_bytes(), "\"miwa-run\"").await {
                    Ok(answer) => outcome_of(&answer.text),
                    Err(error) => json!({"error": error_value(&node_error(&node.name, &error))}),
                }
            }
        });
        let outcomes = futures_util::future::join_all(runs).await;
        let mut out = Map::new();
        for (node, outcome) in selected.iter().zip(outcomes) {
            out.insert(node.name.clone(), outcome);
        }
        Ok(Value::Object(out))
    }
}

/// The parameters of `nodes_run`.
pub struct RunArguments {
    /// The command.
    pub command: String,
    /// Its parameters (an array or an object).
    pub params: Option<Value>,
    /// Names or globs of the nodes to run it on; `None`: all.
    pub nodes: Option<Vec<String>>,
}

impl RunArguments {
    /// Reads `command`, `params`, `nodes` by name or position.
    pub fn from_params(params: Option<&str>) -> Result<RunArguments, MiError> {
        let invalid = |why: &str| MiError::with_data(-32602, "Invalid params", why.to_string());
        let value: Value = match params {
            Some(text) => serde_json::from_str(text).map_err(|_| invalid("params"))?,
            None => Value::Null,
        };
        let (command, params, nodes) = match &value {
            Value::Array(list) => (list.first(), list.get(1), list.get(2)),
            Value::Object(map) => (map.get("command"), map.get("params"), map.get("nodes")),
            _ => (None, None, None),
        };
        let command = command
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| invalid("command (a string) is required"))?
            .to_string();
        let params = match params {
            None | Some(Value::Null) => None,
            Some(p @ (Value::Array(_) | Value::Object(_))) => Some(p.clone()),
            Some(_) => return Err(invalid("params must be an array or an object")),
        };
        let nodes = match nodes {
            None | Some(Value::Null) => None,
            Some(Value::String(one)) => Some(vec![one.clone()]),
            Some(Value::Array(list)) => Some(
                list.iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid("nodes must be names or globs"))?,
            ),
            Some(_) => return Err(invalid("nodes must be names or globs")),
        };
        Ok(RunArguments {
            command,
            params,
            nodes,
        })
    }
}

/// A node's reply as a `nodes_run` entry: `{"result": …}` or `{"error": …}`.
fn outcome_of(text: &str) -> Value {
    let reply: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
    match (reply.get("result"), reply.get("error")) {
        (Some(result), _) => json!({ "result": result }),
        (None, Some(error)) => json!({ "error": error }),
        _ => json!({"error": {"code": 502, "message": "Bad node reply"}}),
    }
}

/// The JSON-RPC error for a node that gave no reply.
pub fn node_error(node: &str, error: &NodeError) -> MiError {
    let (code, message) = error.code_message();
    MiError::with_data(code, message, format!("{node}: {error}"))
}

/// An error as a JSON value.
pub fn error_value(error: &MiError) -> Value {
    let mut value = json!({"code": error.code, "message": error.message});
    if let Some(data) = &error.data {
        value["data"] = Value::String(data.clone());
    }
    value
}
