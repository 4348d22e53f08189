//! `log_level`, `xlog_level`, `log_level_filter`, `log_mute_state`.

use super::{command, recipe};
use crate::error::MiError;
use crate::json::{object, Value};
use crate::params::Params;
use crate::registry::{Command, Context};

type Outcome = Result<Value, MiError>;

fn list_levels(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    let processes = ctx
        .host
        .processes()
        .into_iter()
        .map(|p| {
            object([
                ("PID", Value::num(p.pid)),
                ("Log level", Value::num(p.log_level)),
                ("Type", Value::String(p.kind)),
            ])
        })
        .collect();
    Ok(object([("Processes", Value::Array(processes))]))
}

fn set_global(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let level = params.int("level")?;
    ctx.host.set_log_level(level);
    Ok(object([("New global log level", Value::num(level))]))
}

fn set_process(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let level = params.int("level")?;
    let pid = params.int("pid")?;
    if !ctx.host.set_process_log_level(pid, level) {
        return Err(MiError::invalid_params("Bad PID"));
    }
    Ok(object([("Log level", Value::num(level))]))
}

fn xlog_get(ctx: &Context<'_>, _: &Params<'_>) -> Outcome {
    Ok(object([("xLog Level", Value::num(ctx.host.xlog_level()))]))
}

fn xlog_set(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let level = params.int("level")?;
    ctx.host.set_xlog_level(level);
    Ok(object([("New xLog level", Value::num(level))]))
}

fn unknown_consumer() -> MiError {
    MiError::new(404, "Unknown log consumer")
}

fn filter_get(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let consumer = params.string("consumer")?;
    let state = ctx
        .host
        .log_consumer(&consumer)
        .ok_or_else(unknown_consumer)?;
    Ok(object([(
        "Log level filter",
        Value::num(state.level_filter),
    )]))
}

fn filter_set(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let consumer = params.string("consumer")?;
    let level = params.int("level_filter")?;
    if !ctx.host.set_log_consumer_filter(&consumer, level) {
        return Err(unknown_consumer());
    }
    Ok(Value::str("OK"))
}

fn mute_get(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let consumer = params.string("consumer")?;
    let state = ctx
        .host
        .log_consumer(&consumer)
        .ok_or_else(unknown_consumer)?;
    Ok(object([("mute state", Value::num(state.muted))]))
}

fn mute_set(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let consumer = params.string("consumer")?;
    let muted = params.int("mute_state")?;
    if !ctx.host.set_log_consumer_muted(&consumer, muted) {
        return Err(unknown_consumer());
    }
    Ok(Value::str("OK"))
}

/// The logging commands.
pub fn commands() -> Vec<Command> {
    vec![
        command(
            "core",
            "log_level",
            "gets/sets the per process or global log level",
            vec![
                recipe(&[], list_levels),
                recipe(&["level"], set_global),
                recipe(&["level", "pid"], set_process),
            ],
        ),
        command(
            "core",
            "xlog_level",
            "gets/sets the xlog() logging level",
            vec![recipe(&[], xlog_get), recipe(&["level"], xlog_set)],
        ),
        command(
            "core",
            "log_level_filter",
            "gets/sets the level filter of a log consumer (stderror, syslog, event)",
            vec![
                recipe(&["consumer"], filter_get),
                recipe(&["consumer", "level_filter"], filter_set),
            ],
        ),
        command(
            "core",
            "log_mute_state",
            "gets/sets the mute state of a log consumer (stderror, syslog, event)",
            vec![
                recipe(&["consumer"], mute_get),
                recipe(&["consumer", "mute_state"], mute_set),
            ],
        ),
    ]
}
