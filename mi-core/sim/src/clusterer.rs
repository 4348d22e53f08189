//! The simulated `clusterer` module of OpenSIPS 3.6: this proxy is node 1 of cluster 1,
//! with a backup proxy (node 2) and a second site (node 3) whose link sometimes drops and
//! comes back through probing. The dialog and usrloc replication capabilities are synced.
//!
//! Commands, with 3.6's recipes, reply members and error texts
//! (`modules/clusterer/clusterer_mod.c` `mi_cmds`, `clusterer_list`,
//! `clusterer_list_cap`, `clusterer_set_status`, `clusterer_reload`): `clusterer_list`
//! (`[]`), `clusterer_list_cap` (`[]`), `clusterer_set_status` (`[cluster_id, status]`,
//! `[cluster_id, node_id, status]`), `clusterer_reload` (`[]`). Event
//! (`clusterer_evi.c`): `E_CLUSTERER_NODE_STATE_CHANGED` (`cluster_id`, `node_id`,
//! `new_state`).

use crate::random::Rng;
use crate::{command, Raised};
use mi_core::host::{EventParams, EventValue, ModuleCommand};
use mi_core::json::Value;
use mi_core::params::Params;
use mi_core::MiError;

/// The module's name.
pub const MODULE: &str = "clusterer";

/// The event a node's reachability change raises.
pub const EVENT: &str = "E_CLUSTERER_NODE_STATE_CHANGED";

/// The one cluster.
const CLUSTER: i32 = 1;

/// This node's id (`my_node_id`).
const CURRENT: i32 = 1;

/// The node whose link sometimes drops.
const FLAPPING: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Up,
    Probe,
    Down,
}

#[derive(Debug, Clone)]
struct Node {
    node_id: i32,
    db_id: i32,
    url: &'static str,
    description: &'static str,
    enabled: bool,
    link: Link,
}

/// The cluster as this node sees it.
#[derive(Debug)]
pub struct Clusterer {
    nodes: Vec<Node>,
    enabled: bool,
}

/// The module's commands (3.6 gives these help texts).
pub fn commands() -> Vec<ModuleCommand> {
    vec![
        command(
            MODULE,
            "clusterer_reload",
            Some("reloads stored data from the database"),
            false,
            &[&[]],
        ),
        command(
            MODULE,
            "clusterer_set_status",
            Some("sets the status for a specified connection"),
            false,
            &[
                &["cluster_id", "status"],
                &["cluster_id", "node_id", "status"],
            ],
        ),
        command(
            MODULE,
            "clusterer_list",
            Some("lists the available connections for the specified server"),
            false,
            &[&[]],
        ),
        command(
            MODULE,
            "clusterer_list_cap",
            Some("lists registered capabilities and their states"),
            false,
            &[&[]],
        ),
    ]
}

fn table() -> Vec<Node> {
    let node = |node_id, db_id, url, description| Node {
        node_id,
        db_id,
        url,
        description,
        enabled: true,
        link: Link::Up,
    };
    vec![
        node(2, 2, "bin:10.0.6.2:5566", "backup proxy"),
        node(3, 3, "bin:10.0.6.3:5566", "west site"),
    ]
}

fn state_event(node_id: i32, up: bool) -> Raised {
    (
        EVENT,
        EventParams::Named(vec![
            ("cluster_id".into(), EventValue::Int(CLUSTER)),
            ("node_id".into(), EventValue::Int(node_id)),
            ("new_state".into(), EventValue::Int(i32::from(up))),
        ]),
    )
}

impl Clusterer {
    /// Every link up.
    pub fn new() -> Clusterer {
        Clusterer {
            nodes: table(),
            enabled: true,
        }
    }

