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
