//! Typed introspection: `rpc.discover` answers an OpenRPC 1.3 document generated from the
//! registry and the loaded modules' descriptions.
//!
//! Each command is one method named by its 3.6 name, with its OpenSIPS 4.0 name in
//! `x-opensips-4-name`. A command's recipes (its alternative parameter sets) are merged
//! into one parameter list in positional order: a parameter every recipe has is
//! `required`; `x-recipes` lists the sets themselves, as `which <command>` does. The
//! schemas say what the core's getters accept ([`schema::ParamType`]); a module's
//! parameters carry the types its description gives, and none (`{}`) where it gives none.
//! The document lists only what the caller's role may run.

pub mod errors;
pub mod results;
pub mod schema;

use crate::access::Access;
use crate::host::{Host, ModuleCommand};
use crate::json::{object, Value};
use crate::registry::{Command, Registry};
use errors::ErrorEntry;
use schema::ParamType;

/// The method that answers the document (OpenRPC's service discovery method).
pub const DISCOVER: &str = "rpc.discover";

/// The OpenRPC specification version the document follows.
pub const OPENRPC_VERSION: &str = "1.3.2";

/// The OpenRPC document for a caller limited by `access` (`None`: everything).
pub fn document(registry: &Registry, host: &dyn Host, access: Option<&Access>) -> Value {
    let permits = |name: &str, module: &str| access.is_none_or(|a| a.permits(name, module));
    let core = registry
        .commands()
        .iter()
        .filter(|c| permits(c.name, c.module))
        .map(|c| core_method(registry, c));
    let modules = host
        .module_command_names(None)
        .into_iter()
        .filter_map(|name_4_0| Some((host.module_command(&name_4_0)?, name_4_0)))
        .filter(|(c, _)| permits(&c.name, &c.module))
        .map(|(c, name_4_0)| module_method(&c, &name_4_0));
    let build = host.build_info();
    document_of(
        &format!("{} Management Interface", build.name),
        &build.version,
        "OpenSIPS 3.6 Management Interface commands over JSON-RPC 2.0; each method also \
         answers to its OpenSIPS 4.0 name (x-opensips-4-name).",
        core.chain(modules).collect(),
    )
}

/// An OpenRPC document of `methods`, with its `info`.
pub fn document_of(title: &str, version: &str, description: &str, methods: Vec<Value>) -> Value {
    object([
        ("openrpc", Value::str(OPENRPC_VERSION)),
        (
            "info",
            object([
                ("title", Value::str(title)),
                ("version", Value::str(version)),
                ("description", Value::str(description)),
            ]),
        ),
        ("methods", Value::Array(methods)),
    ])
}

/// The method of a command known by its names and, perhaps, its recipes only (a front
/// node's): its parameters untyped (`{}`); without recipes, no parameters and
/// `x-params-unknown: true`.
pub fn untyped_method(
    name: &str,
    name_4_0: Option<&str>,
    module: Option<&str>,
    recipes: Option<&[Vec<String>]>,
) -> Value {
    let mut method = method(
        MethodFacts {
            name,
            name_4_0,
            module,
            help: None,
            named_only: false,
            recipes: recipes
                .unwrap_or_default()
                .iter()
                .map(|r| r.iter().map(String::as_str).collect())
                .collect(),
            errors: Vec::new(),
            result: None,
        },
        |_| ParamType::Any,
    );
    if let (None, Value::Object(members)) = (recipes, &mut method) {
        members.retain(|(key, _)| key != "x-recipes");
        members.push(("x-params-unknown".into(), Value::Bool(true)));
    }
    method
}

/// One parameter of a method: its name, type and whether every recipe has it.
struct Param {
    name: String,
    kind: ParamType,
    required: bool,
}

