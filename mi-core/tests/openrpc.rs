//! `rpc.discover`: the OpenRPC document lists every command with its 4.0 name, its
//! recipes and typed parameters, and the types are the ones the getters enforce.

mod support;

use mi_core::json::{self, Value};
use mi_core::openrpc::schema::ParamType;
use mi_core::{Core, HandleOptions, Reply};
use support::FakeHost;

fn reply(host: &FakeHost, request: &str) -> Value {
    json::parse(support::reply_text(host, request).as_bytes(), 64)
        .unwrap()
        .0
}

/// A request of `method` with named parameters: each of `params` with the value `value`
/// gives it.
fn named_request(method: &str, params: &[&str], value: impl Fn(&str) -> &'static str) -> String {
    let members: Vec<String> = params
        .iter()
        .map(|&p| format!(r#""{p}":{}"#, value(p)))
        .collect();
    format!(
        r#"{{"jsonrpc":"2.0","method":"{method}","params":{{{}}},"id":1}}"#,
        members.join(",")
    )
}

fn discover(host: &FakeHost) -> Value {
    let answer = reply(host, r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#);
    answer.get_ci("result").cloned().expect("a result")
}

fn methods(document: &Value) -> &[Value] {
    match document.get_ci("methods") {
        Some(Value::Array(methods)) => methods,
        other => panic!("methods: {other:?}"),
    }
}

fn method<'d>(document: &'d Value, name: &str) -> &'d Value {
    methods(document)
        .iter()
        .find(|m| m.get_ci("name") == Some(&Value::str(name)))
        .unwrap_or_else(|| panic!("no method {name}"))
}

fn compact(value: Option<&Value>) -> String {
    json::to_compact(value.expect("a member"))
}

#[test]
fn every_command_is_a_method_with_its_4_0_name_and_recipes() {
    let host = FakeHost::with_module();
    let document = discover(&host);
    assert_eq!(document.get_ci("openrpc"), Some(&Value::str("1.3.2")));
    let core = Core::default();
    let names: Vec<&Value> = methods(&document)
        .iter()
        .map(|m| m.get_ci("name").unwrap())
        .collect();
    assert_eq!(names.len(), core.registry().commands().len() + 2);
    for (method, command) in methods(&document).iter().zip(core.registry().commands()) {
        assert_eq!(method.get_ci("name"), Some(&Value::str(command.name)));
        assert_eq!(
            method.get_ci("x-opensips-4-name"),
            Some(&Value::str(core.registry().name_4_0(command)))
        );
    }
    let log_level = method(&document, "log_level");
    assert_eq!(
        compact(log_level.get_ci("x-recipes")),
        r#"[[],["level"],["level","pid"]]"#
    );
    assert_eq!(
        compact(log_level.get_ci("params")),
        r#"[{"name":"level","required":false,"schema":{"type":["integer","string"],"pattern":"^[+-]?[0-9]+$"}},{"name":"pid","required":false,"schema":{"type":["integer","string"],"pattern":"^[+-]?[0-9]+$"}}]"#
    );
    let get = method(&document, "get_statistics");
    assert_eq!(
        get.get_ci("x-opensips-4-name"),
        Some(&Value::str("statistics:get"))
    );
    assert_eq!(
        compact(get.get_ci("params")),
        r#"[{"name":"statistics","required":true,"schema":{"type":"array","minItems":1,"items":{"type":["string","number"]}}}]"#
    );
    let echo = method(&document, "echo_params");
    assert_eq!(
        echo.get_ci("x-opensips-4-name"),
        Some(&Value::str("echo:echo_params"))
    );
    assert_eq!(
        compact(echo.get_ci("params")),
        r#"[{"name":"a","required":false,"schema":{}},{"name":"b","required":false,"schema":{}},{"name":"c","required":false,"schema":{}}]"#
    );
    assert!(
        compact(echo.get_ci("errors")).contains(r#"{"code":500,"message":"Module call failed"}"#)
    );
}

/// A value of `kind` that its getter accepts.
fn valid(kind: ParamType, name: &str) -> &'static str {
    match (kind, name) {
        (ParamType::Integer, "pid") => "100",
        (ParamType::Integer, _) => "3",
        (ParamType::StringArray, _) => r#"["all"]"#,
        (ParamType::EventParams, _) => r#"["x"]"#,
        (_, "system") => r#""local""#,
        (_, "event") => r#""E_CORE_THRESHOLD""#,
        (_, "socket") => r#""udp:127.0.0.1:9999""#,
        (_, "group") => r#""core""#,
        _ => r#""x""#,
    }
}

/// A value outside `kind`'s schema, and the error its getter answers.
fn wrong(kind: ParamType, name: &str) -> (&'static str, String) {
    match kind {
        ParamType::Integer => (r#""3a""#, format!("Bad type for parameter '{name}'")),
        ParamType::String => ("{}", format!("Bad type for parameter '{name}'")),
        ParamType::StringArray => (r#""all""#, format!("Bad type for parameter '{name}'")),
        ParamType::EventParams => ("5", "No Params".to_string()),
        ParamType::Any => ("null", String::new()),
    }
}

#[test]
fn each_core_parameter_type_is_the_one_its_getter_enforces() {
    let host = FakeHost::subscribed();
    let core = Core::default();
    let mut checked = 0;
    for command in core.registry().commands() {
        for recipe in &command.recipes {
            for &param in recipe.params {
                let kind = ParamType::of_core_param(param);
                if kind == ParamType::Any {
                    continue;
                }
                let (bad, expected) = wrong(kind, param);
                let request = named_request(command.name, recipe.params, |p| {
                    if p == param {
                        bad
                    } else {
                        valid(ParamType::of_core_param(p), p)
                    }
                });
                let answer = json::to_compact(&reply(&host, &request));
                assert!(
                    answer.contains(&expected),
                    "{request} answered {answer}, expected {expected}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "only {checked} parameters checked");
}

#[test]
fn values_the_schema_accepts_pass_the_getters() {
    let host = FakeHost::subscribed();
    let core = Core::default();
    for command in core.registry().commands() {
        for recipe in &command.recipes {
            let request = named_request(command.name, recipe.params, |p| {
                valid(ParamType::of_core_param(p), p)
            });
            let answer = json::to_compact(&reply(&host, &request));
            assert!(
                !answer.contains("Bad type") && !answer.contains("-32602"),
                "{request} answered {answer}"
            );
        }
    }
}

#[test]
fn discover_takes_no_parameters_and_answers_only_what_a_role_may_run() {
    let host = FakeHost::default();
    let answer = reply(
        &host,
        r#"{"jsonrpc":"2.0","method":"rpc.discover","params":["x"],"id":1}"#,
    );
    assert_eq!(
        compact(answer.get_ci("error")),
        r#"{"code":-32602,"message":"Invalid params","data":"rpc.discover takes no parameters"}"#
    );
    let access = mi_core::access::Access {
        role: "viewer".into(),
        allow: vec!["which".into(), "ps".into()],
        deny: Vec::new(),
    };
    let handled = Core::default().handle_as(
        &host,
        br#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#,
        HandleOptions::default(),
        Some(&access),
    );
    let Reply::Text(text) = handled.reply else {
        panic!("{:?}", handled.reply)
    };
    let document = json::parse(text.as_bytes(), 64).unwrap().0;
    let names: Vec<String> = methods(document.get_ci("result").unwrap())
        .iter()
        .map(|m| compact(m.get_ci("name")))
        .collect();
    assert_eq!(names, [r#""which""#, r#""ps""#, r#""whoami""#]);
}
