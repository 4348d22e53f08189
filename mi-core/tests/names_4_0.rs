//! OpenSIPS 4.0 names: every command answers to `<module>:<name>` beside its 3.6 name, a
//! bare local name one command has resolves to it, one several commands share answers
//! `-32001 Method ambiguous`, and `which <module>:` lists a module's 4.0 names.

mod support;

use support::{reply_text as text, FakeHost};

fn call(host: &FakeHost, method: &str, params: &str) -> String {
    text(
        host,
        &format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params},"id":1}}"#),
    )
}

#[test]
fn the_4_0_names_answer_as_the_3_6_ones() {
    let host = FakeHost::default();
    for (old, new, params) in [
        ("get_statistics", "statistics:get", r#"[["all"]]"#),
        ("list_statistics", "statistics:list", "[]"),
        ("list_tcp_conns", "tcp:list", "[]"),
        ("events_list", "evi:list", "[]"),
        ("subscribers_list", "evi:subscribers", "[]"),
        ("sr_list_status", "status_report:status", "[]"),
        ("sr_list_identifiers", "status_report:identifiers", "[]"),
        ("ps", "core:ps", "[]"),
        ("arg", "core:arg", "[]"),
        ("httpd_list_root_path", "httpd:list_root_path", "[]"),
    ] {
        assert_eq!(call(&host, new, params), call(&host, old, params), "{new}");
        assert!(!call(&host, new, params).contains("error"), "{new}");
    }
    assert_eq!(
        call(&host, "cache:store", r#"["local","k","v"]"#),
        r#"{"jsonrpc":"2.0","result":"OK","id":1}"#
    );
    assert_eq!(
        call(&host, "cache:fetch", r#"["local","k"]"#),
        call(&host, "cache_fetch", r#"["local","k"]"#)
    );
}

#[test]
fn a_bare_local_name_one_command_has_is_that_command() {
    let host = FakeHost::default();
    assert_eq!(
        call(&host, "reset_all", "[]"),
        call(&host, "reset_all_statistics", "[]")
    );
    assert_eq!(
        call(&host, "subscribers", "[]"),
        call(&host, "subscribers_list", "[]")
    );
    assert_eq!(
        call(&host, "store", r#"["local","a","b"]"#),
        r#"{"jsonrpc":"2.0","result":"OK","id":1}"#
    );
}

#[test]
fn a_bare_name_several_commands_share_is_ambiguous() {
    let host = FakeHost::default();
    assert_eq!(
        call(&host, "list", "[]"),
        r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Method ambiguous","data":"supported names: statistics:list, evi:list, tcp:list"},"id":1}"#
    );
    assert_eq!(
        call(&host, "get", "[]"),
        r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Method ambiguous","data":"supported names: statistics:get, status_report:get"},"id":1}"#
    );
    assert_eq!(
        call(&host, "nosuch", "[]"),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#
    );
    assert_eq!(
        call(&host, "nosuch:list", "[]"),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#
    );
}

#[test]
fn module_commands_take_part_in_the_ambiguity_rule() {
    let host = FakeHost::with_modules(true);
    assert_eq!(
        call(&host, "list", "[]"),
        r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Method ambiguous","data":"supported names: statistics:list, evi:list, tcp:list, echo:list"},"id":1}"#
    );
    call(&host, "echo:list", "[]");
    call(&host, "echo_raw", "[]");
    let calls = host.module_calls.borrow();
    let called: Vec<&str> = calls.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(called, ["list", "echo_raw"]);
}

#[test]
fn which_lists_a_module_s_4_0_names_and_keeps_the_3_6_list() {
    let host = FakeHost::with_module();
    assert_eq!(
        call(&host, "which", r#"["statistics:"]"#),
        r#"{"jsonrpc":"2.0","result":["statistics:get","statistics:list","statistics:reset","statistics:reset_all"],"id":1}"#
    );
    assert_eq!(
        call(&host, "which", r#"["echo:"]"#),
        r#"{"jsonrpc":"2.0","result":["echo:echo_params","echo:echo_raw"],"id":1}"#
    );
    assert_eq!(
        call(&host, "which", r#"["nosuch:"]"#),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown MI command"},"id":1}"#
    );
    assert_eq!(
        call(&host, "which", r#"["statistics:get"]"#),
        call(&host, "which", r#"["get_statistics"]"#)
    );
    let all = call(&host, "which", "[]");
    assert!(all.contains(r#""get_statistics""#), "{all}");
    assert!(!all.contains("statistics:get"), "{all}");
    assert_eq!(
        call(&host, "help", r#"["evi:raise"]"#),
        call(&host, "help", r#"["raise_event"]"#)
    );
}