    /// One simulated second: a node probed answers and is up again; the flapping node's
    /// link may drop. A disabled node, or all of them while this one is disabled, stays
    /// down.
    pub fn tick(&mut self, rng: &mut Rng) -> Vec<Raised> {
        let mut raised = Vec::new();
        let enabled = self.enabled;
        for node in &mut self.nodes {
            let reachable = enabled && node.enabled;
            match node.link {
                Link::Probe if reachable => {
                    node.link = Link::Up;
                    raised.push(state_event(node.node_id, true));
                }
                Link::Down if reachable && rng.range(1, 30) == 1 => node.link = Link::Probe,
                Link::Up if !reachable => {
                    node.link = Link::Down;
                    raised.push(state_event(node.node_id, false));
                }
                Link::Up if node.node_id == FLAPPING && rng.range(1, 600) == 1 => {
                    node.link = Link::Down;
                    raised.push(state_event(node.node_id, false));
                }
                _ => {}
            }
        }
        raised
    }

    /// Runs `command` with its parameters bound by name.
    pub fn call(
        &mut self,
        command: &str,
        params: &Params<'_>,
    ) -> Result<(Value, Vec<Raised>), MiError> {
        let bad = |what: &str| MiError::new(400, format!("Bad value for '{what}'"));
        match command {
            "clusterer_list" => {
                let nodes = self.nodes.iter().map(|n| {
                    let link = match n.link {
                        Link::Up => "Up",
                        Link::Probe => "Probe",
                        Link::Down => "Down",
                    };
                    let next_hop = match n.link {
                        Link::Up => n.node_id.to_string(),
                        _ => "none".to_string(),
                    };
                    let state = if n.enabled { "enabled" } else { "disabled" };
                    Value::Object(vec![
                        ("node_id".into(), Value::num(n.node_id)),
                        ("db_id".into(), Value::num(n.db_id)),
                        ("url".into(), Value::str(n.url)),
                        ("link_state".into(), Value::str(link)),
                        ("state".into(), Value::str(state)),
                        ("next_hop".into(), Value::String(next_hop)),
                        ("description".into(), Value::str(n.description)),
                    ])
                });
                Ok((clusters("Nodes", nodes.collect()), Vec::new()))
            }
            "clusterer_list_cap" => {
                let caps = ["dialog-dlg-repl", "usrloc-contact-repl"].map(|name| {
                    Value::Object(vec![
                        ("name".into(), Value::str(name)),
                        ("state".into(), Value::str("Ok")),
                        ("enabled".into(), Value::str("yes")),
                    ])
                });
                Ok((clusters("Capabilities", caps.to_vec()), Vec::new()))
            }
            "clusterer_set_status" => {
                let cluster_id = params.int("cluster_id")?;
                if cluster_id < 1 {
                    return Err(bad("cluster_id"));
                }
                let node_id = match params.has("node_id") {
                    true => params.int("node_id")?,
                    false => CURRENT,
                };
                if node_id < 1 {
                    return Err(bad("node_id"));
                }
                let status = params.int("status")?;
                if status != 0 && status != 1 {
                    return Err(bad("status"));
                }
                if cluster_id != CLUSTER {
                    return Err(MiError::new(404, "Cluster id not found"));
                }
                if node_id == CURRENT {
                    self.enabled = status == 1;
                } else {
                    let node = self.nodes.iter_mut().find(|n| n.node_id == node_id);
                    let node = node.ok_or_else(|| MiError::new(404, "Node id not found"))?;
                    node.enabled = status == 1;
                }
                Ok((Value::str("OK"), Vec::new()))
            }
            "clusterer_reload" => {
                let links: Vec<Link> = self.nodes.iter().map(|n| n.link).collect();
                self.nodes = table();
                for (node, link) in self.nodes.iter_mut().zip(links) {
                    node.link = link;
                }
                Ok((Value::str("OK"), Vec::new()))
            }
            _ => Err(MiError::method_not_found()),
        }
    }
}

/// `{"Clusters":[{"cluster_id":1,"<member>":[…]}]}`.
fn clusters(member: &str, items: Vec<Value>) -> Value {
    let cluster = Value::Object(vec![
        ("cluster_id".into(), Value::num(CLUSTER)),
        (member.to_string(), Value::Array(items)),
    ]);
    Value::Object(vec![("Clusters".into(), Value::Array(vec![cluster]))])
}

impl Default for Clusterer {
    fn default() -> Self {
        Clusterer::new()
    }
}
