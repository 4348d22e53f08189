//! `/mcp` on the HTTP listener: MCP's streamable HTTP transport, served by `rmcp` once
//! the daemon's own checks passed (the `Host` and `Origin` rules, the credentials, the
//! body limits). Every MCP message runs as the caller its own HTTP request authenticated;
//! a session (protocol revisions up to 2025-11-25) grants nothing by itself, and its
//! number is refused to anyone but the identity that opened it. Sessions are capped in
//! all (`max_sessions`) and per client (`max_sessions_per_client`: an identity, or an
//! address without credentials). A reload of the access rules closes the sessions whose
//! credentials it revoked. A batch is refused before anything runs (MCP has none).

use super::{DispatcherBackend, McpCaller, McpServer, McpSettings};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// The session header of the protocol revisions with sessions.
const SESSION_HEADER: &str = "mcp-session-id";

/// A response body as `rmcp` makes it (whole, or an event stream).
pub(crate) type McpBody = BoxBody<Bytes, Infallible>;

/// Who opened a session.
struct Owner {
    /// Its identity, or its peer's address without one: a session is refused to others.
    name: String,
    /// The credentials' role and identity, and the access rules' version they were
    /// granted at: a reload that revokes them closes the session.
    role: Option<String>,
    identity: Option<String>,
    granted_at: u64,
}

/// The `/mcp` route: the MCP service and the sessions it holds.
pub struct McpRoute {
    service: StreamableHttpService<McpServer, LocalSessionManager>,
    sessions: Arc<LocalSessionManager>,
    /// Each open session's owner.
    owners: Arc<Mutex<HashMap<String, Owner>>>,
    /// Held by a request opening a session from its count to its owner's record, so two
    /// at once cannot both take the last place.
    opening: tokio::sync::Mutex<()>,
    max_sessions: usize,
    max_sessions_per_client: usize,
}

impl McpRoute {
    /// The route over `dispatcher`, with `settings`; request bodies up to `max_body`.
    pub fn new(
        dispatcher: Arc<dyn crate::Dispatcher>,
        settings: McpSettings,
        max_body: usize,
    ) -> Self {
        let access = dispatcher.access_changes();
        let changes = either(dispatcher.catalogue_changes(), access.clone());
        let owners: Arc<Mutex<HashMap<String, Owner>>> = Arc::default();
        let dispatcher_for_revocation = dispatcher.clone();
        let backend = Arc::new(DispatcherBackend::new(
            dispatcher,
            settings.default_role.clone(),
        ));
        let mut session_config = SessionConfig::default();
        session_config.keep_alive = Some(settings.session_idle);
        let mut sessions = LocalSessionManager::default();
        sessions.session_config = session_config;
        let sessions = Arc::new(sessions);
        let (max_sessions, max_sessions_per_client) =
            (settings.max_sessions, settings.max_sessions_per_client);
        let settings = Arc::new(settings);
        let mut config = StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .enforce_origin_validation();
        config.max_request_body_bytes = max_body;
        let server = McpServer::new(backend, settings, changes);
        let service =
            StreamableHttpService::new(move || Ok(server.for_session()), sessions.clone(), config);
        if let Some(access) = access {
            tokio::spawn(close_revoked(
                access,
                dispatcher_for_revocation,
                owners.clone(),
                sessions.clone(),
            ));
        }
        McpRoute {
            service,
            sessions,
            owners,
            opening: tokio::sync::Mutex::new(()),
            max_sessions,
            max_sessions_per_client,
        }
    }

