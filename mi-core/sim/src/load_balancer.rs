//! The simulated `load_balancer` module of OpenSIPS 3.6: three media servers whose
//! resources carry the ongoing calls, each new call going to the least loaded enabled
//! destination of group 1 (`lb_start(1, "pstn")`).
//!
//! Commands, with 3.6's recipes, reply members and error texts
//! (`modules/load_balancer/load_balancer.c` `mi_cmds`, `mi_lb_*`): `lb_reload` (`[]`),
//! `lb_resize` (`[destination_id, res_name, new_capacity]`), `lb_list` (`[]`),
//! `lb_status` (`[destination_id]`, `[destination_id, new_status]`). Event
//! (`lb_data.c`): `E_LOAD_BALANCER_STATUS` (`group`, `uri`, `status`).

use crate::{command, Raised};
use mi_core::host::{EventParams, EventValue, ModuleCommand};
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;
use std::collections::BTreeMap;

/// The module's name.
pub const MODULE: &str = "load_balancer";

/// The event a destination's status change raises.
pub const EVENT: &str = "E_LOAD_BALANCER_STATUS";

/// The resource the calls use.
const CALLS: &str = "pstn";

#[derive(Debug, Clone)]
struct Resource {
    name: &'static str,
    max: i32,
}

#[derive(Debug, Clone)]
struct Destination {
    id: i32,
    group: i32,
    uri: &'static str,
    resources: Vec<Resource>,
    attrs: &'static str,
    /// `LB_DST_STAT_DSBL_FLAG`.
    disabled: bool,
    /// `LB_DST_STAT_NOEN_FLAG`: disabled by MI, not re-enabled by probing.
    no_reenable: bool,
}

/// The destinations, as the `load_balancer` table holds them.
fn table() -> Vec<Destination> {
    let resource = |name, max| Resource { name, max };
    let destination = |id, group, uri, resources, attrs| Destination {
        id,
        group,
        uri,
        resources,
        attrs,
        disabled: false,
        no_reenable: false,
    };
    vec![
        destination(
            1,
            1,
            "sip:10.0.4.1:5060",
            vec![resource(CALLS, 30), resource("vm", 10)],
            "site=east",
        ),
        destination(2, 1, "sip:10.0.4.2:5060", vec![resource(CALLS, 20)], ""),
        destination(
            3,
            2,
            "sip:10.0.4.3:5060",
            vec![resource("conf", 50)],
            "site=west",
        ),
    ]
}

/// The module's state: its destinations and which carries each ongoing call.
#[derive(Debug)]
pub struct LoadBalancer {
    destinations: Vec<Destination>,
    /// Call (its dialog's id) → destination id.
    calls: BTreeMap<u32, i32>,
}

/// The module's commands.
pub fn commands() -> Vec<ModuleCommand> {
    vec![
        command(MODULE, "lb_reload", None, false, &[&[]]),
        command(
            MODULE,
            "lb_resize",
            None,
            false,
            &[&["destination_id", "res_name", "new_capacity"]],
        ),
        command(MODULE, "lb_list", None, false, &[&[]]),
        command(
            MODULE,
            "lb_status",
            None,
            false,
            &[&["destination_id"], &["destination_id", "new_status"]],
        ),
    ]
}

fn not_found() -> MiError {
    MiError::new(404, "Destination ID not found")
}

fn status_event(d: &Destination) -> Raised {
    let status = if d.disabled { "disabled" } else { "enabled" };
    (
        EVENT,
        EventParams::Named(vec![
            ("group".into(), EventValue::Int(d.group)),
            ("uri".into(), EventValue::Text(d.uri.to_string())),
            ("status".into(), EventValue::Text(status.to_string())),
        ]),
    )
}

impl LoadBalancer {
    /// The table as loaded at start.
    pub fn new() -> LoadBalancer {
        LoadBalancer {
            destinations: table(),
            calls: BTreeMap::new(),
        }
    }

    fn load(&self, id: i32) -> usize {
        self.calls.values().filter(|&&d| d == id).count()
    }

    /// Follows the ongoing calls (their dialogs' ids): a new one goes to the enabled
    /// group-1 destination with the most `pstn` capacity left, if any has some; ended
    /// ones free theirs.
    pub fn tick(&mut self, ongoing: &[u32]) {
        self.calls.retain(|call, _| ongoing.contains(call));
        for call in ongoing {
            if self.calls.contains_key(call) {
                continue;
            }
            let free = |d: &Destination| {
                let max = d.resources.iter().find(|r| r.name == CALLS).map(|r| r.max);
                max.map(|max| i64::from(max) - self.load(d.id) as i64)
            };
            let best = self
                .destinations
                .iter()
                .filter(|d| d.group == 1 && !d.disabled)
                .filter_map(|d| free(d).filter(|&f| f > 0).map(|f| (f, d.id)))
                .max_by_key(|&(f, id)| (f, -id));
            if let Some((_, id)) = best {
                self.calls.insert(*call, id);
            }
        }
    }

    fn find(&mut self, id: i32) -> Result<&mut Destination, MiError> {
        self.destinations
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or_else(not_found)
    }

