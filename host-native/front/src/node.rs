//! One node: its links, its health (probed in the background), its command list and its
//! counters.

use super::link;
use super::settings::{Dialect, UpstreamConfig};
use miwa_client::{Budget, Link, LinkError};
use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a forwarded request has no reply from the node; each is answered with a JSON-RPC
/// error naming the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NodeError {
    /// The node cannot be reached, or was found down and not yet back (503).
    #[error("{0}")]
    Unreachable(String),
    /// No reply within `timeout_ms` (504).
    #[error("no reply within {0} ms")]
    Timeout(u64),
    /// The reply is not a JSON-RPC reply to this request (502).
    #[error("{0}")]
    BadReply(String),
    /// `max_in_flight` requests are already waiting on the node (503).
    #[error("{0} requests in flight (max_in_flight)")]
    Busy(usize),
    /// Replies being read from the nodes hold all of `front.max_buffered` (503).
    #[error("replies being read from the nodes hold all of front.max_buffered; retry")]
    NoRoom,
    /// A reload of this command started on the node less than `reload_interval_ms` ago
    /// (429).
    #[error(
        "{command} started {since_ms} ms ago; one per {interval_ms} ms (front.reload_interval_ms)"
    )]
    TooSoon {
        /// The reload command.
        command: String,
        /// Since the last one started.
        since_ms: u64,
        /// `reload_interval_ms`.
        interval_ms: u64,
    },
    /// The request fits none of the node's transports (413).
    #[error(
        "the request is {bytes} bytes; the node's {transport} transport takes at most {limit}"
    )]
    RequestTooLarge {
        /// The request's size.
        bytes: usize,
        /// The transport that takes the largest requests.
        transport: &'static str,
        /// What it takes.
        limit: usize,
    },
}

impl NodeError {
    /// The JSON-RPC error code and message miwa answers with.
    pub(crate) fn code_message(&self) -> (i32, &'static str) {
        match self {
            NodeError::Unreachable(_) => (503, "Node unreachable"),
            NodeError::Timeout(_) => (504, "Node timeout"),
            NodeError::BadReply(_) => (502, "Bad node reply"),
            NodeError::Busy(_) => (503, "Node busy"),
            NodeError::RequestTooLarge { .. } => (413, "Request too large for the node"),
            NodeError::TooSoon { .. } => (429, "Reload too soon"),
            NodeError::NoRoom => (503, "Node busy"),
        }
    }
}

/// A node's state as `nodes_list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not yet contacted.
    Unknown,
    /// Its last exchange or probe succeeded.
    Up,
    /// It could not be reached; requests are answered 503 until a probe finds it back.
    Down,
}

impl State {
    /// `unknown`, `up` or `down`.
    pub fn name(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Up => "up",
            State::Down => "down",
        }
    }
}

struct Health {
    state: State,
    last_error: Option<String>,
    commands: Arc<Vec<String>>,
    /// What the node said its version is, when it last came up.
    version: Option<String>,
}

/// Counters of one node.
#[derive(Default)]
pub struct NodeCounters {
    /// Requests forwarded.
    pub requests: AtomicU64,
    /// Requests answered with a node error (any but timeouts).
    pub errors: AtomicU64,
    /// Requests that timed out.
    pub timeouts: AtomicU64,
    /// Sum of the latencies of answered requests, microseconds.
    pub latency_us: AtomicU64,
    /// Answered requests.
    pub answered: AtomicU64,
    /// The latency of the last answered request, microseconds.
    pub last_latency_us: AtomicU64,
}

/// A node's reply to a forwarded request, checked to be a JSON-RPC reply to it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The reply text.
    pub text: String,
    /// It is an error reply (it has an `error` member).
    pub error: bool,
}

/// One node miwa is in front of.
pub struct Node {
    /// Its name (`[upstreams.<name>]`).
    pub name: String,
    /// Its section.
    pub config: UpstreamConfig,
    /// Where it came from: `config`, or `discovery.<name>`.
    pub source: String,
    datagram: Option<Link>,
    stream: Option<Link>,
    in_flight: AtomicUsize,
    health: Mutex<Health>,
    /// Its counters.
    pub counters: NodeCounters,
    wake: tokio::sync::Notify,
    retired: AtomicBool,
    /// Its reloads, guarded ([`crate::reload`]).
    pub reloads: crate::reload::Reloads,
}