    /// Serves one authenticated request (`parts` and its body, read whole).
    pub(crate) async fn serve(
        &self,
        parts: hyper::http::request::Parts,
        body: Bytes,
        caller: McpCaller,
    ) -> Response<McpBody> {
        if parts.method == hyper::Method::POST && is_a_batch(&body) {
            return batch_refused();
        }
        let session = parts
            .headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let opens =
            session.is_none() && parts.method == hyper::Method::POST && opens_a_session(&body);
        let mut request = Request::from_parts(parts, Full::new(body));
        let owner = Owner {
            name: caller
                .identity
                .clone()
                .or_else(|| caller.peer.map(|p| format!("address {}", p.ip())))
                .unwrap_or_default(),
            role: caller.role.clone(),
            identity: caller.identity.clone(),
            granted_at: caller.granted_at,
        };
        let _opening = if opens {
            Some(self.opening.lock().await)
        } else {
            None
        };
        match &session {
            Some(id) => {
                let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
                if owners.get(id).is_some_and(|o| o.name != owner.name) {
                    tracing::warn!(owner = %owner.name, "MCP session of another identity refused");
                    return plain(StatusCode::NOT_FOUND, "Session not found");
                }
            }
            None if opens => {
                self.forget_closed().await;
                if self.sessions.sessions.read().await.len() >= self.max_sessions {
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Too many MCP sessions (max_sessions)",
                    );
                }
                let own = {
                    let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
                    owners.values().filter(|o| o.name == owner.name).count()
                };
                if own >= self.max_sessions_per_client {
                    tracing::warn!(owner = %owner.name, "MCP session refused: this client holds its share");
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Too many MCP sessions for this client (max_sessions_per_client)",
                    );
                }
            }
            None => {}
        }
        let ending = request.method() == hyper::Method::DELETE;
        request.extensions_mut().insert(caller);
        let mut service = self.service.clone();
        let mut response = tower_call(&mut service, request).await;
        if ending && response.status() == StatusCode::ACCEPTED {
            // The session ended: said as `204`, which the official clients expect.
            *response.status_mut() = StatusCode::NO_CONTENT;
            if let Some(id) = &session {
                let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
                owners.remove(id);
            }
        }
        if let Some(id) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            if session.is_none() {
                let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
                owners.insert(id.to_string(), owner);
            }
        }
        response
    }

    /// Forgets the owners of sessions that ended.
    async fn forget_closed(&self) {
        let open = self.sessions.sessions.read().await;
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.retain(|id, _| open.keys().any(|open_id| open_id.as_ref() == id.as_str()));
    }
}

/// One receiver that changes whenever `a` or `b` does (the tools a caller sees depend on
/// the commands and on the access rules).
fn either(
    a: Option<tokio::sync::watch::Receiver<u64>>,
    b: Option<tokio::sync::watch::Receiver<u64>>,
) -> Option<tokio::sync::watch::Receiver<u64>> {
    let (Some(mut a), Some(mut b)) = (a.clone(), b.clone()) else {
        return a.or(b);
    };
    let (sender, receiver) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        loop {
            let changed = tokio::select! {
                changed = a.changed() => changed,
                changed = b.changed() => changed,
                _ = sender.closed() => return,
            };
            if changed.is_err() {
                return;
            }
            sender.send_modify(|version| *version += 1);
        }
    });
    Some(receiver)
}

/// Closes, at each change of the access rules, the sessions whose owner's credentials
/// are no longer granted.
async fn close_revoked(
    mut access: tokio::sync::watch::Receiver<u64>,
    dispatcher: Arc<dyn crate::Dispatcher>,
    owners: Arc<Mutex<HashMap<String, Owner>>>,
    sessions: Arc<LocalSessionManager>,
) {
    use rmcp::transport::streamable_http_server::SessionManager as _;
    while access.changed().await.is_ok() {
        let revoked: Vec<String> = {
            let mut owners = owners.lock().unwrap_or_else(|e| e.into_inner());
            let revoked: Vec<String> = owners
                .iter()
                .filter(|(_, o)| {
                    !dispatcher.still_granted(
                        o.role.as_deref(),
                        o.identity.as_deref(),
                        o.granted_at,
                    )
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &revoked {
                owners.remove(id);
            }
            revoked
        };
        for id in revoked {
            tracing::info!("MCP session closed: its credentials are no longer granted");
            let _ = sessions.close_session(&id.as_str().into()).await;
        }
    }
}

/// Whether `body` is a JSON-RPC batch (an array), which MCP does not take since
/// 2025-06-18.
fn is_a_batch(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// The answer to a batch: `400` with a JSON-RPC error, nothing run.
fn batch_refused() -> Response<McpBody> {
    const REFUSAL: &str = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: MCP takes one message per request, not a batch"}}"#;
    let mut response = Response::new(Full::new(Bytes::from_static(REFUSAL.as_bytes())).boxed());
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Whether `body` opens a session: an `initialize` request (a batch is not one).
fn opens_a_session(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|message| message["method"] == "initialize")
}

/// Calls the `rmcp` service (it is always ready, and never fails).
async fn tower_call(
    service: &mut StreamableHttpService<McpServer, LocalSessionManager>,
    request: Request<Full<Bytes>>,
) -> Response<McpBody> {
    use tower_service::Service;
    match service.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A plain-text answer.
fn plain(status: StatusCode, text: &'static str) -> Response<McpBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response
}
