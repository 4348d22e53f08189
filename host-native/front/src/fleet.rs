//! The nodes together: lookup by name and glob, `nodes_list`, and `nodes_run` (one command
//! on many nodes in parallel).

use super::names::{NodeMethod, NodeNames};
use super::node::{Node, NodeError, State};
use super::reload::{self, ReloadPolicy};
use super::select::Selector;
use super::settings::Dialect;
use mi_core::access::Access;
use mi_core::json::Value as MiValue;
use mi_core::names::CommandName;
use mi_core::MiError;
use miwa_dispatch::metrics::families::UPSTREAM_STATISTICS;
use serde_json::{json, Map, Value};
use std::sync::{Arc, RwLock};

/// The nodes at one moment, in configuration order, and the default one. A request is
/// routed with the roster it started with: a node removed meanwhile still answers the
/// calls already sent to it.
pub struct Roster {
    nodes: Vec<Arc<Node>>,
    default: Option<usize>,
}

impl Roster {
    /// The nodes; requests without a node name go to `default` (an index in `nodes`).
    pub fn new(nodes: Vec<Arc<Node>>, default: Option<usize>) -> Roster {
        Roster { nodes, default }
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
    pub(crate) fn default_node(&self) -> Option<&Arc<Node>> {
        self.default.map(|i| &self.nodes[i])
    }
}

/// Every node: the roster now, replaced whole when the configuration changes.
pub struct Fleet {
    roster: RwLock<Arc<Roster>>,
    max_parallel: usize,
    /// How reload commands reach the nodes.
    pub reloads: ReloadPolicy,
}

impl Fleet {
    /// A fleet of `roster`'s nodes; `nodes_run` contacts at most `max_parallel` at once;
    /// reloads reach the nodes as `reloads` says.
    pub fn new(roster: Roster, max_parallel: usize, reloads: ReloadPolicy) -> Self {
        Fleet {
            roster: RwLock::new(Arc::new(roster)),
            max_parallel,
            reloads,
        }
    }

