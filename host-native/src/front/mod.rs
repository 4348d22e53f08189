//! Front mode: miwa in front of OpenSIPS and Kamailio nodes.
//!
//! [`FrontDispatcher`] is a [`Dispatcher`] that sits before miwa's own ([`MiDispatcher`]):
//! each request (each batch member) goes to a node or to miwa itself.
//!
//! - `settings`: `[upstreams.<name>]` and `[front]`.
//! - `request`: the request split into members, method and id found.
//! - `link`: one exchange with a node over its FIFO, datagram socket or HTTP URL.
//! - `names`: OpenSIPS 4.0 names for a node's 3.6 commands, and their ambiguity.
//! - `node`: a node's health (probed in the background), command list and counters.
//! - `fleet`: all nodes, `nodes_list` and `nodes_run`.
//! - `discover`: `rpc.discover` addressed to a node, an OpenRPC document of its commands.
//! - `events`: miwa's own subscriptions at nodes, for its subscribers.
//!
//! Routing, per member: `miwa:<command>` runs miwa's own `<command>`; `nodes_run`,
//! `nodes_list`, module management and the commands of miwa's WebAssembly modules run in
//! miwa; `which` and `help` are merged; everything else goes to the node the request is
//! addressed to (`/mi/<node>`, or `[front] upstream`), or to miwa when there is none.

pub mod discover;
pub mod events;
pub mod fleet;
pub mod link;
pub mod names;
pub mod node;
pub mod request;
pub mod settings;

use crate::access::AccessControl;
use crate::dispatch::MiDispatcher;
use crate::state::stats::TransportTable;
use crate::state::HostState;
use fleet::{node_error, Fleet, RunArguments};
use mi_core::rpc::{failure_reply, HandleOptions};
use mi_core::MiError;
use names::{NodeMethod, NodeNames};
use node::Node;
use request::{Member, Parsed};
use serde_json::Value;
use settings::Dialect;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use transports::metrics::{ChartsView, Scrape, ScrapeError, Scraping};
use transports::{Authentication, Caller, CommandInfo, Dispatcher, Dispatching, Reply};

/// Commands miwa adds in front of a node, besides its modules' commands.
const ADDED: [(&str, &str); 6] = [
    ("nodes_run", "runs one command on many nodes in parallel"),
    ("nodes_list", "lists the nodes miwa is in front of"),
    ("module_list", "lists miwa's WebAssembly command modules"),
    ("module_load", "loads a WebAssembly command module"),
    ("module_unload", "unloads a WebAssembly command module"),
    ("module_reload", "reloads a WebAssembly command module"),
];

/// The prefix that reaches miwa's own commands in front mode (`miwa:ps`).
pub const OWN_PREFIX: &str = "miwa:";

/// Routes requests to nodes and to miwa itself.
pub struct FrontDispatcher {
    local: Arc<MiDispatcher>,
    fleet: Arc<Fleet>,
    access: Arc<AccessControl>,
    state: Arc<HostState>,
    runtime: tokio::runtime::Handle,
    max_depth: u32,
    notifications: AtomicU64,
    events: Option<Arc<events::NodeEvents>>,
    transport_counters: TransportTable,
    names: NodeNames,
}

