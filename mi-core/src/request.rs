//! A JSON-RPC request read once, with the core's rules, and written back in one canonical
//! form.
//!
//! The rules are OpenSIPS's (`spec/jsonrpc.md`, the conformance recordings): the first
//! JSON value of the text is the request and whatever follows it is ignored; a NUL byte
//! ends the text; an envelope member (`jsonrpc`, `method`, `params`, `id`) is the *first*
//! member whose name matches case-insensitively, so `{"method":"kill","METHOD":"ps"}` is
//! a call of `kill`. Every reader of a request in miwa — the core, the front that routes
//! and forwards it, the audit log — reads it through [`Request::parse`], so they cannot
//! disagree about what it means; what a node or the core is then given is
//! [`Request::canonical`]: exactly one lowercase member of each kind, nothing after it,
//! numbers written so that they read back as the same `double`.

use crate::json::{self, ParseError, Value};

/// The `id` of a request, as it will be echoed.
#[derive(Debug, Clone, PartialEq)]
pub enum Id {
    /// No `id`: a notification.
    Absent,
    /// An `id` that can be echoed (a string, a number as its integer view, `null`).
    Echo(Value),
    /// An `id` of a type that cannot be echoed (a boolean, an array, an object).
    Unprintable,
}

impl Id {
    fn read(request: &Value) -> Id {
        match request.get_ci("id") {
            None => Id::Absent,
            Some(Value::String(text)) => Id::Echo(Value::String(text.clone())),
            Some(Value::Number(number)) => Id::Echo(Value::num(Value::int_view(*number))),
            Some(Value::Null) => Id::Echo(Value::Null),
            Some(_) => Id::Unprintable,
        }
    }
}

/// A valid call: a method, its parameters and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The `method`, as written.
    pub method: String,
    /// The `params`: absent, an array or an object (duplicate names kept, as OpenSIPS
    /// keeps them).
    pub params: Option<Value>,
    /// The `id`: absent (a notification) or one that can be echoed.
    pub id: Id,
}

/// One request object (or batch member).
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    /// A valid call.
    Call(Call),
    /// Not a valid request (not an object, no string `method`, `jsonrpc` not `"2.0"`,
    /// `params` neither array nor object, or an `id` that cannot be echoed): answered
    /// `-32600 Invalid Request` with this id.
    Invalid(Id),
}

impl Member {
    /// Reads one request object with the core's rules.
    pub fn read(value: &Value) -> Member {
        let id = Id::read(value);
        let jsonrpc_ok = matches!(value.get_ci("jsonrpc"), Some(Value::String(v)) if v == "2.0");
        let method = match value.get_ci("method") {
            Some(Value::String(name)) => Some(name),
            _ => None,
        };
        let params = match value.get_ci("params") {
            None => Some(None),
            Some(params @ (Value::Array(_) | Value::Object(_))) => Some(Some(params)),
            Some(_) => None,
        };
        let valid = matches!(value, Value::Object(_)) && jsonrpc_ok && id != Id::Unprintable;
        match (valid, method, params) {
            (true, Some(method), Some(params)) => Member::Call(Call {
                method: method.clone(),
                params: params.cloned(),
                id,
            }),
            _ => Member::Invalid(id),
        }
    }

    /// The call, when the member is valid.
    pub fn call(&self) -> Option<&Call> {
        match self {
            Member::Call(call) => Some(call),
            Member::Invalid(_) => None,
        }
    }

    /// The member's id.
    pub fn id(&self) -> &Id {
        match self {
            Member::Call(call) => &call.id,
            Member::Invalid(id) => id,
        }
    }

