//! A health summary of the running daemon, built from other MI commands through the `mi`
//! capability, plus an echo that checks the module call path itself.
#![cfg(target_arch = "wasm32")]

use miwa_module::{
    command, log, mi, object, stats, Description, MiError, Module, ParamType, Params,
    StatisticKind, Value,
};

fn number(value: Option<&Value>) -> f64 {
    match value {
        Some(Value::Number(n)) => *n,
        Some(Value::String(text)) => text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

/// `health`: uptime, process count and the MI error counter, with a verdict.
fn health(max_errors: Option<i32>) -> Result<Value, MiError> {
    stats::increment("checks");
    let uptime = mi::call("uptime")?;
    let processes = mi::call("ps")?;
    let errors = mi::call("get_statistics statistics=__array(mi_errors)")?;
    let process_count = match processes.get_ci("Processes") {
        Some(Value::Array(list)) => list.len(),
        _ => 0,
    };
    let error_count = number(errors.get_ci("transports:mi_errors"));
    let healthy = max_errors.is_none_or(|max| error_count <= f64::from(max));
    if !healthy {
        stats::increment("unhealthy");
        log::warn(&format!("{error_count} MI errors so far"));
    }
    Ok(object([
        (
            "status",
            Value::str(if healthy { "healthy" } else { "degraded" }),
        ),
        ("uptime", Value::num(number(uptime.get_ci("Up time")))),
        ("processes", Value::num(process_count as f64)),
        ("mi_errors", Value::num(error_count)),
    ]))
}

/// The module.
struct Health;

impl Module for Health {
    fn describe() -> Description {
        Description::new("health", env!("CARGO_PKG_VERSION"))
            .command(
                command(
                    "health",
                    "summarises uptime, processes and MI errors; degraded past max_errors",
                )
                .recipe(&[])
                .recipe(&["max_errors"])
                .typed("max_errors", ParamType::Integer),
            )
            .command(
                command(
                    "health_echo",
                    "answers its text back, or \"OK\": checks the module path",
                )
                .recipe(&[])
                .recipe(&["text"])
                .typed("text", ParamType::String),
            )
            .statistic("checks", StatisticKind::Counter)
            .statistic("unhealthy", StatisticKind::Counter)
    }

    fn call(command: &str, params: &Params<'_>) -> Result<Value, MiError> {
        match command {
            "health" if params.has("max_errors") => health(Some(params.int("max_errors")?)),
            "health" => health(None),
            "health_echo" if params.has("text") => Ok(Value::String(params.string("text")?)),
            "health_echo" => Ok(Value::str("OK")),
            _ => Err(MiError::method_not_found()),
        }
    }
}

miwa_module::export_module!(Health);
