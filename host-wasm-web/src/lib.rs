//! The MI core for the browser: mi-core behind a simulated OpenSIPS node, exported with
//! wasm-bindgen for the playground (`/playground`). The replies have exactly the shape and
//! errors of the daemon's because the same core produces them; only the state behind them
//! (processes, statistics, cache, events, status reports) is simulated.

mod explain;
pub mod sim;

use mi_core::json::{self, object, Value};
use mi_core::{Core, HandleOptions, Reply};
use sim::{Entry, Simulation};
use wasm_bindgen::prelude::wasm_bindgen;

/// A core and its simulated node.
#[wasm_bindgen]
pub struct Playground {
    core: Core,
    sim: Simulation,
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

    /// Every command, in registration order, as a JSON array of
    /// `{"name","module","help","named_only","recipes"}`.
    pub fn commands(&self) -> String {
        let list = self
            .core
            .registry()
            .commands()
            .iter()
            .map(|c| {
                object([
                    ("name", Value::str(c.name)),
                    ("module", Value::str(c.module)),
                    ("help", c.help.map_or(Value::Null, Value::str)),
                    ("named_only", Value::Bool(c.named_only)),
                    (
                        "recipes",
                        Value::Array(
                            c.recipe_names()
                                .into_iter()
                                .map(|r| Value::Array(r.into_iter().map(Value::str).collect()))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        json::to_compact(&Value::Array(list))
    }

    /// Explains in words the error in `reply` (a reply text) to `request`; empty if none.
    pub fn explain(&self, request: &str, reply: &str) -> String {
        explain::explain(self.core.registry(), request, reply)
    }

    /// Moves the simulated clock forward.
    pub fn advance(&self, seconds: u32) {
        self.sim.advance(seconds)
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
