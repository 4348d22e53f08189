//! The simulated OpenSIPS 3.6 proxy's modules: state that moves on a simulated clock and the
//! module commands, statistics and events OpenSIPS's modules have, with their exact reply
//! formats, recipes and error texts. Pure and deterministic for a seed: the playground runs
//! it in the browser, and `miwa serve --simulate` runs it in the daemon behind every
//! transport. Nothing here is a real proxy, and both say so wherever they show it.
//!
//! - `random`: the seeded generator.
//! - `usrloc`: registrations (`ul_dump`, `ul_show_contact`, `ul_rm`, …).
//! - `dispatcher`: destination sets (`ds_list`, `ds_set_state`, `ds_reload`).
//! - `dialog`: calls of the registered users (`dlg_list`, `dlg_end_dlg`,
//!   `profile_get_size`).
//! - `drouting`: gateways and carriers (`dr_gw_status`, `dr_carrier_status`, `dr_reload`).
//! - `load_balancer`: media servers carrying the calls (`lb_list`, `lb_status`, …).
//! - `rtpengine`: media relays (`rtpengine_show`, `rtpengine_enable`, `teardown`, …).
//! - `clusterer`: this node's cluster (`clusterer_list`, `clusterer_set_status`, …).
//! - `tm`: transactions (`t_uac_dlg`, `t_uac_cancel`, `t_hash`, `t_reply`).
//! - `sip`: the SIP counters of `core:`, `sl:` and `tm:`, moved by what the modules do.
#![forbid(unsafe_code)]

pub mod clusterer;
pub mod dialog;
pub mod dispatcher;
pub mod drouting;
pub mod load_balancer;
pub mod random;
pub mod rtpengine;
pub mod sip;
pub mod tm;
pub mod usrloc;

use mi_core::host::{EventParams, ModuleCommand, Statistic};
use mi_core::json::{self, Value};
use mi_core::params::{Params, RawParams};
use mi_core::MiError;
use random::Rng;

/// An event a module raised: its name and parameters.
pub type Raised = (&'static str, EventParams);

/// Events the simulated modules publish, in OpenSIPS's registration order.
pub const EVENTS: [&str; 13] = [
    "E_UL_AOR_INSERT",
    "E_UL_AOR_DELETE",
    "E_UL_CONTACT_INSERT",
    "E_UL_CONTACT_UPDATE",
    "E_UL_CONTACT_DELETE",
    "E_UL_CONTACT_REFRESH",
    "E_UL_LATENCY_UPDATE",
    dispatcher::EVENT,
    dialog::EVENT,
    drouting::EVENT,
    load_balancer::EVENT,
    rtpengine::EVENT,
    clusterer::EVENT,
];

/// The OpenSIPS 4.0 name of a simulated command, `<module>:<name>`
/// ([`mi_core::names::MODULE_COMMANDS_4_0`]).
pub fn name_4_0(command: &ModuleCommand) -> Option<String> {
    let (module, local) = mi_core::names::module_command_4_0(&command.name)?;
    (module == command.module).then(|| format!("{module}:{local}"))
}

/// The OpenSIPS 4.0 names of `commands`, in order; with `local`, only those whose 4.0
/// local name is `local` (`dump` gives `usrloc:dump`). The core resolves a bare local
/// name with them, and answers one that several commands share as ambiguous.
pub fn names_4_0(commands: &[ModuleCommand], local: Option<&str>) -> Vec<String> {
    commands
        .iter()
        .filter_map(name_4_0)
        .filter(|full| local.is_none_or(|local| mi_core::names::local_part(full) == local))
        .collect()
}

/// Finds a simulated command among `commands` by its 3.6 name or its 4.0 one
/// (`usrloc:dump` for `ul_dump`).
pub fn find_command<'a>(commands: &'a [ModuleCommand], name: &str) -> Option<&'a ModuleCommand> {
    let (module, local) = match name.split_once(':') {
        Some(parts) => parts,
        None => return commands.iter().find(|c| c.name == name),
    };
    commands
        .iter()
        .find(|c| mi_core::names::module_command_4_0(&c.name) == Some((module, local)))
}

/// Longest jump of the simulated clock in one call, seconds (one day).
pub const MAX_ADVANCE: i64 = 86_400;

