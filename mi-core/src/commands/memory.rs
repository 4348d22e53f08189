//! `mem_pkg_dump`, `mem_shm_dump`, `mem_rpm_dump`: a memory summary written to the log.

use super::{command, recipe};
use crate::error::MiError;
use crate::host::MemoryKind;
use crate::json::Value;
use crate::params::Params;
use crate::registry::{Command, Context};

type Outcome = Result<Value, MiError>;

fn optional_level(params: &Params<'_>) -> Result<Option<i32>, MiError> {
    if params.has("log_level") {
        params.int("log_level").map(Some)
    } else {
        Ok(None)
    }
}

fn pkg_dump(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let pid = params.int("pid")?;
    let level = optional_level(params)?;
    if !ctx.host.memory_dump(MemoryKind::Private, Some(pid), level) {
        return Err(MiError::new(404, "Process not found"));
    }
    Ok(Value::str("OK"))
}

fn shared_dump(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    ctx.host
        .memory_dump(MemoryKind::Shared, None, optional_level(params)?);
    Ok(Value::str("OK"))
}

fn persistent_dump(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    ctx.host
        .memory_dump(MemoryKind::Persistent, None, optional_level(params)?);
    Ok(Value::str("OK"))
}

/// The memory dump commands.
pub fn commands() -> Vec<Command> {
    vec![
        command(
            "core",
            "mem_pkg_dump",
            "logs the private memory status of a process",
            vec![
                recipe(&["pid"], pkg_dump),
                recipe(&["pid", "log_level"], pkg_dump),
            ],
        ),
        command(
            "core",
            "mem_shm_dump",
            "logs the shared memory status",
            vec![
                recipe(&[], shared_dump),
                recipe(&["log_level"], shared_dump),
            ],
        ),
        command(
            "core",
            "mem_rpm_dump",
            "logs the restart persistent memory status",
            vec![
                recipe(&[], persistent_dump),
                recipe(&["log_level"], persistent_dump),
            ],
        ),
    ]
}
