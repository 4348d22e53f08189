//! A JSON-RPC request as the front reads it: split into batch members, each with its
//! method and id found without decoding its parameters.

use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A request text: one member or a batch of them.
pub enum Parsed<'a> {
    /// One request object.
    Single(Member<'a>),
    /// A non-empty batch.
    Batch(Vec<&'a RawValue>),
    /// Anything else (not JSON, an empty batch, not an object): answered by miwa's core,
    /// which gives each its JSON-RPC error.
    Other,
}

/// One request object.
pub struct Member<'a> {
    /// The whole object's text.
    pub text: &'a str,
    /// Its `method`.
    pub method: String,
    /// Its `id`'s JSON text; `None` for a notification.
    pub id: Option<&'a str>,
    /// Its `params`' JSON text.
    pub params: Option<&'a str>,
}

/// Reads `request`: bytes after the first JSON value are ignored, as miwa's core does.
pub fn parse(request: &[u8]) -> Parsed<'_> {
    let Ok(text) = std::str::from_utf8(request) else {
        return Parsed::Other;
    };
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    let Some(Ok(value)) = values.next() else {
        return Parsed::Other;
    };
    member_or_batch(value)
}

fn member_or_batch(value: &RawValue) -> Parsed<'_> {
    let text = value.get();
    if text.starts_with('[') {
        return match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(members) if !members.is_empty() => Parsed::Batch(members),
            _ => Parsed::Other,
        };
    }
    member(value).map_or(Parsed::Other, Parsed::Single)
}

/// A batch member or single request as a [`Member`], when it is an object with a string
/// `method` and an `id` that can be echoed (member names are matched case-insensitively,
/// as OpenSIPS does).
pub fn member(value: &RawValue) -> Option<Member<'_>> {
    let text = value.get();
    let fields: BTreeMap<&str, &RawValue> = serde_json::from_str(text).ok()?;
    let find = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.get())
    };
    let method: String = serde_json::from_str(find("method")?).ok()?;
    let id = find("id");
    if let Some(id) = id {
        let echoable = id.starts_with('"')
            || id == "null"
            || id.starts_with(|c: char| c == '-' || c.is_ascii_digit());
        if !echoable {
            return None;
        }
    }
    Some(Member {
        text,
        method,
        id,
        params: find("params"),
    })
}

impl Member<'_> {
    /// The request text for the node: the member itself, or for a notification the same
    /// call with an id of miwa's (the node's answer tells it ran; the caller gets none).
    pub fn to_node(&self, method: &str, notification_id: &str) -> String {
        if method == self.method {
            if self.id.is_some() {
                return self.text.to_string();
            }
            let open = self.text.find('{').map_or(0, |i| i + 1);
            return format!(
                "{}\"id\":{notification_id},{}",
                &self.text[..open],
                &self.text[open..]
            );
        }
        self.call(method, self.params, notification_id)
    }

    /// A request of `method` with `params` (JSON text) and this member's id, or
    /// `notification_id` for a notification.
    pub fn call(&self, method: &str, params: Option<&str>, notification_id: &str) -> String {
        let method = serde_json::to_string(method).unwrap_or_default();
        let id = self.id.unwrap_or(notification_id);
        match params {
            Some(params) => {
                format!(r#"{{"jsonrpc":"2.0","method":{method},"params":{params},"id":{id}}}"#)
            }
            None => format!(r#"{{"jsonrpc":"2.0","method":{method},"id":{id}}}"#),
        }
    }

    /// The same request text with `method` in place of its method (for `miwa:<command>`).
    pub fn renamed(&self, method: &str) -> String {
        let Ok(mut fields) =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(self.text)
        else {
            return self.text.to_string();
        };
        for (key, value) in fields.iter_mut() {
            if key.eq_ignore_ascii_case("method") {
                *value = serde_json::Value::String(method.to_string());
            }
        }
        serde_json::Value::Object(fields).to_string()
    }

    /// The first parameter, by position or under one of `names`, when it is a string.
    pub fn first_param(&self, names: &[&str]) -> Option<String> {
        let params = self.params?;
        if params.starts_with('[') {
            let list: Vec<&RawValue> = serde_json::from_str(params).ok()?;
            return serde_json::from_str(list.first()?.get()).ok();
        }
        let fields: BTreeMap<&str, &RawValue> = serde_json::from_str(params).ok()?;
        names
            .iter()
            .find_map(|name| fields.get(name))
            .and_then(|value| serde_json::from_str(value.get()).ok())
    }

    /// The parameter at `position` or named `name`, when it is an integer.
    pub fn param_number(&self, position: usize, name: &str) -> Option<i64> {
        let params = self.params?;
        let value: serde_json::Value = serde_json::from_str(params).ok()?;
        let found = match &value {
            serde_json::Value::Array(list) => list.get(position),
            serde_json::Value::Object(members) => members.get(name),
            _ => None,
        }?;
        found
            .as_i64()
            .or_else(|| found.as_str().and_then(|s| s.parse().ok()))
    }

    /// Whether it has parameters that are not empty.
    pub fn has_params(&self) -> bool {
        self.params
            .is_some_and(|p| !matches!(p.trim(), "[]" | "{}" | "null"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_batches() {
        let Parsed::Single(m) = parse(br#"{"jsonrpc":"2.0","METHOD":"ps","id":"7"} trailing"#)
        else {
            panic!("a single request")
        };
        assert_eq!((m.method.as_str(), m.id), ("ps", Some("\"7\"")));
        assert!(
            matches!(parse(b"[{\"method\":\"ps\",\"id\":1},2]"), Parsed::Batch(b) if b.len() == 2)
        );
        assert!(matches!(parse(b"[]"), Parsed::Other));
        assert!(matches!(parse(b"{bad"), Parsed::Other));
        assert!(matches!(
            parse(br#"{"method":"ps","id":true}"#),
            Parsed::Other
        ));
        assert!(matches!(parse(br#"{"method":5,"id":1}"#), Parsed::Other));
    }

    #[test]
    fn notifications_get_an_id_for_the_node() {
        let Parsed::Single(m) = parse(br#"{"jsonrpc":"2.0","method":"log_level","params":[3]}"#)
        else {
            panic!("a single request")
        };
        assert_eq!(
            m.to_node("log_level", "\"n1\""),
            r#"{"id":"n1","jsonrpc":"2.0","method":"log_level","params":[3]}"#
        );
        assert_eq!(m.first_param(&["level"]), None);
        assert_eq!(
            m.renamed("x"),
            r#"{"jsonrpc":"2.0","method":"x","params":[3]}"#
        );
        let Parsed::Single(w) = parse(br#"{"method":"which","params":{"command":"ps"},"id":1}"#)
        else {
            panic!("a single request")
        };
        assert_eq!(w.first_param(&["command"]).as_deref(), Some("ps"));
        assert_eq!(
            w.to_node("system.methodHelp", "0"),
            r#"{"jsonrpc":"2.0","method":"system.methodHelp","params":{"command":"ps"},"id":1}"#
        );
    }
}
