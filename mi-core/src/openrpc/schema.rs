//! The JSON Schema of a parameter: what the core's getters accept.

use crate::json::{object, Value};

/// What a parameter's getter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// The `int` getter: a number (truncated) or a string of an optional sign and digits.
    Integer,
    /// The `string` getter: a string, or a number read as its integer text.
    String,
    /// The string-array getter: a non-empty array of strings (or numbers).
    StringArray,
    /// `raise_event`'s `params`: an array of unnamed values (strings or numbers), or a
    /// string holding a JSON object of named ones.
    EventParams,
    /// Any JSON value: a flag whose value is not read (`version revision`), or a parameter
    /// of a module or node that says nothing about it.
    Any,
}

/// The pattern of the strings the `int` getter reads.
pub const INTEGER_TEXT: &str = "^[+-]?[0-9]+$";

impl ParamType {
    /// The type of a core command's parameter. The core names its parameters consistently,
    /// so the name decides; `tests/openrpc_types.rs` checks every one against its getter.
    pub fn of_core_param(name: &str) -> ParamType {
        match name {
            "level" | "pid" | "expire" | "level_filter" | "log_level" | "mute_state" => {
                ParamType::Integer
            }
            "statistics" => ParamType::StringArray,
            "params" => ParamType::EventParams,
            "revision" => ParamType::Any,
            _ => ParamType::String,
        }
    }

    /// The name a module gives a type in its description (`integer`, `string`,
    /// `string-array`); anything else is [`ParamType::Any`].
    pub fn from_name(name: &str) -> ParamType {
        match name {
            "integer" => ParamType::Integer,
            "string" => ParamType::String,
            "string-array" => ParamType::StringArray,
            _ => ParamType::Any,
        }
    }

    /// The name forms and modules use: `integer`, `string`, `string-array`,
    /// `event-params`, `any`.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Integer => "integer",
            ParamType::String => "string",
            ParamType::StringArray => "string-array",
            ParamType::EventParams => "event-params",
            ParamType::Any => "any",
        }
    }

    /// The type whose [`ParamType::schema`] `schema` is (what a form reads back from an
    /// OpenRPC document); [`ParamType::Any`] for any other schema.
    pub fn of_schema(schema: &Value) -> ParamType {
        [
            ParamType::Integer,
            ParamType::String,
            ParamType::StringArray,
            ParamType::EventParams,
        ]
        .into_iter()
        .find(|kind| kind.schema() == *schema)
        .unwrap_or(ParamType::Any)
    }

    /// A form field's text as a value of this type: an integer as a number (kept as text
    /// when it is not one, for the getter to refuse), a string array split at blanks, a
    /// string as typed; event parameters and untyped values as JSON where they parse,
    /// else as text.
    pub fn value_of_field(self, text: &str) -> Value {
        match self {
            ParamType::Integer => text
                .trim()
                .parse::<i64>()
                .map_or_else(|_| Value::str(text), |n| Value::num(n as f64)),
            ParamType::String => Value::str(text),
            ParamType::StringArray => {
                Value::Array(text.split_whitespace().map(Value::str).collect())
            }
            ParamType::EventParams | ParamType::Any => {
                crate::json::parse(text.as_bytes(), crate::rpc::DEFAULT_MAX_DEPTH)
                    .map_or_else(|_| Value::str(text), |(value, _)| value)
            }
        }
    }

    /// The JSON Schema (draft 7) of the values this type accepts.
    pub fn schema(self) -> Value {
        let types = |names: &[&str]| Value::Array(names.iter().map(|n| Value::str(*n)).collect());
        match self {
            ParamType::Integer => object([
                ("type", types(&["integer", "string"])),
                ("pattern", Value::str(INTEGER_TEXT)),
            ]),
            ParamType::String => object([("type", types(&["string", "number"]))]),
            ParamType::StringArray => object([
                ("type", Value::str("array")),
                ("minItems", Value::num(1)),
                ("items", object([("type", types(&["string", "number"]))])),
            ]),
            ParamType::EventParams => object([(
                "oneOf",
                Value::Array(vec![
                    object([
                        ("type", Value::str("array")),
                        ("items", object([("type", types(&["string", "number"]))])),
                    ]),
                    object([
                        ("type", Value::str("string")),
                        ("contentMediaType", Value::str("application/json")),
                    ]),
                ]),
            )]),
            ParamType::Any => Value::Object(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_reads_back_as_its_type() {
        for kind in [
            ParamType::Integer,
            ParamType::String,
            ParamType::StringArray,
            ParamType::EventParams,
            ParamType::Any,
        ] {
            assert_eq!(
                ParamType::of_schema(&kind.schema()),
                kind,
                "{}",
                kind.name()
            );
        }
        assert_eq!(ParamType::of_schema(&Value::str("x")), ParamType::Any);
    }

    #[test]
    fn form_fields_become_values_of_their_type() {
        let compact =
            |kind: ParamType, text: &str| crate::json::to_compact(&kind.value_of_field(text));
        assert_eq!(compact(ParamType::Integer, " 4 "), "4");
        assert_eq!(compact(ParamType::Integer, "four"), r#""four""#);
        assert_eq!(compact(ParamType::String, "5"), r#""5""#);
        assert_eq!(
            compact(ParamType::StringArray, "core: shmem:"),
            r#"["core:","shmem:"]"#
        );
        assert_eq!(compact(ParamType::EventParams, r#"["a",5]"#), r#"["a",5]"#);
        assert_eq!(compact(ParamType::Any, "plain"), r#""plain""#);
    }
}
