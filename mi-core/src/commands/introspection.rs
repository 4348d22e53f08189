//! `uptime`, `version`, `pwd`, `arg`, `which`, `ps`, `kill`, `list_tcp_conns`, `help`.

use super::{command, recipe};
use crate::error::MiError;
use crate::host::WhichNames;
use crate::json::{object, Value};
use crate::names::Resolved;
use crate::params::Params;
use crate::registry::{Command, Context};
use crate::time::ctime;

type Outcome = Result<Value, MiError>;

fn unknown_command() -> MiError {
    MiError::new(404, "unknown MI command")
}

fn uptime(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let clock = ctx.host.clock();
    Ok(object([
        ("Now", Value::str(ctime(clock.now, clock.now_offset))),
        (
            "Up since",
            Value::str(ctime(clock.started, clock.started_offset)),
        ),
        (
            "Up time",
            Value::String({
                let mut up = String::with_capacity(16);
                crate::json::push_int(&mut up, clock.now - clock.started);
                up.push_str(" [sec]");
                up
            }),
        ),
    ]))
}

fn server_members(ctx: &Context<'_>) -> (Vec<(String, Value)>, crate::host::BuildInfo) {
    let build = ctx.host.build_info();
    let server = format!("{} ({} ({}))", build.name, build.version, build.platform);
    (vec![("Server".to_string(), Value::str(server))], build)
}

fn version(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::Object(server_members(ctx).0))
}

fn version_revision(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let (mut members, build) = server_members(ctx);
    members.push((build.vcs, Value::str(build.revision)));
    Ok(Value::Object(members))
}

fn pwd(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let dir = ctx
        .host
        .working_dir()
        .ok_or_else(MiError::handler_returned_null)?;
    Ok(object([("WD", Value::str(dir))]))
}

fn arg(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::Array(
        ctx.host
            .arguments()
            .into_iter()
            .map(Value::String)
            .collect(),
    ))
}

/// The 3.6 names of the commands the caller may run: the core's, then the modules'.
pub(super) fn permitted_names(ctx: &Context<'_>) -> Vec<Value> {
    let core = ctx
        .registry
        .commands()
        .iter()
        .filter(|c| ctx.permits(c.name, c.module))
        .map(|c| Value::str(c.name));
    let modules = ctx
        .host
        .module_commands()
        .into_iter()
        .filter(|c| ctx.permits(&c.name, &c.module))
        .map(|c| Value::String(c.name));
    core.chain(modules).collect()
}

fn which(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let names_3_6 = || permitted_names(ctx);
    let names_4_0 = || names_4_0(ctx, "").into_iter().map(Value::String);
    Ok(Value::Array(match ctx.host.which_names() {
        WhichNames::V3_6 => names_3_6(),
        WhichNames::V4_0 => names_4_0().collect(),
        WhichNames::Both => {
            let mut names = names_3_6();
            let more: Vec<Value> = names_4_0().filter(|n| !names.contains(n)).collect();
            names.extend(more);
            names
        }
    }))
}

/// What `which <command>` and `help <command>` read: a core command or a module's.
struct Described {
    recipes: Vec<Vec<String>>,
    help: Option<String>,
    module: String,
}

fn describe(ctx: &Context<'_>, name: &str) -> Result<Described, MiError> {
    let command = match crate::names::resolve(ctx.registry, ctx.host, name) {
        Resolved::Core(command) => command,
        Resolved::Module(command) => {
            return Ok(Described {
                recipes: command.recipes,
                help: command.help,
                module: command.module,
            })
        }
        Resolved::Ambiguous(_) | Resolved::Unknown => return Err(unknown_command()),
    };
    Ok(Described {
        recipes: command
            .recipe_names()
            .into_iter()
            .map(|names| names.into_iter().map(str::to_string).collect())
            .collect(),
        help: command.help.map(str::to_string),
        module: command.module.to_string(),
    })
}