/// A module command as `which` and `help` show it: `help` is its module's text (most
/// modules export none, and `help` then says so); `recipes` are its parameter sets in
/// matching order; `named_only` refuses positional parameters (`MI_NAMED_PARAMS_ONLY`).
pub(crate) fn command(
    module: &str,
    name: &str,
    help: Option<&str>,
    named_only: bool,
    recipes: &[&[&str]],
) -> ModuleCommand {
    ModuleCommand {
        name: name.into(),
        module: module.into(),
        help: help.map(str::to_string),
        named_only,
        recipes: recipes
            .iter()
            .map(|r| r.iter().map(|p| p.to_string()).collect())
            .collect(),
        param_types: Vec::new(),
    }
}

/// One probe of a destination that is `failing` or not. One that answered fails with a
/// chance of 1 in `fail_odds`; one that failed answers again with a chance of 1 in 20. The
/// change, if any: whether it now fails, and OpenSIPS's reason for it.
pub(crate) fn probe(rng: &mut Rng, failing: bool, fail_odds: u64) -> Option<(bool, &'static str)> {
    match failing {
        false if rng.range(1, fail_odds) == 1 => Some((true, "negative probing reply")),
        true if rng.range(1, 20) == 1 => Some((false, "200 OK probing reply")),
        _ => None,
    }
}

/// The simulated proxy's modules and their clock.
#[derive(Debug)]
pub struct Proxy {
    rng: Rng,
    now: i64,
    usrloc: usrloc::Usrloc,
    dispatcher: dispatcher::Dispatcher,
    dialog: dialog::DialogModule,
    drouting: drouting::Drouting,
    load_balancer: load_balancer::LoadBalancer,
    rtpengine: rtpengine::Rtpengine,
    clusterer: clusterer::Clusterer,
    sip: sip::Sip,
}

impl Proxy {
    /// The modules at `now` (Unix seconds), their randomness seeded with `seed`: the same
    /// pair always gives the same proxy.
    pub fn new(seed: u32, now: i64) -> Proxy {
        let mut rng = Rng::new(seed ^ 0x5eed_0001);
        let usrloc = usrloc::Usrloc::new(&mut rng, now);
        Proxy {
            rng,
            now,
            usrloc,
            dispatcher: dispatcher::Dispatcher::new(),
            dialog: dialog::DialogModule::new(),
            drouting: drouting::Drouting::new(),
            load_balancer: load_balancer::LoadBalancer::new(),
            rtpengine: rtpengine::Rtpengine::new(),
            clusterer: clusterer::Clusterer::new(),
            sip: sip::Sip::new(now),
        }
    }

    /// The modules' clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Moves the clock second by second up to `now` (at most [`MAX_ADVANCE`] at once);
    /// the events raised on the way.
    pub fn advance_to(&mut self, now: i64) -> Vec<Raised> {
        let mut raised = Vec::new();
        let target = now.min(self.now + MAX_ADVANCE);
        while self.now < target {
            self.now += 1;
            raised.extend(self.usrloc.tick(&mut self.rng, self.now, &mut self.sip));
            raised.extend(self.dispatcher.tick(&mut self.rng));
            raised.extend(self.drouting.tick(&mut self.rng));
            let registered = self.usrloc.aors();
            raised.extend(
                self.dialog
                    .tick(&mut self.rng, self.now, &registered, &mut self.sip),
            );
            self.load_balancer.tick(&self.dialog.ongoing());
            raised.extend(self.rtpengine.tick(&mut self.rng));
            raised.extend(self.clusterer.tick(&mut self.rng));
        }
        raised
    }

    /// Every module command, modules in load order.
    pub fn commands() -> Vec<ModuleCommand> {
        usrloc::commands()
            .into_iter()
            .chain(dispatcher::commands())
            .chain(dialog::commands())
            .chain(drouting::commands())
            .chain(load_balancer::commands())
            .chain(rtpengine::commands())
            .chain(clusterer::commands())
            .chain(tm::commands())
            .collect()
    }

