//! MI errors: the JSON-RPC level codes and the command-level ones.

use crate::json::{object, Value};

/// An MI error reply: an integer code, a message and optional details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiError {
    /// JSON-RPC (-327xx, -32000) or command-level (HTTP-like 400, 404, 500…) code.
    pub code: i32,
    /// The message, exact as OpenSIPS words it.
    pub message: String,
    /// Details, printed as `data` when present.
    pub data: Option<String>,
}

impl MiError {
    /// A command-level error without details (`init_mi_error`).
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        MiError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// An error with details (`init_mi_error_extra`).
    pub fn with_data(code: i32, message: impl Into<String>, data: impl Into<String>) -> Self {
        MiError {
            code,
            message: message.into(),
            data: Some(data.into()),
        }
    }

    /// -32700 `Parse error`.
    pub fn parse_error() -> Self {
        Self::new(-32700, "Parse error")
    }

    /// -32600 `Invalid Request`.
    pub fn invalid_request() -> Self {
        Self::new(-32600, "Invalid Request")
    }

    /// -32601 `Method not found`.
    pub fn method_not_found() -> Self {
        Self::new(-32601, "Method not found")
    }

    /// -32602 `Invalid params` with the given details.
    pub fn invalid_params(data: impl Into<String>) -> Self {
        Self::with_data(-32602, "Invalid params", data)
    }

    /// -32000 `Server error` with the given details.
    pub fn server_error(data: impl Into<String>) -> Self {
        Self::with_data(-32000, "Server error", data)
    }

    /// -32000 for a handler that produced no reply at all.
    pub fn handler_returned_null() -> Self {
        Self::server_error("Command handler returned null")
    }

    /// The `error` member of a reply: `{"code":…,"message":…[,"data":…]}`.
    pub fn to_value(&self) -> Value {
        let mut members = vec![
            ("code", Value::num(self.code)),
            ("message", Value::str(self.message.clone())),
        ];
        if let Some(data) = &self.data {
            members.push(("data", Value::str(data.clone())));
        }
        object(members)
    }
}
