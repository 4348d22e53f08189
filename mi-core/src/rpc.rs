//! The JSON-RPC 2.0 layer: validation, error precedence, `id` echo, notifications, batches.

use crate::access::Access;
use crate::error::MiError;
use crate::host::{Host, ModuleCommand};
use crate::json::{self, Value};
use crate::names::Resolved;
use crate::params::{match_recipe, Params, RawParams};
use crate::registry::{Context, Registry};

/// Options of one `handle` call.
#[derive(Debug, Clone, Copy)]
pub struct HandleOptions {
    /// Print replies in cJSON's pretty form instead of compact.
    pub pretty: bool,
    /// Deepest array/object nesting accepted in a request.
    pub max_depth: u32,
}

impl Default for HandleOptions {
    fn default() -> Self {
        HandleOptions {
            pretty: false,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Default nesting limit of requests.
pub const DEFAULT_MAX_DEPTH: u32 = 128;

/// What a transport must send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A JSON-RPC reply text.
    Text(String),
    /// The request is not JSON: the -32700 reply text (datagram transports answer the
    /// plain text `400 Parse_error` instead, as OpenSIPS does).
    ParseError(String),
    /// Nothing (a notification).
    Nothing,
    /// The request's `id` has a type that cannot be echoed: the transport's own failure
    /// (HTTP 500, FIFO `failed to print response`, datagram `500 Internal error`).
    Unprintable,
}

/// The outcome of one command call, for per-command statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The command name as registered.
    pub command: String,
    /// The error code when the call failed.
    pub error: Option<i32>,
}

/// A handled request: the reply plus the commands it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// What to send back.
    pub reply: Reply,
    /// Commands that were looked up (batches run several).
    pub calls: Vec<CallRecord>,
}

/// The `id` of a request, as it will be echoed.
enum Id {
    Absent,
    Echo(Value),
    Unprintable,
}

fn read_id(request: &Value) -> Id {
    match request.get_ci("id") {
        None => Id::Absent,
        Some(Value::String(text)) => Id::Echo(Value::String(text.clone())),
        Some(Value::Number(number)) => Id::Echo(Value::num(Value::int_view(*number))),
        Some(Value::Null) => Id::Echo(Value::Null),
        Some(_) => Id::Unprintable,
    }
}

fn envelope(outcome: Result<Value, MiError>, id: Value) -> Value {
    let (key, body) = match outcome {
        Ok(result) => ("result", result),
        Err(error) => ("error", error.to_value()),
    };
    json::object([("jsonrpc", Value::str("2.0")), (key, body), ("id", id)])
}

/// A reply value, `None` when nothing is to be sent, or `Err(())` for an unprintable id.
type SingleReply = Result<Option<Value>, ()>;

/// What one request runs against: the commands, the host, and the caller's access.
#[derive(Clone, Copy)]
struct Scope<'a> {
    registry: &'a Registry,
    host: &'a dyn Host,
    access: Option<&'a Access>,
}

/// Runs a parsed request object (or any value, when it is a batch member).
fn handle_value(scope: Scope<'_>, request: &Value, calls: &mut Vec<CallRecord>) -> SingleReply {
    let id = read_id(request);
    let jsonrpc_ok = matches!(request.get_ci("jsonrpc"), Some(Value::String(v)) if v == "2.0");
    let method = match request.get_ci("method") {
        Some(Value::String(name)) => Some(name.as_str()),
        _ => None,
    };
    let params = RawParams::from_member(request.get_ci("params"));
    let valid = matches!(request, Value::Object(_)) && !matches!(id, Id::Unprintable) && jsonrpc_ok;
    let (method, params) = match (valid, method, params) {
        (true, Some(method), Some(params)) => (method, params),
        _ => {
            return match id {
                Id::Unprintable => Err(()),
                Id::Echo(id) => Ok(Some(envelope(Err(MiError::invalid_request()), id))),
                Id::Absent => Ok(Some(envelope(Err(MiError::invalid_request()), Value::Null))),
            };
        }
    };
    let outcome = run_command(scope, method, params, calls);
    match id {
        Id::Echo(id) => Ok(Some(envelope(outcome, id))),
        Id::Absent => Ok(None),
        Id::Unprintable => Err(()),
    }
}

fn run_command(
    scope: Scope<'_>,
    method: &str,
    params: RawParams<'_>,
    calls: &mut Vec<CallRecord>,
) -> Result<Value, MiError> {
    let Scope {
        registry,
        host,
        access,
    } = scope;
    if method == crate::openrpc::DISCOVER {
        let outcome = match params {
            RawParams::None => Ok(crate::openrpc::document(registry, host, access)),
            _ => Err(MiError::invalid_params("rpc.discover takes no parameters")),
        };
        calls.push(CallRecord {
            command: method.to_string(),
            error: outcome.as_ref().err().map(|e| e.code),
        });
        return outcome;
    }
    let command = match crate::names::resolve(registry, host, method) {
        Resolved::Core(command) => command,
        Resolved::Unknown => return Err(MiError::method_not_found()),
        Resolved::Ambiguous(candidates) => return Err(crate::names::ambiguous(&candidates)),
        Resolved::Module(command) => {
            let outcome = match access.filter(|a| !a.permits(&command.name, &command.module)) {
                Some(access) => Err(access.refusal(&command.name)),
                None => run_module_command(host, &command, params),
            };
            calls.push(CallRecord {
                command: command.name,
                error: outcome.as_ref().err().map(|e| e.code),
            });
            return outcome;
        }
    };
    let outcome = (|| {
        if let Some(access) = access.filter(|a| !a.permits(command.name, command.module)) {
            return Err(access.refusal(command.name));
        }
        if command.named_only && matches!(params, RawParams::Positional(_)) {
            return Err(named_only_error());
        }
        let chosen = match_recipe(&command.recipes, params).map_err(|m| m.to_error())?;
        let recipe = &command.recipes[chosen];
        let context = Context {
            host,
            registry,
            access,
        };
        (recipe.handler)(&context, &Params::new(params, recipe.params))
    })();
    calls.push(CallRecord {
        command: command.name.to_string(),
        error: outcome.as_ref().err().map(|e| e.code),
    });
    outcome
}

