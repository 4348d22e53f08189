//! Explanations in words: which rule of the JSON-RPC layer produced an error reply, and why.

use mi_core::json::{self, ParseError, Value};
use mi_core::Registry;

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a single request object is -32600.
fn invalid_request(request: &Value) -> String {
    if !matches!(request, Value::Object(_)) {
        return format!(
            "Rule: a request must be a JSON object. This one is {}.",
            kind(request)
        );
    }
    match request.get_ci("jsonrpc") {
        None => return "Rule: a request must carry \"jsonrpc\": \"2.0\". This one has no jsonrpc member.".into(),
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => {
            return format!(
                "Rule: \"jsonrpc\" must be exactly the string \"2.0\". This one is {}{}.",
                kind(other),
                match other {
                    Value::String(s) => format!(" \"{s}\""),
                    _ => String::new(),
                }
            )
        }
    }
    match request.get_ci("method") {
        None => {
            return "Rule: a request must name its command in \"method\". This one has none.".into()
        }
        Some(Value::String(_)) => {}
        Some(other) => {
            return format!(
                "Rule: \"method\" must be a string. This one is {}.",
                kind(other)
            )
        }
    }
    if let Some(Value::Object(_) | Value::Array(_)) | None = request.get_ci("params") {
        if let Some(id @ (Value::Bool(_) | Value::Array(_) | Value::Object(_))) =
            request.get_ci("id")
        {
            return format!(
                "Rule: \"id\" must be a string, a number or null, so that it can be echoed. This one is {}.",
                kind(id)
            );
        }
        return "Rule: the request is not a valid JSON-RPC 2.0 request.".into();
    }
    format!(
        "Rule: \"params\" must be an array (positional) or an object (named). This one is {}.",
        kind(request.get_ci("params").unwrap_or(&Value::Null))
    )
}

fn recipes_text(registry: &Registry, method: &str) -> String {
    let Some(command) = registry.find(method) else {
        return String::new();
    };
    let forms: Vec<String> = command
        .recipe_names()
        .iter()
        .map(|names| {
            if names.is_empty() {
                "no parameters".to_string()
            } else {
                format!("[{}]", names.join(", "))
            }
        })
        .collect();
    format!(" '{method}' accepts: {}.", forms.join("; "))
}

fn params_count(request: &Value) -> usize {
    match request.get_ci("params") {
        Some(Value::Array(items)) => items.len(),
        Some(Value::Object(members)) => members.len(),
        _ => 0,
    }
}

/// Explains one reply object (a member of a batch reply, or the whole reply).
fn explain_reply(registry: &Registry, request: Option<&Value>, reply: &Value) -> Option<String> {
    let error = reply.get_ci("error")?;
    let code = match error.get_ci("code") {
        Some(Value::Number(n)) => Value::int_view(*n),
        _ => 0,
    };
    let text = |name| match error.get_ci(name) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let (message, data) = (text("message"), text("data"));
    let method = match request.and_then(|r| r.get_ci("method")) {
        Some(Value::String(m)) => m.clone(),
        _ => String::new(),
    };
    Some(match code {
        -32700 => "-32700 Parse error. Rule: the request text must be JSON. It is not, so nothing ran and the reply carries \"id\": null.".into(),
        -32600 => format!(
            "-32600 Invalid Request. {}",
            request.map_or_else(
                || "Rule: an empty batch ([]) is not a request.".to_string(),
                invalid_request
            )
        ),
        -32601 => format!(
            "-32601 Method not found. Rule: \"method\" must name a registered command, exactly (names are case-sensitive; `module:command` also works). No command is called '{method}'; `which` lists them."
        ),
        -32602 => {
            let why = match data.as_str() {
                "Too few or too many parameters" => format!(
                    "Rule: the parameters must match one of the command's recipes by count. This call gave {}.{}",
                    request.map_or(0, params_count),
                    recipes_text(registry, &method)
                ),
                "Ambiguous call, use named parameters instead" => format!(
                    "Rule: positional parameters pick the recipe by count alone, and two recipes have this many. Name the parameters to choose.{}",
                    recipes_text(registry, &method)
                ),
                "Named parameters do not match" => format!(
                    "Rule: named parameters must be exactly the names of one recipe (no more, no fewer).{}",
                    recipes_text(registry, &method)
                ),
                "Command only supports named parameters" => {
                    "Rule: this command accepts named parameters only: send params as an object.".into()
                }
                other => format!(
                    "The recipe matched, then the command refused a value: {other}. Numbers may be sent as numbers or numeric strings; arrays must not be empty."
                ),
            };
            format!("-32602 Invalid params. {why}")
        }
        -32000 => format!("-32000 Server error: {data}. The command could not produce a result."),
        _ => format!(
            "{code} {message}{}. The request was valid and the command ran: this error is the command's own answer.",
            if data.is_empty() { String::new() } else { format!(" ({data})") }
        ),
    })
}

/// Explains `reply` (a reply text) to `request` (the request text), in words; empty when
/// the reply holds no error.
pub fn explain(registry: &Registry, request: &str, reply: &str) -> String {
    let parsed = json::parse(request.as_bytes(), mi_core::rpc::DEFAULT_MAX_DEPTH);
    let request = match parsed {
        Err(ParseError::TooDeep) => {
            return format!(
                "-32700 Parse error. Rule: requests may nest arrays and objects at most {} levels deep; this one nests deeper.",
                mi_core::rpc::DEFAULT_MAX_DEPTH
            )
        }
        Err(ParseError::Syntax) => {
            return "-32700 Parse error. Rule: the request text must be JSON. It is not (check quotes, commas and brackets), so nothing ran and the reply carries \"id\": null.".into()
        }
        Ok((value, _)) => value,
    };
    let Ok((reply, _)) = json::parse(reply.as_bytes(), 512) else {
        return String::new();
    };
    match (&request, &reply) {
        (Value::Array(requests), Value::Array(replies)) => {
            let requests: Vec<&Value> = requests
                .iter()
                .filter(|r| !matches!(r, Value::Object(_)) || r.get_ci("id").is_some())
                .collect();
            replies
                .iter()
                .enumerate()
                .filter_map(|(i, reply)| {
                    explain_reply(registry, requests.get(i).copied(), reply)
                        .map(|text| format!("Batch member {}: {text}", i + 1))
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        (Value::Array(members), _) if members.is_empty() => {
            explain_reply(registry, None, &reply).unwrap_or_default()
        }
        _ => explain_reply(registry, Some(&request), &reply).unwrap_or_default(),
    }
}
