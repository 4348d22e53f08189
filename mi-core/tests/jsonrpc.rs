//! Every table of the JSON-RPC specification, request text in, reply text out.

mod support;

use mi_core::{Core, HandleOptions, Host, Reply};
use support::FakeHost;

fn reply_with(host: &FakeHost, request: &str, options: HandleOptions) -> Reply {
    Core::default()
        .handle(host, request.as_bytes(), options)
        .reply
}

fn reply(request: &str) -> Reply {
    reply_with(&FakeHost::default(), request, HandleOptions::default())
}

fn text(request: &str) -> String {
    match reply(request) {
        Reply::Text(text) | Reply::ParseError(text) => text,
        other => panic!("{request}: expected a reply, got {other:?}"),
    }
}

fn error(code: i32, message: &str, data: Option<&str>, id: &str) -> String {
    let data = data
        .map(|d| format!(r#","data":"{d}""#))
        .unwrap_or_default();
    format!(
        r#"{{"jsonrpc":"2.0","error":{{"code":{code},"message":"{message}"{data}}},"id":{id}}}"#
    )
}

#[test]
fn worked_examples() {
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"ps","params":[1],"id":3}"#),
        error(
            -32602,
            "Invalid params",
            Some("Too few or too many parameters"),
            "3"
        )
    );
    assert_eq!(
        text(r#"{"jsonrpc":"1.0","method":"ps","id":4}"#),
        error(-32600, "Invalid Request", None, "4")
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"ps","id":1"#),
        error(-32700, "Parse error", None, "null")
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"nosuch","id":7}"#),
        error(-32601, "Method not found", None, "7")
    );
    assert_eq!(
        reply(r#"{"jsonrpc":"2.0","method":"nosuch"}"#),
        Reply::Nothing
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"log_level","params":["x4"],"id":13}"#),
        error(
            -32602,
            "Invalid params",
            Some("Bad type for parameter 'level'"),
            "13"
        )
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"get_statistics","params":[[]],"id":32}"#),
        error(
            -32602,
            "Invalid params",
            Some("Empty array in parameter 'statistics'"),
            "32"
        )
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"get_statistics","params":[[{"x":1}]],"id":33}"#),
        error(
            -32602,
            "Invalid params",
            Some("Bad type for array item in parameter 'statistics'"),
            "33"
        )
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"which","params":{"command":"nope"},"id":"a"}"#),
        error(404, "unknown MI command", None, r#""a""#)
    );
    assert_eq!(
        reply(r#"{"jsonrpc":"2.0","method":"ps","id":true}"#),
        Reply::Unprintable
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"get_statistics","params":["all"],"id":1}"#),
        error(
            -32602,
            "Invalid params",
            Some("Bad type for parameter 'statistics'"),
            "1"
        )
    );
}