    /// The nodes now.
    pub fn roster(&self) -> Arc<Roster> {
        self.roster
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Makes `roster` the nodes from now on; the roster it replaces is returned.
    pub(crate) fn replace(&self, roster: Roster) -> Arc<Roster> {
        let mut now = self
            .roster
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::replace(&mut *now, Arc::new(roster))
    }

    /// Drops every idle socket and connection to the nodes (their reply sockets' files
    /// with them): at shutdown.
    pub fn close(&self) {
        for node in self.roster().nodes() {
            node.close();
        }
    }

    /// `nodes_list`: each node (those `selector` keeps, if given): its transport,
    /// address, dialect, labels, state, last error, average latency, requests in flight
    /// and number of commands.
    /// `scope` (the caller's role's) leaves out the nodes it does not match.
    pub fn list(&self, selector: Option<&Selector>, scope: Option<&Selector>) -> Value {
        let roster = self.roster();
        let nodes: Vec<Value> = roster
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| {
                let labels = node.labels();
                selector.is_none_or(|s| s.matches(&node.name, &labels))
                    && scope.is_none_or(|s| s.matches(&node.name, &labels))
            })
            .map(|(i, node)| {
                json!({
                    "name": node.name,
                    "transport": node.transport(),
                    "address": node.address(),
                    "dialect": node.config.dialect.name(),
                    "labels": node.labels(),
                    "source": node.source,
                    "default": roster.default == Some(i),
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

    /// The nodes `patterns` (names or globs; all when `None`) and `selector` select, in
    /// configuration order; the error names a pattern that matches no node, or the
    /// selector when it leaves none.
    fn select(
        &self,
        patterns: Option<&[String]>,
        selector: Option<&Selector>,
        scope: Option<&Selector>,
    ) -> Result<Vec<Arc<Node>>, MiError> {
        let unknown = |what: String| MiError::with_data(404, "Unknown node", what);
        let roster = self.roster();
        let visible: Vec<&Arc<Node>> = roster
            .nodes
            .iter()
            .filter(|n| scope.is_none_or(|s| s.matches(&n.name, &n.labels())))
            .collect();
        let named = |node: &Node| {
            patterns.is_none_or(|patterns| {
                patterns
                    .iter()
                    .any(|p| mi_core::access::glob(p, &node.name))
            })
        };
        if let Some(unmatched) = patterns
            .unwrap_or_default()
            .iter()
            .find(|p| !visible.iter().any(|n| mi_core::access::glob(p, &n.name)))
        {
            return Err(unknown(format!("no node matches '{unmatched}'")));
        }
        let selected: Vec<Arc<Node>> = visible
            .into_iter()
            .filter(|n| named(n) && selector.is_none_or(|s| s.matches(&n.name, &n.labels())))
            .cloned()
            .collect();
        match selector {
            Some(selector) if selected.is_empty() => Err(unknown(format!(
                "no node matches the selector '{}'",
                selector.text()
            ))),
            _ => Ok(selected),
        }
    }

    /// `nodes_run`: `command` with `params` on the selected nodes in parallel (at most
    /// `max_parallel` at once); one member per node, in configuration order, holding the
    /// node's `result` or `error` — a node that is down or slow is an entry, not a failure.
    /// The command is resolved for each node as a call addressed to it is (`cache:store`
    /// is `cache_store` on an OpenSIPS node), and that resolved command is what the
    /// caller's role is checked against and what the node receives. Rolling (`rolling`
    /// nodes at a time), the run stops once more than `max_failures` nodes failed, and the
    /// nodes not reached say so. Each entry is also handed to `arrived` as soon as it is
    /// known; with `deadline_ms`, a node that has not answered by then is an entry
    /// `504 Node timeout`.
    pub async fn run(
        &self,
        arguments: RunArguments,
        names: &NodeNames,
        access: Option<&Access>,
        arrived: &(dyn Fn(&str, &Value) + Sync),
    ) -> Result<Value, MiError> {
        let selected = self.select(
            arguments.nodes.as_deref(),
            arguments.select.as_ref(),
            arguments.scope.as_ref(),
        )?;
        let slots = tokio::sync::Semaphore::new(self.max_parallel);
        let deadline = arguments
            .deadline_ms
            .map(|ms| tokio::time::Instant::now() + std::time::Duration::from_millis(ms));
        let prepared = request_text(&arguments.command, arguments.params.as_ref(), RUN_ID);
        let run_on = |node: &Arc<Node>| {
            let running = self.run_on(node.clone(), &arguments, &prepared, names, access, &slots);
            let name = node.name.clone();
            let deadline_ms = arguments.deadline_ms.unwrap_or_default();
            // Boxed once here: the futures of a thousand nodes are then moved as pointers.
            Box::pin(async move {
                let entry = match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline, running)
                        .await
                        .unwrap_or_else(|_| {
                            let error = MiError::with_data(
                                504,
                                "Node timeout",
                                format!(
                                    "{name}: no answer within the run's deadline_ms {deadline_ms}"
                                ),
                            );
                            json!({"error": error_value(&error)})
                        }),
                    None => running.await,
                };
                arrived(&name, &entry);
                entry
            })
        };
        let mut out = Map::new();
        let Some(rolling) = arguments.rolling else {
            let outcomes = futures_util::future::join_all(selected.iter().map(run_on)).await;
            for (node, outcome) in selected.iter().zip(outcomes) {
                out.insert(node.name.clone(), outcome);
            }
            return Ok(Value::Object(out));
        };
        let mut failed = 0;
        let mut batches = selected.chunks(rolling);
        for batch in batches.by_ref() {
            let outcomes = futures_util::future::join_all(batch.iter().map(run_on)).await;
            for (node, outcome) in batch.iter().zip(outcomes) {
                failed += usize::from(outcome.get("error").is_some());
                out.insert(node.name.clone(), outcome);
            }
            if failed > arguments.max_failures {
                break;
            }
        }
        let why = format!(
            "the rolling run stopped: {failed} nodes failed, more than max_failures {}",
            arguments.max_failures
        );
        for node in batches.flatten() {
            let entry = json!({ "not_reached": why });
            arrived(&node.name, &entry);
            out.insert(node.name.clone(), entry);
        }
        Ok(Value::Object(out))
    }

    /// One node's entry of `nodes_run`; `prepared` is the request text of the command as
    /// the caller named it, sent as is to every node that knows it by that name.
    async fn run_on(
        &self,
        node: Arc<Node>,
        arguments: &RunArguments,
        prepared: &str,
        names: &NodeNames,
        access: Option<&Access>,
        slots: &tokio::sync::Semaphore,
    ) -> Value {
        let (method, name_4_0) = match node.config.dialect {
            Dialect::Opensips => match names.resolve(&node.commands(), &arguments.command) {
                NodeMethod::AsIs => (arguments.command.clone(), None),
                NodeMethod::Renamed(name) => (name, None),
                NodeMethod::Ambiguous(candidates) => {
                    let error = mi_core::names::ambiguous(&candidates);
                    return json!({"error": error_value(&error)});
                }
            },
            Dialect::Kamailio => (arguments.command.clone(), None::<String>),
        };
        let name_4_0 = name_4_0.or_else(|| match node.config.dialect {
            Dialect::Opensips => names.name_4_0(&method),
            Dialect::Kamailio => None,
        });
        let command = CommandName {
            name: &method,
            module: &node.name,
            name_4_0: name_4_0.as_deref(),
        };
        if let Some(refused) = access.filter(|a| !a.permits_named(&command)) {
            return json!({"error": error_value(&refused.refusal(&method))});
        }
        let params = arguments.params.as_ref();
        let text = |id: &str| request_text(&method, params, id);
        let Ok(_slot) = slots.acquire().await else {
            return json!({"error": {"code": 500, "message": "Server error"}});
        };
        if self.reloads.guards(&method) {
            let key = text("null");
            return match reload::forward(&node, &self.reloads, &method, key, text).await {
                Ok(reloaded) => {
                    let mut entry = outcome_of(&reloaded.answer.text);
                    if reloaded.shared {
                        entry["shared"] = Value::Bool(true);
                    }
                    entry
                }
                Err(error) => json!({"error": error_value(&node_error(&node.name, &error))}),
            };
        }
        let renamed;
        let request = if method == arguments.command {
            prepared
        } else {
            renamed = text(RUN_ID);
            &renamed
        };
        match node.forward(request.as_bytes(), RUN_ID).await {
            Ok(answer) => outcome_of(&answer.text),
            Err(error) => json!({"error": error_value(&node_error(&node.name, &error))}),
        }
    }
}

/// The parameters of `nodes_run`.
pub struct RunArguments {
    /// The command.
    pub command: String,
    /// Its parameters (an array or an object), as the request was read.
    pub params: Option<MiValue>,
    /// Names or globs of the nodes to run it on; `None`: all.
    pub nodes: Option<Vec<String>>,
    /// Labels the nodes must have (`site=eu,role=edge`); `None`: any.
    pub select: Option<Selector>,
    /// Rolling: this many nodes at a time; `None`: all at once.
    pub rolling: Option<usize>,
    /// Rolling: the run stops once more nodes than this failed (default 0).
    pub max_failures: usize,
    /// The whole run ends by then, milliseconds (`deadline_ms`); `None`: each node's own
    /// `timeout_ms` alone bounds it.
    pub deadline_ms: Option<u64>,
    /// Each node's entry is also sent, as it arrives, to the caller's WebSocket
    /// (`stream`).
    pub stream: bool,
    /// The nodes the caller's role may reach (not a parameter: its role's `nodes`).
    pub scope: Option<Selector>,
}

impl RunArguments {
    /// Reads `command`, `params`, `nodes`, `select`, `rolling`, `max_failures` by name or
    /// position (first exact name).
    pub fn from_params(params: Option<&MiValue>) -> Result<RunArguments, MiError> {
        let invalid = |why: &str| MiError::with_data(-32602, "Invalid params", why.to_string());
        let at = |index: usize, name: &str| match params {
            Some(MiValue::Array(list)) => list.get(index),
            Some(MiValue::Object(members)) => named(members, name),
            _ => None,
        };
        let (command, params, nodes, select) = (
            at(0, "command"),
            at(1, "params"),
            at(2, "nodes"),
            at(3, "select"),
        );
        let count = |index: usize, name: &str, range: std::ops::RangeInclusive<u64>| {
            let value = match at(index, name) {
                None | Some(MiValue::Null) => return Ok(None),
                Some(MiValue::Number(n)) if n.fract() == 0.0 && *n >= 0.0 => Some(*n as u64),
                Some(MiValue::String(text)) => text.parse::<u64>().ok(),
                Some(_) => None,
            };
            match value {
                Some(n) if range.contains(&n) => Ok(Some(n as usize)),
                _ => Err(MiError::with_data(
                    -32602,
                    "Invalid params",
                    format!(
                        "{name} must be a whole number between {} and {}",
                        range.start(),
                        range.end()
                    ),
                )),
            }
        };
        let rolling = count(4, "rolling", 1..=10_000)?;
        let max_failures = count(5, "max_failures", 0..=10_000)?.unwrap_or(0);
        let deadline_ms = count(6, "deadline_ms", 1..=3_600_000)?.map(|ms| ms as u64);
        let stream = match at(7, "stream") {
            None | Some(MiValue::Null) | Some(MiValue::Bool(false)) => false,
            Some(MiValue::Bool(true)) => true,
            Some(MiValue::String(text)) if text == "true" || text == "false" => text == "true",
            Some(_) => return Err(invalid("stream must be true or false")),
        };
        let command = match command {
            Some(MiValue::String(command)) if !command.is_empty() => command.clone(),
            _ => return Err(invalid("command (a string) is required")),
        };
        let params = match params {
            None | Some(MiValue::Null) => None,
            Some(p @ (MiValue::Array(_) | MiValue::Object(_))) => Some(p.clone()),
            Some(_) => return Err(invalid("params must be an array or an object")),
        };
        let nodes = match nodes {
            None | Some(MiValue::Null) => None,
            Some(MiValue::String(one)) => Some(vec![one.clone()]),
            Some(MiValue::Array(list)) => Some(
                list.iter()
                    .map(|v| match v {
                        MiValue::String(name) => Some(name.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| invalid("nodes must be names or globs"))?,
            ),
            Some(_) => return Err(invalid("nodes must be names or globs")),
        };
        Ok(RunArguments {
            command,
            params,
            nodes,
            select: selector(select)?,
            rolling,
            max_failures,
            deadline_ms,
            stream,
            scope: None,
        })
    }
}

/// The parameter named `name` of `members` (the first exact name).
fn named<'v>(members: &'v [(String, MiValue)], name: &str) -> Option<&'v MiValue> {
    members.iter().find(|(key, _)| key == name).map(|(_, v)| v)
}

/// A `select` parameter read: absent, or a selector string.
fn selector(value: Option<&MiValue>) -> Result<Option<Selector>, MiError> {
    let invalid = |why: String| MiError::with_data(-32602, "Invalid params", why);
    match value {
        None | Some(MiValue::Null) => Ok(None),
        Some(MiValue::String(text)) => Selector::parse(text)
            .map(Some)
            .map_err(|why| invalid(format!("select: {why}"))),
        Some(_) => Err(invalid(
            "select must be a string (site=eu,role=edge)".into(),
        )),
    }
}

/// The `select` parameter of `nodes_list` (by name, or first).
pub fn list_selector(params: Option<&MiValue>) -> Result<Option<Selector>, MiError> {
    match params {
        Some(MiValue::Array(list)) => selector(list.first()),
        Some(MiValue::Object(members)) => selector(named(members, "select")),
        _ => Ok(None),
    }
}

/// The id of the requests `nodes_run` sends (a JSON text).
const RUN_ID: &str = "\"miwa-run\"";

/// The canonical request text of `method` with `params` and the id `id` (a JSON text).
fn request_text(method: &str, params: Option<&MiValue>, id: &str) -> String {
    let id = mi_core::request::Id::Echo(
        mi_core::json::parse(id.as_bytes(), 4).map_or(MiValue::Null, |(v, _)| v),
    );
    let call = mi_core::request::Call {
        method: method.to_string(),
        params: None,
        id: id.clone(),
    };
    call.text_as(method, params, &id)
}

/// A node's reply as a `nodes_run` entry: `{"result": …}` or `{"error": …}`, the node's
/// value moved into it, not copied.
fn outcome_of(text: &str) -> Value {
    let mut reply: Map<String, Value> = serde_json::from_str(text.trim()).unwrap_or_default();
    let entry = |member: &str, value: Value| {
        let mut entry = Map::with_capacity(1);
        entry.insert(member.to_string(), value);
        Value::Object(entry)
    };
    match (reply.remove("result"), reply.remove("error")) {
        (Some(result), _) => entry("result", result),
        (None, Some(error)) => entry("error", error),
        _ => json!({"error": {"code": 502, "message": "Bad node reply"}}),
    }
}

/// The JSON-RPC error for a node that gave no reply.
pub(crate) fn node_error(node: &str, error: &NodeError) -> MiError {
    let (code, message) = error.code_message();
    MiError::with_data(code, message, format!("{node}: {error}"))
}

/// An error as a JSON value.
pub(crate) fn error_value(error: &MiError) -> Value {
    let mut value = json!({"code": error.code, "message": error.message});
    if let Some(data) = &error.data {
        value["data"] = Value::String(data.clone());
    }
    value
}

/// The node a statistic of group `upstreams` is about.
pub(crate) fn statistic_node(name: &str) -> Option<&str> {
    UPSTREAM_STATISTICS.iter().find_map(|(what, _, _)| {
        name.strip_suffix(what)
            .and_then(|rest| rest.strip_suffix('_'))
    })
}

/// Statistics of group `upstreams`, per node: `<node>_<what>` for each `what` of
/// [`UPSTREAM_STATISTICS`], in its order.
impl miwa_state::StatisticsSource for Fleet {
    fn statistics(&self) -> Vec<mi_core::host::Statistic> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = Vec::new();
        for node in self.roster().nodes() {
            let c = &node.counters;
            let values = [
                (c.requests.load(Relaxed), true),
                (c.errors.load(Relaxed), true),
                (c.timeouts.load(Relaxed), true),
                (node.average_latency_us(), false),
                (node.in_flight() as u64, false),
                (u64::from(node.state() == State::Up), false),
                (node.reloads.shared.load(Relaxed), true),
                (node.reloads.refused.load(Relaxed), true),
            ];
            for ((name, _, _), (value, incremental)) in UPSTREAM_STATISTICS.iter().zip(values) {
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
}