/// The parameters of all `recipes` in positional order (first appearance), each
/// required when every recipe has it.
fn merged_params(recipes: &[Vec<&str>], kind: impl Fn(&str) -> ParamType) -> Vec<Param> {
    let mut params: Vec<Param> = Vec::new();
    for name in recipes.iter().flatten() {
        if !params.iter().any(|p| p.name == *name) {
            params.push(Param {
                name: name.to_string(),
                kind: kind(name),
                required: recipes.iter().all(|r| r.contains(name)),
            });
        }
    }
    params
}

/// The facts every method object is built from.
struct MethodFacts<'a> {
    name: &'a str,
    name_4_0: Option<&'a str>,
    module: Option<&'a str>,
    help: Option<&'a str>,
    named_only: bool,
    recipes: Vec<Vec<&'a str>>,
    errors: Vec<ErrorEntry>,
    /// The result's JSON Schema text, when its shape is fixed.
    result: Option<&'static str>,
}

fn method(facts: MethodFacts<'_>, kind: impl Fn(&str) -> ParamType) -> Value {
    let params = merged_params(&facts.recipes, kind);
    let mut errors = Vec::new();
    if !params.is_empty() {
        errors.push(errors::INVALID_PARAMS);
    }
    errors.push(errors::FORBIDDEN);
    errors.extend(facts.errors);
    let mut members = vec![("name".to_string(), Value::str(facts.name))];
    if let Some(help) = facts.help.filter(|h| !h.is_empty()) {
        members.push(("summary".into(), Value::str(help)));
    }
    if let Some(module) = facts.module {
        members.push((
            "tags".to_string(),
            Value::Array(vec![object([("name", Value::str(module))])]),
        ));
    }
    members.extend([
        (
            "paramStructure".to_string(),
            Value::str(if facts.named_only {
                "by-name"
            } else {
                "either"
            }),
        ),
        (
            "params".to_string(),
            Value::Array(
                params
                    .into_iter()
                    .map(|p| {
                        object([
                            ("name", Value::String(p.name)),
                            ("required", Value::Bool(p.required)),
                            ("schema", p.kind.schema()),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "result".to_string(),
            object([
                ("name", Value::str("result")),
                (
                    "schema",
                    facts
                        .result
                        .and_then(|text| crate::json::parse(text.as_bytes(), 16).ok())
                        .map_or(Value::Object(Vec::new()), |(schema, _)| schema),
                ),
            ]),
        ),
        (
            "errors".to_string(),
            Value::Array(
                errors
                    .into_iter()
                    .map(|(code, message)| {
                        object([("code", Value::num(code)), ("message", Value::str(message))])
                    })
                    .collect(),
            ),
        ),
        (
            "x-recipes".to_string(),
            Value::Array(
                facts
                    .recipes
                    .iter()
                    .map(|r| Value::Array(r.iter().map(|p| Value::str(*p)).collect()))
                    .collect(),
            ),
        ),
    ]);
    if let Some(name_4_0) = facts.name_4_0 {
        members.push(("x-opensips-4-name".to_string(), Value::str(name_4_0)));
    }
    Value::Object(members)
}

fn core_method(registry: &Registry, command: &Command) -> Value {
    method(
        MethodFacts {
            name: command.name,
            name_4_0: Some(registry.name_4_0(command)),
            module: Some(command.module),
            help: command.help,
            named_only: command.named_only,
            recipes: command.recipes.iter().map(|r| r.params.to_vec()).collect(),
            errors: errors::of_core_command(command.name).to_vec(),
            result: results::of_core_command(command.name),
        },
        ParamType::of_core_param,
    )
}

fn module_method(command: &ModuleCommand, name_4_0: &str) -> Value {
    method(
        MethodFacts {
            name: &command.name,
            name_4_0: Some(name_4_0),
            module: Some(&command.module),
            help: command.help.as_deref(),
            named_only: command.named_only,
            recipes: command
                .recipes
                .iter()
                .map(|r| r.iter().map(String::as_str).collect())
                .collect(),
            errors: vec![errors::MODULE_FAILED],
            result: None,
        },
        |param| command.param_type(param),
    )
}