/// Where one member goes.
enum Route<'a> {
    /// miwa's own core, with this method.
    Local(Option<&'a str>),
    /// `nodes_run` / `nodes_list`.
    Fleet,
    /// `which` / `help` about `nodes_run` or `nodes_list`.
    Describe(String),
    /// The node.
    Node(&'a Arc<Node>),
    /// `rpc.discover` addressed to the node: miwa's document of it.
    Discover(&'a Arc<Node>),
    /// `event_subscribe`: miwa's, after subscribing itself at the node when it raises the
    /// event.
    Subscribe(&'a Arc<Node>),
}

impl FrontDispatcher {
    /// A front over `local` (miwa's own dispatcher) and `fleet`; sync callers block on
    /// `runtime`.
    pub fn new(
        local: Arc<MiDispatcher>,
        fleet: Arc<Fleet>,
        access: Arc<AccessControl>,
        state: Arc<HostState>,
        runtime: tokio::runtime::Handle,
        max_depth: u32,
    ) -> Self {
        let transport_counters = TransportTable::new(&state.counters);
        FrontDispatcher {
            local,
            fleet,
            access,
            state,
            runtime,
            max_depth,
            notifications: AtomicU64::new(0),
            events: None,
            transport_counters,
            names: NodeNames::default(),
        }
    }

    /// Front mode for `config`'s `[upstreams.*]` over `local`: the nodes are set up, their
    /// probes started on `runtime` (each reports under the status group `upstreams`).
    pub fn start(
        config: &crate::config::Config,
        local: Arc<MiDispatcher>,
        access: Arc<AccessControl>,
        state: Arc<HostState>,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<FrontDispatcher> {
        let mut nodes = Vec::new();
        let budget = transports::budget::ByteBudget::new(config.front.max_buffered);
        for (name, upstream) in &config.upstreams {
            let node = Node::new(name, upstream, &budget)
                .map_err(|e| anyhow::anyhow!("[upstreams.{name}]: {e}"))?;
            nodes.push(Arc::new(node));
        }
        let default = nodes.iter().position(|n| n.name == config.front.upstream);
        let fleet = Arc::new(Fleet::new(nodes, default, config.front.max_parallel));
        let _first_fleet_only = state.fleet.set(fleet.clone());
        for node in fleet.nodes() {
            let status_state = Arc::downgrade(&state);
            state.set_status(
                "upstreams",
                &node.name,
                crate::state::readiness::INITIALIZING,
                &format!(
                    "{} ({}): not yet contacted",
                    node.address(),
                    node.config.dialect.name()
                ),
            );
            runtime.spawn(node.clone().watch(move |node| {
                let Some(state) = status_state.upgrade() else {
                    return;
                };
                let (status, details) = match node.state() {
                    node::State::Up => (
                        crate::state::readiness::RUNNING,
                        format!("{}: up, {} commands", node.address(), node.commands().len()),
                    ),
                    _ => (
                        crate::state::readiness::DOWN,
                        format!(
                            "{}: down: {}",
                            node.address(),
                            node.last_error().unwrap_or_default()
                        ),
                    ),
                };
                state.set_status("upstreams", &node.name, status, &details);
            }));
        }
        let events = fleet
            .nodes()
            .iter()
            .any(|n| n.config.dialect == Dialect::Opensips)
            .then(|| {
                events::NodeEvents::start(
                    &config.front.event_socket,
                    config.front.event_expire,
                    state.clone(),
                    &runtime,
                )
            })
            .transpose()?;
        let mut front = FrontDispatcher::new(
            local,
            fleet,
            access,
            state,
            runtime,
            config.core.max_json_depth,
        );
        front.events = events;
        Ok(front)
    }

    fn options(&self, pretty: bool) -> HandleOptions {
        HandleOptions {
            pretty,
            max_depth: self.max_depth,
        }
    }

    /// Whether `method` is one miwa adds in front of a node.
    fn added(&self, method: &str) -> bool {
        ADDED.iter().any(|(name, _)| *name == method)
            || self
                .state
                .modules
                .get()
                .is_some_and(|m| m.has_command(method))
    }

    fn route<'a>(&self, member: &'a Member<'a>, node: Option<&'a Arc<Node>>) -> Route<'a> {
        let method = member.method.as_str();
        if let Some(own) = method.strip_prefix(OWN_PREFIX) {
            return Route::Local(Some(own));
        }
        if matches!(method, "nodes_run" | "nodes_list") {
            return Route::Fleet;
        }
        if matches!(method, "which" | "help") {
            if let Some(named) = member
                .first_param(&["command", "mi_cmd"])
                .filter(|c| c.starts_with("nodes_"))
            {
                return Route::Describe(named);
            }
        }
        let Some(node) = node else {
            return Route::Local(None);
        };
        if method == mi_core::openrpc::DISCOVER {
            return Route::Discover(node);
        }
        if self.added(method) {
            return Route::Local(None);
        }
        if method == "event_subscribe"
            && self.events.is_some()
            && node.config.dialect == Dialect::Opensips
        {
            return Route::Subscribe(node);
        }
        if matches!(method, "which" | "help") {
            let named = member.first_param(&["command", "mi_cmd"]);
            if named.is_some_and(|c| self.added(&c) || c.starts_with(OWN_PREFIX)) {
                return Route::Local(None);
            }
        }
        Route::Node(node)
    }

    /// `error` as the reply to `text`.
    fn error(&self, text: &[u8], error: MiError, pretty: bool) -> Reply {
        failure_reply(text, error, self.options(pretty)).into()
    }

    /// A result reply to `member`, or nothing for a notification.
    fn result(&self, member: &Member<'_>, result: &Value, pretty: bool) -> Reply {
        let Some(id) = member.id else {
            return Reply::Nothing;
        };
        let result = if pretty {
            serde_json::to_string_pretty(result)
        } else {
            serde_json::to_string(result)
        }
        .unwrap_or_default();
        Reply::Text(format!(
            r#"{{"jsonrpc":"2.0","result":{result},"id":{id}}}"#
        ))
    }

    async fn handle(&self, caller: Caller<'_>, request: &[u8], pretty: bool) -> Reply {
        let node = match caller.node {
            Some(name) => match self.fleet.get(name) {
                Some(node) => Some(node),
                None => {
                    let error = MiError::with_data(404, "Unknown node", name.to_string());
                    return self.error(request, error, pretty);
                }
            },
            None => self.fleet.default_node(),
        };
        match request::parse(request) {
            Parsed::Single(member) => self.member(caller, &member, node, pretty).await,
            Parsed::Batch(members) => {
                let replies = members.iter().map(|raw| async move {
                    match request::member(raw) {
                        Some(member) => self.member(caller, &member, node, pretty).await,
                        None => self.local.dispatch(caller, raw.get().as_bytes(), pretty),
                    }
                });
                let texts: Vec<String> = futures_util::future::join_all(replies)
                    .await
                    .into_iter()
                    .filter_map(|reply| match reply {
                        Reply::Text(text) | Reply::ParseError(text) => Some(text),
                        Reply::Nothing => None,
                        Reply::Unprintable => Some(
                            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#
                                .to_string(),
                        ),
                    })
                    .collect();
                if texts.is_empty() {
                    Reply::Nothing
                } else {
                    Reply::Text(format!("[{}]", texts.join(",")))
                }
            }
            Parsed::Other => self.local.dispatch(caller, request, pretty),
        }
    }

    async fn member(
        &self,
        caller: Caller<'_>,
        member: &Member<'_>,
        node: Option<&Arc<Node>>,
        pretty: bool,
    ) -> Reply {
        let route = self.route(member, node);
        let (reply, counted) = self.routed(caller, member, route, pretty).await;
        if let Some(failed) = counted {
            let sent = match &reply {
                Reply::Text(text) | Reply::ParseError(text) => text.len(),
                Reply::Nothing | Reply::Unprintable => 0,
            };
            self.transport_counters
                .get(caller.transport)
                .record(member.text.len(), sent, failed);
        }
        reply
    }

    /// The reply to `member` along `route`, and, for a member miwa's own dispatcher did
    /// not count in the statistics of its transport, whether it failed.
    async fn routed(
        &self,
        caller: Caller<'_>,
        member: &Member<'_>,
        route: Route<'_>,
        pretty: bool,
    ) -> (Reply, Option<bool>) {
        let text = member.text.as_bytes();
        let local_caller = Caller {
            node: None,
            ..caller
        };
        let counted = |reply: Reply| {
            let failed = match &reply {
                Reply::Text(text) => node::is_error_reply(text),
                Reply::ParseError(_) | Reply::Unprintable => true,
                Reply::Nothing => false,
            };
            (reply, Some(failed))
        };
        match route {
            Route::Local(None) => (self.local.dispatch(local_caller, text, pretty), None),
            Route::Local(Some(own)) => {
                let renamed = member.renamed(own);
                let reply = self
                    .local
                    .dispatch(local_caller, renamed.as_bytes(), pretty);
                (reply, None)
            }
            Route::Fleet => counted(self.fleet_command(caller, member, pretty).await),
            Route::Describe(name) => counted(self.describe(member, &name, pretty)),
            Route::Node(node) => {
                let (reply, failed) = self.forward(caller, member, node, pretty).await;
                (reply, Some(failed))
            }
            Route::Discover(node) => {
                let access = self.caller_access(caller);
                let document =
                    discover::document(node, &self.names, access.as_ref(), self.added_commands())
                        .await;
                counted(self.result(member, &document, pretty))
            }
            Route::Subscribe(node) => {
                if let Err(error) = self.subscribe_at_node(member, node).await {
                    let error = node_error(&node.name, &error);
                    return (self.error(text, error, pretty), None);
                }
                let reply = self.local.dispatch(local_caller, text, pretty);
                if let (Some(events), Some(event), Some(0)) = (
                    &self.events,
                    member.first_param(&["event"]),
                    member.param_number(2, "expire"),
                ) {
                    events.release(node, &event).await;
                }
                (reply, None)
            }
        }
    }

    /// For `event_subscribe` of an event the node raises, with an expiry other than 0:
    /// miwa's own subscription at the node.
    async fn subscribe_at_node(
        &self,
        member: &Member<'_>,
        node: &Arc<Node>,
    ) -> Result<(), node::NodeError> {
        let (Some(events), Some(event)) = (&self.events, member.first_param(&["event"])) else {
            return Ok(());
        };
        if member.param_number(2, "expire") == Some(0) {
            return Ok(());
        }
        events.ensure(node, &event).await.map(drop)
    }

    /// `which` (recipes) or `help` (text and module) of a fleet command, as miwa's core
    /// answers them for its own.
    fn describe(&self, member: &Member<'_>, name: &str, pretty: bool) -> Reply {
        let Some(info) = self.added_commands().into_iter().find(|c| c.name == name) else {
            let error = MiError::new(404, "unknown MI command");
            return self.error(member.text.as_bytes(), error, pretty);
        };
        let result = if member.method == "which" {
            serde_json::json!(info.recipes)
        } else {
            serde_json::json!({"Help": info.help, "Exported by": info.module})
        };
        self.result(member, &result, pretty)
    }

    /// The caller's role, as access control sees it.
    fn caller_access(&self, caller: Caller<'_>) -> Option<mi_core::access::Access> {
        self.access
            .access(self.access.role(caller.transport, caller.role))
    }

    async fn fleet_command(&self, caller: Caller<'_>, member: &Member<'_>, pretty: bool) -> Reply {
        let access = self.caller_access(caller);
        if let Some(refused) = access
            .as_ref()
            .filter(|a| !a.permits(&member.method, "front"))
        {
            let error = refused.refusal(&member.method);
            return self.error(member.text.as_bytes(), error, pretty);
        }
        let outcome = if member.method == "nodes_list" {
            Ok(self.fleet.list())
        } else {
            match RunArguments::from_params(member.params) {
                Ok(arguments) => self.fleet.run(arguments, access.as_ref()).await,
                Err(error) => Err(error),
            }
        };
        match outcome {
            Ok(result) => self.result(member, &result, pretty),
            Err(error) => self.error(member.text.as_bytes(), error, pretty),
        }
    }

    async fn forward(
        &self,
        caller: Caller<'_>,
        member: &Member<'_>,
        node: &Arc<Node>,
        pretty: bool,
    ) -> (Reply, bool) {
        let access = self.caller_access(caller);
        let commands = node.commands();
        let method = match node.config.dialect {
            Dialect::Opensips => match self.names.resolve(&commands, &member.method) {
                NodeMethod::AsIs => member.method.clone(),
                NodeMethod::Renamed(name) => name,
                NodeMethod::Ambiguous(candidates) => {
                    let error = mi_core::names::ambiguous(&candidates);
                    return (self.error(member.text.as_bytes(), error, pretty), true);
                }
            },
            Dialect::Kamailio => member.method.clone(),
        };
        if let Some(refused) = access.as_ref().filter(|a| !a.permits(&method, &node.name)) {
            tracing::warn!(node = %node.name, command = %method, role = %refused.role, "command refused");
            let error = refused.refusal(&method);
            return (self.error(member.text.as_bytes(), error, pretty), true);
        }
        if let Some(prefix) = member
            .first_param(&["command"])
            .filter(|p| method == "which" && p.ends_with(':'))
            .filter(|_| node.config.dialect == Dialect::Opensips)
        {
            let names: Vec<Value> = self
                .names
                .listed(&commands, &prefix)
                .into_iter()
                .filter(|(_, name)| access.as_ref().is_none_or(|a| a.permits(name, &node.name)))
                .map(|(full, _)| Value::String(full))
                .collect();
            return match names.is_empty() {
                true => (
                    self.error(
                        member.text.as_bytes(),
                        MiError::new(404, "unknown MI command"),
                        pretty,
                    ),
                    true,
                ),
                false => (self.result(member, &Value::Array(names), pretty), false),
            };
        }
        let merged_list = method == "which" && !member.has_params();
        let notification_id = member.id.is_none().then(|| {
            format!(
                "\"miwa-n{}\"",
                self.notifications.fetch_add(1, Ordering::Relaxed)
            )
        });
        let id = member.id.or(notification_id.as_deref()).unwrap_or("null");
        let text = match (node.config.dialect, method.as_str()) {
            (Dialect::Kamailio, "which") if merged_list => member.to_node("system.listMethods", id),
            (Dialect::Kamailio, "help") => match member.first_param(&["mi_cmd", "command"]) {
                Some(command) => {
                    let params = serde_json::json!([command]).to_string();
                    member.call("system.methodHelp", Some(&params), id)
                }
                None => member.to_node("system.methodHelp", id),
            },
            (_, method) => member.to_node(method, id),
        };
        match node.forward(text.as_bytes(), id).await {
            Ok(answer) if member.id.is_none() => (invalid_notification(&answer.text), answer.error),
            Ok(answer) if merged_list && !answer.error => (
                self.merge_which(member, &node.name, &answer.text, access.as_ref(), pretty),
                false,
            ),
            Ok(answer) => (Reply::Text(answer.text), answer.error),
            Err(error) => (
                self.error(
                    member.text.as_bytes(),
                    node_error(&node.name, &error),
                    pretty,
                ),
                true,
            ),
        }
    }

    /// The node's `which` list followed by the commands miwa adds, those the caller may
    /// run (on `node`).
    fn merge_which(
        &self,
        member: &Member<'_>,
        node: &str,
        reply: &str,
        access: Option<&mi_core::access::Access>,
        pretty: bool,
    ) -> Reply {
        let Ok(Value::Object(parsed)) = serde_json::from_str::<Value>(reply) else {
            return Reply::Text(reply.to_string());
        };
        let Some(Value::Array(mut names)) = parsed.get("result").cloned() else {
            return Reply::Text(reply.to_string());
        };
        if let Some(access) = access {
            names.retain(|n| n.as_str().is_some_and(|n| access.permits(n, node)));
        }
        for info in self.added_commands() {
            let permitted = access.is_none_or(|a| a.permits(&info.name, &info.module));
            if permitted && !names.iter().any(|n| n.as_str() == Some(info.name.as_str())) {
                names.push(Value::String(info.name));
            }
        }
        self.result(member, &Value::Array(names), pretty)
    }

    /// The commands miwa adds in front of a node, as the HTML page lists them.
    fn added_commands(&self) -> Vec<CommandInfo> {
        let module_commands = self
            .state
            .modules
            .get()
            .map(|m| m.commands())
            .unwrap_or_default();
        ADDED
            .iter()
            .map(|(name, help)| CommandInfo {
                name: name.to_string(),
                module: if name.starts_with("nodes_") {
                    "front".into()
                } else {
                    "modules".into()
                },
                help: Some(help.to_string()),
                recipes: match *name {
                    "nodes_run" => vec![
                        vec!["command".into()],
                        vec!["command".into(), "params".into()],
                        vec!["command".into(), "params".into(), "nodes".into()],
                    ],
                    "module_list" | "nodes_list" => vec![vec![]],
                    _ => vec![vec!["name".into()]],
                },
            })
            .chain(module_commands.into_iter().map(CommandInfo::from))
            .collect()
    }
}

/// What a notification gets from the node's reply: nothing, unless the node found it an
/// invalid request (`-32600`), which OpenSIPS answers with `"id":null`.
fn invalid_notification(reply: &str) -> Reply {
    #[derive(serde::Deserialize)]
    struct Code {
        code: i64,
    }
    #[derive(serde::Deserialize)]
    struct Failed<'a> {
        #[serde(borrow)]
        error: &'a serde_json::value::RawValue,
    }
    match serde_json::from_str::<Failed<'_>>(reply) {
        Ok(failed)
            if serde_json::from_str::<Code>(failed.error.get()).is_ok_and(|c| c.code == -32600) =>
        {
            Reply::Text(format!(
                r#"{{"jsonrpc":"2.0","error":{},"id":null}}"#,
                failed.error.get()
            ))
        }
        _ => Reply::Nothing,
    }
}

