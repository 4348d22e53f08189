//! The request of a command line: `params` built by opensips-cli's rules, and the
//! request text.

use serde_json::{json, Value};

/// Commands whose parameter at (index, name) is an array (opensips-cli's table).
const ARRAY_PARAMS: [(&str, usize, &str); 9] = [
    ("get_statistics", 0, "statistics"),
    ("list_statistics", 0, "statistics"),
    ("reset_statistics", 0, "statistics"),
    ("raise_event", 1, "params"),
    ("trace_start", 0, "filter"),
    ("dlg_push_var", 2, "DID"),
    ("fs_subscribe", 1, "events"),
    ("fs_unsubscribe", 1, "events"),
    ("cluster_broadcast_mi", 2, "cmd_params"),
];

fn is_named(arg: &str) -> bool {
    match arg.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => false,
    }
}

/// Builds `params` from command-line arguments with opensips-cli's rules: all `name=value`
/// → named; otherwise positional strings; array parameters gather the rest; with `json`,
/// positional values are JSON-decoded where they parse.
pub fn build_params(command: &str, args: &[String], json_values: bool) -> Value {
    let array = ARRAY_PARAMS.iter().find(|(c, _, _)| *c == command);
    if args.is_empty() {
        return json!({});
    }
    if args.iter().all(|a| is_named(a)) {
        let mut named = serde_json::Map::new();
        for arg in args {
            let (name, value) = arg.split_once('=').expect("checked by is_named");
            let value = match array {
                Some((_, _, array_name)) if *array_name == name && !json_values => Value::Array(
                    value
                        .split_whitespace()
                        .map(|v| Value::String(v.into()))
                        .collect(),
                ),
                _ => Value::String(value.into()),
            };
            named.insert(name.to_string(), value);
        }
        return Value::Object(named);
    }
    let decode = |arg: &String| {
        if json_values {
            serde_json::from_str(arg).unwrap_or_else(|_| Value::String(arg.clone()))
        } else {
            Value::String(arg.clone())
        }
    };
    match array {
        Some((_, index, _)) if !json_values && args.len() > *index => {
            let mut values: Vec<Value> = args[..*index].iter().map(decode).collect();
            values.push(Value::Array(
                args[*index..]
                    .iter()
                    .map(|a| Value::String(a.clone()))
                    .collect(),
            ));
            Value::Array(values)
        }
        _ => Value::Array(args.iter().map(decode).collect()),
    }
}

/// The request text sent for a command.
pub fn request_body(command: &str, params: &Value) -> String {
    let id = std::process::id() % 32768;
    json!({"jsonrpc": "2.0", "id": id.to_string(), "method": command, "params": params}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn opensips_cli_parameter_rules() {
        assert_eq!(build_params("ps", &[], false), json!({}));
        assert_eq!(
            build_params("log_level", &args(&["level=4"]), false),
            json!({"level": "4"})
        );
        assert_eq!(
            build_params("log_level", &args(&["4", "123"]), false),
            json!(["4", "123"])
        );
        assert_eq!(
            build_params("log_level", &args(&["level=4", "9"]), false),
            json!(["level=4", "9"])
        );
        assert_eq!(
            build_params("get_statistics", &args(&["core:", "shmem:"]), false),
            json!([["core:", "shmem:"]])
        );
        assert_eq!(
            build_params("get_statistics", &args(&["statistics=load: net:"]), false),
            json!({"statistics": ["load:", "net:"]})
        );
        assert_eq!(
            build_params("raise_event", &args(&["E_X", "a", "b"]), false),
            json!(["E_X", ["a", "b"]])
        );
        assert_eq!(
            build_params("raise_event", &args(&["E_X", "[\"a\", 5]"]), true),
            json!(["E_X", ["a", 5]])
        );
    }
}
