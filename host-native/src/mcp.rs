//! `miwa mcp`: a daemon's MCP server on standard input and output, for desktop AI clients
//! that start their servers as programs. It is a bridge, not a second server: each
//! message goes to the daemon's `/mcp` (over HTTP or HTTPS, with the usual credentials),
//! so the tools, the resources, the roles, the destructive rule, the result cap and the
//! audit line (transport `mcp`) are the daemon's. It speaks the stateless 2026-07-28
//! revision to the daemon, so each request says what the local client can do; the tool
//! list changes and resource updates are listened for there (`subscriptions/listen`) and
//! passed on, and a destructive call's question for the user is passed to the local
//! client (as the daemon's `input_required`, or as an `elicitation/create` to a client
//! of an earlier revision).

use crate::target::Target;
use anyhow::Context as _;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientRequest,
    InputRequest, InputRequiredResult, InputResponses, ProtocolVersion, RequestMetaObject,
    ServerNotification, ServerResult,
};
use rmcp::model::{
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ResourceUpdatedNotificationParam, ResultType, ServerConfig,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, Peer, PeerRequestOptions,
    RequestContext, Subscription, SubscriptionContext,
};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use rmcp::{ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{oneshot, watch};

/// Where `miwa mcp` connects by default.
const DEFAULT_MCP_URL: &str = "http://127.0.0.1:8888/mcp";

/// The pause before listening again at the daemon after its stream of tool list changes
/// ended (a restart, a network failure).
const LISTEN_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The local side: each request is the daemon's to answer, and the daemon's tool list
/// changes and resource updates are passed on.
struct Bridge {
    daemon: Peer<RoleClient>,
    changes: watch::Receiver<u64>,
    /// The local client's subscriptions (revisions with sessions): dropping one's sender
    /// ends its listen at the daemon.
    forwarding: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

impl Bridge {
    /// Listens at the daemon for the updates of `uris`.
    async fn listen_at_daemon(&self, uris: Vec<String>) -> Result<Subscription, McpError> {
        let mut filter = SubscriptionFilter::new();
        filter.resource_subscriptions = Some(uris);
        self.daemon.listen(filter).await.map_err(unreachable)
    }
}

/// The URI of a resource update the daemon sent on `subscription`; `None` once it ended.
async fn next_update(subscription: &mut Subscription) -> Option<String> {
    loop {
        match subscription.next().await {
            Ok(Some(ServerNotification::ResourceUpdatedNotification(updated))) => {
                return Some(updated.params.uri)
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Counts the daemon's tool list changes into `changes` while the bridge runs, listening
/// again whenever the daemon's stream ends (and counting one change then: the tools may
/// have changed meanwhile).
async fn follow_tool_changes(daemon: Peer<RoleClient>, changes: watch::Sender<u64>) {
    let mut filter = SubscriptionFilter::new();
    filter.tools_list_changed = Some(true);
    let mut first = true;
    loop {
        if let Ok(mut subscription) = daemon.listen(filter.clone()).await {
            if !first {
                changes.send_modify(|changes| *changes += 1);
            }
            first = false;
            while let Ok(Some(notification)) = subscription.next().await {
                if matches!(
                    notification,
                    ServerNotification::ToolListChangedNotification(_)
                ) {
                    changes.send_modify(|changes| *changes += 1);
                }
            }
        }
        if changes.is_closed() {
            return;
        }
        tokio::time::sleep(LISTEN_AGAIN).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A failure to reach the daemon, as the local client is told it.
fn unreachable(error: rmcp::ServiceError) -> McpError {
    match error {
        rmcp::ServiceError::McpError(error) => error,
        other => McpError::internal_error(format!("the miwa daemon: {other}"), None),
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        transports::mcp::server_config()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        transports::mcp::tell_changes(self.changes.clone(), context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = transports::mcp::tools_only(requested);
        accepted.resource_subscriptions = requested.resource_subscriptions.clone();
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let mut updates = match uris.is_empty() {
            true => None,
            false => Some(self.listen_at_daemon(uris).await?),
        };
        let mut changes = self.changes.clone();
        changes.mark_unchanged();
        loop {
            tokio::select! {
                update = async { match updates.as_mut() { Some(u) => next_update(u).await, None => std::future::pending().await } } => {
                    match update {
                        Some(uri) => {
                            if context.sink().notify_resource_updated(uri).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if context.accepted().tools_list_changed == Some(true)
                        && context.sink().notify_tool_list_changed().await.is_err()
                    {
                        break;
                    }
                }
                _ = context.cancelled() => break,
            }
        }
        if let Some(mut updates) = updates {
            let _ = updates.cancel().await;
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut listed = self
            .daemon
            .list_resources(request)
            .await
            .map_err(unreachable)?;
        listed.result_type = Some(ResultType::COMPLETE);
        Ok(listed)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let mut read = self
            .daemon
            .read_resource_once(request)
            .await
            .map_err(unreachable)?;
        if let ReadResourceResponse::Complete(result) = &mut read {
            result.result_type = Some(ResultType::COMPLETE);
        }
        Ok(read)
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let mut updates = self.listen_at_daemon(vec![request.uri.clone()]).await?;
        let local = context.peer.clone();
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    update = next_update(&mut updates) => {
                        let Some(uri) = update else { return };
                        let param = ResourceUpdatedNotificationParam::new(uri);
                        if local.notify_resource_updated(param).await.is_err() {
                            break;
                        }
                    }
                    _ = &mut stopped => break,
                }
            }
            let _ = updates.cancel().await;
        });
        lock(&self.forwarding).insert(request.uri, stop);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        lock(&self.forwarding).remove(&request.uri);
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = self.daemon.list_tools(request).await.map_err(unreachable)?;
        // Said again for this side's client, whatever revision the daemon's side speaks.
        tools.result_type = Some(ResultType::COMPLETE);
        Ok(tools)
    }

    /// A call is the daemon's, said to come from a client that can ask the user what the
    /// local client can: the daemon asks for a destructive call's confirmation only then.
    /// A local client of the 2026-07-28 revision gets the question as the daemon put it
    /// (`input_required`) and calls again with the answer; one of an earlier revision is
    /// asked here (`elicitation/create`), and the call is made again with its answer.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let local_has_sessions = context
            .protocol_version()
            .is_none_or(|v| v.as_str() < ProtocolVersion::V_2026_07_28.as_str());
        let capabilities = context.meta.client_capabilities().or_else(|| {
            context
                .peer
                .peer_info()
                .map(|info| info.capabilities.clone())
        });
        let mut answer = self
            .call_at_daemon(request.clone(), capabilities.clone())
            .await?;
        if let (CallToolResponse::InputRequired(asked), true) = (&answer, local_has_sessions) {
            let mut retry = request;
            retry.input_responses = Some(ask_locally(asked, &context.peer).await);
            retry.request_state = asked.request_state.clone();
            answer = self.call_at_daemon(retry, capabilities).await?;
        }
        if let CallToolResponse::Complete(result) = &mut answer {
            result.result_type = Some(ResultType::COMPLETE);
        }
        Ok(answer)
    }
}

impl Bridge {
    /// Calls a tool at the daemon for a client with `capabilities`.
    async fn call_at_daemon(
        &self,
        params: CallToolRequestParams,
        capabilities: Option<ClientCapabilities>,
    ) -> Result<CallToolResponse, McpError> {
        let mut options = PeerRequestOptions::no_options();
        if let Some(capabilities) = capabilities {
            let mut meta = RequestMetaObject::default();
            meta.set_client_capabilities(capabilities);
            options.meta = Some(meta);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let answer = self
            .daemon
            .send_request_with_option(request, options)
            .await
            .map_err(unreachable)?
            .await_response()
            .await
            .map_err(unreachable)?;
        match answer {
            ServerResult::CallToolResult(result) => Ok(CallToolResponse::Complete(result)),
            ServerResult::InputRequiredResult(asked) => Ok(CallToolResponse::InputRequired(asked)),
            _ => Err(McpError::internal_error(
                "the miwa daemon answered a tool call with something else",
                None,
            )),
        }
    }
}

/// The local client's answers to the daemon's `asked` questions: each `elicitation/create`
/// put to it (a question it cannot answer, or any other kind of request, is declined).
async fn ask_locally(asked: &InputRequiredResult, local: &Peer<RoleServer>) -> InputResponses {
    let declined = || serde_json::json!({"action": "decline"});
    let mut answers = InputResponses::new();
    for (key, request) in asked.input_requests.iter().flatten() {
        let answer = match request {
            InputRequest::Elicitation(elicit) => local
                .create_elicitation(elicit.params.clone())
                .await
                .ok()
                .and_then(|answer| serde_json::to_value(answer).ok())
                .unwrap_or_else(declined),
            _ => declined(),
        };
        answers.insert(key.clone(), answer);
    }
    answers
}

/// Serves MCP on standard input and output until the client closes it, forwarding to the
/// daemon `target` names (`--url`, default http://127.0.0.1:8888/mcp; `--node` adds
/// `/<node>`).
pub fn run(target: Target) -> anyhow::Result<()> {
    let daemon_url = target.http_target(DEFAULT_MCP_URL)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let tls = miwa_client::client_config(daemon_url.ca_file.as_deref())?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .context("cannot make the HTTP client")?;
        let url = miwa_client::credentials::strip(&daemon_url.url)?;
        let mut headers = std::collections::HashMap::new();
        let authorization = match (daemon_url.authorization, url.user) {
            (Some(given), _) => Some(given),
            (None, Some(user)) => Some(miwa_client::credentials::basic(
                &user,
                url.password.as_deref(),
            )?),
            (None, None) => None,
        };
        if let Some(value) = authorization {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let config = StreamableHttpClientTransportConfig::with_uri(url.uri.to_string())
            .custom_headers(headers);
        let transport = StreamableHttpClientTransport::with_client(http, config);
        // The daemon is asked in the stateless revision: each request carries what the
        // local client can do, and a question for the user comes back as a result.
        let lifecycle = ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        };
        let daemon = ()
            .serve_with_lifecycle(transport, lifecycle)
            .await
            .with_context(|| format!("cannot reach the MCP server at {}", url.uri))?;
        let (changes, changed) = watch::channel(0);
        tokio::spawn(follow_tool_changes(daemon.peer().clone(), changes));
        let bridge = Bridge {
            daemon: daemon.peer().clone(),
            changes: changed,
            forwarding: Mutex::default(),
        };
        let local = bridge
            .serve(rmcp::transport::stdio())
            .await
            .context("the MCP client on standard input")?;
        local.waiting().await?;
        drop(daemon);
        Ok(())
    })
}
