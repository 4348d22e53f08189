//! The simulated `rtpengine` module of OpenSIPS 3.6: one set of two RTPEngine nodes given
//! by `rtpengine_sock` (no database), one of which sometimes misses a ping and is retried
//! `rtpengine_disable_tout` (60) seconds later.
//!
//! Commands, with 3.6's recipes, reply members and error texts
//! (`modules/rtpengine/rtpengine.c` `mi_cmds`, `mi_enable_rtpengine`,
//! `mi_show_rtpengines`, `mi_reload_rtpengines`, `mi_teardown_call`): `rtpengine_enable`
//! (`[url, enable]`, `[url, enable, setid]`), `rtpengine_show` (`[]`), `rtpengine_reload`
//! (`[]`, `[type]`), `teardown` (`[callid]`). Event: `E_RTPENGINE_STATUS` (`socket`,
//! `status`).

use crate::random::Rng;
use crate::{command, Raised};
use mi_core::host::{EventParams, EventValue, ModuleCommand};
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;

/// The module's name.
pub const MODULE: &str = "rtpengine";

/// The event a node's status change raises.
pub const EVENT: &str = "E_RTPENGINE_STATUS";

/// `MI_MAX_RECHECK_TICKS`: a node disabled by MI is never retried.
const NEVER: u32 = u32::MAX;

/// `rtpengine_disable_tout`, seconds.
const DISABLE_TOUT: u32 = 60;

/// The node whose pings sometimes fail.
const FLAPPING: &str = "udp:10.0.5.2:22222";

#[derive(Debug, Clone)]
struct Node {
    url: &'static str,
    index: u32,
    weight: u32,
    disabled: bool,
    recheck_ticks: u32,
}

/// The one set (id 0, the default).
#[derive(Debug)]
pub struct Rtpengine {
    nodes: Vec<Node>,
    ticks: u32,
}

/// The module's commands.
pub fn commands() -> Vec<ModuleCommand> {
    vec![
        command(
            MODULE,
            "rtpengine_enable",
            None,
            false,
            &[&["url", "enable"], &["url", "enable", "setid"]],
        ),
        command(MODULE, "rtpengine_show", None, false, &[&[]]),
        command(MODULE, "rtpengine_reload", None, false, &[&[], &["type"]]),
        command(MODULE, "teardown", None, false, &[&["callid"]]),
    ]
}

fn status_event(node: &Node) -> Raised {
    let status = if node.disabled { "inactive" } else { "active" };
    (
        EVENT,
        EventParams::Named(vec![
            ("socket".into(), EventValue::Text(node.url.to_string())),
            ("status".into(), EventValue::Text(status.to_string())),
        ]),
    )
}

impl Rtpengine {
    /// Both nodes answering.
    pub fn new() -> Rtpengine {
        let node = |url, index| Node {
            url,
            index,
            weight: 1,
            disabled: false,
            recheck_ticks: 0,
        };
        Rtpengine {
            nodes: vec![node("udp:10.0.5.1:22222", 0), node(FLAPPING, 1)],
            ticks: 0,
        }
    }

    /// One simulated second: the flapping node may miss a ping; a node due for a recheck
    /// answers it.
    pub fn tick(&mut self, rng: &mut Rng) -> Vec<Raised> {
        self.ticks += 1;
        let mut raised = Vec::new();
        for node in &mut self.nodes {
            if node.disabled && node.recheck_ticks <= self.ticks {
                node.disabled = false;
                node.recheck_ticks = 0;
                raised.push(status_event(node));
            } else if !node.disabled && node.url == FLAPPING && rng.range(1, 400) == 1 {
                node.disabled = true;
                node.recheck_ticks = self.ticks + DISABLE_TOUT;
                raised.push(status_event(node));
            }
        }
        raised
    }

    /// `rtpengine_enable`, `rtpengine_show`, `rtpengine_reload`; `teardown` is the
    /// dialog module's (see `Proxy::call`).
    pub fn call(
        &mut self,
        command: &str,
        params: &Params<'_>,
    ) -> Result<(Value, Vec<Raised>), MiError> {
        match command {
            "rtpengine_enable" => {
                let url = params.string("url")?;
                if url.is_empty() {
                    return Err(MiError::new(400, "Empty url"));
                }
                let enable = params.int("enable")?;
                let set = match params.has("setid") {
                    true => params.int("setid").unwrap_or(-1),
                    false => -1,
                };
                let ticks = self.ticks;
                let mut raised = Vec::new();
                let mut found = false;
                for node in self.nodes.iter_mut().filter(|n| n.url == url) {
                    if set != -1 && set != 0 {
                        continue;
                    }
                    found = true;
                    let before = node.disabled;
                    (node.disabled, node.recheck_ticks) = match enable {
                        0 => (true, NEVER),
                        2 => (true, ticks + DISABLE_TOUT),
                        _ => (false, 0),
                    };
                    if before != node.disabled {
                        raised.push(status_event(node));
                    }
                }
                match found {
                    true => Ok((Value::str("OK"), raised)),
                    false => Err(MiError::new(404, "RTP engine not found")),
                }
            }
            "rtpengine_show" => {
                let nodes = self.nodes.iter().map(|n| {
                    Value::Object(vec![
                        ("url".into(), Value::str(n.url)),
                        ("index".into(), Value::num(n.index)),
                        ("disabled".into(), Value::num(u32::from(n.disabled))),
                        ("weight".into(), Value::num(n.weight)),
                        ("recheck_ticks".into(), Value::num(n.recheck_ticks)),
                    ])
                });
                let set = Value::Object(vec![
                    ("Set".into(), Value::num(0)),
                    ("Nodes".into(), Value::Array(nodes.collect())),
                ]);
                Ok((Value::Array(vec![set]), Vec::new()))
            }
            "rtpengine_reload" => Err(MiError::new(400, "Dynamic loading not enabled")),
            _ => Err(MiError::method_not_found()),
        }
    }
}

impl Default for Rtpengine {
    fn default() -> Self {
        Rtpengine::new()
    }
}
