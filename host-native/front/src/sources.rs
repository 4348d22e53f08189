//! Where nodes come from — the configuration's `[upstreams]` and each
//! `[discovery.<name>]` — merged into the fleet's roster whenever one of them changes.
//!
//! A merge keeps a node whose section and source are unchanged as it is (its health,
//! counters and idle connections); a new or changed one starts unprobed; a removed or
//! changed one is retired, and the calls already sent to it still get their answers.
//! Configured nodes come first and keep their names: a discovered node of the same name
//! is left out.

use super::dns::{Discovery, DiscoveryConfig, Found};
use super::fleet::{Fleet, Roster};
use super::node::{self, Node};
use super::settings::UpstreamConfig;
use miwa_client::Budget;
use miwa_state::HostState;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The source of configured nodes, as `nodes_list` shows it.
const CONFIGURED: &str = "config";

/// The nodes each source gives now.
#[derive(Default)]
struct Given {
    configured: indexmap::IndexMap<String, UpstreamConfig>,
    default: String,
    /// By discovery name: its nodes, by name.
    discovered: BTreeMap<String, Vec<(String, UpstreamConfig)>>,
}

/// The node sources of a front, and what they give.
pub(crate) struct NodeSources {
    fleet: Arc<Fleet>,
    state: Arc<HostState>,
    runtime: tokio::runtime::Handle,
    budget: Budget,
    given: Mutex<Given>,
}

impl NodeSources {
    /// Sources feeding `fleet`; nodes are probed on `runtime`, report to `state`, and
    /// read their stream replies within `budget`.
    pub fn new(
        fleet: Arc<Fleet>,
        state: Arc<HostState>,
        runtime: tokio::runtime::Handle,
        budget: Budget,
    ) -> Arc<NodeSources> {
        Arc::new(NodeSources {
            fleet,
            state,
            runtime,
            budget,
            given: Mutex::new(Given::default()),
        })
    }

    fn given(&self) -> std::sync::MutexGuard<'_, Given> {
        self.given.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `upstreams` the configured nodes and `default` (a name, or empty) the default
    /// one; returns what changed.
    pub fn set_configured(
        &self,
        upstreams: &indexmap::IndexMap<String, UpstreamConfig>,
        default: &str,
    ) -> anyhow::Result<String> {
        let mut given = self.given();
        given.configured = upstreams.clone();
        given.default = default.to_string();
        self.merge(&given)
    }

    /// Makes `nodes` what discovery `name` gives; returns what changed.
    fn set_discovered(
        &self,
        name: &str,
        nodes: Vec<(String, UpstreamConfig)>,
    ) -> anyhow::Result<String> {
        let mut given = self.given();
        if given.discovered.get(name) == Some(&nodes) {
            return Ok(String::new());
        }
        given.discovered.insert(name.to_string(), nodes);
        self.merge(&given)
    }

    /// Starts discovery `name`: a lookup now, then as its records' TTLs say, each result
    /// merged into the roster; it reports under the status group `discovery`.
    pub fn discover(self: &Arc<Self>, name: &str, config: &DiscoveryConfig) -> anyhow::Result<()> {
        let discovery = {
            let _inside = self.runtime.enter();
            Discovery::new(name, config)?
        };
        self.state.set_status(
            "discovery",
            name,
            miwa_state::readiness::INITIALIZING,
            &format!("{}: not yet looked up", config.srv),
        );
        let sources = Arc::downgrade(self);
        let srv = config.srv.clone();
        self.runtime.spawn(async move {
            loop {
                let found = discovery.lookup().await;
                let Some(sources) = sources.upgrade() else {
                    return;
                };
                let wait = match found {
                    Found::Nodes(nodes, wait) => {
                        let count = nodes.len();
                        match sources.set_discovered(discovery.name(), nodes) {
                            Ok(changes) if !changes.is_empty() => tracing::info!(
                                discovery = discovery.name(),
                                "{srv}: {count} nodes; {changes}"
                            ),
                            Ok(_) => {}
                            Err(error) => {
                                tracing::error!(discovery = discovery.name(), "{srv}: {error:#}")
                            }
                        }
                        sources.state.set_status(
                            "discovery",
                            discovery.name(),
                            miwa_state::readiness::RUNNING,
                            &format!("{srv}: {count} nodes, next lookup in {} s", wait.as_secs()),
                        );
                        wait
                    }
                    Found::Failed(error, wait) => {
                        tracing::warn!(
                            discovery = discovery.name(),
                            "{srv}: lookup failed, keeping the nodes known: {error}"
                        );
                        sources.state.set_status(
                            "discovery",
                            discovery.name(),
                            miwa_state::readiness::DOWN,
                            &format!("{srv}: lookup failed, keeping the nodes known: {error}"),
                        );
                        wait
                    }
                };
                drop(sources);
                tokio::time::sleep(wait).await;
            }
        });
        Ok(())
    }

