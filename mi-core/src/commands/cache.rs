//! `cache_store`, `cache_fetch`, `cache_remove` (the host's key-value store).

use super::{command, recipe};
use crate::error::MiError;
use crate::host::CacheError;
use crate::json::{object, Value};
use crate::params::Params;
use crate::registry::{Command, Context};

type Outcome = Result<Value, MiError>;

/// Reads `system` and `attr`, rejecting empty ones as OpenSIPS does.
fn system_and_key(params: &Params<'_>) -> Result<(String, String), MiError> {
    let system = params.string("system")?;
    if system.is_empty() {
        return Err(MiError::invalid_params("Empty memory cache id"));
    }
    let key = params.string("attr")?;
    if key.is_empty() {
        return Err(MiError::invalid_params("Empty attribute name"));
    }
    Ok((system, key))
}

fn failure(what: &str, error: CacheError, system: &str) -> MiError {
    let message = format!("Cache {what} command failed");
    match error {
        CacheError::UnknownSystem => MiError::new(500, message),
        CacheError::Full => MiError::with_data(500, message, format!("cache '{system}' is full")),
    }
}

fn store(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let (system, key) = system_and_key(params)?;
    let value = params.string("value")?;
    if value.is_empty() {
        return Err(MiError::invalid_params("Empty value"));
    }
    let expire = if params.has("expire") {
        let expire = params.int("expire")?;
        u32::try_from(expire).map_err(|_| MiError::invalid_params("Negative expire value"))?
    } else {
        0
    };
    ctx.host
        .cache_store(&system, &key, &value, expire)
        .map_err(|e| failure("store", e, &system))?;
    Ok(Value::str("OK"))
}

fn fetch(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let (system, key) = system_and_key(params)?;
    match ctx.host.cache_fetch(&system, &key) {
        Ok(Some(value)) => Ok(object([
            ("key", Value::str(key)),
            ("value", Value::str(value)),
        ])),
        Ok(None) => Err(MiError::new(400, "Value not found")),
        Err(e) => Err(failure("fetch", e, &system)),
    }
}

fn remove(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let (system, key) = system_and_key(params)?;
    ctx.host
        .cache_remove(&system, &key)
        .map_err(|e| failure("remove", e, &system))?;
    Ok(Value::str("OK"))
}

/// `cache_fetch_chunk glob`: every live `local` entry whose key matches the glob.
fn fetch_chunk(ctx: &Context<'_>, params: &Params<'_>) -> Outcome {
    let glob = params.string("glob")?;
    let found = ctx
        .host
        .cache_fetch_matching(LOCAL, &glob)
        .map_err(|e| failure("fetch", e, LOCAL))?;
    let keys = found
        .into_iter()
        .map(|(name, value)| object([("name", Value::str(name)), ("value", Value::str(value))]))
        .collect();
    Ok(object([("keys", Value::Array(keys))]))
}

/// The cache system of `cachedb_local`'s commands.
const LOCAL: &str = "local";

/// `cachedb_local`'s command, listed after the core's as OpenSIPS lists module commands.
pub fn local_commands() -> Vec<Command> {
    vec![command(
        "cachedb_local",
        "cache_fetch_chunk",
        "fetches the local cache entries whose keys match a glob",
        vec![recipe(&["glob"], fetch_chunk)],
    )]
}

/// The cache commands.
pub fn commands() -> Vec<Command> {
    vec![
        command(
            "core",
            "cache_store",
            "stores in a cache system a string value",
            vec![
                recipe(&["system", "attr", "value"], store),
                recipe(&["system", "attr", "value", "expire"], store),
            ],
        ),
        command(
            "core",
            "cache_fetch",
            "queries for a cache stored value",
            vec![recipe(&["system", "attr"], fetch)],
        ),
        command(
            "core",
            "cache_remove",
            "removes a record from the cache system",
            vec![recipe(&["system", "attr"], remove)],
        ),
    ]
}
