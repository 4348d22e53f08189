//! The dispatcher the transports call: runs a request on the core, counts it, times it.
//!
//! The daemon's layers (this one, the front, the audit log) pass a request between them
//! as it was read once ([`Request`], the core's reading) and report what each member came
//! to as [`Called`] records: the command it resolved to, where it ran and how it ended.
//! Access, audit, statistics and forwarding all use those; none reads the caller's bytes
//! again.
//!
//! # Layout
//! - this file: [`MiDispatcher`], the layer that runs requests on the core, and the
//!   [`Answer`] seam the layers above it (the front, the audit log) stack on;
//! - `access`: credentials, roles, and what each caller may run;
//! - `audit`: the audit log and the layer that writes it;
//! - `metrics/`: `GET /metrics` and the HTML page's charts.

#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod metrics;

use crate::access::{AccessConfig, AccessControl};
use mi_core::access::Access;
use mi_core::request::Request;
use mi_core::rpc::{failure_reply, HandleOptions};
use mi_core::{Host, MiError};
use miwa_runtime::{CoreFailure, CoreRuntime};
use miwa_state::stats::TransportTable;
use miwa_state::{processes, HostState};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use transports::metrics::{ChartsView, Scrape, ScrapeError, Scraping};
use transports::push::ChannelKind;
use transports::{Authentication, Caller, Channel, ChannelId, CommandInfo, Dispatcher, Reply};

/// What one member of a request came to, as the layer that resolved and ran it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Called {
    /// The member's position in its batch (0 for a single request).
    pub member: usize,
    /// The command it resolved to (its 3.6 name, as registered or as the node knows it),
    /// or the method as written when it resolved to none (empty for an invalid member).
    pub command: String,
    /// The command's module (for a node's command: the node); `None`: it resolved to no
    /// command.
    pub module: Option<String>,
    /// The command's OpenSIPS 4.0 name, when known.
    pub name_4_0: Option<String>,
    /// The node it ran on; `None`: miwa itself.
    pub node: Option<String>,
    /// The error code it was answered; `None`: it succeeded.
    pub error: Option<i32>,
}

impl Called {
    /// A member that resolved to no command, answered `error`, addressed to `node`.
    pub fn unresolved(member: usize, node: Option<&str>, error: Option<i32>) -> Self {
        Called {
            member,
            command: String::new(),
            module: None,
            name_4_0: None,
            node: node.map(str::to_string),
            error,
        }
    }

    /// The command as access rules and redaction patterns match it.
    pub fn name(&self) -> Option<mi_core::names::CommandName<'_>> {
        Some(mi_core::names::CommandName {
            name: &self.command,
            module: self.module.as_deref()?,
            name_4_0: self.name_4_0.as_deref(),
        })
    }
}

/// A reply and what each member came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// What the transport sends back.
    pub reply: Reply,
    /// What each member came to, at most one record per member.
    pub calls: Vec<Called>,
}

/// The future of [`Answer::answer`].
pub type Answering<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Answered> + Send + 'a>>;

/// A layer of the daemon that answers a request already read, reporting what each member
/// came to. Its [`Dispatcher`] side reads the transport's bytes with [`Request::parse`] and answers
/// that.
pub trait Answer: Dispatcher {
    /// Answers `request` for `caller`.
    fn answer<'a>(
        &'a self,
        caller: Caller<'a>,
        request: &'a Request,
        pretty: bool,
    ) -> Answering<'a>;

    /// [`Answer::answer`] for a caller on a thread of its own (the FIFO and datagram
    /// workers), which waits for the answer.
    fn answer_blocking(&self, caller: Caller<'_>, request: &Request, pretty: bool) -> Answered;
}

impl From<miwa_runtime::Handled> for Answered {
    fn from(handled: miwa_runtime::Handled) -> Self {
        Answered {
            reply: handled.reply.into(),
            calls: handled
                .calls
                .into_iter()
                .map(|c| Called::local(c.member, c.command, c.module, c.error))
                .collect(),
        }
    }
}

