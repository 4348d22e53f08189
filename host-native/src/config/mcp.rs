//! `[mcp]`: the MCP server at `/mcp` (and `miwa mcp`).

use miwa_state::settings::within;
use serde::Deserialize;
use std::time::Duration;

/// `[mcp]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Serve MCP at `/mcp` (`enabled`, default true; credentials and roles as for `/mi`).
    pub enabled: bool,
    /// Roles that see and may run destructive tools, each call with `"confirm": true`
    /// (`destructive_roles`, default none).
    pub destructive_roles: Vec<String>,
    /// A tool's result longer than this is cut with a note, bytes (`max_result_bytes`,
    /// default 16384, 256 … 16777216).
    pub max_result_bytes: usize,
    /// MCP sessions open at once (`max_sessions`, default 64, 1 … 10000).
    pub max_sessions: usize,
    /// Of `max_sessions`, those one client may hold: an identity, or an address without
    /// credentials (`max_sessions_per_client`, default 8, 1 … `max_sessions`).
    pub max_sessions_per_client: usize,
    /// A session idle this long is closed, seconds (`session_idle`, default 300, 1 …
    /// 86400).
    pub session_idle: u64,
    /// Commands shown as read-only, globs, over the built-in classification (`read_only`,
    /// default none).
    pub read_only: Vec<String>,
    /// Commands treated as destructive, globs; they win over `read_only` (`destructive`,
    /// default none).
    pub destructive: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            enabled: true,
            destructive_roles: Vec::new(),
            max_result_bytes: 16384,
            max_sessions: 64,
            max_sessions_per_client: 8,
            session_idle: 300,
            read_only: Vec::new(),
            destructive: Vec::new(),
        }
    }
}

impl McpConfig {
    /// The key and problem of a bad value, if any; `roles` are the configured role names.
    pub fn problem<'r>(
        &self,
        mut roles: impl Iterator<Item = &'r String>,
    ) -> Option<(&'static str, String)> {
        if let Err(problem) = within(self.max_result_bytes, 256..=16 << 20) {
            return Some(("mcp.max_result_bytes", problem));
        }
        if let Err(problem) = within(self.max_sessions, 1..=10_000) {
            return Some(("mcp.max_sessions", problem));
        }
        if let Err(problem) = within(self.max_sessions_per_client, 1..=self.max_sessions) {
            return Some(("mcp.max_sessions_per_client", problem));
        }
        if let Err(problem) = within(self.session_idle, 1..=86_400) {
            return Some(("mcp.session_idle", problem));
        }
        let known: Vec<&String> = roles.by_ref().collect();
        self.destructive_roles
            .iter()
            .find(|role| role.as_str() != "full" && !known.contains(role))
            .map(|role| {
                (
                    "mcp.destructive_roles",
                    format!("no role `{role}` ([access.roles.{role}] or `full`)"),
                )
            })
    }

    /// The MCP server's settings; `default_role` is the role of callers without
    /// credentials.
    pub fn settings(&self, default_role: String) -> transports::mcp::McpSettings {
        transports::mcp::McpSettings {
            destructive_roles: self.destructive_roles.clone(),
            max_result_bytes: self.max_result_bytes,
            max_sessions: self.max_sessions,
            max_sessions_per_client: self.max_sessions_per_client,
            session_idle: Duration::from_secs(self.session_idle),
            effects: mi_core::effects::Effects::with_overrides(
                self.read_only.clone(),
                self.destructive.clone(),
            ),
            default_role,
        }
    }
}
