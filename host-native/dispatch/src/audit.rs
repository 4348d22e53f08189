//! The audit log: one JSON line per call, local or forwarded, written off the request path.
//!
//! [`AuditedDispatcher`] wraps the daemon's dispatcher. After a request is answered it
//! formats one line per call (per batch member) and hands it to [`AuditLog`]'s writer
//! thread over a bounded queue; a full queue drops the line, counts it and logs it (at
//! most once a second). SIGHUP reopens the file, for logrotate.

use crate::access::AccessControl;
use crate::{Answer, Answered, Called};
use mi_core::names::CommandName;
use mi_core::request::{Id, Request};
use miwa_state::settings::within;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use transports::{Authentication, Caller, CommandInfo, Dispatcher, Dispatching, Reply};

/// `[audit]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The file lines are appended to (`file`); empty: no audit log.
    pub file: PathBuf,
    /// Lines waiting for the writer at most; more are dropped and counted (`queue`,
    /// default 4096, 1 … 1048576).
    pub queue: usize,
    /// Largest parameters logged, bytes of JSON; larger ones are logged as their size
    /// (`max_params`, default 4096, 0 … 1048576).
    pub max_params: usize,
    /// Parameters whose values are logged as `"***"`: `command:parameter`, the command a
    /// glob matched like a role's pattern (either name form: `cache_store:2` and
    /// `cache:store:2` are one rule), the parameter a name (matched ignoring case), a
    /// position (`0`, `1`, …) or `*` (`redact`, default none).
    pub redact: Vec<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            file: PathBuf::new(),
            queue: 4096,
            max_params: 4096,
            redact: Vec::new(),
        }
    }
}

impl AuditConfig {
    /// What is wrong with the section, if anything.
    pub fn problem(&self) -> Option<String> {
        if let Err(problem) = within(self.queue, 1..=1 << 20) {
            return Some(format!("queue: {problem}"));
        }
        if self.max_params > 1 << 20 {
            return Some("max_params: must be at most 1048576".into());
        }
        if !self.file.as_os_str().is_empty() && !self.file.is_absolute() {
            return Some("file: must be an absolute path".into());
        }
        self.redact
            .iter()
            .find(|r| {
                r.rsplit_once(':')
                    .is_none_or(|(c, p)| c.is_empty() || p.is_empty())
            })
            .map(|r| format!("redact: `{r}` is not command:parameter"))
    }
}

enum Message {
    Line(String),
    Reopen,
}

/// The audit file and its writer thread.
pub struct AuditLog {
    sender: SyncSender<Message>,
    reopen: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    dropped: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
    config: AuditConfig,
}

impl AuditLog {
    /// Opens `config.file` for appending (creating it, mode 0600) and starts the writer.
    pub fn open(config: &AuditConfig) -> anyhow::Result<Arc<AuditLog>> {
        let file = open_file(&config.file)?;
        let (sender, receiver) = sync_channel(config.queue);
        let reopen = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let (path, flag, count) = (config.file.clone(), reopen.clone(), written.clone());
        std::thread::Builder::new()
            .name("audit writer".into())
            .spawn(move || write_lines(receiver, file, &path, &flag, &count))?;
        Ok(Arc::new(AuditLog {
            sender,
            reopen,
            written,
            dropped: AtomicU64::new(0),
            last_warning: Mutex::new(None),
            config: config.clone(),
        }))
    }

    /// Reopens the file (SIGHUP), so a rotated file is left to its new owner.
    pub fn reopen(&self) {
        if self.sender.try_send(Message::Reopen).is_err() {
            self.reopen.store(true, Ordering::Release);
        }
    }

