//! The MCP server: `tools/list` answers the tools of the caller's own `rpc.discover`
//! document, `tools/call` turns a call into one MI request through the [`Backend`].

use super::tools::{self, ToolPlan, CONFIRM};
use super::{Backend, McpCaller, McpSettings};
use mi_core::effects::Effect;
use rmcp::model::SubscriptionFilter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::watch;

/// The MCP server of one session (or one stateless request): tools over `backend`.
#[derive(Clone)]
pub struct McpServer {
    backend: Arc<dyn Backend>,
    settings: Arc<McpSettings>,
    /// Changes whenever the commands do (`notifications/tools/list_changed`).
    changes: Option<watch::Receiver<u64>>,
}

impl McpServer {
    /// A server whose MI requests go to `backend`; `changes` changes whenever the
    /// commands do.
    pub fn new(
        backend: Arc<dyn Backend>,
        settings: Arc<McpSettings>,
        changes: Option<watch::Receiver<u64>>,
    ) -> Self {
        McpServer {
            backend,
            settings,
            changes,
        }
    }

    /// The tools the caller may see: its `rpc.discover` document's methods.
    async fn tools(&self, caller: Option<&McpCaller>) -> Result<Vec<ToolPlan>, McpError> {
        let request = r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#.to_string();
        let reply = self
            .backend
            .call(caller, request)
            .await
            .map_err(|why| McpError::internal_error(why, None))?;
        let reply: Value = serde_json::from_str(&reply)
            .map_err(|_| McpError::internal_error("rpc.discover answered no JSON", None))?;
        if let Some(error) = reply.get("error") {
            return Err(McpError::internal_error(
                format!("rpc.discover failed: {error}"),
                None,
            ));
        }
        let destructive = match self.backend.role(caller) {
            Some(role) => self.settings.destructive_roles.contains(&role),
            None => true,
        };
        Ok(tools::catalogue(
            &reply["result"],
            &self.settings.effects,
            destructive,
        ))
    }

    /// A tool's answer to an MI reply: its result as JSON text (and as structured
    /// content when it is an object), cut past `max_result_bytes`; an MI error as a tool
    /// error.
    fn answer(&self, reply: &str) -> CallToolResult {
        let reply: Value = match serde_json::from_str(reply) {
            Ok(reply) => reply,
            Err(_) => return tool_error("the MI reply is not JSON".to_string()),
        };
        if let Some(error) = reply.get("error") {
            let mut text = format!(
                "MI error {}: {}",
                error["code"],
                error["message"].as_str().unwrap_or_default()
            );
            if let Some(data) = error.get("data") {
                text.push_str(&format!(
                    " ({})",
                    data.as_str().map_or(data.to_string(), str::to_string)
                ));
            }
            return tool_error(text);
        }
        let result = reply.get("result").cloned().unwrap_or(Value::Null);
        let text = result.to_string();
        let max = self.settings.max_result_bytes;
        if text.len() <= max {
            let mut answer = CallToolResult::success(vec![ContentBlock::text(text)]);
            if result.is_object() {
                answer.structured_content = Some(result);
            }
            return answer;
        }
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let note = format!(
            "\n[cut by miwa: the result is {} bytes, over max_result_bytes {max}; only its \
             first {end} bytes are shown. Ask for less: a statistics group, a filter, one node.]",
            text.len()
        );
        CallToolResult::success(vec![ContentBlock::text(format!("{}{note}", &text[..end]))])
    }
}

/// A tool error saying `why`.
fn tool_error(why: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(why)])
}

/// The caller the HTTP layer put on the request this message came in.
fn caller_of(context: &RequestContext<RoleServer>) -> Option<McpCaller> {
    context
        .extensions
        .get::<hyper::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<McpCaller>())
        .cloned()
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        server_config()
    }

    /// A session of a protocol revision with sessions: told of every change of the
    /// commands on its own stream while it lasts.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Some(changes) = self.changes.clone() {
            tell_changes(changes, context.peer);
        }
    }

    /// `subscriptions/listen` (2026-07-28): tool list changes only.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(tools_only(requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        stream_changes(self.changes.clone(), context).await;
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = caller_of(&context);
        let plans = self.tools(caller.as_ref()).await?;
        Ok(ListToolsResult::with_all_items(
            plans.into_iter().map(|plan| plan.tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = caller_of(&context);
        let plans = self.tools(caller.as_ref()).await?;
        let Some(plan) = plans.iter().find(|p| p.tool.name == request.name) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        };
        let mut arguments: Map<String, Value> = request.arguments.unwrap_or_default();
        let confirmed = arguments.remove(CONFIRM) == Some(Value::Bool(true));
        if plan.effect == Effect::Destructive && !confirmed {
            return Ok(tool_error(format!(
                "'{}' is destructive: nothing was run. Ask the user, then call it again with \
                 \"confirm\": true.",
                plan.method
            ))
            .into());
        }
        let mi_request = match tools::request(plan, &arguments) {
            Ok(text) => text,
            Err(why) => return Ok(tool_error(format!("{why}: nothing was run.")).into()),
        };
        let reply = self
            .backend
            .call(caller.as_ref(), mi_request)
            .await
            .map_err(|why| McpError::internal_error(why, None))?;
        Ok(self.answer(&reply).into())
    }
}

/// Of a `subscriptions/listen` filter, what miwa serves: tool list changes.
pub fn tools_only(requested: &SubscriptionFilter) -> SubscriptionFilter {
    let mut accepted = SubscriptionFilter::new();
    accepted.tools_list_changed = requested.tools_list_changed;
    accepted
}

/// Tells `peer` (a session of a revision with sessions) of each change of `changes`
/// from now on, until it is gone.
pub fn tell_changes(mut changes: watch::Receiver<u64>, peer: rmcp::Peer<RoleServer>) {
    changes.mark_unchanged();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            if peer.notify_tool_list_changed().await.is_err() {
                break;
            }
        }
    });
}

/// Sends each change of `changes` on the subscription of `context` (2026-07-28) until
/// the client ends it.
pub async fn stream_changes(changes: Option<watch::Receiver<u64>>, context: SubscriptionContext) {
    let Some(mut changes) = changes else {
        context.cancelled().await;
        return;
    };
    changes.mark_unchanged();
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() || context.sink().notify_tool_list_changed().await.is_err() {
                    return;
                }
            }
            _ = context.cancelled() => return,
        }
    }
}

/// What miwa's MCP server says of itself: tools whose list can change, and how to use
/// them.
pub fn server_config() -> ServerConfig {
    ServerConfig::new(
        ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build(),
    )
    .with_server_info(Implementation::new("miwa", env!("CARGO_PKG_VERSION")))
    .with_instructions(
        "The OpenSIPS Management Interface (MI) of a miwa daemon: each tool is one MI \
             command this role may run. Read-only tools are safe to call; destructive ones \
             need \"confirm\": true, given only once the user agreed to that very call.",
    )
}
