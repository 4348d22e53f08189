//! A destination-set manager in the spirit of OpenSIPS's dispatcher module.
//!
//! Destination sets are provisioned in the cache under `dispatcher:sets` (a JSON object of
//! set id → list of SIP URIs) and loaded with `ds_reload`; `ds_list` shows them with their
//! states and `ds_set_state` changes a destination's state, raising
//! `E_DISPATCHER_STATUS`. The working state lives in the cache (`dispatcher:state`), so
//! every instance of the module sees the same sets.
#![cfg(target_arch = "wasm32")]

use miwa_module::events::EventValue;
use miwa_module::{
    cache, command, events, json, log, object, stats, Description, MiError, Module, Params,
    StatisticKind, Value,
};
use std::collections::BTreeMap;

/// Cache key of the provisioned sets.
const SETS_KEY: &str = "sets";
/// Cache key of the working state.
const STATE_KEY: &str = "state";
/// The only partition.
const PARTITION: &str = "default";
/// The event raised on state changes.
const STATUS_EVENT: &str = "E_DISPATCHER_STATUS";

/// A destination's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Inactive,
    Probing,
}

impl State {
    fn parse(text: &str) -> Option<State> {
        match text {
            "a" | "A" | "Active" => Some(State::Active),
            "i" | "I" | "Inactive" => Some(State::Inactive),
            "p" | "P" | "Probing" => Some(State::Probing),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            State::Active => "Active",
            State::Inactive => "Inactive",
            State::Probing => "Probing",
        }
    }
}

/// Set id → destinations (URI, state), in URI provisioning order.
type Sets = BTreeMap<i32, Vec<(String, State)>>;

fn parse_json(text: &str) -> Option<Value> {
    json::parse(text.as_bytes(), 16)
        .ok()
        .map(|(value, _)| value)
}

fn members(value: &Value) -> &[(String, Value)] {
    match value {
        Value::Object(members) => members,
        _ => &[],
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        _ => &[],
    }
}

/// Reads the working state (`{"1":[["sip:a","Active"],…],…}`).
fn load_state() -> Sets {
    let Some(state) = cache::fetch(STATE_KEY).and_then(|text| parse_json(&text)) else {
        return Sets::new();
    };
    members(&state)
        .iter()
        .filter_map(|(id, list)| {
            let destinations = items(list)
                .iter()
                .filter_map(|pair| match items(pair) {
                    [Value::String(uri), Value::String(state)] => {
                        Some((uri.clone(), State::parse(state)?))
                    }
                    _ => None,
                })
                .collect();
            Some((id.parse().ok()?, destinations))
        })
        .collect()
}

fn save_state(sets: &Sets) -> Result<(), MiError> {
    let value = Value::Object(
        sets.iter()
            .map(|(id, destinations)| {
                let list = destinations
                    .iter()
                    .map(|(uri, state)| {
                        Value::Array(vec![Value::str(uri.clone()), Value::str(state.name())])
                    })
                    .collect();
                (id.to_string(), Value::Array(list))
            })
            .collect(),
    );
    cache::store(STATE_KEY, &json::to_compact(&value), 0)
        .map_err(|cache::Full| MiError::new(500, "Cache full, state not saved"))?;
    let total = sets.values().map(Vec::len).sum::<usize>();
    let active = sets
        .values()
        .flatten()
        .filter(|(_, state)| *state == State::Active)
        .count();
    stats::set("destinations", total as u64);
    stats::set("active_destinations", active as u64);
    Ok(())
}

fn check_partition(params: &Params<'_>) -> Result<(), MiError> {
    if params.has("partition") && params.string("partition")? != PARTITION {
        return Err(MiError::new(404, "Partition not found"));
    }
    Ok(())
}

fn ds_list() -> Result<Value, MiError> {
    let sets = load_state()
        .into_iter()
        .map(|(id, destinations)| {
            let destinations = destinations
                .into_iter()
                .map(|(uri, state)| {
                    object([
                        ("URI", Value::String(uri)),
                        ("state", Value::str(state.name())),
                    ])
                })
                .collect();
            object([
                ("id", Value::num(id)),
                ("Destinations", Value::Array(destinations)),
            ])
        })
        .collect();
    Ok(object([(
        "PARTITIONS",
        Value::Array(vec![object([
            ("name", Value::str(PARTITION)),
            ("SETS", Value::Array(sets)),
        ])]),
    )]))
}