    /// Runs `command` of `module` with its named parameters (a JSON object text, as the
    /// core passes them): the result as JSON text, and the events raised.
    pub fn call(
        &mut self,
        module: &str,
        command: &str,
        params: &str,
    ) -> Result<(String, Vec<Raised>), MiError> {
        let members = match json::parse(params.as_bytes(), 64) {
            Ok((Value::Object(members), _)) => members,
            _ => Vec::new(),
        };
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        let params = Params::new(RawParams::Named(&members), &names);
        let (result, raised) = match module {
            usrloc::MODULE => self.usrloc.call(command, &params, self.now)?,
            dispatcher::MODULE => self.dispatcher.call(command, &params)?,
            dialog::MODULE => self
                .dialog
                .call(command, &params, self.now, &mut self.sip)?,
            drouting::MODULE => self.drouting.call(command, &params)?,
            load_balancer::MODULE => self.load_balancer.call(command, &params)?,
            rtpengine::MODULE if command == "teardown" => {
                let callid = params.string("callid")?;
                if callid.is_empty() {
                    return Err(MiError::new(400, "Empty callid"));
                }
                let raised = self.dialog.terminate_callid(&callid, &mut self.sip);
                let raised =
                    raised.ok_or_else(|| MiError::new(500, "Failed to terminate dialog"))?;
                (Value::str("OK"), vec![raised])
            }
            rtpengine::MODULE => self.rtpengine.call(command, &params)?,
            clusterer::MODULE => self.clusterer.call(command, &params)?,
            tm::MODULE if command == "t_uac_dlg" => {
                let request = tm::request(&params)?;
                let answer = self.answer(&request);
                let ids = [
                    self.rng.next_u64(),
                    self.rng.next_u64(),
                    self.rng.next_u64(),
                ];
                (
                    tm::uac_reply(&request, &answer, ids, &mut self.sip),
                    Vec::new(),
                )
            }
            tm::MODULE => tm::call(command, &params, &mut self.dialog, &mut self.sip, self.now)?,
            _ => return Err(MiError::method_not_found()),
        };
        Ok((json::to_compact(&result), raised))
    }

    /// Who answers a request `t_uac_dlg` sends: the proxy itself for its own domain
    /// (routing to the callee's registered contact, or `404 Not Found`), a registered
    /// phone, a gateway or destination that answers its probes; anything else never does.
    fn answer(&self, request: &tm::Request) -> tm::Answer {
        let ok = |contact: Option<String>| tm::Answer::Reply {
            code: 200,
            reason: "OK",
            contact,
        };
        let target = &request.target;
        let own = ["example.com", "127.0.0.1", "127.0.0.1:5060", "localhost"];
        if own.contains(&target.hostport.as_str()) {
            let user = target.user.as_deref().unwrap_or("");
            return match self.usrloc.contact_of(user) {
                Some(contact) => ok(Some(contact.to_string())),
                None => tm::Answer::Reply {
                    code: 404,
                    reason: "Not Found",
                    contact: None,
                },
            };
        }
        if let Some(contact) = self.usrloc.contact_at(&target.hostport) {
            return ok(Some(contact.to_string()));
        }
        let peer = self.drouting.answers(&target.hostport);
        match peer.or_else(|| self.dispatcher.answers(&target.hostport)) {
            Some(true) => ok(Some(format!("sip:{}", target.hostport))),
            _ => tm::Answer::Timeout,
        }
    }

    /// Every module's statistics: the SIP counters (`core:`, `sl:`, `tm:`) first.
    pub fn statistics(&self) -> Vec<Statistic> {
        let ringing = self.dialog.invites().count() as u64;
        let mut out = self.sip.statistics(self.now, ringing);
        out.extend(self.usrloc.statistics());
        out.extend(self.dialog.statistics());
        out
    }

    /// Resets one resettable statistic; false if `group:name` is none.
    pub fn reset_statistic(&mut self, group: &str, name: &str) -> bool {
        match group {
            usrloc::MODULE => self.usrloc.reset_statistic(name),
            dialog::MODULE => self.dialog.reset_statistic(name),
            _ => self.sip.reset_statistic(group, name),
        }
    }

