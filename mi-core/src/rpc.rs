//! The JSON-RPC 2.0 layer: validation, error precedence, `id` echo, notifications, batches.

use crate::access::Access;
use crate::error::MiError;
use crate::host::{Host, ModuleCommand};
use crate::json::{self, Value};
use crate::names::Resolved;
use crate::params::{match_recipe, Params, RawParams};
use crate::registry::{Context, Registry};
use crate::request::{Id, Member, Request};

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

/// What one request member came to: the command it resolved to and how the call ended,
/// for statistics and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The member's position in its batch (0 for a single request).
    pub member: u32,
    /// The command name as registered (its 3.6 name) when the method resolved to one;
    /// otherwise the method as written, or empty for an invalid request.
    pub command: String,
    /// The module of the command it resolved to; `None` when it resolved to none.
    pub module: Option<String>,
    /// The error code when the call failed.
    pub error: Option<i32>,
}

/// A handled request: the reply plus what each member came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// What to send back.
    pub reply: Reply,
    /// One record per member that was a request (batches run several).
    pub calls: Vec<CallRecord>,
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

/// What a command's name resolved to, for the call's record.
struct Ran {
    command: String,
    module: Option<String>,
}

/// Runs one member of a request read by [`Request::parse`].
fn handle_member(
    scope: Scope<'_>,
    index: usize,
    member: &Member,
    calls: &mut Vec<CallRecord>,
) -> SingleReply {
    let (outcome, ran) = match member {
        Member::Invalid(_) => (
            Err(MiError::invalid_request()),
            Ran {
                command: String::new(),
                module: None,
            },
        ),
        Member::Call(call) => {
            let params = RawParams::from_member(call.params.as_ref()).unwrap_or(RawParams::None);
            run_command(scope, &call.method, params)
        }
    };
    calls.push(CallRecord {
        member: index as u32,
        command: ran.command,
        module: ran.module,
        error: outcome.as_ref().err().map(|e| e.code),
    });
    match member.id() {
        Id::Echo(id) => Ok(Some(envelope(outcome, id.clone()))),
        Id::Absent if member.call().is_some() => Ok(None),
        Id::Absent => Ok(Some(envelope(outcome, Value::Null))),
        Id::Unprintable => Err(()),
    }
}

fn run_command(
    scope: Scope<'_>,
    method: &str,
    params: RawParams<'_>,
) -> (Result<Value, MiError>, Ran) {
    let Scope {
        registry,
        host,
        access,
    } = scope;
    let unresolved = || Ran {
        command: method.to_string(),
        module: None,
    };
    if method == crate::openrpc::DISCOVER {
        let outcome = match params {
            RawParams::None => Ok(crate::openrpc::document(registry, host, access)),
            _ => Err(MiError::invalid_params("rpc.discover takes no parameters")),
        };
        let ran = Ran {
            command: method.to_string(),
            module: Some("core".to_string()),
        };
        return (outcome, ran);
    }
    let command = match crate::names::resolve(registry, host, method) {
        Resolved::Core(command) => command,
        Resolved::Unknown => return (Err(MiError::method_not_found()), unresolved()),
        Resolved::Ambiguous(candidates) => {
            return (Err(crate::names::ambiguous(&candidates)), unresolved())
        }
        Resolved::Module(command) => {
            let outcome = match access.filter(|a| !a.permits(&command.name, &command.module)) {
                Some(access) => Err(access.refusal(&command.name)),
                None => run_module_command(host, &command, params),
            };
            let ran = Ran {
                command: command.name,
                module: Some(command.module),
            };
            return (outcome, ran);
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
    let ran = Ran {
        command: command.name.to_string(),
        module: Some(command.module.to_string()),
    };
    (outcome, ran)
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
    let reply = match Request::parse(request, options.max_depth) {
        Request::Unparsable(_) => Reply::ParseError(print(
            &envelope(Err(MiError::parse_error()), Value::Null),
            options,
        )),
        Request::EmptyBatch => Reply::Text(print(
            &envelope(Err(MiError::invalid_request()), Value::Null),
            options,
        )),
        Request::Batch(members) => {
            let replies: Vec<Value> = members
                .iter()
                .enumerate()
                .filter_map(|(index, member)| {
                    match handle_member(scope, index, member, &mut calls) {
                        Ok(reply) => reply,
                        Err(()) => Some(envelope(Err(MiError::invalid_request()), Value::Null)),
                    }
                })
                .collect();
            if replies.is_empty() {
                Reply::Nothing
            } else {
                Reply::Text(print(&Value::Array(replies), options))
            }
        }
        Request::Single(member) => match handle_member(scope, 0, &member, &mut calls) {
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
    let id = match Request::parse(request, options.max_depth.min(FAILURE_PARSE_DEPTH)) {
        Request::Single(member) => member.id().clone(),
        _ => Id::Echo(Value::Null),
    };
    error_reply(&id, error, options)
}

/// `error` as the reply to a request with `id`: nothing for a notification, the
/// transport's own failure for an unprintable id.
pub fn error_reply(id: &Id, error: MiError, options: HandleOptions) -> Reply {
    match id {
        Id::Echo(id) => Reply::Text(print(&envelope(Err(error), id.clone()), options)),
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
    let scope = Scope {
        registry,
        host,
        access: None,
    };
    let (outcome, ran) = match RawParams::from_member(params) {
        Some(raw) => run_command(scope, command, raw),
        None => (
            Err(MiError::invalid_request()),
            Ran {
                command: command.to_string(),
                module: None,
            },
        ),
    };
    let record = CallRecord {
        member: 0,
        command: ran.command,
        module: ran.module,
        error: outcome.as_ref().err().map(|e| e.code),
    };
    (outcome, vec![record])
}
