//! The MI core for the browser: mi-core behind a simulated OpenSIPS node, exported with
//! wasm-bindgen for the playground (`/playground`). The replies have exactly the shape and
//! errors of the daemon's because the same core produces them; only the state behind them
//! (processes, statistics, cache, events, status reports) is simulated.
//!
//! # Layout
//! - this file: the wasm-bindgen API the page calls;
//! - `sim/`: the simulated node's host state; `explain`: why the core refused a request.

#![forbid(unsafe_code)]

mod explain;
pub mod sim;

use mi_core::chart::{self, History};
use mi_core::json::{self, object, Value};
use mi_core::{Core, HandleOptions, Host, Reply};
use sim::{Entry, Simulation};
use std::cell::RefCell;
use wasm_bindgen::prelude::wasm_bindgen;

/// The charts shown before the user picks any: SIP traffic, transactions, load, memory.
pub const CHARTS: [&str; 4] = [
    "core:rcv_requests,core:rcv_replies,core:fwd_requests",
    "tm:UAS_transactions,tm:UAC_transactions",
    "load:load,load:load1m,load:load10m",
    "shmem:real_used_size,shmem:used_size",
];

/// Samples kept per statistic: one per simulated second, five minutes.
const CHART_SAMPLES: usize = 300;

/// Statistics sampled at most (the simulated node has fewer).
const CHART_SERIES: usize = 64;

/// A core and its simulated node.
#[wasm_bindgen]
pub struct Playground {
    core: Core,
    sim: Simulation,
    history: RefCell<History>,
}

