//! What a reply means: checked to answer its request ([`check`]), then read for the
//! command line ([`interpret`], [`node_entry`]).

use crate::link::LinkError;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A reply's shape, as far as matching it to its request needs (`result` and `error`:
/// present, whatever their value, `null` included).
#[derive(Deserialize)]
struct ReplyShape<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
}

/// `true` for a member that is there, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// Whether two JSON texts are the same value (numbers by value: `1e3` is `1000`).
fn same_json(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(Value::Number(x)), Ok(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Checks that `text` is a JSON-RPC reply whose id is `id` (a JSON text); `Ok(true)` for
/// an error reply.
pub fn check(text: &str, id: &str) -> Result<bool, LinkError> {
    let shape: ReplyShape<'_> = serde_json::from_str(text.trim()).map_err(|_| {
        let shown: String = text.chars().take(80).collect();
        LinkError::BadReply(format!("the reply is not JSON-RPC: {shown:?}"))
    })?;
    if !shape.result && !shape.error {
        return Err(LinkError::BadReply(
            "the reply has neither result nor error".into(),
        ));
    }
    let got = shape.id.map_or("null", |raw| raw.get());
    if !same_json(got, id) {
        return Err(LinkError::BadReply(format!(
            "the reply is for request id {got}, not {id}"
        )));
    }
    Ok(shape.error)
}

/// The id of a JSON-RPC request text, as a JSON text; `None` when it has none (a
/// notification) or is no JSON object.
pub(crate) fn request_id(request: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Request<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    serde_json::from_str::<Request<'_>>(request)
        .ok()?
        .id
        .map(|raw| raw.get().to_string())
}

/// Why a reply holds no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The reply is a JSON-RPC error: `code: message (data)`.
    #[error("{0}")]
    Mi(String),
    /// The reply is not a JSON-RPC reply.
    #[error("{0}")]
    Unreadable(String),
}

/// The entry of `node` in a `nodes_run` result: its result, or its error line.
pub fn node_entry(result: &Value, node: &str) -> Result<Value, ReplyError> {
    let entry = result
        .get(node)
        .ok_or_else(|| ReplyError::Unreadable(format!("the reply has no entry for node {node}")))?;
    match (entry.get("result"), entry.get("error")) {
        (Some(result), _) => Ok(result.clone()),
        (None, Some(error)) => interpret(&serde_json::json!({"error": error}).to_string()),
        _ => Err(ReplyError::Unreadable(format!(
            "the entry of node {node} has neither result nor error"
        ))),
    }
}

/// What a reply means for the command line: the result, or an error line.
pub fn interpret(reply: &str) -> Result<Value, ReplyError> {
    let value: Value = serde_json::from_str(reply.trim()).map_err(|e| {
        ReplyError::Unreadable(format!("could not decode the reply ({e}): {reply}"))
    })?;
    if let Some(error) = value.get("error").filter(|e| e.is_object()) {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(500);
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(ReplyError::Mi(match error.get("data") {
            Some(Value::String(data)) => format!("{code}: {message} ({data})"),
            Some(data) if !data.is_null() => format!("{code}: {message} ({data})"),
            _ => format!("{code}: {message}"),
        }));
    }
    value
        .get("result")
        .cloned()
        .ok_or_else(|| ReplyError::Unreadable("a reply without result or error".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_are_matched_by_id() {
        assert_eq!(
            check(r#"{"jsonrpc":"2.0","result":1,"id":7}"#, "7"),
            Ok(false)
        );
        assert!(check("{\n\t\"result\":\t{},\n\t\"id\":\t\"a\"\n}", r#""a""#).is_ok());
        assert!(matches!(
            check(r#"{"jsonrpc":"2.0","result":1,"id":8}"#, "7"),
            Err(LinkError::BadReply(_))
        ));
        assert!(check(r#"{"jsonrpc":"2.0","result":1"#, "7").is_err());
        assert!(check(r#"{"jsonrpc":"2.0","id":7}"#, "7").is_err());
        assert_eq!(
            check(r#"{"jsonrpc":"2.0","error":{},"id":1000}"#, "1e3"),
            Ok(true)
        );
        assert!(check(r#"{"jsonrpc":"2.0","result":null,"id":1}"#, "1").is_ok());
        assert_eq!(
            request_id(r#"{"jsonrpc":"2.0","id":"12","method":"ps"}"#).as_deref(),
            Some(r#""12""#)
        );
        assert_eq!(request_id(r#"{"jsonrpc":"2.0","method":"ps"}"#), None);
        assert_eq!(request_id("ps"), None);
    }

    #[test]
    fn reply_interpretation() {
        assert_eq!(
            interpret(r#"{"jsonrpc":"2.0","result":{"a":1},"id":"1"}"#),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            interpret(r#"{"jsonrpc":"2.0","result":null,"id":"1"}"#),
            Ok(Value::Null)
        );
        assert_eq!(
            interpret(
                r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Bad PID"},"id":"1"}"#
            ),
            Err(ReplyError::Mi("-32602: Invalid params (Bad PID)".into()))
        );
        assert_eq!(
            interpret(
                r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown MI command"},"id":"1"}"#
            ),
            Err(ReplyError::Mi("404: unknown MI command".into()))
        );
        assert!(matches!(
            interpret("400 Parse_error"),
            Err(ReplyError::Unreadable(_))
        ));
    }
}
