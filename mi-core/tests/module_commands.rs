//! Module commands through the JSON-RPC layer: recipe matching and errors like core
//! commands, positional parameters named by the recipe, `which`/`help`, results checked.

mod support;

use support::{reply_text as text, FakeHost};

#[test]
fn module_commands_match_recipes_like_core_commands() {
    let host = FakeHost::with_module();
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"echo_params","params":[1,"x"],"id":1}"#
        ),
        r#"{"jsonrpc":"2.0","result":{"a":1,"b":"x"},"id":1}"#
    );
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"echo:echo_params","params":{"c":[true]},"id":2}"#
        ),
        r#"{"jsonrpc":"2.0","result":{"c":[true]},"id":2}"#
    );
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"echo_params","params":[1,2,3],"id":3}"#
        ),
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Too few or too many parameters"},"id":3}"#
    );
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"echo_params","params":{"a":1,"z":2},"id":4}"#
        ),
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Named parameters do not match"},"id":4}"#
    );
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"other:echo_params","id":5}"#
        ),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":5}"#
    );
    assert_eq!(
        host.module_calls.borrow().as_slice(),
        [
            (
                "echo".into(),
                "echo_params".into(),
                r#"{"a":1,"b":"x"}"#.into()
            ),
            (
                "echo".into(),
                "echo_params".into(),
                r#"{"c":[true]}"#.into()
            ),
        ],
        "only matched calls reach the module"
    );
}

#[test]
fn a_result_that_is_not_json_is_an_error() {
    let host = FakeHost::with_module();
    assert_eq!(
        text(&host, r#"{"jsonrpc":"2.0","method":"echo_raw","id":1}"#),
        r#"{"jsonrpc":"2.0","error":{"code":500,"message":"module 'echo' returned a result that is not JSON (or nested deeper than 128)"},"id":1}"#
    );
}

#[test]
fn which_and_help_describe_module_commands() {
    let host = FakeHost::with_module();
    let which = text(&host, r#"{"jsonrpc":"2.0","method":"which","id":1}"#);
    assert!(
        which.ends_with(r#""module_reload","whoami","echo_params","echo_raw"],"id":1}"#),
        "{which}"
    );
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"which","params":["echo_params"],"id":1}"#
        ),
        r#"{"jsonrpc":"2.0","result":[["a","b"],["c"]],"id":1}"#
    );
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"help","params":["echo_raw"],"id":1}"#
        ),
        r#"{"jsonrpc":"2.0","result":{"Help":"echo_raw help","Exported by":"echo"},"id":1}"#
    );
}

#[test]
fn a_host_without_modules_knows_no_module_commands() {
    let host = FakeHost::default();
    assert_eq!(
        text(
            &host,
            r#"{"jsonrpc":"2.0","method":"module_load","params":["x"],"id":1}"#
        ),
        r#"{"jsonrpc":"2.0","error":{"code":404,"message":"module 'x' is not declared"},"id":1}"#
    );
    assert_eq!(
        text(&host, r#"{"jsonrpc":"2.0","method":"module_list","id":1}"#),
        r#"{"jsonrpc":"2.0","result":{"Modules":[]},"id":1}"#
    );
}