impl Node {
    /// A node from its section, from `source`; its links are set up, not yet contacted.
    /// Its stream replies are read within `budget`.
    pub fn new(
        name: &str,
        config: &UpstreamConfig,
        source: &str,
        budget: &Budget,
    ) -> anyhow::Result<Node> {
        Ok(Node {
            name: name.to_string(),
            config: config.clone(),
            source: source.to_string(),
            datagram: link::datagram(config),
            stream: link::stream(config, budget)?,
            in_flight: AtomicUsize::new(0),
            health: Mutex::new(Health {
                state: State::Unknown,
                last_error: None,
                commands: Arc::new(Vec::new()),
                version: None,
            }),
            counters: NodeCounters::default(),
            wake: tokio::sync::Notify::new(),
            retired: AtomicBool::new(false),
            reloads: crate::reload::Reloads::default(),
        })
    }

    /// Takes the node out of service: its probes stop, its idle sockets and connections
    /// close; calls already sent to it still get their answers.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.wake.notify_one();
        self.close();
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The link requests go over first.
    fn primary(&self) -> &Link {
        self.datagram
            .as_ref()
            .or(self.stream.as_ref())
            .expect("validated: a node has a link")
    }

    /// Drops its idle sockets and connections.
    pub fn close(&self) {
        for link in [&self.datagram, &self.stream].into_iter().flatten() {
            link.close();
        }
    }

    /// Its transport and address, e.g. `udp:127.0.0.1:8080`.
    pub fn address(&self) -> String {
        let mut text = self.primary().describe();
        if let (Some(_), Some(stream)) = (&self.datagram, &self.stream) {
            text.push_str(&format!(" (large replies: {})", stream.describe()));
        }
        text
    }

