//! The simulated `dispatcher` module of OpenSIPS 3.6: partition `default` with two sets,
//! media servers (set 1) and PSTN gateways (set 2). Calls pick destinations, so their
//! `first_hit_counter` grows. One gateway fails its probes now and then, and comes back.
//!
//! Commands, with 3.6's recipes, reply members and error texts (`modules/dispatcher/
//! dispatcher.c` `ds_mi_set`, `ds_mi_list`, `ds_mi_reload`; `dispatch.c`
//! `ds_print_mi_list`): `ds_list` (`[]`, `[partition]`, `[full]`, `[full, partition]`),
//! `ds_set_state` (`[state, group, address]`), `ds_reload` (`[]`, `[inherit_state]`,
//! `[partition]`, `[partition, inherit_state]`). Event (`dispatch.c` `_ds_set_state`):
//! `E_DISPATCHER_STATUS` (`group`, `address`, `status`, `reason`).

use crate::random::Rng;
use crate::{command, Raised};
use mi_core::host::{EventParams, EventValue, ModuleCommand};
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;

/// The module's name.
pub const MODULE: &str = "dispatcher";

/// The event a destination's state change raises.
pub const EVENT: &str = "E_DISPATCHER_STATUS";

/// The one partition.
const PARTITION: &str = "default";

/// `MI_UNK_PARTITION`.
const UNKNOWN_PARTITION: &str = "ERROR Unknown partition";

/// The gateway whose probes sometimes fail.
const FLAPPING: &str = "sip:10.0.2.22:5060";

/// A destination's state flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    /// Disabled (by `ds_set_state`); not probed.
    Inactive,
    /// Failed its probes; probed until it answers.
    Probing,
}

#[derive(Debug, Clone)]
struct Destination {
    uri: &'static str,
    address: &'static str,
    weight: u32,
    priority: u32,
    description: &'static str,
    state: State,
    hits: u64,
}

#[derive(Debug, Clone)]
struct Set {
    id: u32,
    destinations: Vec<Destination>,
}

/// The partition's sets.
#[derive(Debug)]
pub struct Dispatcher {
    sets: Vec<Set>,
}

fn destination(
    uri: &'static str,
    address: &'static str,
    weight: u32,
    priority: u32,
    description: &'static str,
) -> Destination {
    Destination {
        uri,
        address,
        weight,
        priority,
        description,
        state: State::Active,
        hits: 0,
    }
}

fn initial_sets() -> Vec<Set> {
    vec![
        Set {
            id: 1,
            destinations: vec![
                destination(
                    "sip:10.0.1.11:5060",
                    "10.0.1.11:5060",
                    2,
                    0,
                    "media server A",
                ),
                destination(
                    "sip:10.0.1.12:5060",
                    "10.0.1.12:5060",
                    1,
                    0,
                    "media server B",
                ),
            ],
        },
        Set {
            id: 2,
            destinations: vec![
                destination(
                    "sip:10.0.2.21:5060",
                    "10.0.2.21:5060",
                    1,
                    0,
                    "PSTN gateway 1",
                ),
                destination(FLAPPING, "10.0.2.22:5060", 1, 1, "PSTN gateway 2"),
            ],
        },
    ]
}

fn status_event(group: u32, address: &str, inactive: bool, reason: &str) -> Raised {
    (
        EVENT,
        EventParams::Named(vec![
            ("group".into(), EventValue::Int(group as i32)),
            ("address".into(), EventValue::Text(address.to_string())),
            (
                "status".into(),
                EventValue::Text(if inactive { "inactive" } else { "active" }.into()),
            ),
            ("reason".into(), EventValue::Text(reason.to_string())),
        ]),
    )
}

/// The module's commands.
pub fn commands() -> Vec<ModuleCommand> {
    vec![
        command(
            MODULE,
            "ds_set_state",
            None,
            false,
            &[&["state", "group", "address"]],
        ),
        command(
            MODULE,
            "ds_list",
            None,
            false,
            &[&[], &["partition"], &["full"], &["full", "partition"]],
        ),
        command(
            MODULE,
            "ds_reload",
            None,
            false,
            &[
                &[],
                &["inherit_state"],
                &["partition"],
                &["partition", "inherit_state"],
            ],
        ),
    ]
}

impl Dispatcher {
    /// Every destination active.
    pub fn new() -> Dispatcher {
        Dispatcher {
            sets: initial_sets(),
        }
    }

    /// One simulated second: calls pick active destinations (by weight, in set 1; by
    /// priority, in set 2); the flapping gateway may fail its probe, or answer again.
    pub fn tick(&mut self, rng: &mut Rng) -> Vec<Raised> {
        let mut raised = Vec::new();
        for set in &mut self.sets {
            let calls = rng.range(0, 3);
            for _ in 0..calls {
                let active: Vec<usize> = (0..set.destinations.len())
                    .filter(|&i| set.destinations[i].state == State::Active)
                    .collect();
                let chosen = if set.id == 1 {
                    let total: u64 = active
                        .iter()
                        .map(|&i| u64::from(set.destinations[i].weight))
                        .sum();
                    let mut pick = rng.range(0, total.saturating_sub(1));
                    active.iter().copied().find(|&i| {
                        let weight = u64::from(set.destinations[i].weight);
                        let here = pick < weight;
                        pick = pick.saturating_sub(weight);
                        here
                    })
                } else {
                    active
                        .iter()
                        .copied()
                        .min_by_key(|&i| set.destinations[i].priority)
                };
                if let Some(i) = chosen {
                    set.destinations[i].hits += 1;
                }
            }
            for d in set.destinations.iter_mut().filter(|d| d.uri == FLAPPING) {
                let failing = match d.state {
                    State::Active => false,
                    State::Probing => true,
                    State::Inactive => continue,
                };
                if let Some((fails, reason)) = crate::probe(rng, failing, 120) {
                    d.state = if fails { State::Probing } else { State::Active };
                    raised.push(status_event(set.id, d.uri, fails, reason));
                }
            }
        }
        raised
    }

