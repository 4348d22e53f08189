//! The MI transports of miwa. Each moves bytes and talks to one [`Dispatcher`]; none knows
//! how the core is run.
//!
//! # Layout
//! - this file: the [`Dispatcher`] seam, [`Caller`], [`Reply`];
//! - `fifo`, `datagram`, `http`: the transports; `xmlrpc`, `html`, `ws`, `sse`, `metrics`,
//!   `openrpc`, `playground`: what `http` serves besides JSON-RPC;
//! - `browser`, `ticket`, `tls`: the defences of the HTTP listener; `budget`, `share`: the
//!   byte budget and the per-client shares of what it pools.
#![forbid(unsafe_code)]

use std::sync::Arc;

pub mod browser;
pub mod budget;
pub mod datagram;
pub mod fifo;
pub mod html;
pub mod http;
mod listing;
pub mod mcp;
pub mod metrics;
pub mod openrpc;
pub mod playground;
pub mod push;
pub mod share;
pub mod sse;
pub mod ticket;
pub mod tls;
pub mod ws;
pub mod xmlrpc;

/// `N` random bytes from the kernel, or `None` when none could be had.
pub fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    let mut filled = 0;
    while filled < N {
        filled +=
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
                .ok()?;
    }
    Some(bytes)
}

/// Owner and group to give a file the daemon creates — the request FIFO, a UNIX socket
/// (`None` fields keep the daemon's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: Option<u32>,
    /// Group id.
    pub gid: Option<u32>,
}

impl Owner {
    /// Gives `path` this owner and group.
    pub fn apply(&self, path: &std::path::Path) -> std::io::Result<()> {
        rustix::fs::chown(
            path,
            self.uid.map(rustix::process::Uid::from_raw),
            self.gid.map(rustix::process::Gid::from_raw),
        )?;
        Ok(())
    }
}

/// What a transport must send back for one JSON-RPC request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A JSON-RPC reply text.
    Text(String),
    /// The -32700 reply text for a request that is not JSON (datagram answers
    /// `400 Parse_error` instead).
    ParseError(String),
    /// Nothing (a notification).
    Nothing,
    /// The reply cannot be rendered (an `id` of a bad type, a core failure with no reply):
    /// each transport answers with its own failure form.
    Unprintable,
}

impl From<mi_core::Reply> for Reply {
    fn from(reply: mi_core::Reply) -> Self {
        match reply {
            mi_core::Reply::Text(text) => Reply::Text(text),
            mi_core::Reply::ParseError(text) => Reply::ParseError(text),
            mi_core::Reply::Nothing => Reply::Nothing,
            mi_core::Reply::Unprintable => Reply::Unprintable,
        }
    }
}

/// Which transport carried a request (statistics, logs, events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// JSON-RPC over HTTP (`/mi`).
    Http,
    /// JSON-RPC in UDP datagrams.
    Udp,
    /// JSON-RPC in UNIX datagrams.
    Unix,
    /// JSON-RPC over a named pipe.
    Fifo,
    /// XML-RPC over HTTP (`/RPC2`).
    Xmlrpc,
    /// The HTML interface (`/html`).
    Html,
    /// The Model Context Protocol (`/mcp`, `miwa mcp`).
    Mcp,
}

impl TransportKind {
    /// Every transport, in the order their statistics are listed.
    pub const ALL: [TransportKind; 7] = [
        TransportKind::Http,
        TransportKind::Udp,
        TransportKind::Unix,
        TransportKind::Fifo,
        TransportKind::Xmlrpc,
        TransportKind::Html,
        TransportKind::Mcp,
    ];

    /// A short stable name (`http`, `udp`, `unix`, `fifo`, `xmlrpc`, `html`, `mcp`).
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Http => "http",
            TransportKind::Udp => "udp",
            TransportKind::Unix => "unix",
            TransportKind::Fifo => "fifo",
            TransportKind::Xmlrpc => "xmlrpc",
            TransportKind::Html => "html",
            TransportKind::Mcp => "mcp",
        }
    }
}

/// One command as the HTML page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandInfo {
    /// Command name.
    pub name: String,
    /// Owning module.
    pub module: String,
    /// Help text.
    pub help: Option<String>,
    /// Parameter names of each recipe.
    pub recipes: Vec<Vec<String>>,
}