    /// Builds the roster of what the sources give and makes it the fleet's.
    fn merge(&self, given: &Given) -> anyhow::Result<String> {
        let before = self.fleet.roster();
        let mut nodes: Vec<Arc<Node>> = Vec::new();
        let mut started = Vec::new();
        let wanted = given
            .configured
            .iter()
            .map(|(name, upstream)| (name, upstream, CONFIGURED.to_string()))
            .chain(given.discovered.iter().flat_map(|(discovery, found)| {
                found
                    .iter()
                    .map(move |(name, upstream)| (name, upstream, format!("discovery.{discovery}")))
            }));
        for (name, upstream, source) in wanted {
            if nodes.iter().any(|n| n.name == *name) {
                continue;
            }
            let kept = before
                .get(name)
                .filter(|node| node.config == *upstream && node.source == source);
            match kept {
                Some(node) => nodes.push(node.clone()),
                None => {
                    let node = Node::new(name, upstream, &source, &self.budget)
                        .map(Arc::new)
                        .map_err(|e| anyhow::anyhow!("[upstreams.{name}]: {e}"))?;
                    started.push(node.clone());
                    nodes.push(node);
                }
            }
        }
        let default = nodes.iter().position(|n| n.name == given.default);
        let kept = nodes.len() - started.len();
        self.fleet.replace(Roster::new(nodes, default));
        let roster = self.fleet.roster();
        let mut retired = Vec::new();
        for node in before.nodes() {
            if !roster.nodes().iter().any(|n| Arc::ptr_eq(n, node)) {
                node.retire();
                if roster.get(&node.name).is_none() {
                    self.state.remove_status("upstreams", &node.name);
                }
                retired.push(node.name.clone());
            }
        }
        for node in &started {
            watch(&self.state, &self.runtime, node);
        }
        if started.is_empty() && retired.is_empty() {
            return Ok(String::new());
        }
        let names = |nodes: &[String]| match nodes.len() {
            0..=10 => nodes.join(", "),
            more => format!("{}, … ({more} in all)", nodes[..10].join(", ")),
        };
        let started: Vec<String> = started.iter().map(|n| n.name.clone()).collect();
        Ok(format!(
            "{kept} nodes kept, started: [{}], retired: [{}]",
            names(&started),
            names(&retired)
        ))
    }
}

/// Starts probing `node` on `runtime`, reporting under the status group `upstreams` of
/// `state`, until the node is retired.
fn watch(state: &Arc<HostState>, runtime: &tokio::runtime::Handle, node: &Arc<Node>) {
    state.set_status(
        "upstreams",
        &node.name,
        miwa_state::readiness::INITIALIZING,
        &format!(
            "{} ({}): not yet contacted",
            node.address(),
            node.config.dialect.name()
        ),
    );
    let status_state = Arc::downgrade(state);
    runtime.spawn(node.clone().watch(move |node, listed_anew| {
        let Some(state) = status_state.upgrade() else {
            return;
        };
        if listed_anew {
            state.catalogue_changed();
        }
        let (status, details) = match node.state() {
            node::State::Up => (
                miwa_state::readiness::RUNNING,
                format!("{}: up, {} commands", node.address(), node.commands().len()),
            ),
            _ => (
                miwa_state::readiness::DOWN,
                format!(
                    "{}: down: {}",
                    node.address(),
                    node.last_error().unwrap_or_default()
                ),
            ),
        };
        state.set_status("upstreams", &node.name, status, &details);
    }));
}