    /// Queues one line; drops it when the queue is full.
    fn push(&self, line: String) {
        match self.sender.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_none_or(|t| t.elapsed().as_secs() >= 1) {
                    *last = Some(Instant::now());
                    tracing::warn!(
                        dropped,
                        queue = self.config.queue,
                        "audit queue full (audit.queue): lines dropped"
                    );
                }
            }
        }
    }

    /// `params` of a call of `command` as logged: redacted, or its size when over
    /// `max_params`. A call that resolved to no command has every parameter redacted.
    fn params(&self, command: Option<CommandName<'_>>, params: Option<&Value>) -> Value {
        let Some(params) = params else {
            return Value::Null;
        };
        let mut params = params.clone();
        for rule in &self.config.redact {
            let Some((pattern, name)) = rule.rsplit_once(':') else {
                continue;
            };
            if command.is_some_and(|command| !command.matches(pattern)) {
                continue;
            }
            let hidden = || Value::String("***".into());
            match &mut params {
                Value::Object(members) => {
                    for (key, value) in members.iter_mut() {
                        if name == "*" || key.eq_ignore_ascii_case(name) {
                            *value = hidden();
                        }
                    }
                }
                Value::Array(values) => {
                    for (i, value) in values.iter_mut().enumerate() {
                        if name == "*" || name.parse() == Ok(i) {
                            *value = hidden();
                        }
                    }
                }
                other => *other = hidden(),
            }
        }
        let size = params.to_string().len();
        if size > self.config.max_params {
            return Value::String(format!("<{size} bytes, over audit.max_params>"));
        }
        params
    }
}

fn open_file(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the audit log {} (key audit.file): {e}",
                path.display()
            )
        })?;
    Ok(std::io::BufWriter::new(file))
}