    /// Appends the canonical text of the member to `out`: for a call,
    /// `{"jsonrpc":"2.0","method":…,"params":…,"id":…}` (no `params` or `id` when absent);
    /// for an invalid member, the smallest request the core answers the same way.
    pub fn write_canonical(&self, out: &mut String) {
        match self {
            Member::Call(call) => call.write_canonical(out),
            Member::Invalid(Id::Absent) => out.push_str("{}"),
            Member::Invalid(Id::Unprintable) => out.push_str(r#"{"id":true}"#),
            Member::Invalid(Id::Echo(id)) => {
                out.push_str(r#"{"id":"#);
                json::write_exact(out, id);
                out.push('}');
            }
        }
    }

    /// The canonical text of the member alone.
    pub fn canonical(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write_canonical(&mut out);
        out
    }
}

impl Call {
    /// Appends the canonical text of the call to `out`.
    pub fn write_canonical(&self, out: &mut String) {
        self.write_as(&self.method, self.params.as_ref(), &self.id, out);
    }

    /// The canonical text of this call with another method, parameters and id (a call
    /// the front makes on the caller's behalf: a node's name for the command, a
    /// notification given an id of miwa's).
    pub fn text_as(&self, method: &str, params: Option<&Value>, id: &Id) -> String {
        let mut out = String::with_capacity(64);
        self.write_as(method, params, id, &mut out);
        out
    }

    fn write_as(&self, method: &str, params: Option<&Value>, id: &Id, out: &mut String) {
        out.push_str(r#"{"jsonrpc":"2.0","method":"#);
        json::write_exact(out, &Value::str(method));
        if let Some(params) = params {
            out.push_str(r#","params":"#);
            json::write_exact(out, params);
        }
        if let Id::Echo(id) = id {
            out.push_str(r#","id":"#);
            json::write_exact(out, id);
        }
        out.push('}');
    }

    /// The first parameter, by position or under one of `names` (first exact match),
    /// when it is a string.
    pub fn first_string(&self, names: &[&str]) -> Option<&str> {
        let found = match self.params.as_ref()? {
            Value::Array(values) => values.first(),
            Value::Object(members) => names
                .iter()
                .find_map(|name| members.iter().find(|(key, _)| key == name))
                .map(|(_, value)| value),
            _ => None,
        };
        match found? {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The parameter at `position` or named `name`, read as an integer (a number, or a
    /// string of digits), as the core's integer getter reads it.
    pub fn integer(&self, position: usize, name: &str) -> Option<i64> {
        let found = match self.params.as_ref()? {
            Value::Array(values) => values.get(position),
            Value::Object(members) => members.iter().find(|(key, _)| key == name).map(|(_, v)| v),
            _ => None,
        }?;
        match found {
            Value::Number(number) => Some(i64::from(Value::int_view(*number))),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }
    }

    /// Whether it has parameters that are not empty.
    pub fn has_params(&self) -> bool {
        match &self.params {
            Some(Value::Array(values)) => !values.is_empty(),
            Some(Value::Object(members)) => !members.is_empty(),
            _ => false,
        }
    }
}

/// A request text, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Not JSON, or nested deeper than allowed: `-32700 Parse error`.
    Unparsable(ParseError),
    /// One value (an object, or anything else, which is an invalid request).
    Single(Member),
    /// A non-empty array: a batch.
    Batch(Vec<Member>),
    /// `[]`: a single `-32600 Invalid Request`.
    EmptyBatch,
}

impl Request {
    /// Reads `text` with the core's rules (see the module's documentation); arrays and
    /// objects nested deeper than `max_depth` make it unparsable.
    pub fn parse(text: &[u8], max_depth: u32) -> Request {
        match json::parse(text, max_depth) {
            Err(error) => Request::Unparsable(error),
            Ok((Value::Array(members), _)) if members.is_empty() => Request::EmptyBatch,
            Ok((Value::Array(members), _)) => {
                Request::Batch(members.iter().map(Member::read).collect())
            }
            Ok((value, _)) => Request::Single(Member::read(&value)),
        }
    }

    /// The members (one for a single request, none when unparsable or an empty batch).
    pub fn members(&self) -> &[Member] {
        match self {
            Request::Single(member) => std::slice::from_ref(member),
            Request::Batch(members) => members,
            Request::Unparsable(_) | Request::EmptyBatch => &[],
        }
    }

    /// The canonical text: what the core or a node is given. An unparsable request is
    /// the empty text (its reply, `-32700` with `"id":null`, does not depend on it).
    pub fn canonical(&self) -> String {
        let mut out = String::with_capacity(64);
        match self {
            Request::Unparsable(_) => {}
            Request::EmptyBatch => out.push_str("[]"),
            Request::Single(member) => member.write_canonical(&mut out),
            Request::Batch(members) => {
                out.push('[');
                for (i, member) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    member.write_canonical(&mut out);
                }
                out.push(']');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        Request::parse(text.as_bytes(), 32).canonical()
    }

    #[test]
    fn the_first_case_insensitive_member_is_the_one_read_and_written() {
        for text in [
            r#"{"jsonrpc":"2.0","method":"kill","method":"uptime","id":3}"#,
            r#"{"jsonrpc":"2.0","method":"kill","mEthod":"uptime","id":3}"#,
            r#"{"JSONRPC":"2.0","METHOD":"kill","method":"uptime","ID":3,"id":4}"#,
            r#"{"jsonrpc":"2.0","method":"kill","id":3} {"jsonrpc":"2.0","method":"uptime","id":3}"#,
            "{\"jsonrpc\":\"2.0\",\"method\":\"kill\",\"id\":3}\0{\"method\":\"uptime\"}",
        ] {
            assert_eq!(
                canonical(text),
                r#"{"jsonrpc":"2.0","method":"kill","id":3}"#,
                "{text}"
            );
        }
        assert_eq!(
            canonical(r#"{"jsonrpc":"2.0","method":"x","params":[1],"PARAMS":[2],"id":"a"}"#),
            r#"{"jsonrpc":"2.0","method":"x","params":[1],"id":"a"}"#
        );
    }

    #[test]
    fn numbers_are_written_to_read_back_as_the_same_double() {
        for (text, written) in [
            (
                "[0.1,3.14159265358979,1e300,12345678901234567,0x10,-0]",
                "[0.1,3.14159265358979,1e300,12345678901234568,16,0]",
            ),
            ("[1e400,-1e400]", "[1e999,-1e999]"),
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"m","params":{text},"id":1}}"#);
            let expected = format!(r#"{{"jsonrpc":"2.0","method":"m","params":{written},"id":1}}"#);
            assert_eq!(canonical(&body), expected);
            let again = Request::parse(expected.as_bytes(), 32);
            assert_eq!(again, Request::parse(body.as_bytes(), 32));
        }
    }

    #[test]
    fn invalid_members_keep_their_answer() {
        assert_eq!(canonical("42"), "{}");
        assert_eq!(canonical(r#"{"method":"ps","id":7}"#), r#"{"id":7}"#);
        assert_eq!(
            canonical(r#"{"jsonrpc":"2.0","method":"ps","id":true}"#),
            r#"{"id":true}"#
        );
        assert_eq!(
            canonical(r#"{"jsonrpc":"2.0","method":"ps","params":5,"id":"x"}"#),
            r#"{"id":"x"}"#
        );
        assert_eq!(canonical("[]"), "[]");
        assert_eq!(
            canonical("[1,{\"jsonrpc\":\"2.0\",\"method\":\"ps\"}]"),
            r#"[{},{"jsonrpc":"2.0","method":"ps"}]"#
        );
        assert!(matches!(
            Request::parse(b"hello", 32),
            Request::Unparsable(_)
        ));
        assert_eq!(canonical("hello"), "");
    }
}
