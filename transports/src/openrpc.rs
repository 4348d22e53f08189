//! `GET /openrpc.json`: the OpenRPC document `rpc.discover` answers, for tools that read
//! a service description from a URL (OpenRPC playgrounds, client generators).
//!
//! Authenticated as route `mi`, like the JSON-RPC endpoint; the document lists what the
//! caller's role may run. `?node=<name>` asks for a node's document in front mode.

use crate::{Reply, Session, TransportKind};

/// The path the document is served at.
pub const OPENRPC_PATH: &str = "/openrpc.json";

/// The request that asks the dispatcher for the document.
const DISCOVER: &[u8] = br#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#;

/// What `GET /openrpc.json` answers: an HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 200 with the document; 404 when the target has no `rpc.discover` or is an unknown
    /// node; 403 when the role may not read it; 502 when a node gave no document; 500
    /// otherwise.
    pub status: u16,
    /// The document, or the JSON-RPC error that stood in its way.
    pub body: String,
}

/// The node named by `?node=` in `query`, if any.
pub fn node_of(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == "node")
        .map(|(_, value)| value.into_owned())
}

/// Asks `session` for its document and turns the reply into an HTTP answer.
pub async fn answer(session: &Session<'_>, pretty: bool) -> Answer {
    let text = match session
        .dispatch_async(TransportKind::Http, DISCOVER, false)
        .await
    {
        Reply::Text(text) | Reply::ParseError(text) => text,
        Reply::Nothing | Reply::Unprintable => {
            return Answer {
                status: 500,
                body: String::new(),
            }
        }
    };
    let reply: serde_json::Value = match serde_json::from_str(&text) {
        Ok(reply) => reply,
        Err(_) => {
            return Answer {
                status: 502,
                body: text,
            }
        }
    };
    if let Some(document) = reply.get("result") {
        let body = match pretty {
            true => serde_json::to_string_pretty(document),
            false => serde_json::to_string(document),
        };
        return Answer {
            status: 200,
            body: body.unwrap_or_default(),
        };
    }
    let error = reply.get("error").cloned().unwrap_or_default();
    let status = match error.get("code").and_then(serde_json::Value::as_i64) {
        Some(-32601) | Some(404) => 404,
        Some(403) => 403,
        Some(_) if session.node().is_some() => 502,
        _ => 500,
    };
    Answer {
        status,
        body: error.to_string(),
    }
}