/// `which <module>:`: the OpenSIPS 4.0 names of the module's commands (core groups such
/// as `statistics:` and `evi:` included) that the caller may run.
/// The 4.0 names of the commands the caller may run that start with `prefix`, core
/// commands first.
fn names_4_0(ctx: &Context<'_>, prefix: &str) -> Vec<String> {
    let core = ctx
        .registry
        .commands()
        .iter()
        .filter(|c| ctx.permits(c.name, c.module))
        .map(|c| ctx.registry.name_4_0(c).to_string());
    let modules = ctx
        .host
        .module_command_names(None)
        .into_iter()
        .filter(|full| {
            ctx.host
                .module_command(full)
                .is_some_and(|c| ctx.permits(&c.name, &c.module))
        });
    core.chain(modules)
        .filter(|full| full.starts_with(prefix))
        .collect()
}

fn which_module(ctx: &Context<'_>, prefix: &str) -> Outcome {
    let names: Vec<Value> = names_4_0(ctx, prefix)
        .into_iter()
        .map(Value::String)
        .collect();
    match names.is_empty() {
        true => Err(unknown_command()),
        false => Ok(Value::Array(names)),
    }
}

fn which_command(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let name = params.string("command")?;
    if name.ends_with(':') {
        return which_module(ctx, &name);
    }
    let command = describe(ctx, &name)?;
    Ok(Value::Array(
        command
            .recipes
            .into_iter()
            .map(|names| Value::Array(names.into_iter().map(Value::String).collect()))
            .collect(),
    ))
}

fn ps(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let processes = ctx
        .host
        .processes()
        .into_iter()
        .map(|p| {
            object([
                ("ID", Value::num(p.id)),
                ("PID", Value::num(p.pid)),
                ("Type", Value::String(p.kind)),
            ])
        })
        .collect();
    Ok(object([("Processes", Value::Array(processes))]))
}

fn kill(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    ctx.host.shutdown();
    Ok(Value::str("OK"))
}

/// miwa carries no SIP connections: the answer OpenSIPS gives with TCP disabled.
fn list_tcp_conns(_: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::Null)
}

fn help(_: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(Value::str(
        "Usage: help mi_cmd - returns information about 'mi_cmd'",
    ))
}

fn help_command(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let command = describe(ctx, &params.string("mi_cmd")?)?;
    Ok(object([
        (
            "Help",
            Value::String(
                command
                    .help
                    .unwrap_or_else(|| "not available for this command".to_string()),
            ),
        ),
        ("Exported by", Value::String(command.module)),
    ]))
}

/// `uptime` … `kill`, which OpenSIPS registers before the logging commands.
pub fn commands_before_logging() -> Vec<Command> {
    vec![
        command("core", "uptime", "prints various time information about OpenSIPS - when it started to run, for how long it runs", vec![recipe(&[], uptime)]),
        command("core", "version", "prints the version string of a running OpenSIPS", vec![recipe(&[], version), recipe(&["revision"], version_revision)]),
        command("core", "pwd", "prints the working directory of OpenSIPS", vec![recipe(&[], pwd)]),
        command("core", "arg", "returns the full list of arguments used at startup", vec![recipe(&[], arg)]),
        command("core", "which", "lists all available MI commands", vec![recipe(&[], which), recipe(&["command"], which_command)]),
        command("core", "ps", "lists all processes used by OpenSIPS", vec![recipe(&[], ps)]),
        command("core", "kill", "terminates OpenSIPS", vec![recipe(&[], kill)]),
    ]
}

/// `list_tcp_conns`, registered after the event commands.
pub fn commands_after_events() -> Vec<Command> {
    vec![command(
        "core",
        "list_tcp_conns",
        "list all ongoing TCP based connections",
        vec![recipe(&[], list_tcp_conns)],
    )]
}

/// `help`, the last core command.
pub fn commands_last() -> Vec<Command> {
    vec![command(
        "core",
        "help",
        "prints information about MI commands usage",
        vec![recipe(&[], help), recipe(&["mi_cmd"], help_command)],
    )]
}
