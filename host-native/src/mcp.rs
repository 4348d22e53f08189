//! `miwa mcp`: a daemon's MCP server on standard input and output, for desktop AI clients
//! that start their servers as programs. It is a bridge, not a second server: each
//! message goes to the daemon's `/mcp` (over HTTP or HTTPS, with the usual credentials),
//! so the tools, the resources, the roles, the destructive rule, the result cap and the
//! audit line (transport `mcp`) are the daemon's. The tool list changes and resource
//! updates the daemon announces are passed on.

use crate::target::Target;
use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ResourceUpdatedNotificationParam, ResultType, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, SubscriptionContext};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use rmcp::{
    ClientHandler, ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt,
};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{broadcast, watch};

/// Where `miwa mcp` connects by default.
const DEFAULT_MCP_URL: &str = "http://127.0.0.1:8888/mcp";

/// The daemon's side: counts the tool list changes it announces and passes its resource
/// updates on.
struct Daemon {
    changes: watch::Sender<u64>,
    updates: broadcast::Sender<String>,
}

impl ClientHandler for Daemon {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.send_modify(|changes| *changes += 1);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.updates.send(params.uri);
    }
}

/// The local side: each request is the daemon's to answer, and the daemon's tool list
/// changes and resource updates are passed on.
struct Bridge {
    daemon: Peer<RoleClient>,
    changes: watch::Receiver<u64>,
    updates: broadcast::Sender<String>,
    /// The local client's subscriptions (revisions with sessions), each passing updates on.
    forwarding: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl Bridge {
    /// Subscribes to `uri` at the daemon (its updates come to [`Daemon`]).
    #[allow(deprecated)]
    async fn subscribe_at_daemon(&self, uri: &str) -> Result<(), McpError> {
        self.daemon
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .map_err(unreachable)
    }

    #[allow(deprecated)]
    async fn unsubscribe_at_daemon(&self, uri: String) {
        let _ = self
            .daemon
            .unsubscribe(UnsubscribeRequestParams::new(uri))
            .await;
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
        let mut updates = self.updates.subscribe();
        for uri in &uris {
            self.subscribe_at_daemon(uri).await?;
        }
        let mut changes = self.changes.clone();
        changes.mark_unchanged();
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(uri) if uris.contains(&uri) => {
                        if context.sink().notify_resource_updated(uri).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
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
        for uri in uris {
            self.unsubscribe_at_daemon(uri).await;
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
        let mut updates = self.updates.subscribe();
        self.subscribe_at_daemon(&request.uri).await?;
        let uri = request.uri.clone();
        let local = context.peer.clone();
        let forwarding = tokio::spawn(async move {
            loop {
                match updates.recv().await {
                    Ok(updated) if updated == uri => {
                        let param = ResourceUpdatedNotificationParam::new(updated);
                        if local.notify_resource_updated(param).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        if let Some(earlier) = lock(&self.forwarding).insert(request.uri, forwarding) {
            earlier.abort();
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Some(forwarding) = lock(&self.forwarding).remove(&request.uri) {
            forwarding.abort();
        }
        self.unsubscribe_at_daemon(request.uri).await;
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

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let mut answer = self
            .daemon
            .call_tool_once(request)
            .await
            .map_err(unreachable)?;
        if let CallToolResponse::Complete(result) = &mut answer {
            result.result_type = Some(ResultType::COMPLETE);
        }
        Ok(answer)
    }
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
        let (changes, changed) = watch::channel(0);
        let (updates, _) = broadcast::channel(256);
        let daemon = Daemon {
            changes,
            updates: updates.clone(),
        }
        .serve(transport)
        .await
        .with_context(|| format!("cannot reach the MCP server at {}", url.uri))?;
        let bridge = Bridge {
            daemon: daemon.peer().clone(),
            changes: changed,
            updates,
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
