//! A caller blocklist kept in Redis, reached over the `tcp` capability: MI commands to
//! add, remove, check and list blocked callers, for a SIP proxy's script or an operator.
//!
//! The Redis server is `127.0.0.1:6379` unless `blocklist_backend` named another; the
//! choice is kept in the module's cache namespace, so every instance uses it. Entries live
//! in one Redis hash, `miwa:blocklist`: caller → reason.
#![cfg(target_arch = "wasm32")]

mod resp;

use miwa_module::{
    cache, command, object, stats, Description, MiError, Module, Params, StatisticKind, Value,
};
use resp::{Connection, Reply};
use std::cell::RefCell;

/// The Redis hash holding the entries.
const KEY: &str = "miwa:blocklist";

/// The server used when none was named.
const DEFAULT_BACKEND: &str = "127.0.0.1:6379";

thread_local! {
    /// This instance's connection, kept between calls.
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// The module.
struct Blocklist;

fn backend() -> String {
    cache::fetch("backend").unwrap_or_else(|| DEFAULT_BACKEND.to_string())
}

fn unavailable(address: &str, failure: impl std::fmt::Display) -> MiError {
    stats::increment("backend_errors");
    MiError::with_data(503, "Redis unavailable", format!("{address}: {failure}"))
}

/// Runs one Redis command on this instance's connection, opening it again once if it
/// broke since the last call.
fn redis(args: &[&str]) -> Result<Reply, MiError> {
    let address = backend();
    CONNECTION.with(|slot| {
        let mut slot = slot.borrow_mut();
        for attempt in 0..2 {
            if slot.as_ref().is_none_or(|c| c.address() != address) {
                *slot = Some(Connection::open(&address).map_err(|e| unavailable(&address, e))?);
            }
            let connection = slot.as_mut().expect("opened above");
            match connection.command(args) {
                Ok(Reply::Error(message)) => {
                    return Err(MiError::with_data(500, "Redis error", message))
                }
                Ok(reply) => return Ok(reply),
                Err(failure) => {
                    *slot = None;
                    if attempt == 1 {
                        return Err(unavailable(&address, failure));
                    }
                }
            }
        }
        Err(unavailable(&address, "no reply"))
    })
}

fn entries(reply: Reply) -> Value {
    let Reply::Array(Some(items)) = reply else {
        return Value::Array(Vec::new());
    };
    let mut pairs: Vec<(String, String)> = items
        .chunks(2)
        .filter_map(|pair| match pair {
            [Reply::Bulk(Some(caller)), Reply::Bulk(Some(reason))] => {
                Some((caller.clone(), reason.clone()))
            }
            _ => None,
        })
        .collect();
    pairs.sort();
    Value::Array(
        pairs
            .into_iter()
            .map(|(caller, reason)| {
                object([
                    ("caller", Value::str(caller)),
                    ("reason", Value::str(reason)),
                ])
            })
            .collect(),
    )
}

impl Module for Blocklist {
    fn describe() -> Description {
        Description::new("blocklist", env!("CARGO_PKG_VERSION"))
            .command(
                command("blocklist_add", "blocks a caller, with a reason")
                    .recipe(&["caller"])
                    .recipe(&["caller", "reason"]),
            )
            .command(command("blocklist_remove", "unblocks a caller").recipe(&["caller"]))
            .command(
                command("blocklist_check", "tells whether a caller is blocked").recipe(&["caller"]),
            )
            .command(command("blocklist_list", "lists the blocked callers"))
            .command(
                command(
                    "blocklist_backend",
                    "shows or sets the Redis server (host:port)",
                )
                .recipe(&[])
                .recipe(&["address"]),
            )
            .statistic("checks", StatisticKind::Counter)
            .statistic("blocked_hits", StatisticKind::Counter)
            .statistic("backend_errors", StatisticKind::Counter)
    }

    fn call(command: &str, params: &Params<'_>) -> Result<Value, MiError> {
        match command {
            "blocklist_add" => {
                let caller = params.string("caller")?;
                let reason = if params.has("reason") {
                    params.string("reason")?
                } else {
                    "blocked".to_string()
                };
                let added = redis(&["HSET", KEY, &caller, &reason])?;
                Ok(object([("added", Value::Bool(added == Reply::Integer(1)))]))
            }
            "blocklist_remove" => {
                let caller = params.string("caller")?;
                let removed = redis(&["HDEL", KEY, &caller])?;
                Ok(object([(
                    "removed",
                    Value::Bool(removed == Reply::Integer(1)),
                )]))
            }
            "blocklist_check" => {
                stats::increment("checks");
                let caller = params.string("caller")?;
                match redis(&["HGET", KEY, &caller])? {
                    Reply::Bulk(Some(reason)) => {
                        stats::increment("blocked_hits");
                        Ok(object([
                            ("blocked", Value::Bool(true)),
                            ("reason", Value::str(reason)),
                        ]))
                    }
                    _ => Ok(object([("blocked", Value::Bool(false))])),
                }
            }
            "blocklist_list" => Ok(entries(redis(&["HGETALL", KEY])?)),
            "blocklist_backend" => {
                if params.has("address") {
                    let address = params.string("address")?;
                    cache::store("backend", &address, 0)
                        .map_err(|_| MiError::new(500, "the cache is full"))?;
                }
                Ok(object([("backend", Value::str(backend()))]))
            }
            _ => Err(MiError::method_not_found()),
        }
    }
}

miwa_module::export_module!(Blocklist);
