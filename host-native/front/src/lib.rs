//! Front mode: miwa in front of OpenSIPS and Kamailio nodes.
//!
//! [`FrontDispatcher`] is a [`Dispatcher`] that sits before miwa's own ([`MiDispatcher`]):
//! each request (each batch member) goes to a node or to miwa itself.
//!
//! # Layout
//!
//! - `settings`: `[upstreams.<name>]` and `[front]`.
//! - `request`: the request split into members, method and id found.
//! - `link`: a node's links (`miwa_client::Link`) made from its section.
//! - `names`: OpenSIPS 4.0 names for a node's 3.6 commands, and their ambiguity.
//! - `node`: a node's health (probed in the background), command list and counters.
//! - `fleet`: all nodes (the roster now, replaced whole on a reload), `nodes_list` and
//!   `nodes_run`.
//! - `select`: node labels and the selectors that pick nodes by them.
//! - `reload`: reload commands guarded per node (shared when identical, spaced in time).
//! - `dns`: `[discovery.<name>]`, nodes from DNS SRV records.
//! - `sources`: where nodes come from (the configuration, the discoveries), merged into
//!   the fleet's roster as they change.
//! - `discover`: `rpc.discover` addressed to a node, an OpenRPC document of its commands.
//! - `events`: miwa's own subscriptions at nodes, for its subscribers.
//! - `metrics`: the nodes' statistics for a scrape of `/metrics`.
//!
//! Routing, per member: `miwa:<command>` runs miwa's own `<command>`; `nodes_run`,
//! `nodes_list`, module management and the commands of miwa's WebAssembly modules run in
//! miwa; `which` and `help` are merged; everything else goes to the node the request is
//! addressed to (`/mi/<node>`, or `[front] upstream`), or to miwa when there is none.

#![forbid(unsafe_code)]

pub mod discover;
pub mod dns;
pub mod events;
pub mod fleet;
pub mod link;
pub mod metrics;
pub mod names;
pub mod node;
pub mod reload;
pub mod request;
pub mod select;
pub mod settings;
mod sources;

use fleet::{node_error, Fleet, RunArguments};
use mi_core::json::Value as MiValue;
use mi_core::names::CommandName;
use mi_core::rpc::HandleOptions;
use mi_core::MiError;
use miwa_dispatch::access::AccessControl;
use miwa_dispatch::MiDispatcher;
use miwa_dispatch::{Answer, Answered, Answering, Called};
use miwa_state::stats::TransportTable;
use miwa_state::HostState;
use names::{NodeMethod, NodeNames};
use node::Node;
use request::{Call, Id, Member, Request};
use serde_json::Value;
use settings::Dialect;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use transports::metrics::{ChartsView, Scrape, ScrapeError, Scraping};
use transports::{Authentication, Caller, CommandInfo, Dispatcher, Dispatching, Reply};

/// The commands miwa adds in front of a node, as (name, module): `nodes_*` are the
/// front's, `whoami` access control's, the others the modules'.
pub fn added_commands() -> Vec<(&'static str, &'static str)> {
    ADDED
        .iter()
        .map(|(name, module, _)| (*name, *module))
        .collect()
}

/// Commands miwa adds in front of a node, besides its modules' commands.
const ADDED: [(&str, &str, &str); 7] = [
    (
        "nodes_run",
        "front",
        "runs one command on many nodes in parallel",
    ),
    ("nodes_list", "front", "lists the nodes miwa is in front of"),
    (
        "module_list",
        "modules",
        "lists miwa's WebAssembly command modules",
    ),
    (
        "module_load",
        "modules",
        "loads a WebAssembly command module",
    ),
    (
        "module_unload",
        "modules",
        "unloads a WebAssembly command module",
    ),
    (
        "module_reload",
        "modules",
        "reloads a WebAssembly command module",
    ),
    (
        "whoami",
        "access",
        "tells the caller who it is and what it may reach",
    ),
];

/// The names `whoami` is called by (its 3.6 and 4.0 names).
const WHOAMI: [&str; 2] = ["whoami", "access:whoami"];

/// The parameters of `nodes_run`, in their positional order.
const RUN_PARAMS: [&str; 8] = [
    "command",
    "params",
    "nodes",
    "select",
    "rolling",
    "max_failures",
    "deadline_ms",
    "stream",
];

/// The prefix that reaches miwa's own commands in front mode (`miwa:ps`).
pub(crate) const OWN_PREFIX: &str = "miwa:";

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
    sources: Option<Arc<sources::NodeSources>>,
}

