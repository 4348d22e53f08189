//! The mi_script command-string form: `command arg1 arg2` (positional strings) or
//! `command name=value …` (named; `name=__array(a b c)` gives an array), and mi_script's
//! return-code rules. Shared by the `miwa script` runner and the modules' `mi()` call.

use crate::json::{self, Value};

/// One parsed call.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptCall {
    /// The command name.
    pub command: String,
    /// `None` (no arguments), an array (positional) or an object (named).
    pub params: Option<Value>,
}

fn named_pair(token: &str) -> Option<(&str, &str)> {
    let (name, value) = token.split_once('=')?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    valid.then_some((name, value))
}

/// Splits on whitespace, keeping `__array( … )` groups whole.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for word in text.split_whitespace() {
        if open {
            let last = out.last_mut().expect("an open group has a token");
            last.push(' ');
            last.push_str(word);
            open = !word.ends_with(')');
        } else {
            open = word.contains("=__array(") && !word.ends_with(')');
            out.push(word.to_string());
        }
    }
    out
}

fn named_value(value: &str) -> Value {
    match value
        .strip_prefix("__array(")
        .and_then(|v| v.strip_suffix(')'))
    {
        Some(items) => Value::Array(items.split_whitespace().map(Value::str).collect()),
        None => Value::str(value),
    }
}

/// Parses one line; `None` for a blank line or a `#` comment.
pub fn parse_line(line: &str) -> Option<ScriptCall> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (command, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let args = tokens(rest);
    let params = if args.is_empty() {
        None
    } else if args.iter().all(|a| named_pair(a).is_some()) {
        Some(Value::Object(
            args.iter()
                .filter_map(|a| named_pair(a))
                .map(|(name, value)| (name.to_string(), named_value(value)))
                .collect(),
        ))
    } else {
        Some(Value::Array(args.into_iter().map(Value::String).collect()))
    };
    Some(ScriptCall {
        command: command.to_string(),
        params,
    })
}

impl ScriptCall {
    /// The JSON-RPC request text of the call.
    pub fn request(&self, id: u32) -> String {
        let mut members = vec![
            ("jsonrpc", Value::str("2.0")),
            ("method", Value::str(self.command.clone())),
        ];
        if let Some(params) = &self.params {
            members.push(("params", params.clone()));
        }
        members.push(("id", Value::num(id)));
        json::to_compact(&json::object(members))
    }
}

/// What mi_script returns for a reply: `$rc` and the return variable.
///
/// Success: 1 and the compact JSON of `result`. An MI error: the code negated when
/// positive (404 → -404), as is when negative, -1 for an unknown command (with an empty
/// text), and the error `message`. A reply that is not JSON-RPC: -3.
pub fn outcome(reply: &str) -> (i32, String) {
    let Ok((Value::Object(members), _)) =
        json::parse(reply.as_bytes(), crate::rpc::DEFAULT_MAX_DEPTH)
    else {
        return (-3, "no usable reply".into());
    };
    if let Some((_, error)) = members.iter().find(|(k, _)| k == "error") {
        let code = match error.get_ci("code") {
            Some(Value::Number(n)) => Value::int_view(*n),
            _ => return (-3, "error without code".into()),
        };
        if code == -32601 {
            return (-1, String::new());
        }
        let message = match error.get_ci("message") {
            Some(Value::String(m)) => m.clone(),
            _ => String::new(),
        };
        return (if code > 0 { -code } else { code }, message);
    }
    match members.iter().find(|(k, _)| k == "result") {
        Some((_, result)) => (1, json::to_compact(result)),
        None => (-3, "reply without result".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_strings() {
        assert_eq!(parse_line("  # comment"), None);
        assert_eq!(parse_line(""), None);
        assert_eq!(
            parse_line("uptime"),
            Some(ScriptCall {
                command: "uptime".into(),
                params: None
            })
        );
        let positional = parse_line("cache_store  local k1   v1").unwrap();
        assert_eq!(
            positional.request(7),
            r#"{"jsonrpc":"2.0","method":"cache_store","params":["local","k1","v1"],"id":7}"#
        );
        let named = parse_line("log_level level=4").unwrap();
        assert_eq!(
            named.request(1),
            r#"{"jsonrpc":"2.0","method":"log_level","params":{"level":"4"},"id":1}"#
        );
        let array =
            parse_line("get_statistics statistics=__array(rcv_requests shmem:total_size)").unwrap();
        assert_eq!(
            array.request(1),
            r#"{"jsonrpc":"2.0","method":"get_statistics","params":{"statistics":["rcv_requests","shmem:total_size"]},"id":1}"#
        );
        let mixed = parse_line("log_level level=4 9").unwrap();
        assert_eq!(
            mixed.params,
            Some(Value::Array(vec![Value::str("level=4"), Value::str("9")]))
        );
    }

    #[test]
    fn return_codes() {
        assert_eq!(
            outcome(r#"{"jsonrpc":"2.0","result":"OK","id":1}"#),
            (1, r#""OK""#.into())
        );
        assert_eq!(
            outcome(r#"{"jsonrpc":"2.0","result":null,"id":1}"#),
            (1, "null".into())
        );
        assert_eq!(
            outcome(r#"{"jsonrpc":"2.0","error":{"code":400,"message":"Value not found"},"id":1}"#),
            (-400, "Value not found".into())
        );
        assert_eq!(
            outcome(
                r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"x"},"id":1}"#
            ),
            (-32602, "Invalid params".into())
        );
        assert_eq!(
            outcome(
                r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#
            ),
            (-1, String::new())
        );
        assert_eq!(outcome("400 Parse_error").0, -3);
    }
}
