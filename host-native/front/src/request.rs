//! A request as the front reads it: the core's reading ([`mi_core::request`]), and the
//! texts the front writes from it for a node or for miwa's own core.

use mi_core::json::{self, Value};
pub use mi_core::request::{Call, Id, Member, Request};

/// The JSON text of an id that can be echoed (`None` for a notification's or an
/// unprintable one).
pub fn id_text(id: &Id) -> Option<String> {
    match id {
        Id::Echo(value) => {
            let mut out = String::new();
            json::write_exact(&mut out, value);
            Some(out)
        }
        Id::Absent | Id::Unprintable => None,
    }
}

/// An id of miwa's own, for a call the caller sent as a notification (the node's answer
/// tells it ran; the caller gets none).
pub(crate) fn notification_id(sequence: u64) -> Id {
    Id::Echo(Value::String(format!("miwa-n{sequence}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(text: &str) -> Call {
        match Request::parse(text.as_bytes(), 32) {
            Request::Single(Member::Call(call)) => call,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn what_a_node_is_sent_is_written_from_the_reading() {
        let kill = call(r#"{"jsonrpc":"2.0","method":"kill","METHOD":"uptime","id":3} x"#);
        assert_eq!(kill.method, "kill");
        let id = kill.id.clone();
        assert_eq!(
            kill.text_as(&kill.method, kill.params.as_ref(), &id),
            r#"{"jsonrpc":"2.0","method":"kill","id":3}"#
        );
        let level = call(r#"{"jsonrpc":"2.0","method":"log_level","params":[3]}"#);
        assert_eq!(
            level.text_as("log_level", level.params.as_ref(), &notification_id(1)),
            r#"{"jsonrpc":"2.0","method":"log_level","params":[3],"id":"miwa-n1"}"#
        );
        assert_eq!(id_text(&id).as_deref(), Some("3"));
        let which = call(
            r#"{"jsonrpc":"2.0","method":"which","params":{"command":"ps","command":"kill"},"id":1}"#,
        );
        assert_eq!(which.first_string(&["command"]), Some("ps"));
    }
}
