//! `httpd_list_root_path`: the HTTP roots the daemon serves (OpenSIPS's `httpd` module).

use super::{command, recipe};
use crate::error::MiError;
use crate::json::{object, Value};
use crate::params::Params;
use crate::registry::{Command, Context};

fn list_root_path(ctx: &Context<'_>, _: &Params<'_>) -> Result<Value, MiError> {
    Ok(Value::Array(
        ctx.host
            .http_roots()
            .into_iter()
            .map(|(root, module)| {
                object([
                    ("http_root", Value::str(root)),
                    ("module", Value::str(module)),
                ])
            })
            .collect(),
    ))
}

/// The `httpd` command.
pub fn commands() -> Vec<Command> {
    vec![command(
        "httpd",
        "httpd_list_root_path",
        "lists the HTTP roots served and the module of each",
        vec![recipe(&[], list_root_path)],
    )]
}