impl From<mi_core::Handled> for Answered {
    fn from(handled: mi_core::Handled) -> Self {
        Answered {
            reply: handled.reply.into(),
            calls: handled
                .calls
                .into_iter()
                .map(|c| Called::local(c.member, c.command, c.module, c.error))
                .collect(),
        }
    }
}

impl Called {
    /// A member miwa's core answered.
    fn local(member: u32, command: String, module: Option<String>, error: Option<i32>) -> Self {
        let name_4_0 = module
            .as_deref()
            .map(|module| mi_core::names::name_4_0_of(&command, module));
        Called {
            member: member as usize,
            command,
            module,
            name_4_0,
            node: None,
            error,
        }
    }
}

/// How requests are executed.
pub enum Executor {
    /// The core component under wasmtime: what the daemon always runs.
    Component(Arc<CoreRuntime>),
    /// mi-core compiled natively: a benchmark baseline only (`--native-core-baseline`).
    NativeBaseline(mi_core::Core),
}

/// Runs requests for every transport.
pub struct MiDispatcher {
    executor: Executor,
    state: Arc<HostState>,
    transport_counters: TransportTable,
    max_depth: u32,
    threshold: Option<Duration>,
    commands: OnceLock<Vec<CommandInfo>>,
    access: Arc<AccessControl>,
    max_reply: usize,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl MiDispatcher {
    /// A dispatcher over `executor`; commands slower than `threshold` raise `E_CORE_THRESHOLD`.
    pub fn new(
        executor: Executor,
        state: Arc<HostState>,
        max_depth: u32,
        threshold: Option<Duration>,
    ) -> Self {
        let transport_counters = TransportTable::new(&state.counters);
        MiDispatcher {
            executor,
            state,
            transport_counters,
            max_depth,
            threshold,
            commands: OnceLock::new(),
            access: Arc::new(AccessControl::new(AccessConfig::default())),
            max_reply: usize::MAX,
            metrics: None,
        }
    }

    /// Refuses replies longer than `max_reply` bytes (`core.max_reply`).
    pub fn with_max_reply(mut self, max_reply: usize) -> Self {
        self.max_reply = max_reply;
        self
    }

    /// `outcome` with its reply replaced by an error when it is over `max_reply`; the
    /// calls it made then count as failed.
    fn bounded(&self, request: &[u8], pretty: bool, outcome: Answered) -> Answered {
        let size = match &outcome.reply {
            Reply::Text(text) if text.len() > self.max_reply => text.len(),
            _ => return outcome,
        };
        tracing::warn!(
            bytes = size,
            limit = self.max_reply,
            "reply over core.max_reply refused"
        );
        let error = MiError::with_data(
            500,
            "Reply too large",
            format!(
                "the reply is {size} bytes, over the {}-byte limit",
                self.max_reply
            ),
        );
        Answered {
            reply: self.error_reply(request, error, pretty),
            calls: outcome
                .calls
                .into_iter()
                .map(|called| Called {
                    error: called.error.or(Some(500)),
                    ..called
                })
                .collect(),
        }
    }

    /// Exports `metrics` at `/metrics` and as the HTML page's charts.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The metrics it exports, if any.
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::Metrics>> {
        self.metrics.as_ref()
    }

    /// The access of `role` (`None`: the `http` transport's default role), as a scrape of
    /// `/metrics` is checked.
    pub fn scrape_access(&self, role: Option<&str>) -> Option<Access> {
        self.access
            .access(&self.access.role(transports::TransportKind::Http, role))
    }

    /// Applies an access policy (credentials, roles, transport defaults).
    pub fn with_access(mut self, access: Arc<AccessControl>) -> Self {
        self.state.add_statistics(access.clone());
        self.access = access;
        self
    }

    fn run(&self, request: &[u8], pretty: bool, access: Option<&Access>) -> Answered {
        match &self.executor {
            Executor::Component(runtime) => match runtime.handle_as(request, pretty, access) {
                Ok(handled) => handled.into(),
                Err(failure) => {
                    tracing::error!(%failure, "request failed inside the core");
                    Answered {
                        reply: self.failure(request, &failure, pretty),
                        calls: Vec::new(),
                    }
                }
            },
            Executor::NativeBaseline(core) => {
                let handled = core.handle_as(
                    self.state.as_ref() as &dyn Host,
                    request,
                    HandleOptions {
                        pretty,
                        max_depth: self.max_depth,
                    },
                    access,
                );
                handled.into()
            }
        }
    }

    /// `error` as the reply to `request` (its `id` echoed).
    fn error_reply(&self, request: &[u8], error: MiError, pretty: bool) -> Reply {
        let options = HandleOptions {
            pretty,
            max_depth: self.max_depth,
        };
        failure_reply(request, error, options).into()
    }

    fn failure(&self, request: &[u8], failure: &CoreFailure, pretty: bool) -> Reply {
        self.error_reply(
            request,
            MiError::server_error(failure.public_message()),
            pretty,
        )
    }

    /// Runs `request` for `caller`: counted, timed, bounded by `core.max_reply`.
    fn answer_text(&self, caller: Caller<'_>, request: &[u8], pretty: bool) -> Answered {
        let transport = caller.transport;
        let role = self.access.role(transport, caller.role);
        let access = self.access.access(&role);
        let started = Instant::now();
        let slot = self.state.calls.enter();
        let answered = match &slot {
            Some(_) => {
                let facts = || mi_core::host::CallerFacts {
                    transport: transport.name().to_string(),
                    role: role.to_string(),
                    identity: caller.identity.map(str::to_string),
                    nodes: None,
                };
                let outcome = miwa_state::caller::as_caller(facts, || {
                    miwa_state::events::on_channel(caller.channel, || {
                        self.run(request, pretty, access.as_ref())
                    })
                });
                self.bounded(request, pretty, outcome)
            }
            None => {
                tracing::warn!(
                    transport = transport.name(),
                    limit = self.state.calls.max(),
                    "request refused: too many running"
                );
                let error = MiError::new(503, "Too many concurrent requests");
                Answered {
                    reply: self.error_reply(request, error, pretty),
                    calls: Vec::new(),
                }
            }
        };
        drop(slot);
        let Answered { reply, calls } = &answered;
        for called in calls.iter().filter(|c| c.error == Some(403)) {
            tracing::warn!(
                role = %role,
                transport = transport.name(),
                command = called.command,
                "command refused"
            );
        }
        let elapsed = started.elapsed();
        if let Some(process) = processes::current() {
            process
                .busy_ns
                .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        }
        let sent = match reply {
            Reply::Text(text) | Reply::ParseError(text) => text.len(),
            Reply::Nothing | Reply::Unprintable => 0,
        };
        let failed = calls.is_empty()
            || calls.iter().any(|c| c.error.is_some())
            || *reply == Reply::Unprintable;
        self.transport_counters
            .get(transport)
            .record(request.len(), sent, failed);
        for called in calls.iter().filter(|c| c.module.is_some()) {
            self.state
                .counters
                .count_command(&called.command, called.error.is_some());
            if self.threshold.is_some_and(|t| elapsed > t) {
                self.state.raise_threshold(
                    &called.command,
                    transport.name(),
                    elapsed.as_micros() as u64,
                );
            }
        }
        answered
    }
}

/// The error code of a reply that is one JSON-RPC error object.
pub fn error_code(reply: &Reply) -> Option<i32> {
    match reply {
        Reply::Text(text) | Reply::ParseError(text) => error_code_of(text),
        Reply::Nothing | Reply::Unprintable => None,
    }
}

/// The error code of a reply text that is one JSON-RPC error object.
pub fn error_code_of(text: &str) -> Option<i32> {
    #[derive(serde::Deserialize)]
    struct Code {
        code: i32,
    }
    #[derive(serde::Deserialize)]
    struct Failed {
        error: Code,
    }
    serde_json::from_str::<Failed>(text)
        .ok()
        .map(|failed| failed.error.code)
}

impl Answer for MiDispatcher {
    /// Runs the canonical text of `request` in the core; a member the core could not
    /// report on (it failed, or the daemon was too busy) is recorded with the error the
    /// caller was answered.
    fn answer<'a>(
        &'a self,
        caller: Caller<'a>,
        request: &'a Request,
        pretty: bool,
    ) -> Answering<'a> {
        Box::pin(std::future::ready(self.answer_now(caller, request, pretty)))
    }

    fn answer_blocking(&self, caller: Caller<'_>, request: &Request, pretty: bool) -> Answered {
        self.answer_now(caller, request, pretty)
    }
}

