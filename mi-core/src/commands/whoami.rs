//! `whoami` (miwa's own, module `access`): who the caller is, as the host authenticated
//! it, and what it may reach: its identity, role and transport, the commands its role may
//! run (as `which` lists them), and in front mode the nodes its role may reach.

use super::{command, recipe};
use crate::error::MiError;
use crate::json::{object, Value};
use crate::params::Params;
use crate::registry::{Command, Context};

fn whoami(ctx: &Context<'_>, _: &Params<'_>) -> Result<Value, MiError> {
    let caller = ctx.host.caller();
    let role = match (&caller, ctx.access) {
        (Some(caller), _) => caller.role.clone(),
        (None, Some(access)) => access.role.clone(),
        (None, None) => "full".to_string(),
    };
    let text = |value: Option<String>| value.map_or(Value::Null, Value::String);
    let mut members = vec![
        (
            "identity",
            text(caller.as_ref().and_then(|c| c.identity.clone())),
        ),
        ("role", Value::String(role)),
        (
            "transport",
            text(caller.as_ref().map(|c| c.transport.clone())),
        ),
        (
            "commands",
            Value::Array(super::introspection::permitted_names(ctx)),
        ),
    ];
    if let Some(nodes) = caller.and_then(|c| c.nodes) {
        members.push((
            "nodes",
            Value::Array(nodes.into_iter().map(Value::String).collect()),
        ));
    }
    Ok(object(members))
}

/// `whoami`, registered after miwa's module commands.
pub fn commands() -> Vec<Command> {
    vec![command(
        "access",
        "whoami",
        "tells the caller who it is: its identity, role and transport, the commands it may run and the nodes it may reach",
        vec![recipe(&[], whoami)],
    )]
}