impl From<mi_core::host::ModuleCommand> for CommandInfo {
    fn from(command: mi_core::host::ModuleCommand) -> Self {
        CommandInfo {
            name: command.name,
            module: command.module,
            help: command.help,
            recipes: command.recipes,
        }
    }
}

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The transport it came over.
    pub transport: TransportKind,
    /// The role its credentials were granted; `None` for callers without credentials
    /// (they get their transport's default role).
    pub role: Option<&'a str>,
    /// The node the request is addressed to (`/mi/<node>`, `/RPC2/<node>`,
    /// `/html/<node>`); `None`: the default one.
    pub node: Option<&'a str>,
    /// Who its credentials name (a user, `token:<name>`); `None` without credentials.
    pub identity: Option<&'a str>,
    /// Where it came from (HTTP and UDP peers; `None` on the FIFO and UNIX sockets).
    pub peer: Option<std::net::SocketAddr>,
    /// The push channel of its connection (a WebSocket, an event stream), which
    /// `event_subscribe` can name as its socket (`ws:`, `sse:`); `None` elsewhere.
    pub channel: Option<ChannelId>,
}

/// A push channel's number, unique over the daemon's life.
pub type ChannelId = u64;

/// A connection the daemon can push notifications to, opened by
/// [`Dispatcher::open_channel`].
pub struct Channel {
    /// Its number.
    pub id: ChannelId,
    /// Its queue, which the connection drains.
    pub queue: Arc<push::PushQueue>,
}

impl Caller<'_> {
    /// A caller without credentials, to the default node.
    pub fn anonymous(transport: TransportKind) -> Caller<'static> {
        Caller {
            transport,
            role: None,
            node: None,
            identity: None,
            peer: None,
            channel: None,
        }
    }

    /// The same caller, from `peer`.
    pub fn from_peer(self, peer: Option<std::net::SocketAddr>) -> Self {
        Caller { peer, ..self }
    }
}

/// The future of [`Dispatcher::dispatch_async`].
pub type Dispatching<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + 'a>>;

/// What an HTTP request's credentials are worth.
#[derive(Debug)]
pub enum Authentication {
    /// Proceed with this role (`None`: no credentials needed; the transport's default),
    /// for this identity (the user, or `token:<name>`).
    Granted {
        /// The role.
        role: Option<String>,
        /// Who the credentials name.
        identity: Option<String>,
    },
    /// Credentials are required and none were given, or they are wrong: 401.
    Refused,
    /// Too many failed attempts from this network or for this user lately, or too many
    /// password checks running at once: 429.
    Throttled,
    /// The credentials need a slow check (a password hash): run it on a blocking thread,
    /// never on a thread that serves requests.
    Deferred(Deferred),
}

/// A credential check that takes long ([`Authentication::Deferred`]).
pub struct Deferred(Box<dyn FnOnce() -> Authentication + Send>);

impl Deferred {
    /// A check that `check` makes.
    pub fn new(check: impl FnOnce() -> Authentication + Send + 'static) -> Self {
        Deferred(Box::new(check))
    }

    /// Makes the check (blocks for as long as it takes).
    pub fn check(self) -> Authentication {
        (self.0)()
    }
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deferred")
    }
}

/// A caller's view of the dispatcher: everything it runs carries the caller's role.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    dispatcher: &'a dyn Dispatcher,
    role: Option<&'a str>,
    node: Option<&'a str>,
    identity: Option<&'a str>,
    peer: Option<std::net::SocketAddr>,
    channel: Option<ChannelId>,
}

impl<'a> Session<'a> {
    /// A session with `role` (`None`: the transport's default role), to the default node.
    pub fn new(dispatcher: &'a dyn Dispatcher, role: Option<&'a str>) -> Self {
        Session {
            dispatcher,
            role,
            node: None,
            identity: None,
            peer: None,
            channel: None,
        }
    }

    /// The same session on the push channel `channel` of its connection.
    pub fn on_channel(self, channel: Option<ChannelId>) -> Self {
        Session { channel, ..self }
    }

    /// The same session addressed to `node`.
    pub fn to_node(self, node: Option<&'a str>) -> Self {
        Session { node, ..self }
    }

    /// The node the session is addressed to (`None`: the daemon itself).
    pub fn node(&self) -> Option<&'a str> {
        self.node
    }

    /// The same session for `identity`, from `peer`.
    pub fn of(self, identity: Option<&'a str>, peer: Option<std::net::SocketAddr>) -> Self {
        Session {
            identity,
            peer,
            ..self
        }
    }

    fn caller(&self, transport: TransportKind) -> Caller<'a> {
        Caller {
            transport,
            role: self.role,
            node: self.node,
            identity: self.identity,
            peer: self.peer,
            channel: self.channel,
        }
    }

    /// Runs a request (see [`Dispatcher::dispatch`]).
    pub fn dispatch(&self, transport: TransportKind, request: &[u8], pretty: bool) -> Reply {
        self.dispatcher
            .dispatch(self.caller(transport), request, pretty)
    }

    /// Runs a request without holding the async worker (see
    /// [`Dispatcher::dispatch_async`]).
    pub fn dispatch_async<'r>(
        &self,
        transport: TransportKind,
        request: &'r [u8],
        pretty: bool,
    ) -> Dispatching<'r>
    where
        'a: 'r,
    {
        self.dispatcher
            .dispatch_async(self.caller(transport), request, pretty)
    }

    /// The charts of the statistics view, with `picks` (see [`Dispatcher::charts`]);
    /// `None` for a page addressed to a node, whose statistics are not sampled.
    pub fn charts(&self, picks: &[String]) -> Option<metrics::ChartsView> {
        match self.node {
            Some(_) => None,
            None => self.dispatcher.charts(picks),
        }
    }

    /// The commands this caller may run (see [`Dispatcher::commands`]).
    pub fn commands(&self, transport: TransportKind) -> Vec<CommandInfo> {
        self.dispatcher.commands(self.caller(transport))
    }
}