    /// Runs `command` with its parameters bound by name.
    pub fn call(
        &mut self,
        command: &str,
        params: &Params<'_>,
    ) -> Result<(Value, Vec<Raised>), MiError> {
        match command {
            "lb_reload" => {
                let states: Vec<(i32, bool, bool)> = self
                    .destinations
                    .iter()
                    .map(|d| (d.id, d.disabled, d.no_reenable))
                    .collect();
                self.destinations = table();
                for (id, disabled, no_reenable) in states {
                    if let Ok(d) = self.find(id) {
                        (d.disabled, d.no_reenable) = (disabled, no_reenable);
                    }
                }
                Ok((Value::str("OK"), Vec::new()))
            }
            "lb_resize" => {
                let id = params.int("destination_id")?;
                let name = params.string("res_name")?;
                let size = params.int("new_capacity")?;
                let destination = self.find(id)?;
                let resource = destination
                    .resources
                    .iter_mut()
                    .find(|r| r.name == name)
                    .ok_or_else(|| MiError::new(404, "Destination has no such resource"))?;
                resource.max = size;
                Ok((Value::str("OK"), Vec::new()))
            }
            "lb_status" if params.has("new_status") => {
                let id = params.int("destination_id")?;
                let status = params.int("new_status")?;
                let destination = self.find(id)?;
                let before = (destination.disabled, destination.no_reenable);
                (destination.disabled, destination.no_reenable) = (status == 0, status == 0);
                let changed = before != (destination.disabled, destination.no_reenable);
                let raised = changed.then(|| status_event(destination));
                Ok((Value::str("OK"), raised.into_iter().collect()))
            }
            "lb_status" => {
                let id = params.int("destination_id")?;
                let destination = self.find(id)?;
                let enable = if destination.disabled { "no" } else { "yes" };
                let mut members = vec![("enable".to_string(), Value::str(enable))];
                if !destination.attrs.is_empty() {
                    members.push(("attrs".into(), Value::str(destination.attrs)));
                }
                Ok((Value::Object(members), Vec::new()))
            }
            "lb_list" => {
                let list = self.destinations.iter().map(|d| self.item(d)).collect();
                Ok((
                    Value::Object(vec![("Destinations".into(), Value::Array(list))]),
                    Vec::new(),
                ))
            }
            _ => Err(MiError::method_not_found()),
        }
    }

    /// One destination as `mi_lb_list` prints it.
    fn item(&self, d: &Destination) -> Value {
        let yes_no = |flag: bool, yes: &str, no: &str| Value::str(if flag { yes } else { no });
        let resources = d.resources.iter().map(|r| {
            let load = if r.name == CALLS { self.load(d.id) } else { 0 };
            Value::Object(vec![
                ("name".into(), Value::str(r.name)),
                ("max".into(), Value::num(r.max)),
                ("load".into(), Value::num(load as u32)),
            ])
        });
        let mut members = vec![
            ("uri".to_string(), Value::str(d.uri)),
            ("id".into(), Value::num(d.id)),
            ("group".into(), Value::num(d.group)),
            ("enabled".into(), yes_no(d.disabled, "no", "yes")),
            ("auto-reenable".into(), yes_no(d.no_reenable, "off", "on")),
            ("Resources".into(), Value::Array(resources.collect())),
        ];
        if !d.attrs.is_empty() {
            members.push(("attrs".into(), Value::str(d.attrs)));
        }
        Value::Object(members)
    }
}

impl Default for LoadBalancer {
    fn default() -> Self {
        LoadBalancer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mi_core::json::to_compact;
    use mi_core::params::RawParams;

    fn run(lb: &mut LoadBalancer, command: &str, members: Vec<(String, Value)>) -> String {
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        let params = Params::new(RawParams::Named(&members), &names);
        match lb.call(command, &params) {
            Ok((value, _)) => to_compact(&value),
            Err(e) => format!("{} {}", e.code, e.message),
        }
    }

    #[test]
    fn calls_go_to_the_least_loaded_enabled_destination() {
        let mut lb = LoadBalancer::new();
        lb.tick(&[1, 2, 3]);
        assert_eq!((lb.load(1), lb.load(2)), (3, 0), "30 free beats 20");
        let id = |n: i32| vec![("destination_id".to_string(), Value::num(n))];
        let mut off = id(1);
        off.push(("new_status".into(), Value::num(0)));
        assert_eq!(run(&mut lb, "lb_status", off), r#""OK""#);
        assert_eq!(
            run(&mut lb, "lb_status", id(1)),
            r#"{"enable":"no","attrs":"site=east"}"#
        );
        lb.tick(&[1, 2, 3, 4, 5]);
        assert_eq!(
            (lb.load(1), lb.load(2)),
            (3, 2),
            "calls stay where they are"
        );
        let list = run(&mut lb, "lb_list", Vec::new());
        assert!(list.starts_with(r#"{"Destinations":[{"uri":"sip:10.0.4.1:5060","id":1,"group":1,"enabled":"no","auto-reenable":"off","Resources":[{"name":"pstn","max":30,"load":3},{"name":"vm","max":10,"load":0}],"attrs":"site=east"},"#), "{list}");
        assert_eq!(
            run(&mut lb, "lb_status", id(9)),
            "404 Destination ID not found"
        );
        let mut resize = id(2);
        resize.push(("res_name".into(), Value::str("video")));
        resize.push(("new_capacity".into(), Value::num(5)));
        assert_eq!(
            run(&mut lb, "lb_resize", resize),
            "404 Destination has no such resource"
        );
        assert_eq!(run(&mut lb, "lb_reload", Vec::new()), r#""OK""#);
        assert_eq!(
            run(&mut lb, "lb_status", id(1)),
            r#"{"enable":"no","attrs":"site=east"}"#
        );
    }
}