/// What front mode starts from: the configuration's node sections and `[front]`.
pub struct FrontPlan<'a> {
    /// `[upstreams.<name>]`, in file order.
    pub upstreams: &'a indexmap::IndexMap<String, settings::UpstreamConfig>,
    /// `[discovery.<name>]`, in file order.
    pub discovery: &'a indexmap::IndexMap<String, dns::DiscoveryConfig>,
    /// `[front]`.
    pub front: &'a settings::FrontConfig,
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
    /// `rpc.discover` addressed to no node: miwa's own document and the fleet commands.
    DiscoverFleet,
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
            sources: None,
        }
    }

    /// Front mode for the nodes of `plan` over `local` (requests nest at most `max_depth`
    /// deep): the configured nodes are set up and the discoveries started, every node
    /// probed on `runtime` (each reports under the status group `upstreams`); the fleet's
    /// statistics register with `state`.
    pub fn start(
        plan: FrontPlan<'_>,
        max_depth: u32,
        local: Arc<MiDispatcher>,
        access: Arc<AccessControl>,
        state: Arc<HostState>,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<FrontDispatcher> {
        let fleet = Arc::new(Fleet::new(
            fleet::Roster::new(Vec::new(), None),
            plan.front.max_parallel,
            plan.front.reload_policy(),
        ));
        state.add_statistics(fleet.clone());
        let budget = transports::budget::ByteBudget::new(plan.front.max_buffered);
        let sources =
            sources::NodeSources::new(fleet.clone(), state.clone(), runtime.clone(), budget);
        sources.set_configured(plan.upstreams, &plan.front.upstream)?;
        for (name, discovery) in plan.discovery {
            sources.discover(name, discovery)?;
        }
        let opensips = |dialect: &Dialect| *dialect == Dialect::Opensips;
        let events = (plan.upstreams.values().any(|u| opensips(&u.dialect))
            || plan.discovery.values().any(|d| opensips(&d.dialect)))
        .then(|| {
            events::NodeEvents::start(
                &plan.front.event_socket,
                plan.front.event_expire,
                state.clone(),
                &runtime,
            )
        })
        .transpose()?;
        let mut dispatcher = FrontDispatcher::new(local, fleet, access, state, runtime, max_depth);
        dispatcher.events = events;
        dispatcher.sources = Some(sources);
        Ok(dispatcher)
    }

    /// Makes `upstreams` the configured nodes and `default` (a name, or empty) the default
    /// one, as a SIGHUP does with a re-read configuration (see
    /// [`sources::NodeSources::set_configured`]); returns what changed, for the log.
    pub fn reconcile(
        &self,
        upstreams: &indexmap::IndexMap<String, settings::UpstreamConfig>,
        default: &str,
    ) -> anyhow::Result<String> {
        match &self.sources {
            Some(sources) => sources.set_configured(upstreams, default),
            None => Ok("no node sources".into()),
        }
    }

    fn options(&self, pretty: bool) -> HandleOptions {
        HandleOptions {
            pretty,
            max_depth: self.max_depth,
        }
    }

    /// The nodes.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// Whether `method` is one miwa adds in front of a node.
    fn added(&self, method: &str) -> bool {
        ADDED.iter().any(|(name, _, _)| *name == method)
            || WHOAMI.contains(&method)
            || mi_core::Host::module_command(self.state.as_ref(), method).is_some()
    }

    fn route<'a>(&self, call: &'a Call, node: Option<&'a Arc<Node>>) -> Route<'a> {
        let method = call.method.as_str();
        if let Some(own) = method.strip_prefix(OWN_PREFIX) {
            return Route::Local(Some(own));
        }
        if matches!(method, "nodes_run" | "nodes_list") {
            return Route::Fleet;
        }
        if matches!(method, "which" | "help") {
            if let Some(named) = call
                .first_string(&["command", "mi_cmd"])
                .filter(|c| c.starts_with("nodes_"))
            {
                return Route::Describe(named.to_string());
            }
        }
        let Some(node) = node else {
            if method == mi_core::openrpc::DISCOVER {
                return Route::DiscoverFleet;
            }
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
            let named = call.first_string(&["command", "mi_cmd"]);
            if named.is_some_and(|c| self.added(c) || c.starts_with(OWN_PREFIX)) {
                return Route::Local(None);
            }
        }
        Route::Node(node)
    }

    /// `error` as the reply to a member with `id`.
    fn error(&self, id: &Id, error: MiError, pretty: bool) -> Reply {
        mi_core::rpc::error_reply(id, error, self.options(pretty)).into()
    }

    /// A result reply to `call`, or nothing for a notification.
    fn result(&self, call: &Call, result: &Value, pretty: bool) -> Reply {
        let Some(id) = request::id_text(&call.id) else {
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

    /// Answers a request read once: each member routed, its canonical text (never the
    /// caller's bytes) given to a node or to miwa's core.
    async fn answer_request(
        &self,
        caller: Caller<'_>,
        request: &Request,
        pretty: bool,
    ) -> Answered {
        let roster = self.fleet.roster();
        let node = match caller.node {
            Some(name) => match roster.get(name) {
                Some(node) => Some(node),
                None if names_its_command(request, name) => roster.default_node(),
                None => {
                    let error = MiError::with_data(404, "Unknown node", name.to_string());
                    let id = match request {
                        Request::Single(member) => member.id().clone(),
                        _ => Id::Echo(MiValue::Null),
                    };
                    let calls = (0..request.members().len())
                        .map(|member| Called::unresolved(member, Some(name), Some(404)))
                        .collect();
                    return Answered {
                        reply: self.error(&id, error, pretty),
                        calls,
                    };
                }
            },
            None => roster.default_node(),
        };
        match request {
            Request::Single(member) => {
                let (reply, calls) = self.member(caller, 0, member, node, pretty).await;
                Answered { reply, calls }
            }
            Request::Batch(members) => {
                use futures_util::stream::{self, StreamExt};
                let at_once = node.map_or(1, |n| (n.config.max_in_flight / 2).max(1));
                let answering: Vec<_> = members
                    .iter()
                    .enumerate()
                    .map(|(index, member)| self.member(caller, index, member, node, pretty))
                    .collect();
                let replies: Vec<(Reply, Vec<Called>)> =
                    stream::iter(answering).buffered(at_once).collect().await;
                let mut calls = Vec::new();
                let mut texts = Vec::new();
                for (reply, called) in replies {
                    calls.extend(called);
                    match reply {
                        Reply::Text(text) | Reply::ParseError(text) => texts.push(text),
                        Reply::Nothing => {}
                        Reply::Unprintable => texts.push(
                            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#
                                .to_string(),
                        ),
                    }
                }
                let reply = if texts.is_empty() {
                    Reply::Nothing
                } else {
                    Reply::Text(format!("[{}]", texts.join(",")))
                };
                Answered { reply, calls }
            }
            Request::Unparsable(_) | Request::EmptyBatch => {
                self.local.answer(caller, request, pretty).await
            }
        }
    }

    /// miwa's core's answer to `member` alone, its records moved to member `index`.
    fn local_member(
        &self,
        caller: Caller<'_>,
        index: usize,
        member: Member,
        pretty: bool,
    ) -> (Reply, Vec<Called>) {
        let local_caller = Caller {
            node: None,
            ..caller
        };
        let whoami =
            matches!(&member, Member::Call(call) if WHOAMI.contains(&call.method.as_str()));
        let request = Request::Single(member);
        let answered = match whoami {
            // `whoami` says the nodes the caller may reach, which only the front knows.
            true => miwa_state::caller::as_caller(
                || self.whoami_facts(caller),
                || self.local.answer_now(local_caller, &request, pretty),
            ),
            false => self.local.answer_now(local_caller, &request, pretty),
        };
        let calls = answered
            .calls
            .into_iter()
            .map(|called| Called {
                member: index,
                ..called
            })
            .collect();
        (answered.reply, calls)
    }

    async fn member(
        &self,
        caller: Caller<'_>,
        index: usize,
        member: &Member,
        node: Option<&Arc<Node>>,
        pretty: bool,
    ) -> (Reply, Vec<Called>) {
        let Member::Call(call) = member else {
            return self.local_member(caller, index, member.clone(), pretty);
        };
        let route = self.route(call, node);
        let (reply, called, counted) = self.routed(caller, index, call, route, pretty).await;
        if let Some(failed) = counted {
            let sent = match &reply {
                Reply::Text(text) | Reply::ParseError(text) => text.len(),
                Reply::Nothing | Reply::Unprintable => 0,
            };
            self.transport_counters
                .get(caller.transport)
                .record(call.method.len(), sent, failed);
        }
        (reply, called)
    }

    /// The reply to `call` along `route`, what it came to, and, for a member miwa's own
    /// dispatcher did not count in the statistics of its transport, whether it failed.
    async fn routed(
        &self,
        caller: Caller<'_>,
        index: usize,
        call: &Call,
        route: Route<'_>,
        pretty: bool,
    ) -> (Reply, Vec<Called>, Option<bool>) {
        let record = |command: &str, module: &str, node: Option<&str>, reply: &Reply| Called {
            member: index,
            command: command.to_string(),
            module: Some(module.to_string()),
            name_4_0: None,
            node: node.map(str::to_string),
            error: match reply {
                Reply::Nothing => None,
                Reply::Unprintable => Some(-32600),
                reply => miwa_dispatch::error_code(reply),
            },
        };
        let counted = |reply: Reply, called: Called| {
            let failed = called.error.is_some();
            (reply, vec![called], Some(failed))
        };
        match route {
            Route::Local(own)
                if self
                    .local_out_of_scope(caller, own.unwrap_or(&call.method))
                    .is_some() =>
            {
                let method = own.unwrap_or(&call.method);
                let refused = self.local_out_of_scope(caller, method).expect("checked");
                let reply = self.error(&call.id, refused, pretty);
                let called = record(method, "core", None, &reply);
                (reply, vec![called], None)
            }
            Route::Local(None) => {
                let member = Member::Call(call.clone());
                let (reply, calls) = self.local_member(caller, index, member, pretty);
                (reply, calls, None)
            }
            Route::Local(Some(own)) => {
                let member = Member::Call(Call {
                    method: own.to_string(),
                    ..call.clone()
                });
                let (reply, calls) = self.local_member(caller, index, member, pretty);
                (reply, calls, None)
            }
            Route::Fleet => {
                let reply = self.fleet_command(caller, call, pretty).await;
                let called = record(&call.method, "front", None, &reply);
                counted(reply, called)
            }
            Route::Describe(name) => {
                let reply = self.describe(call, &name, pretty);
                let called = record(&call.method, "core", None, &reply);
                counted(reply, called)
            }
            Route::Node(node) | Route::Discover(node) | Route::Subscribe(node)
                if self.out_of_scope(caller, node).is_some() =>
            {
                let refused = self.out_of_scope(caller, node).expect("checked");
                let reply = self.error(&call.id, refused, pretty);
                let called = node_called(index, &call.method, None, node, Some(403));
                (reply, vec![called], Some(true))
            }
            Route::Node(node) => {
                let (reply, called) = self.forward(caller, index, call, node, pretty).await;
                let failed = called.error.is_some();
                (reply, vec![called], Some(failed))
            }
            Route::Discover(node) => {
                let access = self.caller_access(caller);
                let document =
                    discover::document(node, &self.names, access.as_ref(), self.added_commands())
                        .await;
                let reply = self.result(call, &document, pretty);
                let called = record(&call.method, &node.name, Some(&node.name), &reply);
                counted(reply, called)
            }
            Route::DiscoverFleet => {
                let member = Member::Call(call.clone());
                let (reply, calls) = self.local_member(caller, index, member, pretty);
                let Reply::Text(text) = &reply else {
                    return (reply, calls, None);
                };
                let own: Value = serde_json::from_str(text).unwrap_or_default();
                let Some(document) = own.get("result").cloned() else {
                    return (reply, calls, None);
                };
                let access = self.caller_access(caller);
                let document = discover::with_fleet_methods(document, access.as_ref());
                (self.result(call, &document, pretty), calls, None)
            }
            Route::Subscribe(node) => {
                let access = self.caller_access(caller);
                if let Some(refused) = access
                    .as_ref()
                    .filter(|a| !a.permits("event_subscribe", "core"))
                {
                    let reply = self.error(&call.id, refused.refusal("event_subscribe"), pretty);
                    let called = record("event_subscribe", "core", None, &reply);
                    return (reply, vec![called], Some(true));
                }
                if let Err(error) = self.subscribe_at_node(call, node).await {
                    let error = node_error(&node.name, &error);
                    let reply = self.error(&call.id, error, pretty);
                    let called = record("event_subscribe", "core", Some(&node.name), &reply);
                    return (reply, vec![called], None);
                }
                let member = Member::Call(call.clone());
                let (reply, calls) = self.local_member(caller, index, member, pretty);
                if let (Some(events), Some(event), Some(0)) = (
                    &self.events,
                    call.first_string(&["event"]),
                    call.integer(2, "expire"),
                ) {
                    events.release(node, event).await;
                }
                (reply, calls, None)
            }
        }
    }

    /// For `event_subscribe` of an event the node raises, with an expiry other than 0:
    /// miwa's own subscription at the node.
    async fn subscribe_at_node(
        &self,
        call: &Call,
        node: &Arc<Node>,
    ) -> Result<(), node::NodeError> {
        let (Some(events), Some(event)) = (&self.events, call.first_string(&["event"])) else {
            return Ok(());
        };
        if call.integer(2, "expire") == Some(0) {
            return Ok(());
        }
        events.ensure(node, event).await.map(drop)
    }

    /// `which` (recipes) or `help` (text and module) of a fleet command, as miwa's core
    /// answers them for its own.
    fn describe(&self, call: &Call, name: &str, pretty: bool) -> Reply {
        let Some(info) = self.added_commands().into_iter().find(|c| c.name == name) else {
            let error = MiError::new(404, "unknown MI command");
            return self.error(&call.id, error, pretty);
        };
        let result = if call.method == "which" {
            serde_json::json!(info.recipes)
        } else {
            serde_json::json!({"Help": info.help, "Exported by": info.module})
        };
        self.result(call, &result, pretty)
    }

    /// The caller's role, as access control sees it.
    fn caller_access(&self, caller: Caller<'_>) -> Option<mi_core::access::Access> {
        self.access
            .access(&self.access.role(caller.transport, caller.role))
    }

    /// The nodes the caller's role may reach (`nodes` of its role); `None`: all.
    fn caller_scope(&self, caller: Caller<'_>) -> Option<select::Selector> {
        let role = self.access.role(caller.transport, caller.role);
        self.access
            .node_scope(&role)
            .and_then(|text| select::Selector::parse(&text).ok())
    }

    /// The caller as `whoami` tells it: with the nodes its role may reach.
    fn whoami_facts(&self, caller: Caller<'_>) -> mi_core::host::CallerFacts {
        let scope = self.caller_scope(caller);
        let nodes = self
            .fleet
            .roster()
            .nodes()
            .iter()
            .filter(|n| {
                scope
                    .as_ref()
                    .is_none_or(|s| s.matches(&n.name, &n.labels()))
            })
            .map(|n| n.name.clone())
            .collect();
        mi_core::host::CallerFacts {
            transport: caller.transport.name().to_string(),
            role: self.access.role(caller.transport, caller.role).into_owned(),
            identity: caller.identity.map(str::to_string),
            nodes: Some(nodes),
        }
    }

    /// The refusal of a call to `node` by a caller whose role's scope leaves it out.
    fn out_of_scope(&self, caller: Caller<'_>, node: &Node) -> Option<MiError> {
        let scope = self.caller_scope(caller)?;
        (!scope.matches(&node.name, &node.labels())).then(|| {
            let role = self.access.role(caller.transport, caller.role);
            MiError::with_data(
                403,
                "Forbidden",
                format!("role '{role}' may not reach node '{}'", node.name),
            )
        })
    }

    /// The refusal of miwa's own statistics commands to a caller whose role is scoped to
    /// some nodes: group `upstreams` counts every node, and a statistic is found by its
    /// name alone, so none of them is in such a role's reach (its nodes' statistics are,
    /// from the nodes and in `/metrics`).
    fn local_out_of_scope(&self, caller: Caller<'_>, method: &str) -> Option<MiError> {
        const STATISTICS: [&str; 6] = [
            "get_statistics",
            "list_statistics",
            "reset_statistics",
            "statistics:get",
            "statistics:list",
            "statistics:reset",
        ];
        if !STATISTICS.contains(&method) {
            return None;
        }
        let role = self.access.role(caller.transport, caller.role);
        self.access.node_scope(&role)?;
        Some(MiError::with_data(
            403,
            "Forbidden",
            format!(
                "role '{role}' is scoped to some nodes; miwa's own statistics count every node"
            ),
        ))
    }

    async fn fleet_command(&self, caller: Caller<'_>, call: &Call, pretty: bool) -> Reply {
        let access = self.caller_access(caller);
        if let Some(refused) = access
            .as_ref()
            .filter(|a| !a.permits(&call.method, "front"))
        {
            let error = refused.refusal(&call.method);
            return self.error(&call.id, error, pretty);
        }
        let scope = self.caller_scope(caller);
        let outcome = if call.method == "nodes_list" {
            fleet::list_selector(call.params.as_ref())
                .map(|selector| self.fleet.list(selector.as_ref(), scope.as_ref()))
        } else {
            match RunArguments::from_params(call.params.as_ref()) {
                Ok(arguments) if arguments.stream && caller.channel.is_none() => {
                    Err(MiError::with_data(
                        -32602,
                        "Invalid params",
                        "stream: the entries go to the caller's WebSocket; call over /ws"
                            .to_string(),
                    ))
                }
                Ok(mut arguments) => {
                    arguments.scope = scope;
                    let channel = caller.channel.filter(|_| arguments.stream);
                    let id = request::id_text(&call.id).unwrap_or_else(|| "null".into());
                    let arrived = |node: &str, entry: &Value| {
                        if let Some(channel) = channel {
                            let notification = serde_json::json!({
                                "jsonrpc": "2.0",
                                "method": "nodes_run.entry",
                                "params": {"id": serde_json::from_str::<Value>(&id).unwrap_or(Value::Null), "node": node, "entry": entry}
                            });
                            self.state
                                .events
                                .push_to_channel(channel, notification.to_string().as_bytes());
                        }
                    };
                    self.fleet
                        .run(arguments, &self.names, access.as_ref(), &arrived)
                        .await
                }
                Err(error) => Err(error),
            }
        };
        match outcome {
            Ok(result) => self.result(call, &result, pretty),
            Err(error) => self.error(&call.id, error, pretty),
        }
    }

    async fn forward(
        &self,
        caller: Caller<'_>,
        index: usize,
        call: &Call,
        node: &Arc<Node>,
        pretty: bool,
    ) -> (Reply, Called) {
        let access = self.caller_access(caller);
        let commands = node.commands();
        let method = match node.config.dialect {
            Dialect::Opensips => match self.names.resolve(&commands, &call.method) {
                NodeMethod::AsIs => call.method.clone(),
                NodeMethod::Renamed(name) => name,
                NodeMethod::Ambiguous(candidates) => {
                    let error = mi_core::names::ambiguous(&candidates);
                    let reply = self.error(&call.id, error, pretty);
                    return (
                        reply,
                        node_called(index, &call.method, None, node, Some(-32001)),
                    );
                }
            },
            Dialect::Kamailio => call.method.clone(),
        };
        let name_4_0 = match node.config.dialect {
            Dialect::Opensips => self.names.name_4_0(&method),
            Dialect::Kamailio => None,
        };
        let called =
            |error: Option<i32>| node_called(index, &method, name_4_0.clone(), node, error);
        let command = CommandName {
            name: &method,
            module: &node.name,
            name_4_0: name_4_0.as_deref(),
        };
        if let Some(refused) = access.as_ref().filter(|a| !a.permits_named(&command)) {
            tracing::warn!(node = %node.name, command = %method, role = %refused.role, "command refused");
            let error = refused.refusal(&method);
            return (self.error(&call.id, error, pretty), called(Some(403)));
        }
        if let Some(prefix) = call
            .first_string(&["command"])
            .filter(|p| method == "which" && p.ends_with(':'))
            .filter(|_| node.config.dialect == Dialect::Opensips)
        {
            let names: Vec<Value> = self
                .names
                .listed(&commands, prefix)
                .into_iter()
                .filter(|(full, name)| {
                    access.as_ref().is_none_or(|a| {
                        a.permits_named(&CommandName {
                            name,
                            module: &node.name,
                            name_4_0: Some(full),
                        })
                    })
                })
                .map(|(full, _)| Value::String(full))
                .collect();
            return match names.is_empty() {
                true => (
                    self.error(&call.id, MiError::new(404, "unknown MI command"), pretty),
                    called(Some(404)),
                ),
                false => (
                    self.result(call, &Value::Array(names), pretty),
                    called(None),
                ),
            };
        }
        let merged_list = method == "which" && !call.has_params();
        let id = match call.id {
            Id::Absent => {
                request::notification_id(self.notifications.fetch_add(1, Ordering::Relaxed))
            }
            ref id => id.clone(),
        };
        let id_text = request::id_text(&id).unwrap_or_else(|| "null".into());
        let text = match (node.config.dialect, method.as_str()) {
            (Dialect::Kamailio, "which") if merged_list => {
                call.text_as("system.listMethods", call.params.as_ref(), &id)
            }
            (Dialect::Kamailio, "help") => match call.first_string(&["mi_cmd", "command"]) {
                Some(command) => {
                    let params = MiValue::Array(vec![MiValue::str(command)]);
                    call.text_as("system.methodHelp", Some(&params), &id)
                }
                None => call.text_as("system.methodHelp", call.params.as_ref(), &id),
            },
            (_, method) => call.text_as(method, call.params.as_ref(), &id),
        };
        if call.id != Id::Absent && self.fleet.reloads.guards(&method) {
            let key = call.text_as(&method, call.params.as_ref(), &Id::Echo(MiValue::Null));
            let request = |reload_id: &str| {
                let reload_id = Id::Echo(
                    mi_core::json::parse(reload_id.as_bytes(), 4).map_or(MiValue::Null, |(v, _)| v),
                );
                call.text_as(&method, call.params.as_ref(), &reload_id)
            };
            return match reload::forward(node, &self.fleet.reloads, &method, key, request).await {
                Ok(reloaded) => {
                    let code = answer_code(&reloaded.answer);
                    (with_id(&reloaded.answer.text, &id_text), called(code))
                }
                Err(error) => {
                    let error = node_error(&node.name, &error);
                    let code = error.code;
                    (self.error(&call.id, error, pretty), called(Some(code)))
                }
            };
        }
        match node.forward(text.as_bytes(), &id_text).await {
            Ok(answer) if call.id == Id::Absent => {
                let code = answer_code(&answer);
                (invalid_notification(&answer.text), called(code))
            }
            Ok(answer) if merged_list && !answer.error => (
                self.merge_which(call, node, &answer.text, access.as_ref(), pretty),
                called(None),
            ),
            Ok(answer) => {
                let code = answer_code(&answer);
                (Reply::Text(answer.text), called(code))
            }
            Err(error) => {
                let error = node_error(&node.name, &error);
                let code = error.code;
                (self.error(&call.id, error, pretty), called(Some(code)))
            }
        }
    }

    /// The node's `which` list followed by the commands miwa adds, those the caller may
    /// run (on `node`).
    fn merge_which(
        &self,
        call: &Call,
        node: &Node,
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
            names.retain(|n| {
                n.as_str().is_some_and(|n| {
                    let name_4_0 = match node.config.dialect {
                        Dialect::Opensips => self.names.name_4_0(n),
                        Dialect::Kamailio => None,
                    };
                    access.permits_named(&CommandName {
                        name: n,
                        module: &node.name,
                        name_4_0: name_4_0.as_deref(),
                    })
                })
            });
        }
        for info in self.added_commands() {
            let permitted = access.is_none_or(|a| a.permits(&info.name, &info.module));
            if permitted && !names.iter().any(|n| n.as_str() == Some(info.name.as_str())) {
                names.push(Value::String(info.name));
            }
        }
        self.result(call, &Value::Array(names), pretty)
    }

    /// The commands miwa adds in front of a node, as the HTML page lists them.
    fn added_commands(&self) -> Vec<CommandInfo> {
        let module_commands = mi_core::Host::module_commands(self.state.as_ref());
        ADDED
            .iter()
            .map(|(name, module, help)| CommandInfo {
                name: name.to_string(),
                module: module.to_string(),
                help: Some(help.to_string()),
                recipes: match *name {
                    "nodes_run" => [1, 2, 3, 4, 6, 8]
                        .map(|count| RUN_PARAMS[..count].iter().map(|p| p.to_string()).collect())
                        .to_vec(),
                    "nodes_list" => vec![vec![], vec!["select".into()]],
                    "module_list" | "whoami" => vec![vec![]],
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

impl Answer for FrontDispatcher {
    fn answer<'a>(
        &'a self,
        caller: Caller<'a>,
        request: &'a Request,
        pretty: bool,
    ) -> Answering<'a> {
        Box::pin(self.answer_request(caller, request, pretty))
    }

    fn answer_blocking(&self, caller: Caller<'_>, request: &Request, pretty: bool) -> Answered {
        let handling = self.answer_request(caller, request, pretty);
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(handling)),
            Err(_) => self.runtime.block_on(handling),
        }
    }
}

/// What a member forwarded to `node` came to.
fn node_called(
    member: usize,
    command: &str,
    name_4_0: Option<String>,
    node: &Node,
    error: Option<i32>,
) -> Called {
    Called {
        member,
        command: command.to_string(),
        module: Some(node.name.clone()),
        name_4_0,
        node: Some(node.name.clone()),
        error,
    }
}

/// The error code of a node's answer; `None` when it answered a result.
fn answer_code(answer: &node::Answer) -> Option<i32> {
    if !answer.error {
        return None;
    }
    miwa_dispatch::error_code_of(&answer.text).or(Some(-32000))
}

impl Dispatcher for FrontDispatcher {
    fn dispatch(&self, caller: Caller<'_>, request: &[u8], pretty: bool) -> Reply {
        let request = Request::parse(request, self.max_depth);
        self.answer_blocking(caller, &request, pretty).reply
    }

    fn dispatch_async<'a>(
        &'a self,
        caller: Caller<'a>,
        request: &'a [u8],
        pretty: bool,
    ) -> Dispatching<'a> {
        Box::pin(async move {
            let request = Request::parse(request, self.max_depth);
            self.answer_request(caller, &request, pretty).await.reply
        })
    }

    fn access_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.access.changes())
    }

    fn still_granted(&self, role: Option<&str>, identity: Option<&str>, since: u64) -> bool {
        self.access.holds(role, identity, since)
    }

    fn catalogue_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.state.catalogue_changes())
    }

    fn nodes(&self) -> Vec<String> {
        let roster = self.fleet.roster();
        roster.nodes().iter().map(|n| n.name.clone()).collect()
    }

    /// For a node: its commands (from its last probe), then the ones miwa adds; for miwa
    /// itself: its own, then `nodes_run` and `nodes_list`.
    fn commands(&self, caller: Caller<'_>) -> Vec<CommandInfo> {
        let roster = self.fleet.roster();
        let node = match caller.node {
            Some(name) => roster.get(name),
            None => roster.default_node(),
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
            let role = self
                .access
                .role(transports::TransportKind::Http, scrape.role);
            let scope = self
                .access
                .node_scope(&role)
                .and_then(|text| select::Selector::parse(&text).ok());
            let roster = self.fleet.roster();
            let visible: Vec<Arc<Node>> = roster
                .nodes()
                .iter()
                .filter(|node| {
                    scope
                        .as_ref()
                        .is_none_or(|s| s.matches(&node.name, &node.labels()))
                })
                .cloned()
                .collect();
            let nodes = match scrape.node {
                Some(name) => {
                    let node = visible
                        .iter()
                        .find(|node| node.name == name)
                        .ok_or_else(|| ScrapeError::UnknownNode(name.to_string()))?;
                    miwa_dispatch::metrics::Metrics::permitted(access.as_ref(), &node.name)?;
                    std::slice::from_ref(node)
                }
                None => {
                    miwa_dispatch::metrics::Metrics::permitted(access.as_ref(), "statistics")?;
                    &visible[..]
                }
            };
            let mut families = match (scrape.node, &scope) {
                (Some(_), _) => Default::default(),
                (None, None) => metrics.own(),
                (None, Some(_)) => {
                    let reached: std::collections::HashSet<&str> =
                        visible.iter().map(|node| node.name.as_str()).collect();
                    metrics.own_where(|stat| {
                        stat.group != "upstreams"
                            || fleet::statistic_node(&stat.name)
                                .is_some_and(|node| reached.contains(node))
                    })
                }
            };
            families.extend(crate::metrics::nodes(metrics, nodes, access.as_ref()).await);
            Ok(families.text(scrape.openmetrics))
        })
    }

    /// miwa's own charts, unless the page is a node's (`[front] upstream`).
    fn charts(&self, picks: &[String]) -> Option<ChartsView> {
        match self.fleet.roster().default_node() {
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

/// Whether `segment`, a path segment that names no node, is the command of every member
/// of `request`: OpenSIPS serves `/mi/<anything>` as `/mi`, and a client that puts the
/// command in the path (`POST /mi/uptime` of `uptime`) gets that meaning. Any other
/// segment is a node name, unknown: a typo never reaches the default node.
fn names_its_command(request: &Request, segment: &str) -> bool {
    let members = request.members();
    !members.is_empty()
        && members
            .iter()
            .all(|member| matches!(member, Member::Call(call) if call.method == segment))
}

/// A node's answer to a shared call, given to one caller: its `result` or `error` with the
/// caller's `id` (a JSON text).
fn with_id(answer: &str, id: &str) -> Reply {
    #[derive(serde::Deserialize)]
    struct Outcome<'a> {
        #[serde(borrow)]
        result: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow)]
        error: Option<&'a serde_json::value::RawValue>,
    }
    match serde_json::from_str::<Outcome<'_>>(answer) {
        Ok(Outcome {
            result: Some(result),
            ..
        }) => Reply::Text(format!(
            r#"{{"jsonrpc":"2.0","result":{},"id":{id}}}"#,
            result.get()
        )),
        Ok(Outcome {
            error: Some(error), ..
        }) => Reply::Text(format!(
            r#"{{"jsonrpc":"2.0","error":{},"id":{id}}}"#,
            error.get()
        )),
        _ => Reply::Text(format!(
            r#"{{"jsonrpc":"2.0","error":{{"code":502,"message":"Bad node reply"}},"id":{id}}}"#
        )),
    }
}