    /// Resets every resettable statistic.
    pub fn reset_all_statistics(&mut self) {
        self.usrloc.reset_statistic("location-expires");
        self.dialog.reset_all_statistics();
        self.sip.reset_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_by_seconds_and_jumps_at_most_a_day() {
        let mut proxy = Proxy::new(1, 1_000);
        proxy.advance_to(900);
        assert_eq!(proxy.now(), 1_000);
        proxy.advance_to(1_000 + 2 * MAX_ADVANCE);
        assert_eq!(proxy.now(), 1_000 + MAX_ADVANCE);
    }

    #[test]
    fn dispatcher_states_move_by_mi_and_by_probes() {
        let mut proxy = Proxy::new(2, 0);
        let set =
            |proxy: &mut Proxy, params: &str| proxy.call("dispatcher", "ds_set_state", params);
        let (ok, raised) = set(
            &mut proxy,
            r#"{"state":"i","group":"2","address":"sip:10.0.2.21:5060"}"#,
        )
        .unwrap();
        assert_eq!(ok, r#""OK""#);
        assert_eq!(raised.len(), 1);
        assert_eq!(
            mi_core::host::notification(raised[0].0, &raised[0].1),
            r#"{"jsonrpc":"2.0","method":"E_DISPATCHER_STATUS","params":{"group":2,"address":"sip:10.0.2.21:5060","status":"inactive","reason":"MI command"}}"#
        );
        let (list, _) = proxy
            .call("dispatcher", "ds_list", r#"{"full":1}"#)
            .unwrap();
        assert!(list.starts_with(r#"{"PARTITIONS":[{"name":"default","SETS":[{"id":1,"Destinations":[{"URI":"sip:10.0.1.11:5060","state":"Active","first_hit_counter":0,"weight":2,"priority":0,"description":"media server A","resolved_addresses":["10.0.1.11:5060"]}"#), "{list}");
        assert!(
            list.contains(r#"{"URI":"sip:10.0.2.21:5060","state":"Inactive""#),
            "{list}"
        );
        let error = |params: &str| set(&mut Proxy::new(2, 0), params).unwrap_err();
        assert_eq!(
            error(r#"{"state":"x","group":"2","address":"a"}"#).message,
            "Bad state value"
        );
        assert_eq!(
            error(r#"{"state":"a","group":"two","address":"a"}"#).message,
            "bad group value"
        );
        assert_eq!(
            error(r#"{"state":"a","group":"9","address":"a"}"#).message,
            "destination not found"
        );
        assert_eq!(
            error(r#"{"state":"a","group":"p1:2","address":"a"}"#).code,
            404
        );
        let unknown = proxy
            .call("dispatcher", "ds_list", r#"{"partition":"other"}"#)
            .unwrap_err();
        assert_eq!(
            (unknown.code, unknown.message.as_str()),
            (500, "ERROR Unknown partition")
        );
        let mut probes = Vec::new();
        for second in 1..=3600 {
            probes.extend(
                proxy
                    .advance_to(second)
                    .into_iter()
                    .filter(|(e, _)| *e == dispatcher::EVENT),
            );
        }
        assert!(
            probes.len() >= 2,
            "the flapping gateway fails and recovers within an hour"
        );
        let (list, _) = proxy.call("dispatcher", "ds_list", "{}").unwrap();
        assert!(
            !list
                .contains(r#"{"URI":"sip:10.0.1.11:5060","state":"Active","first_hit_counter":0,"#),
            "an hour of calls hits the media servers: {list}"
        );
    }

    #[test]
    fn calls_show_in_dlg_list_statistics_and_profiles_and_end_by_mi() {
        let mut proxy = Proxy::new(4, 1_800_000_000);
        let mut events = 0;
        let mut confirmed = None;
        for second in 1..=600 {
            let raised = proxy.advance_to(1_800_000_000 + second);
            events += raised.iter().filter(|(e, _)| *e == dialog::EVENT).count();
            let (list, _) = proxy.call("dialog", "dlg_list", "{}").unwrap();
            if list.contains(r#""state":4"#) {
                confirmed = Some(list);
                break;
            }
        }
        let list = confirmed.expect("a call is answered within ten minutes");
        assert!(
            events >= 2,
            "ringing and answered raise E_DLG_STATE_CHANGED"
        );
        assert!(list.starts_with(r#"{"Dialogs":[{"ID":""#), "{list}");
        let stats = proxy.statistics();
        let active = stats
            .iter()
            .find(|s| s.name == "active_dialogs")
            .unwrap()
            .value;
        assert_eq!(active as usize, list.matches(r#""state":4"#).count());
        let (profile, _) = proxy
            .call("dialog", "profile_get_size", r#"{"profile":"caller"}"#)
            .unwrap();
        let dialogs = list.matches(r#""ID":"#).count();
        assert_eq!(
            profile,
            format!(
                r#"{{"Profile":{{"name":"caller","value":null,"count":{dialogs},"shared":"no","replicated":"no"}}}}"#
            )
        );
        let unknown = proxy
            .call("dialog", "profile_get_size", r#"{"profile":"nope"}"#)
            .unwrap_err();
        assert_eq!(
            (unknown.code, unknown.message.as_str()),
            (404, "Profile not found")
        );
        let id = list
            .split(r#""ID":""#)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let (ok, raised) = proxy
            .call(
                "dialog",
                "dlg_end_dlg",
                &format!(r#"{{"dialog_id":"{id}"}}"#),
            )
            .unwrap();
        assert_eq!(ok, r#""OK""#);
        assert_eq!(raised.len(), 1);
        let again = proxy
            .call(
                "dialog",
                "dlg_end_dlg",
                &format!(r#"{{"dialog_id":"{id}"}}"#),
            )
            .unwrap_err();
        assert_eq!(
            (again.code, again.message.as_str()),
            (404, "Requested Dialog not found")
        );
        let missing = proxy
            .call("dialog", "dlg_list", r#"{"callid":"nope"}"#)
            .unwrap_err();
        assert_eq!(
            (missing.code, missing.message.as_str()),
            (404, "No such dialog")
        );
        let (page, _) = proxy
            .call("dialog", "dlg_list", r#"{"index":0,"counter":1}"#)
            .unwrap();
        assert!(page.starts_with(r#"{"count":"#), "{page}");
    }

    #[test]
    fn drouting_gateways_and_carriers_follow_opensips() {
        let mut proxy = Proxy::new(6, 0);
        let call = |proxy: &mut Proxy, command: &str, params: &str| {
            proxy.call("drouting", command, params)
        };
        let (list, _) = call(&mut proxy, "dr_gw_status", "{}").unwrap();
        assert_eq!(
            list,
            r#"{"Gateways":[{"ID":"gw1","IP":"10.0.3.1:5060","ATTRS":"carrier=alpha","State":"Active"},{"ID":"gw2","IP":"10.0.3.2:5060","ATTRS":"carrier=alpha","State":"Active"},{"ID":"gw3","IP":"10.0.3.3:5060","State":"Active"}]}"#
        );
        let (ok, raised) =
            call(&mut proxy, "dr_gw_status", r#"{"gw_id":"gw2","status":0}"#).unwrap();
        assert_eq!(ok, r#""OK""#);
        assert_eq!(
            mi_core::host::notification(raised[0].0, &raised[0].1),
            r#"{"jsonrpc":"2.0","method":"E_DROUTING_STATUS","params":{"partition":"Default","gwid":"gw2","address":"10.0.3.2:5060","status":"disabled MI","reason":"MI command"}}"#
        );
        let (one, _) = call(&mut proxy, "dr_gw_status", r#"{"gw_id":"gw2"}"#).unwrap();
        assert_eq!(one, r#"{"ATTRS":"carrier=alpha","State":"Disabled MI"}"#);
        let missing = call(&mut proxy, "dr_gw_status", r#"{"gw_id":"gw9"}"#).unwrap_err();
        assert_eq!(
            (missing.code, missing.message.as_str()),
            (404, "GW ID not found")
        );
        let partition = call(&mut proxy, "dr_gw_status", r#"{"partition_name":"x"}"#).unwrap_err();
        assert_eq!(
            partition.data.as_deref(),
            Some("'partition_name' supported only when 'use_partitions' is set")
        );
        call(
            &mut proxy,
            "dr_carrier_status",
            r#"{"carrier_id":"beta","status":0}"#,
        )
        .unwrap();
        let (carriers, _) = call(&mut proxy, "dr_carrier_status", "{}").unwrap();
        assert_eq!(
            carriers,
            r#"{"Carriers":[{"ID":"alpha","ATTRS":"tier=1","Enabled":"yes"},{"ID":"beta","Enabled":"no "}]}"#
        );
        let unknown =
            call(&mut proxy, "dr_carrier_status", r#"{"carrier_id":"gamma"}"#).unwrap_err();
        assert_eq!(unknown.message, "Carrier ID not found");
        call(&mut proxy, "dr_reload", r#"{"inherit_state":0}"#).unwrap();
        let (again, _) = call(&mut proxy, "dr_gw_status", r#"{"gw_id":"gw2"}"#).unwrap();
        assert!(again.ends_with(r#""State":"Active"}"#), "{again}");
    }

    #[test]
    fn rtpengine_and_clusterer_answer_as_3_6() {
        let mut proxy = Proxy::new(5, 0);
        let mut call =
            |module: &str, command: &str, params: &str| match proxy.call(module, command, params) {
                Ok((text, raised)) => (text, raised.len()),
                Err(e) => (format!("{} {}", e.code, e.message), 0),
            };
        assert_eq!(
            call("rtpengine", "rtpengine_show", "{}").0,
            r#"[{"Set":0,"Nodes":[{"url":"udp:10.0.5.1:22222","index":0,"disabled":0,"weight":1,"recheck_ticks":0},{"url":"udp:10.0.5.2:22222","index":1,"disabled":0,"weight":1,"recheck_ticks":0}]}]"#
        );
        let disable = r#"{"url":"udp:10.0.5.1:22222","enable":0}"#;
        assert_eq!(
            call("rtpengine", "rtpengine_enable", disable),
            (r#""OK""#.into(), 1)
        );
        assert!(call("rtpengine", "rtpengine_show", "{}")
            .0
            .contains(r#""disabled":1,"weight":1,"recheck_ticks":4294967295"#));
        let missing = r#"{"url":"udp:1.2.3.4:1","enable":1}"#;
        assert_eq!(
            call("rtpengine", "rtpengine_enable", missing).0,
            "404 RTP engine not found"
        );
        assert_eq!(
            call("rtpengine", "rtpengine_reload", "{}").0,
            "400 Dynamic loading not enabled"
        );
        assert_eq!(
            call("rtpengine", "teardown", r#"{"callid":"x"}"#).0,
            "500 Failed to terminate dialog"
        );
        assert_eq!(
            call("clusterer", "clusterer_list", "{}").0,
            r#"{"Clusters":[{"cluster_id":1,"Nodes":[{"node_id":2,"db_id":2,"url":"bin:10.0.6.2:5566","link_state":"Up","state":"enabled","next_hop":"2","description":"backup proxy"},{"node_id":3,"db_id":3,"url":"bin:10.0.6.3:5566","link_state":"Up","state":"enabled","next_hop":"3","description":"west site"}]}]}"#
        );
        let off = r#"{"cluster_id":1,"node_id":2,"status":0}"#;
        assert_eq!(call("clusterer", "clusterer_set_status", off).0, r#""OK""#);
        assert_eq!(
            call(
                "clusterer",
                "clusterer_set_status",
                r#"{"cluster_id":1,"status":5}"#
            )
            .0,
            "400 Bad value for 'status'"
        );
        assert_eq!(
            call(
                "clusterer",
                "clusterer_set_status",
                r#"{"cluster_id":2,"status":1}"#
            )
            .0,
            "404 Cluster id not found"
        );
        assert_eq!(
            call(
                "clusterer",
                "clusterer_set_status",
                r#"{"cluster_id":1,"node_id":9,"status":1}"#
            )
            .0,
            "404 Node id not found"
        );
        let raised = proxy.advance_to(1);
        assert!(raised.iter().any(|(e, p)| *e == clusterer::EVENT
            && mi_core::host::notification(e, p)
                .ends_with(r#"{"cluster_id":1,"node_id":2,"new_state":0}}"#)));
        let (list, _) = proxy.call("clusterer", "clusterer_list", "{}").unwrap();
        assert!(
            list.contains(r#""link_state":"Down","state":"disabled","next_hop":"none""#),
            "{list}"
        );
    }

    #[test]
    fn every_command_has_its_4_0_name() {
        let commands = Proxy::commands();
        for command in &commands {
            let name = name_4_0(command).unwrap_or_else(|| panic!("{}", command.name));
            assert_eq!(find_command(&commands, &name).unwrap().name, command.name);
            assert_eq!(
                find_command(&commands, &command.name).unwrap().name,
                command.name
            );
        }
        assert_eq!(commands.len(), mi_core::names::MODULE_COMMANDS_4_0.len());
        assert_eq!(
            find_command(&commands, "usrloc:dump").unwrap().name,
            "ul_dump"
        );
        assert!(find_command(&commands, "list").is_none());
        assert!(find_command(&commands, "dialog:dump").is_none());
    }

    #[test]
    fn the_same_seed_gives_the_same_proxy() {
        let dump = |seed| {
            let mut proxy = Proxy::new(seed, 1_800_000_000);
            proxy.advance_to(1_800_000_900);
            proxy.call("usrloc", "ul_dump", "{}").map(|(text, _)| text)
        };
        assert_eq!(dump(3), dump(3));
        assert_ne!(dump(3), dump(4));
    }
}
