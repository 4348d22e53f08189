//! How `miwa call` prints a result: `--output json|compact|table|raw`.

use comfy_table::{presets, Table};
use serde_json::Value;

/// The forms `miwa call --output` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The result, pretty-printed JSON (the default).
    Json,
    /// The result, JSON on one line.
    Compact,
    /// Lists of records as a table (`ps`, `get_statistics`, `module_list`); other results
    /// as pretty JSON.
    Table,
    /// The whole reply as the daemon sent it (the JSON-RPC envelope), byte for byte.
    Raw,
}

/// `result` in `output`'s form (`raw` is printed from the reply text, not from here).
pub fn render(result: &Value, output: Output) -> String {
    match output {
        Output::Json | Output::Raw => serde_json::to_string_pretty(result).unwrap_or_default(),
        Output::Compact => result.to_string(),
        Output::Table => table(result)
            .unwrap_or_else(|| serde_json::to_string_pretty(result).unwrap_or_default()),
    }
}

/// A table of `result` when it is a list of records:
/// - an array of objects (a row each, a column per key in order of appearance);
/// - an object with one member holding such an array (`{"Processes":[…]}`);
/// - an object of scalars (`get_statistics`): a `name` and a `value` column.
///
/// `None` for any other shape.
pub fn table(result: &Value) -> Option<String> {
    match result {
        Value::Array(rows) => records(rows),
        Value::Object(members) if members.len() == 1 => match members.values().next() {
            Some(Value::Array(rows)) => records(rows),
            _ => pairs(result),
        },
        Value::Object(_) => pairs(result),
        _ => None,
    }
}

fn new_table(header: Vec<String>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::ASCII_MARKDOWN).set_header(header);
    table
}

/// A cell's text: strings as they are, other scalars as JSON, nested values compact.
fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn records(rows: &[Value]) -> Option<String> {
    if rows.is_empty() || !rows.iter().all(Value::is_object) {
        return None;
    }
    let mut columns: Vec<&str> = Vec::new();
    for row in rows {
        for key in row.as_object().into_iter().flat_map(|o| o.keys()) {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let mut table = new_table(columns.iter().map(|c| c.to_string()).collect());
    for row in rows {
        table.add_row(
            columns
                .iter()
                .map(|c| row.get(*c).map(cell).unwrap_or_default()),
        );
    }
    Some(table.to_string())
}

fn pairs(result: &Value) -> Option<String> {
    let members = result.as_object()?;
    if members.is_empty() || members.values().any(|v| v.is_array() || v.is_object()) {
        return None;
    }
    let mut table = new_table(vec!["name".into(), "value".into()]);
    for (name, value) in members {
        table.add_row(vec![name.clone(), cell(value)]);
    }
    Some(table.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_of_records_become_tables() {
        let ps = json!({"Processes": [
            {"ID": 0, "PID": 10, "Type": "main"},
            {"ID": 1, "PID": 11, "Type": "MI worker"}
        ]});
        assert_eq!(
            table(&ps).unwrap(),
            "| ID | PID | Type      |\n|----|-----|-----------|\n| 0  | 10  | main      |\n| 1  | 11  | MI worker |"
        );
        let stats = json!({"core:rcv_requests": 5, "shmem:free_size": 1024});
        assert_eq!(
            table(&stats).unwrap(),
            "| name              | value |\n|-------------------|-------|\n| core:rcv_requests | 5     |\n| shmem:free_size   | 1024  |"
        );
        let modules = json!({"Modules": [{"name": "health", "commands": ["a", "b"]}]});
        assert!(table(&modules)
            .unwrap()
            .contains(r#"| health | ["a","b"] |"#));
    }

    #[test]
    fn other_shapes_stay_json() {
        for result in [
            json!("text"),
            json!([1, 2]),
            json!({"a": {"b": 1}}),
            json!([]),
        ] {
            assert_eq!(table(&result), None, "{result}");
            assert_eq!(
                render(&result, Output::Table),
                serde_json::to_string_pretty(&result).unwrap()
            );
        }
        assert_eq!(render(&json!({"a": 1}), Output::Compact), r#"{"a":1}"#);
    }
}