fn ds_set_state(params: &Params<'_>) -> Result<Value, MiError> {
    check_partition(params)?;
    let state = State::parse(&params.string("state")?)
        .ok_or_else(|| MiError::new(400, "Bad state value"))?;
    let group = params.int("group")?;
    let address = params.string("address")?;
    let mut sets = load_state();
    let destination = sets
        .get_mut(&group)
        .and_then(|list| list.iter_mut().find(|(uri, _)| *uri == address))
        .ok_or_else(|| MiError::new(404, "Destination not found"))?;
    if destination.1 != state {
        destination.1 = state;
        save_state(&sets)?;
        stats::increment("state_changes");
        log::info(&format!(
            "destination {address} of set {group} is now {}",
            state.name()
        ));
        let params = [
            ("group", EventValue::Int(group)),
            ("address", EventValue::Text(address)),
            ("status", EventValue::Text(state.name().to_string())),
            ("partition", EventValue::Text(PARTITION.to_string())),
        ];
        let _no_subscribers_is_fine = events::raise(STATUS_EVENT, &params);
    }
    Ok(Value::str("OK"))
}

fn ds_reload(params: &Params<'_>) -> Result<Value, MiError> {
    check_partition(params)?;
    let provisioned = match cache::fetch(SETS_KEY) {
        None => Value::Object(Vec::new()),
        Some(text) => parse_json(&text).ok_or_else(|| {
            MiError::with_data(
                500,
                "Failed to reload",
                "dispatcher:sets is not a JSON object of set id -> URI list",
            )
        })?,
    };
    let previous = load_state();
    let mut sets = Sets::new();
    for (id, uris) in members(&provisioned) {
        let id: i32 = id.parse().map_err(|_| {
            MiError::with_data(500, "Failed to reload", format!("bad set id '{id}'"))
        })?;
        let known = previous.get(&id);
        let destinations = items(uris)
            .iter()
            .filter_map(|uri| match uri {
                Value::String(uri) => Some(uri.clone()),
                _ => None,
            })
            .map(|uri| {
                let state = known
                    .and_then(|list| list.iter().find(|(u, _)| *u == uri))
                    .map_or(State::Active, |(_, state)| *state);
                (uri, state)
            })
            .collect();
        sets.insert(id, destinations);
    }
    save_state(&sets)?;
    stats::increment("reloads");
    log::info(&format!("reloaded {} destination sets", sets.len()));
    Ok(Value::str("OK"))
}

/// The module.
struct Dispatcher;

impl Module for Dispatcher {
    fn describe() -> Description {
        Description::new("dispatcher", env!("CARGO_PKG_VERSION"))
            .command(command(
                "ds_list",
                "lists the destination sets and the state of every destination",
            ))
            .command(
                command(
                    "ds_set_state",
                    "sets the state of a destination: a(ctive), i(nactive) or p(robing)",
                )
                .recipe(&["state", "group", "address"])
                .recipe(&["state", "group", "address", "partition"]),
            )
            .command(
                command(
                    "ds_reload",
                    "reloads the destination sets provisioned under the cache key dispatcher:sets",
                )
                .recipe(&[])
                .recipe(&["partition"]),
            )
            .event(STATUS_EVENT)
            .statistic("destinations", StatisticKind::Gauge)
            .statistic("active_destinations", StatisticKind::Gauge)
            .statistic("reloads", StatisticKind::Counter)
            .statistic("state_changes", StatisticKind::Counter)
    }

    fn call(command: &str, params: &Params<'_>) -> Result<Value, MiError> {
        match command {
            "ds_list" => ds_list(),
            "ds_set_state" => ds_set_state(params),
            "ds_reload" => ds_reload(params),
            _ => Err(MiError::method_not_found()),
        }
    }
}

miwa_module::export_module!(Dispatcher);