#[test]
fn validation_rules() {
    let invalid = |id: &str| error(-32600, "Invalid Request", None, id);
    for bad_id in [r#"[1]"#, r#"{}"#, "true", "false"] {
        assert_eq!(
            reply(&format!(
                r#"{{"jsonrpc":"2.0","method":"ps","id":{bad_id}}}"#
            )),
            Reply::Unprintable,
            "id {bad_id}"
        );
    }
    assert_eq!(text(r#"{"method":"ps","id":1}"#), invalid("1"));
    assert_eq!(
        text(r#"{"jsonrpc":2.0,"method":"ps","id":1}"#),
        invalid("1")
    );
    assert_eq!(text(r#"{"jsonrpc":"2.0","id":1}"#), invalid("1"));
    assert_eq!(text(r#"{"jsonrpc":"2.0","method":5,"id":1}"#), invalid("1"));
    for params in [r#""x""#, "5", "null", "true"] {
        assert_eq!(
            text(&format!(
                r#"{{"jsonrpc":"2.0","method":"uptime","params":{params},"id":1}}"#
            )),
            invalid("1"),
            "params {params}"
        );
    }
    for top in ["42", "true", r#""s""#, "{}", "[]"] {
        assert_eq!(text(top), invalid("null"), "top-level {top}");
    }
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"","id":1}"#),
        error(-32601, "Method not found", None, "1")
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"UPTIME","id":1}"#),
        error(-32601, "Method not found", None, "1")
    );
    assert_eq!(text("hello"), error(-32700, "Parse error", None, "null"));
    assert_eq!(text("   "), error(-32700, "Parse error", None, "null"));
}

#[test]
fn error_precedence() {
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"no_such_cmd","params":"x","id":1}"#),
        error(-32600, "Invalid Request", None, "1")
    );
    assert_eq!(
        text(r#"{"jsonrpc":"1.0","method":"no_such_cmd","id":1}"#),
        error(-32600, "Invalid Request", None, "1")
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"no_such_cmd","params":[1,2,3],"id":1}"#),
        error(-32601, "Method not found", None, "1")
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"log_level","params":{"level":"abc"},"id":1}"#),
        error(
            -32602,
            "Invalid params",
            Some("Bad type for parameter 'level'"),
            "1"
        )
    );
}

#[test]
fn members_are_case_insensitive_and_first_wins() {
    assert!(text(r#"{"JSONRPC":"2.0","METHOD":"pwd","ID":8}"#).ends_with(r#""id":8}"#));
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"pwd","method":"ps","id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"WD":"/"},"id":1}"#
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"pwd","id":1}xyz"#),
        r#"{"jsonrpc":"2.0","result":{"WD":"/"},"id":1}"#
    );
    assert_eq!(
        text("{\"jsonrpc\":\"2.0\",\"method\":\"pwd\",\"id\":1}\0junk"),
        r#"{"jsonrpc":"2.0","result":{"WD":"/"},"id":1}"#
    );
}

#[test]
fn id_echo_rules() {
    let id_of = |id: &str| {
        let out = text(&format!(r#"{{"jsonrpc":"2.0","method":"pwd","id":{id}}}"#));
        out.rsplit_once(r#""id":"#)
            .map(|(_, id)| id.trim_end_matches('}').to_string())
            .unwrap()
    };
    assert_eq!(id_of("1.9"), "1");
    assert_eq!(id_of("1e12"), "2147483647");
    assert_eq!(id_of("-0"), "0");
    assert_eq!(id_of("0x10"), "16");
    assert_eq!(id_of("-7"), "-7");
    assert_eq!(id_of("null"), "null");
    assert_eq!(id_of(r#""""#), r#""""#);
    assert_eq!(id_of(r#""a\"b\u00e9\n""#), "\"a\\\"bé\\n\"");
}

#[test]
fn notifications_are_silent_except_for_parse_and_invalid() {
    assert_eq!(
        reply(r#"{"jsonrpc":"2.0","method":"uptime"}"#),
        Reply::Nothing
    );
    assert_eq!(
        reply(r#"{"jsonrpc":"2.0","method":"log_level","params":{"level":"abc"}}"#),
        Reply::Nothing
    );
    assert_eq!(
        text(r#"{"jsonrpc":"1.0","method":"uptime"}"#),
        error(-32600, "Invalid Request", None, "null")
    );
    assert_eq!(
        text(r#"{"jsonrpc":"2.0","method":"uptime","params":"x"}"#),
        error(-32600, "Invalid Request", None, "null")
    );
    let host = FakeHost::default();
    assert_eq!(
        reply_with(
            &host,
            r#"{"jsonrpc":"2.0","method":"log_level","params":[4]}"#,
            HandleOptions::default()
        ),
        Reply::Nothing
    );
    assert!(
        host.processes().iter().all(|p| p.log_level == 4),
        "a notification still runs its command"
    );
}

#[test]
fn recipes_and_getters_through_commands() {
    let host = FakeHost::default();
    let run = |request: &str| match reply_with(&host, request, HandleOptions::default()) {
        Reply::Text(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"log_level","params":{"level":3.7},"id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"New global log level":3},"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"log_level","params":{"level":"4","pid":101},"id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"Log level":4},"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"log_level","params":[2,999999],"id":1}"#),
        error(-32602, "Invalid params", Some("Bad PID"), "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"log_level","params":{"LEVEL":3},"id":1}"#),
        error(
            -32602,
            "Invalid params",
            Some("Named parameters do not match"),
            "1"
        )
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"which","params":{"command":"log_level"},"id":1}"#),
        r#"{"jsonrpc":"2.0","result":[[],["level"],["level","pid"]],"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"core:pwd","id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"WD":"/"},"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"statistics:pwd","id":1}"#),
        error(-32601, "Method not found", None, "1")
    );
    assert_eq!(
        run(
            r#"{"jsonrpc":"2.0","method":"get_statistics","params":[["shmem:","ps_calls","nope"]],"id":1}"#
        ),
        r#"{"jsonrpc":"2.0","result":{"shmem:total_size":4294967296,"commands:ps_calls":5},"id":1}"#
    );
    assert_eq!(
        run(
            r#"{"jsonrpc":"2.0","method":"list_statistics","params":[["core:","PS_CALLS"]],"id":1}"#
        ),
        r#"{"jsonrpc":"2.0","result":{"core:timestamp":"non-incremental","ps_calls":"incremental"},"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"reset_statistics","params":[["core:"]],"id":1}"#),
        error(404, "Statistics Not Found", None, "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"Now":"Thu Nov 26 21:34:53 2026","Up since":"Thu Nov 26 21:33:41 2026","Up time":"72 [sec]"},"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"version","params":["x"],"id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"Server":"miwa (0.1.0 (x86_64/linux))","git":"abc"},"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"cache_store","params":["local","k","v",-1],"id":1}"#),
        error(-32602, "Invalid params", Some("Negative expire value"), "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"cache_store","params":["","k","v"],"id":1}"#),
        error(-32602, "Invalid params", Some("Empty memory cache id"), "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"cache_fetch","params":["local","k"],"id":1}"#),
        error(400, "Value not found", None, "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"cache_fetch","params":["x","k"],"id":1}"#),
        error(500, "Cache fetch command failed", None, "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"sr_get_status","params":["core","ALL"],"id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"Readiness":true,"Status":1,"Details":"aggregated"},"id":1}"#
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"sr_get_status","params":["nope"],"id":1}"#),
        error(404, "Group not found", None, "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"raise_event","params":["E_NOPE"],"id":1}"#),
        error(404, "Event not registered", None, "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"raise_event","params":["E_CORE_THRESHOLD"],"id":1}"#),
        error(480, "Temporarily Unavailable", None, "1")
    );
    assert_eq!(
        run(r#"{"jsonrpc":"2.0","method":"kill","id":1}"#),
        r#"{"jsonrpc":"2.0","result":"OK","id":1}"#
    );
    assert_eq!(*host.shutdowns.borrow(), 1);
}

#[test]
fn batches_follow_json_rpc_2() {
    assert_eq!(
        text(
            r#"[{"jsonrpc":"2.0","method":"pwd","id":1},{"jsonrpc":"2.0","method":"pwd"},5,{"jsonrpc":"2.0","method":"nope","id":"b"}]"#
        ),
        format!(
            r#"[{{"jsonrpc":"2.0","result":{{"WD":"/"}},"id":1}},{},{}]"#,
            error(-32600, "Invalid Request", None, "null"),
            error(-32601, "Method not found", None, r#""b""#)
        )
    );
    assert_eq!(
        reply(r#"[{"jsonrpc":"2.0","method":"pwd"}]"#),
        Reply::Nothing
    );
    assert_eq!(text("[]"), error(-32600, "Invalid Request", None, "null"));
}

#[test]
fn pretty_printing_option() {
    let pretty = HandleOptions {
        pretty: true,
        ..HandleOptions::default()
    };
    let Reply::Text(out) = reply_with(
        &FakeHost::default(),
        r#"{"jsonrpc":"2.0","method":"pwd","id":1}"#,
        pretty,
    ) else {
        panic!()
    };
    assert_eq!(
        out,
        "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{\n\t\t\"WD\":\t\"/\"\n\t},\n\t\"id\":\t1\n}"
    );
}
