//! The MI value tree and its cJSON-compatible text form.
//!
//! OpenSIPS parses and prints JSON with its own fork of an old cJSON. Its leniencies
//! (hexadecimal numbers, prefix-matched literals, raw control characters, duplicate keys)
//! and its number printer are observable on the wire, so miwa keeps them: no general-purpose
//! JSON crate reproduces them.

mod parse;
mod print;

pub use parse::{parse, ParseError};
pub use print::{push_int, to_compact, to_pretty, write_compact, write_exact, write_pretty};

/// One JSON value. Objects keep member order and may hold duplicate keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number; cJSON keeps every number as a C `double`.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: members in insertion order, duplicates allowed.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object, matched ASCII case-insensitively, first occurrence.
    pub fn get_ci(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The integer view of a number, as cJSON keeps it: truncated toward zero and
    /// saturated to the `i32` range (NaN reads as 0).
    pub fn int_view(number: f64) -> i32 {
        number as i32
    }

    /// Builds a string value.
    pub fn str(text: impl Into<String>) -> Value {
        Value::String(text.into())
    }

    /// Builds a number value from anything that converts losslessly enough to `f64`.
    pub fn num(number: impl Into<f64>) -> Value {
        Value::Number(number.into())
    }
}

/// Builds an object value from `(key, value)` pairs, keeping their order.
pub fn object<K: Into<String>>(members: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
}
