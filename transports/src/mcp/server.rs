//! The MCP server: `tools/list` answers the tools of the caller's own `rpc.discover`
//! document, `tools/call` turns a call into one MI request through the [`Backend`].

use super::confirm::{self, Confirmation};
use super::resources;
use super::tools::{self, ToolPlan, CONFIRM};
use super::{Backend, McpCaller, McpSettings};
use mi_core::effects::Effect;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::model::{
    ListResourcesResult, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceUpdatedNotificationParam, ResultType, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The MCP server of one session (or one stateless request): tools and resources over
/// `backend`.
#[derive(Clone)]
pub struct McpServer {
    backend: Arc<dyn Backend>,
    settings: Arc<McpSettings>,
    /// Changes whenever the commands do (`notifications/tools/list_changed`).
    changes: Option<watch::Receiver<u64>>,
    /// Each event's parameters the last time a subscription received it (the same for
    /// every session: reading one needs a role that may subscribe to it).
    last: Arc<Mutex<HashMap<String, Value>>>,
    /// Each caller's tools while the commands do not change (shared by all sessions).
    catalogues: Arc<Mutex<Catalogues>>,
    /// The session's event subscriptions (opened at the first), ended with it.
    feed: Arc<tokio::sync::Mutex<Option<resources::Feed>>>,
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
            last: Arc::default(),
            catalogues: Arc::default(),
            feed: Arc::default(),
        }
    }

    /// The server of a new session: the same tools, subscriptions of its own.
    pub fn for_session(&self) -> Self {
        McpServer {
            feed: Arc::default(),
            ..self.clone()
        }
    }

    /// The tools the caller may see: its `rpc.discover` document's methods, asked once
    /// per role, identity and node while the commands do not change.
    async fn tools(&self, caller: Option<&McpCaller>) -> Result<Arc<Vec<ToolPlan>>, McpError> {
        let role = self.backend.role(caller);
        let key = match (&role, &self.changes) {
            (Some(role), Some(changes)) => Some((
                *changes.borrow(),
                (
                    role.clone(),
                    caller.and_then(|c| c.identity.clone()),
                    caller.and_then(|c| c.node.clone()),
                ),
            )),
            _ => None,
        };
        if let Some((version, who)) = &key {
            if let Some(plans) = lock(&self.catalogues).get(*version, who) {
                return Ok(plans);
            }
        }
        let request = r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#.to_string();
        let reply = self
            .backend
            .call(caller, None, request)
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
        let destructive = match role {
            Some(role) => self.settings.destructive_roles.contains(&role),
            None => true,
        };
        let plans = Arc::new(tools::catalogue(
            &reply["result"],
            &self.settings.effects,
            destructive,
        ));
        if let Some((version, who)) = key {
            lock(&self.catalogues).put(version, who, plans.clone());
        }
        Ok(plans)
    }

    /// A tool's answer to an MI reply: its result as JSON text (and as structured
    /// content when it is an object), cut past `max_result_bytes`; an MI error as a tool
    /// error.
    fn answer(&self, plan: &ToolPlan, reply: &str) -> CallToolResult {
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
        let shown = vec![ContentBlock::text(format!("{}{note}", &text[..end]))];
        match plan.tool.output_schema {
            // A declared shape the cut text no longer has: said as a failure.
            Some(_) => CallToolResult::error(shown),
            None => CallToolResult::success(shown),
        }
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

    /// `subscriptions/listen` (2026-07-28): tool list changes, and events.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = tools_only(requested);
        accepted.resource_subscriptions = requested.resource_subscriptions.clone();
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let caller = caller_of(context.request_context());
        let (raised, mut updates) = tokio::sync::mpsc::channel::<String>(64);
        // Held while the subscription lasts: its events' channel (none without events).
        let _feed = match uris.is_empty() {
            true => None,
            false => {
                let plans = self.tools(caller.as_ref()).await?;
                let feed =
                    resources::Feed::open(self.backend.clone(), self.last.clone(), move |uri| {
                        let raised = raised.clone();
                        async move { raised.send(uri).await.is_ok() }
                    })?;
                for uri in &uris {
                    feed.add(caller.clone(), &plans, uri).await?;
                }
                Some(feed)
            }
        };
        let mut changes = self.changes.clone();
        if let Some(changes) = changes.as_mut() {
            changes.mark_unchanged();
        }
        loop {
            tokio::select! {
                Some(uri) = updates.recv() => {
                    if context.sink().notify_resource_updated(uri).await.is_err() {
                        return Ok(());
                    }
                }
                Ok(()) = async { match changes.as_mut() { Some(c) => c.changed().await.map_err(drop), None => std::future::pending().await } } => {
                    if !self.backend.still_granted(caller.as_ref()) {
                        tracing::info!("MCP subscription ended: its credentials are no longer granted");
                        return Ok(());
                    }
                    if context.accepted().tools_list_changed == Some(true) {
                        let _ = context.sink().notify_tool_list_changed().await;
                    }
                }
                _ = context.cancelled() => return Ok(()),
            }
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let caller = caller_of(&context);
        let plans = self.tools(caller.as_ref()).await?;
        let listed = resources::list(self.backend.as_ref(), caller.as_ref(), &plans).await;
        let mut listed: ListResourcesResult =
            serde_json::from_value(serde_json::json!({"resources": listed}))
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        listed.result_type = Some(ResultType::COMPLETE);
        Ok(listed)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let caller = caller_of(&context);
        let plans = self.tools(caller.as_ref()).await?;
        let text = resources::read(
            self.backend.as_ref(),
            caller.as_ref(),
            &plans,
            &request.uri,
            &self.last,
        )
        .await?;
        let mut read: ReadResourceResult = serde_json::from_value(serde_json::json!({
            "contents": [{"uri": request.uri, "mimeType": "application/json", "text": text}]
        }))
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        read.result_type = Some(ResultType::COMPLETE);
        Ok(ReadResourceResponse::Complete(read))
    }

    /// `resources/subscribe` (revisions with sessions): an event's updates on the
    /// session's stream until it unsubscribes or ends.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = caller_of(&context);
        let plans = self.tools(caller.as_ref()).await?;
        let mut feed = self.feed.lock().await;
        if feed.is_none() {
            let peer = context.peer.clone();
            *feed = Some(resources::Feed::open(
                self.backend.clone(),
                self.last.clone(),
                move |uri| {
                    let peer = peer.clone();
                    async move {
                        peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                            .await
                            .is_ok()
                    }
                },
            )?);
        }
        match feed.as_ref() {
            Some(feed) => feed.add(caller, &plans, &request.uri).await,
            None => Ok(()),
        }
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Some(feed) = self.feed.lock().await.as_ref() {
            feed.remove(&request.uri).await;
        }
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
            plans.iter().map(|plan| plan.tool.clone()).collect(),
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
        let mut arguments: Map<String, Value> = request.arguments.clone().unwrap_or_default();
        let confirmed = arguments.remove(CONFIRM) == Some(Value::Bool(true));
        if plan.effect == Effect::Destructive && !confirmed {
            match confirm::confirm(&plan.method, &arguments, &request, &context).await {
                Confirmation::Given => {}
                Confirmation::Ask(asked) => return Ok(CallToolResponse::InputRequired(*asked)),
                Confirmation::Refused(why) => {
                    return Ok(tool_error(format!(
                        "'{}' is destructive and {why}: nothing was run.",
                        plan.method
                    ))
                    .into())
                }
                Confirmation::Unsupported => {
                    return Ok(tool_error(format!(
                        "'{}' is destructive: nothing was run. Ask the user, then call it again \
                         with \"confirm\": true.",
                        plan.method
                    ))
                    .into())
                }
            }
        }
        let mi_request = match tools::request(plan, &arguments) {
            Ok(text) => text,
            Err(why) => return Ok(tool_error(format!("{why}: nothing was run.")).into()),
        };
        let reply = self
            .backend
            .call(caller.as_ref(), None, mi_request)
            .await
            .map_err(|why| McpError::internal_error(why, None))?;
        Ok(self.answer(plan, &reply).into())
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

/// What miwa's MCP server says of itself: tools whose list can change, and how to use
/// them.
pub fn server_config() -> ServerConfig {
    ServerConfig::new(
        ServerCapabilities::builder()
            .enable_resources()
            .enable_resources_subscribe()
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

/// Who a catalogue is for: a role, an identity and a node.
type Whose = (String, Option<String>, Option<String>);

/// The catalogues made at one version of the commands (a newer version forgets them).
#[derive(Default)]
struct Catalogues {
    version: u64,
    plans: HashMap<Whose, Arc<Vec<ToolPlan>>>,
}

impl Catalogues {
    /// Most callers kept; past this, the cache starts over.
    const MAX: usize = 256;

    fn get(&self, version: u64, who: &Whose) -> Option<Arc<Vec<ToolPlan>>> {
        (self.version == version)
            .then(|| self.plans.get(who).cloned())
            .flatten()
    }

    fn put(&mut self, version: u64, who: Whose, plans: Arc<Vec<ToolPlan>>) {
        if version < self.version {
            return;
        }
        if version > self.version || self.plans.len() >= Self::MAX {
            self.plans.clear();
            self.version = version;
        }
        self.plans.insert(who, plans);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