fn named_only_error() -> MiError {
    MiError::invalid_params("Command only supports named parameters")
}

/// Matches a module command's recipe like a core command's, then hands the parameters to
/// the module as one JSON object (positional values named by the recipe) and reads its
/// JSON result.
fn run_module_command(
    host: &dyn Host,
    command: &ModuleCommand,
    params: RawParams<'_>,
) -> Result<Value, MiError> {
    if command.named_only && matches!(params, RawParams::Positional(_)) {
        return Err(named_only_error());
    }
    let chosen = match_recipe(&command.recipes, params).map_err(|m| m.to_error())?;
    let members = match params {
        RawParams::None => Vec::new(),
        RawParams::Positional(values) => command.recipes[chosen]
            .iter()
            .cloned()
            .zip(values.iter().cloned())
            .collect(),
        RawParams::Named(members) => members.to_vec(),
    };
    let result = host.call_module(
        &command.module,
        &command.name,
        &json::to_compact(&Value::Object(members)),
    )?;
    json::parse(result.as_bytes(), DEFAULT_MAX_DEPTH)
        .map(|(value, _)| value)
        .map_err(|_| {
            MiError::new(
                500,
                format!(
                    "module '{}' returned a result that is not JSON (or nested deeper than {DEFAULT_MAX_DEPTH})",
                    command.module
                ),
            )
        })
}

fn print(value: &Value, options: HandleOptions) -> String {
    if options.pretty {
        json::to_pretty(value)
    } else {
        json::to_compact(value)
    }
}

/// Handles one JSON-RPC request text: everything of `spec/jsonrpc.md`.
///
/// Bytes after the first JSON value are ignored (framing transports split streams first).
/// A JSON array is a batch, answered as JSON-RPC 2.0 specifies: an array of the members'
/// replies (notifications contribute none); an empty array is a single -32600.
pub fn handle(
    registry: &Registry,
    host: &dyn Host,
    request: &[u8],
    options: HandleOptions,
) -> Handled {
    handle_as(registry, host, request, options, None)
}

/// [`handle`] for a caller whose role limits what it may run (`None`: anything).
pub fn handle_as(
    registry: &Registry,
    host: &dyn Host,
    request: &[u8],
    options: HandleOptions,
    access: Option<&Access>,
) -> Handled {
    let scope = Scope {
        registry,
        host,
        access,
    };
    let mut calls = Vec::new();
    let parsed = json::parse(request, options.max_depth);
    let reply = match parsed {
        Err(_) => Reply::ParseError(print(
            &envelope(Err(MiError::parse_error()), Value::Null),
            options,
        )),
        Ok((Value::Array(members), _)) if !members.is_empty() => {
            let replies: Vec<Value> = members
                .iter()
                .filter_map(|member| match handle_value(scope, member, &mut calls) {
                    Ok(reply) => reply,
                    Err(()) => Some(envelope(Err(MiError::invalid_request()), Value::Null)),
                })
                .collect();
            if replies.is_empty() {
                Reply::Nothing
            } else {
                Reply::Text(print(&Value::Array(replies), options))
            }
        }
        Ok((request, _)) => match handle_value(scope, &request, &mut calls) {
            Ok(Some(reply)) => Reply::Text(print(&reply, options)),
            Ok(None) => Reply::Nothing,
            Err(()) => Reply::Unprintable,
        },
    };
    Handled { reply, calls }
}

/// Nesting read by [`failure_reply`]: the `id` is a top-level member, so a shallow parse
/// finds it, and the host (which runs this natively, outside the sandbox) never recurses
/// deeply on hostile input.
const FAILURE_PARSE_DEPTH: u32 = 32;

/// The error reply for a request the host could not run (the core trapped or ran out of
/// time): `error` carrying the request's `id` under the usual echo rules. A notification
/// gets nothing; an unreadable or too deeply nested request, or a batch, gets `"id":null`.
pub fn failure_reply(request: &[u8], error: MiError, options: HandleOptions) -> Reply {
    let id = match json::parse(request, options.max_depth.min(FAILURE_PARSE_DEPTH)) {
        Ok((value @ Value::Object(_), _)) => read_id(&value),
        _ => Id::Echo(Value::Null),
    };
    match id {
        Id::Echo(id) => Reply::Text(print(&envelope(Err(error), id), options)),
        Id::Absent => Reply::Nothing,
        Id::Unprintable => Reply::Unprintable,
    }
}

/// Runs one command by name with already-built parameters (XML-RPC, HTML and script calls).
///
/// `params` is `None`, an array (positional) or an object (named); anything else is -32600.
pub fn call(
    registry: &Registry,
    host: &dyn Host,
    command: &str,
    params: Option<&Value>,
) -> (Result<Value, MiError>, Vec<CallRecord>) {
    let mut calls = Vec::new();
    let outcome = match RawParams::from_member(params) {
        Some(raw) => run_command(
            Scope {
                registry,
                host,
                access: None,
            },
            command,
            raw,
            &mut calls,
        ),
        None => Err(MiError::invalid_request()),
    };
    (outcome, calls)
}