    /// The transport's name of the primary link.
    pub fn transport(&self) -> &'static str {
        self.primary().kind()
    }

    /// Its state.
    pub fn state(&self) -> State {
        self.health().state
    }

    /// The last error seen, if any.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.health().last_error.clone()
    }

    /// The commands the node listed at its last probe.
    pub fn commands(&self) -> Arc<Vec<String>> {
        self.health().commands.clone()
    }

    /// Its labels: its section's, and `version` once the node has said it.
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        let mut labels = self.config.labels.clone();
        if let Some(version) = self.health().version.clone() {
            labels.insert(crate::select::VERSION.to_string(), version);
        }
        labels
    }

    /// Requests waiting on it now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Average latency of answered requests, microseconds.
    pub(crate) fn average_latency_us(&self) -> u64 {
        let answered = self.counters.answered.load(Ordering::Relaxed);
        self.counters
            .latency_us
            .load(Ordering::Relaxed)
            .checked_div(answered)
            .unwrap_or(0)
    }

    fn mark_down(&self, error: &str) {
        let mut health = self.health();
        health.last_error = Some(error.to_string());
        if health.state != State::Down {
            health.state = State::Down;
            drop(health);
            tracing::warn!(node = %self.name, error, "node down");
            self.wake.notify_one();
        }
    }

    fn note_error(&self, error: &str) {
        self.health().last_error = Some(error.to_string());
    }

    /// Forwards one JSON-RPC request object (its `id` is `id`, a JSON text) and returns
    /// the node's reply, checked to be a JSON-RPC reply to it.
    pub(crate) async fn forward(&self, request: &[u8], id: &str) -> Result<Answer, NodeError> {
        let limit = self.config.max_in_flight;
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(NodeError::Busy(limit));
        }
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _leave = Leave(&self.in_flight);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if self.state() == State::Down {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            let last = self.last_error().unwrap_or_default();
            return Err(NodeError::Unreachable(format!(
                "down since its last attempt ({last}); retrying in the background"
            )));
        }
        let started = Instant::now();
        let outcome = self.exchange(request, id).await;
        match &outcome {
            Ok(_) => {
                let micros = started.elapsed().as_micros() as u64;
                self.counters.answered.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .latency_us
                    .fetch_add(micros, Ordering::Relaxed);
                self.counters
                    .last_latency_us
                    .store(micros, Ordering::Relaxed);
                if self.state() != State::Up {
                    self.wake.notify_one();
                }
            }
            Err(NodeError::Timeout(_)) => {
                self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                self.note_error(&outcome.as_ref().unwrap_err().to_string());
            }
            Err(error @ NodeError::Unreachable(_)) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.mark_down(&error.to_string());
            }
            Err(error) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.note_error(&error.to_string());
            }
        }
        outcome
    }

    /// One exchange within `timeout_ms`: over the datagram link, then over the stream
    /// link when the reply does not fit a datagram; over the first link that takes a
    /// request of its size, refused at once when none does.
    async fn exchange(&self, request: &[u8], id: &str) -> Result<Answer, NodeError> {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let deadline = tokio::time::Instant::now() + timeout;
        let max = self.config.max_reply;
        let links = || [&self.datagram, &self.stream].into_iter().flatten();
        let Some(first) = links().find(|link| request.len() <= link.max_request()) else {
            let widest = links()
                .max_by_key(|link| link.max_request())
                .expect("validated: a node has a link");
            return Err(NodeError::RequestTooLarge {
                bytes: request.len(),
                transport: widest.kind(),
                limit: widest.max_request(),
            });
        };
        let attempt = async {
            match first.exchange(request, max).await {
                Err(LinkError::DatagramOverflow) => match &self.stream {
                    Some(stream) if request.len() <= stream.max_request() => {
                        stream.exchange(request, max).await
                    }
                    _ => Err(LinkError::DatagramOverflow),
                },
                other => other,
            }
        };
        let reply = match tokio::time::timeout_at(deadline, attempt).await {
            Err(_) => return Err(NodeError::Timeout(self.config.timeout_ms)),
            Ok(Err(LinkError::Unreachable(why))) => return Err(NodeError::Unreachable(why)),
            Ok(Err(LinkError::NoRoom)) => return Err(NodeError::NoRoom),
            Ok(Err(LinkError::Tls(why))) => return Err(NodeError::Unreachable(why)),
            Ok(Err(other)) => return Err(NodeError::BadReply(other.to_string())),
            Ok(Ok(reply)) => reply,
        };
        let text = String::from_utf8(reply)
            .map_err(|_| NodeError::BadReply("the reply is not UTF-8".into()))?;
        let error =
            miwa_client::check(&text, id).map_err(|e| NodeError::BadReply(e.to_string()))?;
        Ok(Answer { text, error })
    }

    /// Asks the node for its command list; `Ok` means it is up.
    async fn probe(&self) -> Result<Vec<String>, NodeError> {
        let method = match self.config.dialect {
            Dialect::Opensips => "which",
            Dialect::Kamailio => "system.listMethods",
        };
        let id = "\"miwa-probe\"";
        let request = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":{id}}}"#);
        let text = self.exchange(request.as_bytes(), id).await?.text;
        #[derive(Deserialize)]
        struct Listed {
            result: Vec<String>,
        }
        serde_json::from_str::<Listed>(&text)
            .map(|listed| listed.result)
            .map_err(|_| NodeError::BadReply(format!("{method} did not answer a list of names")))
    }

    /// Asks the node its version (`version`, `core.version` on Kamailio); `None` when it
    /// does not say one.
    async fn ask_version(&self) -> Option<String> {
        let method = match self.config.dialect {
            Dialect::Opensips => "version",
            Dialect::Kamailio => "core.version",
        };
        let id = "\"miwa-version\"";
        let request = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":{id}}}"#);
        let answer = self.exchange(request.as_bytes(), id).await.ok()?;
        let reply: Value = serde_json::from_str(&answer.text).ok()?;
        crate::select::version_in(&reply.get("result")?.to_string())
    }

    /// Probes the node until it is retired: at once, then every `probe_interval` while it
    /// is up, and with a backoff from 100 ms to `max_backoff_ms` while it is down. A
    /// forwarded request that finds the node down or back wakes it early. After each
    /// probe, `status` is told the node and whether its command list changed.
    pub async fn watch(self: Arc<Self>, status: impl Fn(&Node, bool)) {
        let mut backoff = Duration::from_millis(100);
        let max_backoff = Duration::from_millis(self.config.max_backoff_ms);
        while !self.retired.load(Ordering::Acquire) {
            let outcome = self.probe().await;
            if self.retired.load(Ordering::Acquire) {
                break;
            }
            let came_up = outcome.is_ok() && self.state() != State::Up;
            let version = match came_up {
                true => self.ask_version().await,
                false => None,
            };
            let mut listed_anew = false;
            let wait = {
                let mut health = self.health();
                match outcome {
                    Ok(commands) => {
                        if health.state != State::Up {
                            tracing::info!(node = %self.name, commands = commands.len(), "node up");
                        }
                        health.state = State::Up;
                        listed_anew = *health.commands != commands;
                        health.commands = Arc::new(commands);
                        if came_up {
                            health.version = version.clone();
                        }
                        backoff = Duration::from_millis(100);
                        Duration::from_secs(self.config.probe_interval)
                    }
                    Err(error) => {
                        if health.state != State::Down {
                            tracing::warn!(node = %self.name, %error, "node down");
                        }
                        health.state = State::Down;
                        health.last_error = Some(error.to_string());
                        let wait = backoff;
                        backoff = (backoff * 2).min(max_backoff);
                        wait
                    }
                }
            };
            if !self.retired.load(Ordering::Acquire) {
                status(&self, listed_anew);
            }
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        }
    }
}
