//! `miwa mcp`: a daemon's MCP server on standard input and output, for desktop AI clients
//! that start their servers as programs. It is a bridge, not a second server: each
//! message goes to the daemon's `/mcp` (over HTTP or HTTPS, with the usual credentials),
//! so the tools, the roles, the destructive rule, the result cap and the audit line
//! (transport `mcp`) are the daemon's. A tool list change the daemon announces is passed on.

use crate::target::Target;
use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ResultType,
    ServerConfig, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, SubscriptionContext};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use rmcp::{
    ClientHandler, ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt,
};
use tokio::sync::watch;

/// Where `miwa mcp` connects by default.
const DEFAULT_MCP_URL: &str = "http://127.0.0.1:8888/mcp";

/// The daemon's side: counts the tool list changes it announces.
struct Daemon {
    changes: watch::Sender<u64>,
}

impl ClientHandler for Daemon {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changes.send_modify(|changes| *changes += 1);
    }
}

/// The local side: each request is the daemon's to answer, and the daemon's tool list
/// changes are passed on.
struct Bridge {
    daemon: Peer<RoleClient>,
    changes: watch::Receiver<u64>,
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
        Some(transports::mcp::tools_only(requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        transports::mcp::stream_changes(Some(self.changes.clone()), context).await;
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
        let daemon = Daemon { changes }
            .serve(transport)
            .await
            .with_context(|| format!("cannot reach the MCP server at {}", url.uri))?;
        let bridge = Bridge {
            daemon: daemon.peer().clone(),
            changes: changed,
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
