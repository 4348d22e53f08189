//! The statistics of front mode's nodes, for a scrape: each node's `get_statistics all`
//! (Kamailio: `stats.get_statistics all`), all nodes at once, each within
//! `metrics.node_timeout_ms`.
//!
//! An OpenSIPS node is also asked `list_statistics`, so that its incremental statistics
//! are counters; a Kamailio node says nothing of types, so its statistics are gauges.

use crate::node::{Node, State};
use crate::settings::Dialect;
use mi_core::access::Access;
use mi_core::host::Statistic;
use miwa_dispatch::metrics::exposition::{Families, Kind};
use miwa_dispatch::metrics::{families, Metrics};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Why a node's statistics could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeScrapeError {
    /// The probes say it is down: it is not asked.
    #[error("the node is down")]
    Down,
    /// No reply within the timeout.
    #[error("no reply within {0} ms")]
    Timeout(u128),
    /// The exchange failed.
    #[error("{0}")]
    Exchange(String),
    /// The reply is an error, or not the statistics.
    #[error("the reply is not a statistics list")]
    BadReply,
}

async fn ask(node: &Node, method: &str, params: &str, id: &str) -> Result<Value, NodeScrapeError> {
    let request =
        format!("{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\"{params},\"id\":\"{id}\"}}");
    let answer = node
        .forward(request.as_bytes(), &format!("\"{id}\""))
        .await
        .map_err(|e| NodeScrapeError::Exchange(e.to_string()))?;
    if answer.error {
        return Err(NodeScrapeError::BadReply);
    }
    let mut reply: Value =
        serde_json::from_str(answer.text.trim()).map_err(|_| NodeScrapeError::BadReply)?;
    Ok(reply
        .get_mut("result")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

fn statistic(full: &str, value: u64, incremental: bool) -> Option<Statistic> {
    let (group, name) = full.split_once(':')?;
    Some(Statistic {
        group: group.trim().to_string(),
        name: name.trim().to_string(),
        value,
        incremental,
    })
}

/// An OpenSIPS node's statistics, typed by its `list_statistics`.
async fn opensips(node: &Node) -> Result<Vec<Statistic>, NodeScrapeError> {
    let values = ask(
        node,
        "get_statistics",
        ",\"params\":{\"statistics\":[\"all\"]}",
        "miwa-metrics",
    );
    let kinds = ask(node, "list_statistics", "", "miwa-metrics-kinds");
    let (values, kinds) = futures_util::future::join(values, kinds).await;
    let Value::Object(values) = values? else {
        return Err(NodeScrapeError::BadReply);
    };
    let incremental: HashSet<String> = match kinds {
        Ok(Value::Object(kinds)) => kinds
            .into_iter()
            .filter(|(_, kind)| kind.as_str() == Some("incremental"))
            .map(|(name, _)| name)
            .collect(),
        _ => HashSet::new(),
    };
    Ok(values
        .iter()
        .filter_map(|(name, value)| {
            let value = value.as_f64().filter(|v| *v >= 0.0)? as u64;
            statistic(name, value, incremental.contains(name))
        })
        .collect())
}

/// A Kamailio node's statistics: `"group:name = value"` lines.
async fn kamailio(node: &Node) -> Result<Vec<Statistic>, NodeScrapeError> {
    let Value::Array(lines) = ask(
        node,
        "stats.get_statistics",
        ",\"params\":[\"all\"]",
        "miwa-metrics",
    )
    .await?
    else {
        return Err(NodeScrapeError::BadReply);
    };
    Ok(lines
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|line| {
            let (name, value) = line.split_once('=')?;
            statistic(name, value.trim().parse().ok()?, false)
        })
        .collect())
}

/// `node`'s statistics, within `timeout`.
async fn statistics(node: &Node, timeout: Duration) -> Result<Vec<Statistic>, NodeScrapeError> {
    if node.state() == State::Down {
        return Err(NodeScrapeError::Down);
    }
    let fetch = async {
        match node.config.dialect {
            Dialect::Opensips => opensips(node).await,
            Dialect::Kamailio => kamailio(node).await,
        }
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| NodeScrapeError::Timeout(timeout.as_millis()))?
}

/// The statistics of `nodes`, fetched at once, each within `metrics.node_timeout_ms`;
/// `miwa_node_up{node}` says which answered. A node `access` may not read is left out.
pub async fn nodes(metrics: &Metrics, nodes: &[Arc<Node>], access: Option<&Access>) -> Families {
    let permitted: Vec<&Arc<Node>> = nodes
        .iter()
        .filter(|n| Metrics::permitted(access, &n.name).is_ok())
        .collect();
    let fetches = permitted
        .iter()
        .map(|node| statistics(node, metrics.node_timeout()));
    let results = futures_util::future::join_all(fetches).await;
    let mut out = Families::default();
    for (node, result) in permitted.iter().zip(&results) {
        let up = if result.is_ok() { 1.0 } else { 0.0 };
        out.add(
            "miwa_node_up",
            Kind::Gauge,
            "Whether a node answered this scrape's statistics request (1) or not (0).",
            &[("node", &node.name)],
            up,
        );
        if let Err(error) = result {
            tracing::debug!(node = %node.name, %error, "no statistics for the scrape");
        }
    }
    for (node, result) in permitted.iter().zip(results) {
        if let Ok(stats) = result {
            families::add_node(&mut out, node.config.dialect.name(), &node.name, &stats);
        }
    }
    out
}
