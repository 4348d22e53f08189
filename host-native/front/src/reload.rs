//! Reload commands guarded per node. Concurrent reloads are a known way to crash these
//! servers (overlapping `dispatcher.reload` double-frees shared memory in Kamailio; a
//! crash after repeated `reload_routes` in OpenSIPS), so a command that
//! `[front] reload_commands` names reaches a node:
//!
//! - **once for identical calls in flight**: a call with the same command and parameters
//!   as one already on its way to the node shares that call, and every caller gets its
//!   answer (`nodes_run` marks it `"shared": true`; the node's counter
//!   `<node>_reloads_shared` counts them);
//! - **at most once per `reload_interval_ms`** per node and command: a call that comes
//!   sooner is refused at once with `429 Reload too soon`, naming when the last one
//!   started (`<node>_reloads_refused`).

use super::node::{Answer, Node, NodeError};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which commands are reloads, and how often one may reach a node.
#[derive(Debug, Clone)]
pub struct ReloadPolicy {
    /// Globs of the command names, as the node knows them.
    pub commands: Vec<String>,
    /// Shortest time between the starts of two reloads of one command on one node.
    pub interval: Duration,
}

impl Default for ReloadPolicy {
    fn default() -> Self {
        ReloadPolicy {
            commands: default_commands(),
            interval: Duration::from_millis(1000),
        }
    }
}

/// The default `reload_commands`: OpenSIPS's `*_reload` and `reload_*` (`reload_routes`),
/// Kamailio's `*.reload` (`dispatcher.reload`, `htable.reload`).
pub fn default_commands() -> Vec<String> {
    ["*_reload", "reload_*", "*.reload"]
        .map(String::from)
        .to_vec()
}

impl ReloadPolicy {
    /// Whether `method` (as the node knows it) is a reload.
    pub fn guards(&self, method: &str) -> bool {
        self.commands
            .iter()
            .any(|pattern| mi_core::access::glob(pattern, method))
    }
}

/// A reload call in flight, shared by identical callers.
type InFlight = Shared<BoxFuture<'static, Result<Answer, NodeError>>>;

/// One command's reloads on one node.
#[derive(Default)]
struct Command {
    /// The last one's start.
    started: Option<Instant>,
    /// The one in flight and its key (command and parameters).
    in_flight: Option<(String, InFlight)>,
}

/// A node's reloads, by command.
#[derive(Default)]
pub struct Reloads {
    commands: Mutex<HashMap<String, Command>>,
    /// Calls that shared another's.
    pub shared: AtomicU64,
    /// Calls refused as too soon.
    pub refused: AtomicU64,
    sequence: AtomicU64,
}

/// A reload's outcome for one caller.
pub struct Reloaded {
    /// The node's answer (its id is the shared call's, not the caller's).
    pub answer: Answer,
    /// The caller shared a call already in flight.
    pub shared: bool,
}

impl Reloads {
    fn commands(&self) -> std::sync::MutexGuard<'_, HashMap<String, Command>> {
        self.commands.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends reload `method` to `node` under `policy`: `key` tells identical calls apart (the
/// method and its parameters), `request` makes the request text for an id.
pub(crate) async fn forward(
    node: &Arc<Node>,
    policy: &ReloadPolicy,
    method: &str,
    key: String,
    request: impl FnOnce(&str) -> String,
) -> Result<Reloaded, NodeError> {
    let reloads = &node.reloads;
    let (call, shared) = {
        let mut commands = reloads.commands();
        let command = commands.entry(method.to_string()).or_default();
        match &command.in_flight {
            Some((running, call)) if *running == key => (call.clone(), true),
            _ => {
                if let Some(since) = command
                    .started
                    .map(|started| started.elapsed())
                    .filter(|since| *since < policy.interval)
                {
                    reloads.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(NodeError::TooSoon {
                        command: method.to_string(),
                        since_ms: since.as_millis() as u64,
                        interval_ms: policy.interval.as_millis() as u64,
                    });
                }
                let id = format!(
                    "\"miwa-reload-{}\"",
                    reloads.sequence.fetch_add(1, Ordering::Relaxed)
                );
                let text = request(&id);
                let sender = node.clone();
                let call = async move { sender.forward(text.as_bytes(), &id).await }
                    .boxed()
                    .shared();
                command.in_flight = Some((key, call.clone()));
                command.started = Some(Instant::now());
                (call, false)
            }
        }
    };
    if shared {
        reloads.shared.fetch_add(1, Ordering::Relaxed);
    }
    let outcome = call.clone().await;
    if let Some(command) = reloads.commands().get_mut(method) {
        if command
            .in_flight
            .as_ref()
            .is_some_and(|(_, running)| running.ptr_eq(&call))
        {
            command.in_flight = None;
        }
    }
    outcome.map(|answer| Reloaded { answer, shared })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_are_named_by_globs() {
        let policy = ReloadPolicy::default();
        for reload in [
            "dr_reload",
            "reload_routes",
            "dispatcher.reload",
            "htable.reload",
        ] {
            assert!(policy.guards(reload), "{reload}");
        }
        for other in ["ps", "uptime", "reloaded_stats", "dispatcher.list"] {
            assert!(!policy.guards(other), "{other}");
        }
    }
}
