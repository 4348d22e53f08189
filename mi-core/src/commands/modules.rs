//! `module_list`, `module_load`, `module_unload`, `module_reload`: third-party command
//! modules at run time (group `modules`, miwa's own).

use super::{command, recipe};
use crate::error::MiError;
use crate::host::ModuleStatus;
use crate::json::{object, Value};
use crate::params::Params;
use crate::registry::{Command, Context};

type Outcome = Result<Value, MiError>;

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

fn status_value(module: ModuleStatus) -> Value {
    let mut members = vec![
        ("name", Value::String(module.name)),
        ("state", Value::String(module.state)),
    ];
    if let Some(error) = module.error {
        members.push(("error", Value::String(error)));
    }
    members.push(("path", Value::String(module.path)));
    if let Some(sha256) = module.sha256 {
        members.push(("sha256", Value::String(sha256)));
    }
    if let Some(version) = module.version {
        members.push(("version", Value::String(version)));
    }
    members.push(("commands", strings(module.commands)));
    members.push(("grants", strings(module.grants)));
    let limits = module.limits;
    members.push((
        "limits",
        object([
            ("timeout_ms", Value::num(limits.timeout_ms as f64)),
            ("max_memory", Value::num(limits.max_memory as f64)),
            ("max_wasm_stack", Value::num(limits.max_wasm_stack as f64)),
            ("max_reply", Value::num(limits.max_reply as f64)),
            ("max_instances", Value::num(limits.max_instances)),
        ]),
    ));
    members.push(("instances", Value::num(module.instances)));
    object(members)
}

fn module_list(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let modules = ctx.host.modules().into_iter().map(status_value).collect();
    Ok(object([("Modules", Value::Array(modules))]))
}

fn module_load(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    ctx.host.load_module(&params.string("name")?)?;
    Ok(Value::str("OK"))
}

fn module_unload(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    ctx.host.unload_module(&params.string("name")?)?;
    Ok(Value::str("OK"))
}

fn module_reload_all(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    ctx.host.reload_modules(None)?;
    Ok(Value::str("OK"))
}

fn module_reload(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    ctx.host.reload_modules(Some(&params.string("name")?))?;
    Ok(Value::str("OK"))
}

/// The module management commands, registered after the core's.
pub fn commands() -> Vec<Command> {
    vec![
        command("modules", "module_list", "lists the command modules declared in the configuration, with their state, commands, grants and limits", vec![recipe(&[], module_list)]),
        command("modules", "module_load", "loads a command module declared in the configuration", vec![recipe(&["name"], module_load)]),
        command("modules", "module_unload", "unloads a command module; calls in flight finish first", vec![recipe(&["name"], module_unload)]),
        command("modules", "module_reload", "reloads every loaded command module, or the named one, from its file and configuration", vec![recipe(&[], module_reload_all), recipe(&["name"], module_reload)]),
    ]
}