impl Dispatcher for FrontDispatcher {
    fn dispatch(&self, caller: Caller<'_>, request: &[u8], pretty: bool) -> Reply {
        let handling = self.handle(caller, request, pretty);
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(handling)),
            Err(_) => self.runtime.block_on(handling),
        }
    }

    fn dispatch_async<'a>(
        &'a self,
        caller: Caller<'a>,
        request: &'a [u8],
        pretty: bool,
    ) -> Dispatching<'a> {
        Box::pin(self.handle(caller, request, pretty))
    }

    fn nodes(&self) -> Vec<String> {
        self.fleet.nodes().iter().map(|n| n.name.clone()).collect()
    }

    fn target(&self, caller: Caller<'_>, method: &str) -> Option<String> {
        if method.starts_with(OWN_PREFIX) || method.starts_with("nodes_") || self.added(method) {
            return None;
        }
        match caller.node {
            Some(name) => self.fleet.get(name).map(|n| n.name.clone()),
            None => self.fleet.default_node().map(|n| n.name.clone()),
        }
    }

    /// For a node: its commands (from its last probe), then the ones miwa adds; for miwa
    /// itself: its own, then `nodes_run` and `nodes_list`.
    fn commands(&self, caller: Caller<'_>) -> Vec<CommandInfo> {
        let node = match caller.node {
            Some(name) => self.fleet.get(name),
            None => self.fleet.default_node(),
        };
        let access = self.caller_access(caller);
        let permitted = |c: &CommandInfo| {
            access
                .as_ref()
                .is_none_or(|a| a.permits(&c.name, &c.module))
        };
        let Some(node) = node else {
            let mut own = self.local.commands(caller);
            own.extend(
                self.added_commands()
                    .into_iter()
                    .filter(|c| c.module == "front")
                    .filter(permitted),
            );
            return own;
        };
        node.commands()
            .iter()
            .map(|name| CommandInfo {
                name: name.clone(),
                module: node.name.clone(),
                help: None,
                recipes: Vec::new(),
            })
            .chain(self.added_commands())
            .filter(permitted)
            .collect()
    }

    fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: IpAddr,
        route: &str,
    ) -> Authentication {
        self.local.authenticate(authorization, peer, route)
    }

    /// miwa's own families, then every node's (`?node=`: that node's alone).
    fn scrape<'a>(&'a self, scrape: Scrape<'a>) -> Scraping<'a> {
        Box::pin(async move {
            let metrics = self.local.metrics().ok_or(ScrapeError::NotServed)?;
            let access = self.local.scrape_access(scrape.role);
            let nodes = match scrape.node {
                Some(name) => {
                    let node = self
                        .fleet
                        .get(name)
                        .ok_or_else(|| ScrapeError::UnknownNode(name.to_string()))?;
                    crate::metrics::Metrics::permitted(access.as_ref(), &node.name)?;
                    std::slice::from_ref(node)
                }
                None => {
                    crate::metrics::Metrics::permitted(access.as_ref(), "statistics")?;
                    self.fleet.nodes()
                }
            };
            let mut families = match scrape.node {
                Some(_) => Default::default(),
                None => metrics.own(),
            };
            families.extend(metrics.nodes(nodes, access.as_ref()).await);
            Ok(families.text(scrape.openmetrics))
        })
    }

    /// miwa's own charts, unless the page is a node's (`[front] upstream`).
    fn charts(&self, picks: &[String]) -> Option<ChartsView> {
        match self.fleet.default_node() {
            Some(_) => None,
            None => self.local.charts(picks),
        }
    }

    fn open_channel(&self, kind: transports::push::ChannelKind) -> Option<transports::Channel> {
        self.local.open_channel(kind)
    }

    fn close_channel(&self, id: transports::ChannelId) {
        self.local.close_channel(id);
    }

    fn thread_started(&self, name: &str) {
        self.local.thread_started(name);
    }

    fn thread_stopped(&self) {
        self.local.thread_stopped();
    }
}