impl MiDispatcher {
    /// [`Answer::answer`], synchronously: the core's calls do not wait on I/O.
    pub fn answer_now(&self, caller: Caller<'_>, request: &Request, pretty: bool) -> Answered {
        let text = request.canonical();
        let mut answered = self.answer_text(caller, text.as_bytes(), pretty);
        if answered.calls.is_empty() {
            let error = error_code(&answered.reply).or(Some(-32000));
            answered.calls = request
                .members()
                .iter()
                .enumerate()
                .map(|(member, _)| Called::unresolved(member, None, error))
                .collect();
        }
        answered
    }
}

impl Dispatcher for MiDispatcher {
    fn access_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.access.changes())
    }

    fn still_granted(&self, role: Option<&str>, identity: Option<&str>, since: u64) -> bool {
        self.access.holds(role, identity, since)
    }

    fn catalogue_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.state.catalogue_changes())
    }

    /// The core is the request's only reader here: its bytes go to it as they came.
    fn dispatch(&self, caller: Caller<'_>, request: &[u8], pretty: bool) -> Reply {
        self.answer_text(caller, request, pretty).reply
    }

    /// The core's commands (listed once) followed by the loaded modules' (live), those the
    /// caller's role may run.
    fn commands(&self, caller: Caller<'_>) -> Vec<CommandInfo> {
        let access = self
            .access
            .access(&self.access.role(caller.transport, caller.role));
        self.commands
            .get_or_init(|| match &self.executor {
                Executor::Component(runtime) => match runtime.commands() {
                    Ok(list) => list.into_iter().map(CommandInfo::from).collect(),
                    Err(failure) => {
                        tracing::error!(%failure, "cannot list the core's commands");
                        Vec::new()
                    }
                },
                Executor::NativeBaseline(core) => core
                    .registry()
                    .commands()
                    .iter()
                    .map(|c| CommandInfo {
                        name: c.name.into(),
                        module: c.module.into(),
                        help: c.help.map(str::to_string),
                        recipes: c
                            .recipe_names()
                            .into_iter()
                            .map(|r| r.into_iter().map(str::to_string).collect())
                            .collect(),
                    })
                    .collect(),
            })
            .iter()
            .cloned()
            .chain(
                self.state
                    .module_commands()
                    .into_iter()
                    .map(CommandInfo::from),
            )
            .filter(|c| {
                access
                    .as_ref()
                    .is_none_or(|a| a.permits(&c.name, &c.module))
            })
            .collect()
    }

    fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: IpAddr,
        route: &str,
    ) -> Authentication {
        self.access.authenticate(authorization, peer, route)
    }

    fn scrape<'a>(&'a self, scrape: Scrape<'a>) -> Scraping<'a> {
        let outcome = match (&self.metrics, scrape.node) {
            (None, _) => Err(ScrapeError::NotServed),
            (Some(_), Some(node)) => Err(ScrapeError::UnknownNode(node.to_string())),
            (Some(metrics), None) => {
                let access = self.scrape_access(scrape.role);
                crate::metrics::Metrics::permitted(access.as_ref(), "statistics")
                    .map(|()| metrics.own().text(scrape.openmetrics))
            }
        };
        Box::pin(std::future::ready(outcome))
    }

    fn charts(&self, picks: &[String]) -> Option<ChartsView> {
        self.metrics.as_ref()?.charts(picks)
    }

    fn open_channel(&self, kind: ChannelKind) -> Option<Channel> {
        Some(self.state.events.open_channel(kind))
    }

    fn close_channel(&self, id: ChannelId) {
        self.state.events.close_channel(id);
    }

    fn thread_started(&self, name: &str) {
        self.state.processes.register_current(name);
    }

    fn thread_stopped(&self) {
        self.state.processes.unregister_current();
    }
}