/// The writer thread: appends lines, flushing whenever the queue is empty; reopens the
/// file when asked.
fn write_lines(
    receiver: Receiver<Message>,
    mut file: std::io::BufWriter<std::fs::File>,
    path: &Path,
    reopen: &AtomicBool,
    written: &AtomicU64,
) {
    let mut next = receiver.recv();
    while let Ok(message) = next {
        if reopen.swap(false, Ordering::AcqRel) || matches!(message, Message::Reopen) {
            let _ = file.flush();
            match open_file(path) {
                Ok(reopened) => file = reopened,
                Err(error) => {
                    tracing::error!(%error, "audit log reopen failed; writing to the old file")
                }
            }
        }
        if let Message::Line(line) = message {
            let outcome = file
                .write_all(line.as_bytes())
                .and_then(|()| file.write_all(b"\n"));
            match outcome {
                Ok(()) => {
                    written.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => tracing::error!(%error, "audit log write failed"),
            }
        }
        next = match receiver.try_recv() {
            Ok(message) => Ok(message),
            Err(_) => {
                let _ = file.flush();
                receiver.recv()
            }
        };
    }
    let _ = file.flush();
}

/// A dispatcher whose calls are written to the audit log.
pub struct AuditedDispatcher {
    inner: Arc<dyn Answer>,
    log: Arc<AuditLog>,
    access: Arc<AccessControl>,
    max_depth: u32,
}

impl AuditedDispatcher {
    /// Audits `inner`'s calls to `log`; `access` names the callers' roles; requests are
    /// read nested at most `max_depth` deep (`core.max_json_depth`).
    pub fn new(
        inner: Arc<dyn Answer>,
        log: Arc<AuditLog>,
        access: Arc<AccessControl>,
        max_depth: u32,
    ) -> Self {
        AuditedDispatcher {
            inner,
            log,
            access,
            max_depth,
        }
    }

    /// One line per member of `request`, from what the layers below reported it came to.
    fn record(&self, caller: Caller<'_>, request: &Request, answered: &Answered, started: Instant) {
        let duration_us = started.elapsed().as_micros() as u64;
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| {
                chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos())
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let role = self.access.role(caller.transport, caller.role);
        let line = |command: Option<&str>, node: Option<&str>, params: Value, code: Value| {
            json!({
                "time": time,
                "transport": caller.transport.name(),
                "peer": caller.peer.map(|p| p.to_string()),
                "identity": caller.identity,
                "role": role,
                "node": node,
                "command": command,
                "params": params,
                "code": code,
                "duration_us": duration_us,
            })
            .to_string()
        };
        if request.members().is_empty() {
            let code = match request {
                Request::Unparsable(_) => 400,
                _ => -32600,
            };
            self.log
                .push(line(None, None, Value::Null, Value::from(code)));
            return;
        }
        for (index, member) in request.members().iter().enumerate() {
            let called = answered.calls.iter().find(|c| c.member == index);
            let command = called
                .map(|c| c.command.as_str())
                .filter(|c| !c.is_empty())
                .or(member.call().map(|c| c.method.as_str()));
            let params = member
                .call()
                .and_then(|call| call.params.as_ref())
                .map(mi_to_serde);
            let params = self
                .log
                .params(called.and_then(Called::name), params.as_ref());
            let code = match (called.and_then(|c| c.error), member.id()) {
                (Some(error), _) => Value::from(error),
                (None, Id::Absent) => Value::from(202),
                (None, _) if called.is_some() => Value::from(200),
                (None, _) => Value::Null,
            };
            let node = called.and_then(|c| c.node.as_deref());
            self.log.push(line(command, node, params, code));
        }
    }
}

/// A value of the core's reading as serde_json's, for the audit line.
fn mi_to_serde(value: &mi_core::json::Value) -> Value {
    use mi_core::json::Value as Mi;
    match value {
        Mi::Null => Value::Null,
        Mi::Bool(b) => Value::Bool(*b),
        Mi::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Value::from(*n as i64),
        Mi::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Mi::String(s) => Value::String(s.clone()),
        Mi::Array(items) => Value::Array(items.iter().map(mi_to_serde).collect()),
        Mi::Object(members) => {
            let mut map = serde_json::Map::new();
            for (key, item) in members {
                map.entry(key.clone()).or_insert_with(|| mi_to_serde(item));
            }
            Value::Object(map)
        }
    }
}

impl Dispatcher for AuditedDispatcher {
    /// Reads the request once, has the layers below answer that reading, and logs what
    /// they report.
    fn dispatch(&self, caller: Caller<'_>, request: &[u8], pretty: bool) -> Reply {
        let started = Instant::now();
        let request = Request::parse(request, self.max_depth);
        let answered = self.inner.answer_blocking(caller, &request, pretty);
        self.record(caller, &request, &answered, started);
        answered.reply
    }

    fn dispatch_async<'a>(
        &'a self,
        caller: Caller<'a>,
        request: &'a [u8],
        pretty: bool,
    ) -> Dispatching<'a> {
        Box::pin(async move {
            let started = Instant::now();
            let request = Request::parse(request, self.max_depth);
            let answered = self.inner.answer(caller, &request, pretty).await;
            self.record(caller, &request, &answered, started);
            answered.reply
        })
    }

    fn nodes(&self) -> Vec<String> {
        self.inner.nodes()
    }

    fn scrape<'a>(
        &'a self,
        scrape: transports::metrics::Scrape<'a>,
    ) -> transports::metrics::Scraping<'a> {
        self.inner.scrape(scrape)
    }

    fn charts(&self, picks: &[String]) -> Option<transports::metrics::ChartsView> {
        self.inner.charts(picks)
    }

    fn open_channel(&self, kind: transports::push::ChannelKind) -> Option<transports::Channel> {
        self.inner.open_channel(kind)
    }

    fn catalogue_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.catalogue_changes()
    }

    fn access_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.access_changes()
    }

    fn still_granted(&self, role: Option<&str>, identity: Option<&str>, since: u64) -> bool {
        self.inner.still_granted(role, identity, since)
    }

    fn close_channel(&self, id: transports::ChannelId) {
        self.inner.close_channel(id);
    }

    fn commands(&self, caller: Caller<'_>) -> Vec<CommandInfo> {
        self.inner.commands(caller)
    }

    fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: IpAddr,
        route: &str,
    ) -> Authentication {
        self.inner.authenticate(authorization, peer, route)
    }

    fn thread_started(&self, name: &str) {
        self.inner.thread_started(name);
    }

    fn thread_stopped(&self) {
        self.inner.thread_stopped();
    }
}

/// Statistics of group `audit`: `lines` written, `dropped`.
impl miwa_state::StatisticsSource for AuditLog {
    fn statistics(&self) -> Vec<mi_core::host::Statistic> {
        [
            ("lines", self.written.load(Ordering::Relaxed)),
            ("dropped", self.dropped.load(Ordering::Relaxed)),
        ]
        .into_iter()
        .map(|(name, value)| mi_core::host::Statistic {
            group: "audit".into(),
            name: name.into(),
            value,
            incremental: true,
        })
        .collect()
    }
}