    /// Whether the destination at `hostport` answers: `None` if none is there.
    pub fn answers(&self, hostport: &str) -> Option<bool> {
        let mut all = self.sets.iter().flat_map(|s| &s.destinations);
        all.find(|d| d.address == hostport)
            .map(|d| d.state != State::Probing)
    }

    /// Runs `command` with its parameters bound by name.
    pub fn call(
        &mut self,
        command: &str,
        params: &Params<'_>,
    ) -> Result<(Value, Vec<Raised>), MiError> {
        match command {
            "ds_list" => {
                if params.has("partition") && params.string("partition")? != PARTITION {
                    return Err(MiError::new(500, UNKNOWN_PARTITION));
                }
                let full = params.has("full") && params.int("full")? != 0;
                Ok((self.list(full), Vec::new()))
            }
            "ds_set_state" => self.set_state(params),
            "ds_reload" => {
                if params.has("partition") && params.string("partition")? != PARTITION {
                    return Err(MiError::new(500, UNKNOWN_PARTITION));
                }
                let inherit = !params.has("inherit_state") || params.int("inherit_state")? != 0;
                if !inherit {
                    self.sets = initial_sets();
                }
                Ok((Value::str("OK"), Vec::new()))
            }
            _ => Err(MiError::method_not_found()),
        }
    }

    /// `ds_set_state`: the state's first letter or digit, `[partition:]group`, the URI.
    fn set_state(&mut self, params: &Params<'_>) -> Result<(Value, Vec<Raised>), MiError> {
        let state = params.string("state")?;
        let state = match state.bytes().next() {
            Some(b'0' | b'I' | b'i') => State::Inactive,
            Some(b'p' | b'P' | b'2') => State::Probing,
            Some(b'a' | b'A' | b'1') => State::Active,
            _ => return Err(MiError::new(500, "Bad state value")),
        };
        let group = params.string("group")?;
        let (partition, group) = match group.split_once(':') {
            Some((partition, group)) => (partition.trim().to_string(), group.trim().to_string()),
            None => (PARTITION.to_string(), group),
        };
        if partition != PARTITION {
            return Err(MiError::new(404, UNKNOWN_PARTITION));
        }
        let group: u32 = group
            .parse()
            .map_err(|_| MiError::new(500, "bad group value"))?;
        let address = params.string("address")?;
        let found = self
            .sets
            .iter_mut()
            .find(|s| s.id == group)
            .and_then(|set| {
                let id = set.id;
                set.destinations
                    .iter_mut()
                    .find(|d| d.uri.eq_ignore_ascii_case(&address))
                    .map(|d| (id, d))
            });
        let Some((id, destination)) = found else {
            return Err(MiError::new(404, "destination not found"));
        };
        let mut raised = Vec::new();
        if destination.state != state {
            let inactive = state != State::Active;
            destination.state = state;
            raised.push(status_event(id, destination.uri, inactive, "MI command"));
        }
        Ok((Value::str("OK"), raised))
    }

    /// `ds_list`: `{"PARTITIONS":[{"name","SETS":[{"id","Destinations":[…]}]}]}`.
    fn list(&self, full: bool) -> Value {
        let sets = self
            .sets
            .iter()
            .map(|set| {
                let destinations = set
                    .destinations
                    .iter()
                    .map(|d| {
                        let state = match d.state {
                            State::Active => "Active",
                            State::Inactive => "Inactive",
                            State::Probing => "Probing",
                        };
                        let mut members = vec![
                            ("URI".to_string(), Value::str(d.uri)),
                            ("state".to_string(), Value::str(state)),
                            ("first_hit_counter".to_string(), Value::num(d.hits as f64)),
                        ];
                        if full {
                            members.push(("weight".into(), Value::num(d.weight)));
                            members.push(("priority".into(), Value::num(d.priority)));
                            members.push(("description".into(), Value::str(d.description)));
                        }
                        members.push((
                            "resolved_addresses".into(),
                            Value::Array(vec![Value::str(d.address)]),
                        ));
                        Value::Object(members)
                    })
                    .collect();
                Value::Object(vec![
                    ("id".into(), Value::num(set.id)),
                    ("Destinations".into(), Value::Array(destinations)),
                ])
            })
            .collect();
        Value::Object(vec![(
            "PARTITIONS".into(),
            Value::Array(vec![Value::Object(vec![
                ("name".into(), Value::str(PARTITION)),
                ("SETS".into(), Value::Array(sets)),
            ])]),
        )])
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher::new()
    }
}