#[wasm_bindgen]
impl Playground {
    /// A node started at `started` (Unix seconds), with randomness seeded by `seed`: the
    /// same pair always gives the same simulation.
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u32, started: f64) -> Playground {
        Playground {
            core: Core::default(),
            sim: Simulation::new(seed, started as i64),
            history: RefCell::new(History::new(CHART_SAMPLES, CHART_SERIES)),
        }
    }

    /// Handles one JSON-RPC request text. Answers a JSON object:
    /// `{"kind":"text"|"parse_error"|"nothing"|"unprintable","text":…,"calls":[…]}`.
    pub fn handle(&self, request: &str) -> String {
        let handled = self
            .core
            .handle(&self.sim, request.as_bytes(), HandleOptions::default());
        let (kind, text) = match handled.reply {
            Reply::Text(text) => ("text", Value::String(text)),
            Reply::ParseError(text) => ("parse_error", Value::String(text)),
            Reply::Nothing => ("nothing", Value::Null),
            Reply::Unprintable => ("unprintable", Value::Null),
        };
        let calls = handled
            .calls
            .into_iter()
            .filter(|c| c.module.is_some())
            .map(|c| {
                object([
                    ("command", Value::String(c.command)),
                    ("error", c.error.map_or(Value::Null, Value::num)),
                ])
            })
            .collect();
        json::to_compact(&object([
            ("kind", Value::str(kind)),
            ("text", text),
            ("calls", Value::Array(calls)),
        ]))
    }

    /// Every command, the core's in registration order then the simulated modules', as a
    /// JSON array of `{"name","module","help","named_only","recipes","simulated_module",
    /// "name_4_0"}` (`simulated_module`: a command of the simulated node's modules, which
    /// the daemon itself does not have; `name_4_0`: the name OpenSIPS 4.0 gives it, which
    /// it answers to as well, or null).
    pub fn commands(&self) -> String {
        let entry = |name: &str,
                     module: &str,
                     help: Option<&str>,
                     named_only: bool,
                     recipes: Vec<Vec<&str>>,
                     simulated: bool,
                     name_4_0: Option<String>| {
            object([
                ("name", Value::str(name)),
                ("module", Value::str(module)),
                ("help", help.map_or(Value::Null, Value::str)),
                ("named_only", Value::Bool(named_only)),
                (
                    "recipes",
                    Value::Array(
                        recipes
                            .into_iter()
                            .map(|r| Value::Array(r.into_iter().map(Value::str).collect()))
                            .collect(),
                    ),
                ),
                ("simulated_module", Value::Bool(simulated)),
                ("name_4_0", name_4_0.map_or(Value::Null, Value::String)),
            ])
        };
        let core = self.core.registry().commands().iter().map(|c| {
            entry(
                c.name,
                c.module,
                c.help,
                c.named_only,
                c.recipe_names(),
                false,
                None,
            )
        });
        let modules = self.sim.module_commands();
        let simulated = modules.iter().map(|c| {
            entry(
                &c.name,
                &c.module,
                c.help.as_deref(),
                c.named_only,
                c.recipes
                    .iter()
                    .map(|r| r.iter().map(String::as_str).collect())
                    .collect(),
                true,
                mi_sim::name_4_0(c),
            )
        });
        json::to_compact(&Value::Array(core.chain(simulated).collect()))
    }

    /// Explains in words the error in `reply` (a reply text) to `request`; empty if none.
    pub fn explain(&self, request: &str, reply: &str) -> String {
        explain::explain(self.core.registry(), request, reply)
    }

    /// Moves the simulated clock forward, sampling the statistics for the charts each
    /// simulated second (the last five minutes of a longer jump).
    pub fn advance(&self, seconds: u32) {
        let sampled = seconds.min(CHART_SAMPLES as u32);
        if seconds > sampled {
            self.sim.advance(seconds - sampled);
        }
        for _ in 0..sampled {
            self.sim.advance(1);
            let stats = self.sim.statistics();
            self.history
                .borrow_mut()
                .record(self.sim.now() * 1000, &stats, |_, _| true);
        }
    }

    /// The charts of the simulated node's last five minutes: the default ones, then
    /// `picks` (chart specs, one per line), as a JSON array of `{"spec","svg"}` or
    /// `{"spec","error"}` — the same charts the daemon's HTML page draws.
    pub fn charts(&self, picks: &str) -> String {
        let history = self.history.borrow();
        let specs = CHARTS
            .iter()
            .copied()
            .chain(picks.lines().map(str::trim).filter(|p| !p.is_empty()));
        let window_ms = CHART_SAMPLES as i64 * 1000;
        let charts = specs
            .enumerate()
            .map(|(i, spec)| match chart::parse_spec(spec) {
                Ok(globs) => {
                    let lines = history.lines(&globs);
                    let svg = chart::render(
                        &format!("chart-{i}"),
                        spec,
                        &lines,
                        window_ms,
                        self.sim.now() * 1000,
                    );
                    object([("spec", Value::str(spec)), ("svg", Value::String(svg))])
                }
                Err(problem) => object([
                    ("spec", Value::str(spec)),
                    ("error", Value::String(problem.to_string())),
                ]),
            })
            .collect();
        json::to_compact(&Value::Array(charts))
    }

    /// The simulated time, Unix seconds.
    pub fn now(&self) -> f64 {
        self.sim.now() as f64
    }

    /// Whether `kill` stopped the simulated node.
    pub fn stopped(&self) -> bool {
        self.sim.stopped()
    }

    /// What happened since the last call, as a JSON array of
    /// `{"kind":"event","socket","text"}` and `{"kind":"log","text"}`.
    pub fn journal(&self) -> String {
        let entries = self
            .sim
            .take_journal()
            .into_iter()
            .map(|entry| match entry {
                Entry::Event { socket, text } => object([
                    ("kind", Value::str("event")),
                    ("socket", Value::String(socket)),
                    ("text", Value::String(text)),
                ]),
                Entry::Log(text) => {
                    object([("kind", Value::str("log")), ("text", Value::String(text))])
                }
            })
            .collect();
        json::to_compact(&Value::Array(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(pg: &Playground, request: &str) -> Value {
        let (outer, _) = json::parse(pg.handle(request).as_bytes(), 64).unwrap();
        match outer.get_ci("text") {
            Some(Value::String(text)) => json::parse(text.as_bytes(), 64).unwrap().0,
            _ => Value::Null,
        }
    }

    #[test]
    fn the_simulated_node_answers_through_the_core() {
        let pg = Playground::new(3, 1_800_000_000.0);
        pg.advance(30);
        let uptime = reply(&pg, r#"{"jsonrpc":"2.0","method":"uptime","id":1}"#);
        assert_eq!(
            uptime.get_ci("result").and_then(|r| r.get_ci("Up time")),
            Some(&Value::str("30 [sec]"))
        );
        let set = reply(
            &pg,
            r#"{"jsonrpc":"2.0","method":"log_level","params":{"level":1,"pid":2103},"id":1}"#,
        );
        assert!(
            json::to_compact(&set).contains(r#""result":{"Log level":1}"#),
            "{set:?}"
        );
        let ps = json::to_compact(&reply(
            &pg,
            r#"{"jsonrpc":"2.0","method":"log_level","id":1}"#,
        ));
        assert!(
            ps.contains(r#"{"PID":2103,"Log level":1,"Type":"HTTPD 127.0.0.1:8888"}"#),
            "{ps}"
        );
    }

    #[test]
    fn charts_draw_the_sampled_simulation() {
        let pg = Playground::new(2, 1_800_000_000.0);
        pg.advance(400);
        let (charts, _) =
            json::parse(pg.charts("tm:inuse_transactions\nbad").as_bytes(), 64).unwrap();
        let Value::Array(charts) = charts else {
            panic!("not an array");
        };
        assert_eq!(charts.len(), CHARTS.len() + 2);
        let svg = |i: usize| match charts[i].get_ci("svg") {
            Some(Value::String(svg)) => svg.clone(),
            _ => String::new(),
        };
        assert_eq!(svg(0).matches("<polyline").count(), 3);
        assert!(svg(CHARTS.len()).contains("tm:inuse_transactions"));
        assert!(charts[CHARTS.len() + 1].get_ci("error").is_some());
    }

    fn result_of(pg: &Playground, method: &str, params: &str) -> Value {
        let request =
            format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params},"id":1}}"#);
        reply(pg, &request)
    }

    #[test]
    fn usrloc_registrations_show_in_ul_dump_statistics_and_events() {
        let pg = Playground::new(5, 1_800_000_000.0);
        reply(
            &pg,
            r#"{"jsonrpc":"2.0","method":"event_subscribe","params":["E_UL_CONTACT_INSERT","udp:127.0.0.1:9999",3600],"id":1}"#,
        );
        pg.advance(600);
        let dump = result_of(&pg, "ul_dump", "[]");
        let text = json::to_compact(&dump);
        assert!(text.starts_with(r#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","hash_size":512,"AORs":["#), "{text}");
        let aors = match dump.get_ci("result").and_then(|r| r.get_ci("Domains")) {
            Some(Value::Array(domains)) => match domains[0].get_ci("AORs") {
                Some(Value::Array(aors)) => aors.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        assert!(!aors.is_empty(), "{text}");
        let stats = json::to_compact(&result_of(&pg, "get_statistics", r#"[["usrloc:"]]"#));
        assert!(
            stats.contains(&format!(r#""usrloc:registered_users":{}"#, aors.len())),
            "{stats} for {} AORs",
            aors.len()
        );
        let journal = pg.journal();
        assert!(journal.contains(r#"E_UL_CONTACT_INSERT"#), "{journal}");
        let Some(Value::String(aor)) = aors[0].get_ci("AOR") else {
            panic!("no AOR in {text}");
        };
        let shown = json::to_compact(&result_of(
            &pg,
            "ul_show_contact",
            &format!(r#"["location","{aor}@example.com"]"#),
        ));
        assert!(
            shown.contains(&format!(
                r#""AOR":"{aor}","Contacts":[{{"Contact":"sip:{aor}@192.0.2."#
            )),
            "{shown}"
        );
        assert!(shown.contains(r#""Q":"","Callid":"#) && shown.contains(r#""State":"CS_NEW","Flags":0,"Cflags":"","Socket":"udp:127.0.0.1:5060","Methods":4294967295}"#), "{shown}");
        let removed = json::to_compact(&result_of(
            &pg,
            "ul_rm",
            &format!(r#"{{"table_name":"location","aor":"{aor}"}}"#),
        ));
        assert!(removed.contains(r#""result":"OK""#), "{removed}");
        let gone = json::to_compact(&result_of(
            &pg,
            "ul_show_contact",
            &format!(r#"["location","{aor}"]"#),
        ));
        assert!(
            gone.contains(r#""error":{"code":404,"message":"AOR not found"}"#),
            "{gone}"
        );
        let table = json::to_compact(&result_of(&pg, "ul_show_contact", r#"["nowhere","x"]"#));
        assert!(
            table.contains(r#"{"code":404,"message":"Table not found"}"#),
            "{table}"
        );
        let brief = json::to_compact(&result_of(&pg, "ul_dump", r#"{"brief":"x"}"#));
        assert!(
            brief.contains(r#""message":"Invalid params","data":"Bad type for parameter 'brief'""#),
            "{brief}"
        );
        let few = json::to_compact(&result_of(&pg, "ul_rm_contact", r#"["location","alice"]"#));
        assert!(few.contains("Too few or too many parameters"), "{few}");
    }

    #[test]
    fn the_simulation_is_the_same_for_the_same_seed() {
        let run = |seed| {
            let pg = Playground::new(seed, 1_800_000_000.0);
            pg.advance(900);
            json::to_compact(&result_of(&pg, "ul_dump", "[]"))
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn errors_are_explained_by_rule() {
        let pg = Playground::new(1, 0.0);
        let explain = |request: &str| {
            let outer = pg.handle(request);
            let (outer, _) = json::parse(outer.as_bytes(), 64).unwrap();
            let text = match outer.get_ci("text") {
                Some(Value::String(text)) => text.clone(),
                _ => String::new(),
            };
            pg.explain(request, &text)
        };
        assert!(explain(r#"{"jsonrpc":"2.0","method":"ps","id":1"#).starts_with("-32700"));
        assert!(explain(r#"{"jsonrpc":"1.0","method":"ps","id":1}"#)
            .contains("\"jsonrpc\" must be exactly the string \"2.0\""));
        assert!(
            explain(r#"{"jsonrpc":"2.0","method":"ps","params":5,"id":1}"#)
                .contains("\"params\" must be an array")
        );
        assert!(explain(r#"{"jsonrpc":"2.0","method":"pss","id":1}"#).contains("'pss'"));
        let recipes = explain(r#"{"jsonrpc":"2.0","method":"log_level","params":[1,2,3],"id":1}"#);
        assert!(
            recipes.contains("This call gave 3")
                && recipes.contains("'log_level' accepts: no parameters; [level]; [level, pid]"),
            "{recipes}"
        );
        assert_eq!(explain(r#"{"jsonrpc":"2.0","method":"ps","id":1}"#), "");
    }

    #[test]
    fn the_journal_shows_events_and_logs() {
        let pg = Playground::new(1, 0.0);
        reply(
            &pg,
            r#"{"jsonrpc":"2.0","method":"event_subscribe","params":["E_CORE_THRESHOLD","udp:127.0.0.1:9999",60],"id":1}"#,
        );
        reply(
            &pg,
            r#"{"jsonrpc":"2.0","method":"raise_event","params":["E_CORE_THRESHOLD",["x"]],"id":1}"#,
        );
        reply(&pg, r#"{"jsonrpc":"2.0","method":"kill","id":1}"#);
        let journal = pg.journal();
        assert!(
            journal.contains(r#""socket":"udp:127.0.0.1:9999""#),
            "{journal}"
        );
        assert!(journal.contains("simulated node stopped"), "{journal}");
        assert!(pg.stopped());
        assert_eq!(pg.journal(), "[]");
    }
}
