//! The simulated `drouting` module of OpenSIPS 3.6 (no partitions: `use_partitions` off):
//! three PSTN gateways in two carriers. One gateway fails its probes now and then and
//! comes back.
//!
//! Commands, with 3.6's recipes, reply members and error texts (`modules/drouting/
//! drouting.c` `mi_cmds`, `mi_dr_list_all_gw`, `mi_dr_list_gw`, `mi_dr_gw_set_status`,
//! `mi_dr_list_all_cr`, `mi_dr_list_cr`, `mi_dr_cr_set_status`, `mi_dr_get_partition`,
//! `dr_reload_cmd`): `dr_gw_status` and `dr_carrier_status` (named parameters only; `{}`,
//! `{partition_name}`, `{gw_id|carrier_id}`, `{…, status}` and the partition forms),
//! `dr_reload` (`[]`, `[inherit_state]`, `[partition_name]`, `[partition_name,
//! inherit_state]`). Event (`dr_raise_event`): `E_DROUTING_STATUS` (`partition`, `gwid`,
//! `address`, `status`, `reason`).

use crate::random::Rng;
use crate::{command, Raised};
use mi_core::host::{EventParams, EventValue, ModuleCommand};
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;

/// The module's name.
pub const MODULE: &str = "drouting";

/// The event a gateway's state change raises.
pub const EVENT: &str = "E_DROUTING_STATUS";

/// The name of the one partition, when there are none.
const PARTITION: &str = "Default";

/// The gateway whose probes sometimes fail.
const FLAPPING: &str = "gw3";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GwState {
    Active,
    /// Disabled by `dr_gw_status … status=0` (`Disabled MI`).
    DisabledMi,
    /// Failed its probes.
    Probing,
}

#[derive(Debug, Clone)]
struct Gateway {
    id: &'static str,
    ip: &'static str,
    attrs: &'static str,
    state: GwState,
}

#[derive(Debug, Clone)]
struct Carrier {
    id: &'static str,
    attrs: &'static str,
    enabled: bool,
}

/// The routing data.
#[derive(Debug)]
pub struct Drouting {
    gateways: Vec<Gateway>,
    carriers: Vec<Carrier>,
}

fn initial() -> (Vec<Gateway>, Vec<Carrier>) {
    let gw = |id, ip, attrs| Gateway {
        id,
        ip,
        attrs,
        state: GwState::Active,
    };
    let carrier = |id, attrs| Carrier {
        id,
        attrs,
        enabled: true,
    };
    (
        vec![
            gw("gw1", "10.0.3.1:5060", "carrier=alpha"),
            gw("gw2", "10.0.3.2:5060", "carrier=alpha"),
            gw("gw3", "10.0.3.3:5060", ""),
        ],
        vec![carrier("alpha", "tier=1"), carrier("beta", "")],
    )
}

/// The module's commands.
pub fn commands() -> Vec<ModuleCommand> {
    vec![
        command(
            MODULE,
            "dr_reload",
            Some("Params: none ; Forces drouting module to reload data from DB into memory; A return string is returned only in case of error."),
            false,
            &[&[], &["inherit_state"], &["partition_name"], &["partition_name", "inherit_state"]],
        ),
        command(
            MODULE,
            "dr_gw_status",
            Some("Params: [ gw_id [ status ]] ; Sets/gets the status of a GW; If no gw_id is given, all gws will be listed; if a new status is give, it will be pushed to the given GW."),
            true,
            &[
                &[],
                &["partition_name"],
                &["gw_id"],
                &["gw_id", "status"],
                &["partition_name", "gw_id"],
                &["partition_name", "gw_id", "status"],
            ],
        ),
        command(
            MODULE,
            "dr_carrier_status",
            Some("Params: [ carrier_id [ status ]] ; Sets/gets the status of a carrier; If no carrier_id is given, all carrier will be listed; if a new status is give, it will be pushed to the given carrier."),
            true,
            &[
                &[],
                &["partition_name"],
                &["carrier_id"],
                &["carrier_id", "status"],
                &["partition_name", "carrier_id"],
                &["partition_name", "carrier_id", "status"],
            ],
        ),
    ]
}

fn state_text(state: GwState) -> (&'static str, &'static str) {
    match state {
        GwState::Active => ("Active", "active"),
        GwState::DisabledMi => ("Disabled MI", "disabled MI"),
        GwState::Probing => ("Probing", "probing"),
    }
}

fn status_event(gw: &Gateway, reason: &str) -> Raised {
    let text = |value: &str| EventValue::Text(value.to_string());
    (
        EVENT,
        EventParams::Named(vec![
            ("partition".into(), text(PARTITION)),
            ("gwid".into(), text(gw.id)),
            ("address".into(), text(gw.ip)),
            ("status".into(), text(state_text(gw.state).1)),
            ("reason".into(), text(reason)),
        ]),
    )
}

/// `mi_dr_get_partition` without partitions.
fn no_partitions() -> MiError {
    MiError::with_data(
        400,
        "Invalid parameter: 'partition_name'",
        "'partition_name' supported only when 'use_partitions' is set",
    )
}