/// Runs JSON-RPC requests. Implemented by the daemon over the core component.
///
/// Calls are synchronous and short (microseconds, bounded by the host's deadline); a
/// transport may call them on its async worker threads.
pub trait Dispatcher: Send + Sync + 'static {
    /// Handles one JSON-RPC request text (or batch) for `caller`, with compact or pretty
    /// replies; commands the caller's role may not run are answered 403.
    fn dispatch(&self, caller: Caller<'_>, request: &[u8], pretty: bool) -> Reply;

    /// [`Dispatcher::dispatch`] for a caller on an async worker: a dispatcher whose requests
    /// wait on I/O (front mode's nodes) awaits it here instead of blocking the worker.
    /// By default, runs `dispatch`.
    fn dispatch_async<'a>(
        &'a self,
        caller: Caller<'a>,
        request: &'a [u8],
        pretty: bool,
    ) -> Dispatching<'a> {
        Box::pin(std::future::ready(self.dispatch(caller, request, pretty)))
    }

    /// Opens a push channel of `kind` for a connection that delivers notifications
    /// (a WebSocket, an event stream); `None`: this dispatcher has no events to push (the
    /// default). Called once per connection, before its first request.
    fn open_channel(&self, kind: push::ChannelKind) -> Option<Channel> {
        let _ = kind;
        None
    }

    /// Closes a channel [`Dispatcher::open_channel`] opened: its subscriptions end and
    /// its queue is let go. Called once, when the connection ends.
    fn close_channel(&self, id: ChannelId) {
        let _ = id;
    }

    /// The statistics as metric families for a scraper of `/metrics` (see
    /// [`metrics::Scrape`]); by default none ([`metrics::ScrapeError::NotServed`], 404).
    /// Called once per scrape, on an async worker.
    fn scrape<'a>(&'a self, scrape: metrics::Scrape<'a>) -> metrics::Scraping<'a> {
        let _ = scrape;
        Box::pin(std::future::ready(Err(metrics::ScrapeError::NotServed)))
    }

    /// The charts of the HTML page's statistics view: the configured ones, then `picks`
    /// (chart specs the user chose); `None`: no charts here (the default). Called on a
    /// blocking thread for each statistics page and each refresh of its charts.
    fn charts(&self, picks: &[String]) -> Option<metrics::ChartsView> {
        let _ = picks;
        None
    }

    /// A receiver that changes whenever the commands callers can reach change (a module
    /// loaded or unloaded, a node's command list); `None` (the default): they never do.
    fn catalogue_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// A receiver that changes whenever the access rules are reloaded, read when
    /// credentials are granted so that [`Dispatcher::still_granted`] can be asked later;
    /// `None`: they never are.
    fn access_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>>;

    /// Whether credentials that granted `role` to `identity` when
    /// [`Dispatcher::access_changes`] read `since` still do. Asked by connections that
    /// outlive a request (a WebSocket, an event stream) each time the access rules change:
    /// one whose grant is gone is closed.
    fn still_granted(&self, role: Option<&str>, identity: Option<&str>, since: u64) -> bool;

    /// The names of the nodes requests can be addressed to (front mode), in configuration
    /// order; none by default.
    fn nodes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The commands `caller` may run, in registration order.
    fn commands(&self, caller: Caller<'_>) -> Vec<CommandInfo>;

    /// Checks an HTTP request's `Authorization` header, from `peer`.
    /// `route` is `mi`, `xmlrpc`, `html`, `playground` or `metrics`. Called on an async
    /// worker: a check that takes long (a password hash) is answered
    /// [`Authentication::Deferred`], which the transport runs on a blocking thread.
    fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: std::net::IpAddr,
        route: &str,
    ) -> Authentication;

    /// Called on a thread a transport starts for itself, before it serves: the host lists
    /// it as a process named `name`.
    fn thread_started(&self, name: &str);

    /// Called on a transport thread right before it ends.
    fn thread_stopped(&self);
}

/// Waits for the next change of the access rules: `true` when they changed, `false` when
/// they never will again; never returns without a receiver.
pub(crate) async fn access_changed(
    changes: Option<&mut tokio::sync::watch::Receiver<u64>>,
) -> bool {
    match changes {
        Some(changes) => changes.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}
