//! The Model Context Protocol (MCP) over the MI: AI agents call MI commands as tools.
//!
//! Built on the official Rust SDK (`rmcp`), which speaks every protocol revision (the
//! `initialize` handshake with its `Mcp-Session-Id` up to 2025-11-25, and the stateless
//! 2026-07-28 one) over streamable HTTP and standard input/output. What miwa adds is
//! what the tools are: generated from the caller's own `rpc.discover` document, so a
//! role sees exactly the commands it may run, and each call is one ordinary MI request
//! through the [`crate::Dispatcher`] (access, audit, limits), as transport `mcp`.
//!
//! # Layout
//! - `tools`: the tools of an OpenRPC document (names, input schemas from the recipes,
//!   read-only and destructive hints) and a tool call's MI request;
//! - `confirm`: the user's confirmation of a destructive call (elicitation, or the
//!   `confirm` argument);
//! - `resources`: statistics groups, the node list and events as resources;
//! - `server`: the MCP server: tools, resources and their notifications over a
//!   [`Backend`];
//! - `route`: `/mcp` on the HTTP listener (sessions capped, each bound to the identity
//!   that opened it).
//!
//! Secure defaults: a destructive tool (`kill`, `*_reload`, `reset_*`, …, see
//! [`mi_core::effects`]) is listed only to the roles `destructive_roles` names, and runs
//! only once the user confirmed it (asked through the client, or `"confirm": true`); results past `max_result_bytes` are cut with
//! a note; sessions are capped by `max_sessions`, and per client by
//! `max_sessions_per_client`.

mod confirm;
mod resources;
mod route;
mod server;
mod tools;

pub(crate) use route::McpBody;
pub use route::McpRoute;
pub use server::{server_config, tell_changes, tools_only, McpServer};

use std::future::Future;
use std::pin::Pin;

/// Where MCP is served on the HTTP listener (`/mcp`, and `/mcp/<node>` for a node's own
/// commands in front mode).
pub const MCP_ROOT: &str = "mcp";

/// Settings of the MCP server (`[mcp]`).
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// Roles that see and may run destructive tools (with `"confirm": true`).
    pub destructive_roles: Vec<String>,
    /// A tool's result longer than this many bytes is cut, with a note saying so.
    pub max_result_bytes: usize,
    /// Sessions open at once (for clients of the protocol revisions with sessions).
    pub max_sessions: usize,
    /// Sessions one client (an identity, or an address without credentials) may hold.
    pub max_sessions_per_client: usize,
    /// A session without a request for this long is closed.
    pub session_idle: std::time::Duration,
    /// What each command does, the built-in classification under the configuration's
    /// overrides.
    pub effects: mi_core::effects::Effects,
    /// The role of callers without credentials (`[access.transports] mcp`).
    pub default_role: String,
}

/// Who calls, as the HTTP layer authenticated them: the [`crate::Caller`] of each MI
/// request a tool call makes.
#[derive(Debug, Clone)]
pub struct McpCaller {
    /// The role its credentials were granted (`None`: the transport's default role).
    pub role: Option<String>,
    /// Who its credentials name.
    pub identity: Option<String>,
    /// Where it came from.
    pub peer: Option<std::net::SocketAddr>,
    /// The node its path names (`/mcp/<node>`).
    pub node: Option<String>,
    /// The access rules' version when its credentials were granted.
    pub granted_at: u64,
}

/// A reply to come from a [`Backend`].
pub type Replying<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Where the MCP server's MI requests go: the daemon's dispatcher, or (for `miwa mcp`)
/// a daemon over the wire.
pub trait Backend: Send + Sync + 'static {
    /// The role tools are listed for (the `destructive_roles` check); `None` when the
    /// backend cannot tell (a daemon over the wire decides itself).
    fn role(&self, caller: Option<&McpCaller>) -> Option<String>;

    /// Sends one JSON-RPC request text as `caller` (from the HTTP request the MCP message
    /// came in; `None` over standard input/output), on the push channel `channel` if
    /// given, and returns the reply text, or why there is none.
    fn call<'a>(
        &'a self,
        caller: Option<&'a McpCaller>,
        channel: Option<crate::ChannelId>,
        request: String,
    ) -> Replying<'a>;

    /// Whether the credentials `caller` came with are still granted (asked by long
    /// requests when the access rules change).
    fn still_granted(&self, caller: Option<&McpCaller>) -> bool;

    /// Opens a push channel for an event subscription; `None`: no events here.
    fn open_channel(&self) -> Option<crate::Channel>;

    /// Closes a channel [`Backend::open_channel`] opened: its subscriptions end.
    fn close_channel(&self, id: crate::ChannelId);
}

/// The daemon's own dispatcher as a [`Backend`]: each request runs as the HTTP caller,
/// over transport `mcp`.
pub struct DispatcherBackend {
    dispatcher: std::sync::Arc<dyn crate::Dispatcher>,
    default_role: String,
}

impl DispatcherBackend {
    /// Requests go to `dispatcher`; `default_role` is the role of a caller without
    /// credentials (`[access.transports] mcp`).
    pub fn new(dispatcher: std::sync::Arc<dyn crate::Dispatcher>, default_role: String) -> Self {
        DispatcherBackend {
            dispatcher,
            default_role,
        }
    }
}

impl Backend for DispatcherBackend {
    fn role(&self, caller: Option<&McpCaller>) -> Option<String> {
        Some(
            caller
                .and_then(|c| c.role.clone())
                .unwrap_or_else(|| self.default_role.clone()),
        )
    }

    fn call<'a>(
        &'a self,
        caller: Option<&'a McpCaller>,
        channel: Option<crate::ChannelId>,
        request: String,
    ) -> Replying<'a> {
        Box::pin(async move {
            let caller = caller.ok_or("no HTTP caller")?;
            let caller = crate::Caller {
                transport: crate::TransportKind::Mcp,
                role: caller.role.as_deref(),
                node: caller.node.as_deref(),
                identity: caller.identity.as_deref(),
                peer: caller.peer,
                channel,
            };
            match self
                .dispatcher
                .dispatch_async(caller, request.as_bytes(), false)
                .await
            {
                crate::Reply::Text(text) | crate::Reply::ParseError(text) => Ok(text),
                crate::Reply::Nothing => Err("no reply".to_string()),
                crate::Reply::Unprintable => Err("the reply could not be made".to_string()),
            }
        })
    }

    fn still_granted(&self, caller: Option<&McpCaller>) -> bool {
        caller.is_none_or(|c| {
            self.dispatcher
                .still_granted(c.role.as_deref(), c.identity.as_deref(), c.granted_at)
        })
    }

    fn open_channel(&self) -> Option<crate::Channel> {
        self.dispatcher.open_channel(crate::push::ChannelKind::Mcp)
    }

    fn close_channel(&self, id: crate::ChannelId) {
        self.dispatcher.close_channel(id);
    }
}