impl Drouting {
    /// Every gateway active, every carrier enabled.
    pub fn new() -> Drouting {
        let (gateways, carriers) = initial();
        Drouting { gateways, carriers }
    }

    /// One simulated second: the flapping gateway may fail its probe, or answer again.
    pub fn tick(&mut self, rng: &mut Rng) -> Vec<Raised> {
        let mut raised = Vec::new();
        for gw in self.gateways.iter_mut().filter(|g| g.id == FLAPPING) {
            let failing = match gw.state {
                GwState::Active => false,
                GwState::Probing => true,
                GwState::DisabledMi => continue,
            };
            if let Some((fails, reason)) = crate::probe(rng, failing, 150) {
                gw.state = if fails {
                    GwState::Probing
                } else {
                    GwState::Active
                };
                raised.push(status_event(gw, reason));
            }
        }
        raised
    }

    /// Whether the gateway at `hostport` answers: `None` if none is there. A gateway
    /// disabled by MI still answers; one failing its probes does not.
    pub fn answers(&self, hostport: &str) -> Option<bool> {
        let gateway = self.gateways.iter().find(|g| g.ip == hostport)?;
        Some(gateway.state != GwState::Probing)
    }

    /// Runs `command` with its parameters bound by name.
    pub fn call(
        &mut self,
        command: &str,
        params: &Params<'_>,
    ) -> Result<(Value, Vec<Raised>), MiError> {
        if params.has("partition_name") {
            return Err(no_partitions());
        }
        match command {
            "dr_reload" => {
                let inherit = !params.has("inherit_state") || params.int("inherit_state")? != 0;
                if !inherit {
                    *self = Drouting::new();
                }
                Ok((Value::str("OK"), Vec::new()))
            }
            "dr_gw_status" if params.has("gw_id") => {
                let id = params.string("gw_id")?;
                let gw = self
                    .gateways
                    .iter_mut()
                    .find(|g| g.id == id)
                    .ok_or_else(|| MiError::new(404, "GW ID not found"))?;
                if !params.has("status") {
                    return Ok((gateway_item(gw, false), Vec::new()));
                }
                let new = match params.int("status")? {
                    0 => GwState::DisabledMi,
                    _ => GwState::Active,
                };
                let mut raised = Vec::new();
                if gw.state != new {
                    gw.state = new;
                    raised.push(status_event(gw, "MI command"));
                }
                Ok((Value::str("OK"), raised))
            }
            "dr_gw_status" => {
                let gateways = self
                    .gateways
                    .iter()
                    .map(|g| gateway_item(g, true))
                    .collect();
                Ok((
                    Value::Object(vec![("Gateways".into(), Value::Array(gateways))]),
                    Vec::new(),
                ))
            }
            "dr_carrier_status" if params.has("carrier_id") => {
                let id = params.string("carrier_id")?;
                let carrier = self
                    .carriers
                    .iter_mut()
                    .find(|c| c.id == id)
                    .ok_or_else(|| MiError::new(404, "Carrier ID not found"))?;
                if params.has("status") {
                    carrier.enabled = params.int("status")? != 0;
                    return Ok((Value::str("OK"), Vec::new()));
                }
                Ok((carrier_item(carrier, false), Vec::new()))
            }
            "dr_carrier_status" => {
                let carriers = self
                    .carriers
                    .iter()
                    .map(|c| carrier_item(c, true))
                    .collect();
                Ok((
                    Value::Object(vec![("Carriers".into(), Value::Array(carriers))]),
                    Vec::new(),
                ))
            }
            _ => Err(MiError::method_not_found()),
        }
    }
}

impl Default for Drouting {
    fn default() -> Self {
        Drouting::new()
    }
}

/// A gateway as `dr_gw_status` lists it (`listed`: with its `ID` and `IP`).
fn gateway_item(gw: &Gateway, listed: bool) -> Value {
    let mut members = Vec::new();
    if listed {
        members.push(("ID".to_string(), Value::str(gw.id)));
        members.push(("IP".to_string(), Value::str(gw.ip)));
    }
    if !gw.attrs.is_empty() {
        members.push(("ATTRS".to_string(), Value::str(gw.attrs)));
    }
    members.push(("State".to_string(), Value::str(state_text(gw.state).0)));
    Value::Object(members)
}

/// A carrier as `dr_carrier_status` lists it; a disabled one is `"no "`, with OpenSIPS's
/// trailing space.
fn carrier_item(carrier: &Carrier, listed: bool) -> Value {
    let mut members = Vec::new();
    if listed {
        members.push(("ID".to_string(), Value::str(carrier.id)));
    }
    if !carrier.attrs.is_empty() {
        members.push(("ATTRS".to_string(), Value::str(carrier.attrs)));
    }
    let enabled = if carrier.enabled { "yes" } else { "no " };
    members.push(("Enabled".to_string(), Value::str(enabled)));
    Value::Object(members)
}
