//! `rpc.discover` addressed to a node: an OpenRPC document of the node's commands (those
//! the caller may run), then the commands miwa adds in front of it. Addressed to no node,
//! miwa's own document gains the fleet commands ([`with_fleet_methods`]).
//!
//! A node describes less than miwa's registry: an OpenSIPS node gives each command's
//! recipes (`which <command>`, asked of it, at most half its `max_in_flight` at once, so
//! that other requests keep room), never their
//! types, so every parameter is untyped (`{}`); a Kamailio node gives names only, so its
//! methods carry `x-params-unknown`. The 4.0 names are the ones [`NodeNames`] knows.

use super::names::NodeNames;
use super::node::Node;
use super::settings::Dialect;
use futures_util::StreamExt as _;
use mi_core::access::Access;
use mi_core::openrpc::{document_of, untyped_method};
use serde_json::Value;
use std::sync::Arc;
use transports::CommandInfo;

/// The result of one request to `node`, if it answered one.
async fn ask(node: &Node, method: &str, params: Value) -> Option<Value> {
    let request =
        serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let answer = node
        .forward(request.to_string().as_bytes(), "1")
        .await
        .ok()?;
    let reply: Value = serde_json::from_str(&answer.text).ok()?;
    reply.get("result").cloned()
}

/// The recipes `which <command>` gives, if the node gave them.
async fn recipes(node: &Node, command: &str) -> Option<Vec<Vec<String>>> {
    let result = ask(node, "which", serde_json::json!({"command": command})).await?;
    serde_json::from_value(result).ok()
}

fn to_json(value: &mi_core::json::Value) -> Value {
    serde_json::from_str(&mi_core::json::to_compact(value)).unwrap_or_default()
}

/// The document of `node` for a caller limited by `access`, with `added` (the commands
/// miwa adds in front of it) at the end.
pub async fn document(
    node: &Arc<Node>,
    names: &NodeNames,
    access: Option<&Access>,
    added: Vec<CommandInfo>,
) -> Value {
    let commands: Vec<String> = node
        .commands()
        .iter()
        .filter(|c| access.is_none_or(|a| a.permits(c, &node.name)))
        .filter(|c| !added.iter().any(|a| &a.name == *c))
        .cloned()
        .collect();
    let described: Vec<Option<Vec<Vec<String>>>> = match node.config.dialect {
        Dialect::Opensips => {
            let asks = commands.iter().cloned().map(|command| {
                let node = node.clone();
                async move { recipes(&node, &command).await }
            });
            futures_util::stream::iter(asks)
                .buffered((node.config.max_in_flight / 2).max(1))
                .collect()
                .await
        }
        Dialect::Kamailio => vec![None; commands.len()],
    };
    let node_methods = commands.iter().zip(&described).map(|(name, recipes)| {
        untyped_method(
            name,
            names.name_4_0(name).as_deref(),
            names.module_of(name),
            recipes.as_deref(),
        )
    });
    let added_methods = added
        .iter()
        .filter(|c| access.is_none_or(|a| a.permits(&c.name, &c.module)))
        .map(|c| {
            untyped_method(
                &c.name,
                Some(&format!("{}:{}", c.module, c.name)),
                Some(&c.module),
                Some(&c.recipes),
            )
        });
    let version = match node.config.dialect {
        Dialect::Opensips => ask(node, "version", serde_json::json!([])).await,
        Dialect::Kamailio => ask(node, "core.version", serde_json::json!([])).await,
    };
    let version = version
        .as_ref()
        .and_then(|v| v.get("Server").or(Some(v)))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    to_json(&document_of(
        &format!(
            "{} ({} node, through miwa)",
            node.name,
            node.config.dialect.name()
        ),
        &version,
        "The node's commands as it describes them: names and, for OpenSIPS nodes, recipes; \
         parameters untyped. Then the commands miwa adds in front of the node.",
        node_methods.chain(added_methods).collect(),
    ))
}

/// The fleet commands as OpenRPC methods, typed: `nodes_run` and `nodes_list` take
/// their parameters by name, any of them beside the required ones.
fn fleet_methods() -> [Value; 2] {
    use serde_json::json;
    let param = |name: &str, required: bool, schema: Value| json!({"name": name, "required": required, "schema": schema});
    let errors = json!([{"code": -32602, "message": "Invalid params"}, {"code": 403, "message": "Forbidden"}, {"code": 404, "message": "Unknown node"}]);
    let nodes_run = json!({
        "name": "nodes_run",
        "summary": "runs one command on many nodes in parallel (or rolling, a few at a time); one entry per node",
        "tags": [{"name": "front"}],
        "paramStructure": "by-name",
        "params": [
            param("command", true, json!({"type": "string"})),
            param("params", false, json!({"type": ["array", "object"]})),
            param("nodes", false, json!({"type": "array", "items": {"type": "string"}})),
            param("select", false, json!({"type": "string"})),
            param("rolling", false, json!({"type": "integer", "minimum": 1})),
            param("max_failures", false, json!({"type": "integer", "minimum": 0})),
            param("deadline_ms", false, json!({"type": "integer", "minimum": 1})),
            param("stream", false, json!({"type": "boolean"})),
        ],
        "result": {"name": "result", "schema": {"type": "object"}},
        "errors": errors,
        "x-opensips-4-name": "front:nodes_run",
    });
    let nodes_list = json!({
        "name": "nodes_list",
        "summary": "lists the nodes miwa is in front of: transport, address, labels, state",
        "tags": [{"name": "front"}],
        "paramStructure": "by-name",
        "params": [param("select", false, json!({"type": "string"}))],
        "result": {"name": "result", "schema": {"type": "object"}},
        "errors": errors,
        "x-opensips-4-name": "front:nodes_list",
    });
    [nodes_run, nodes_list]
}

/// miwa's own document (`rpc.discover` to no node) with the fleet commands the caller
/// may run added to its methods.
pub fn with_fleet_methods(mut document: Value, access: Option<&Access>) -> Value {
    if let Some(methods) = document["methods"].as_array_mut() {
        methods.extend(fleet_methods().into_iter().filter(|m| {
            access.is_none_or(|a| a.permits(m["name"].as_str().unwrap_or_default(), "front"))
        }));
    }
    document
}
