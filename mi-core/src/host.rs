//! What the core asks of the world. All mutable state lives behind this trait, in the host.
//!
//! The daemon implements it natively (`host-native`), the component build implements it with
//! the WIT imports of `miwa:mi/host`, and the browser build with a simulation.

use crate::error::MiError;

/// Wall-clock readings, in Unix seconds, with the local UTC offset of each (for `ctime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Now.
    pub now: i64,
    /// UTC offset of the local time zone at `now`, in seconds.
    pub now_offset: i32,
    /// When the daemon started.
    pub started: i64,
    /// UTC offset of the local time zone at `started`, in seconds.
    pub started_offset: i32,
}

/// Facts about the running build, for `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Server name and version, e.g. `miwa`, `0.1.0`.
    pub name: String,
    /// Version `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// `arch/os` of the host, e.g. `x86_64/linux`.
    pub platform: String,
    /// Version control system of the build (`git`, or `unknown`).
    pub vcs: String,
    /// Revision of the build.
    pub revision: String,
}

/// One running process (a thread or worker of the daemon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Internal index, 0 = main.
    pub id: u32,
    /// OS identifier (the thread id).
    pub pid: i32,
    /// Free-text description.
    pub kind: String,
    /// Current log level.
    pub log_level: i32,
}

/// The state of one log consumer (`stderror`, `syslog`, `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConsumer {
    /// Level filter.
    pub level_filter: i32,
    /// Mute state (0 or 1).
    pub muted: i32,
}

/// One statistic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statistic {
    /// Group ("module") name.
    pub group: String,
    /// Statistic name.
    pub name: String,
    /// Current value.
    pub value: u64,
    /// Counter (resettable) or computed/no-reset.
    pub incremental: bool,
}

impl Statistic {
    /// Statistic `group:name` with `value`, a counter when `incremental`.
    pub fn new(group: &str, name: &str, value: u64, incremental: bool) -> Statistic {
        Statistic {
            group: group.to_string(),
            name: name.to_string(),
            value,
            incremental,
        }
    }
}

/// Why a cache operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheError {
    /// No cache system of that name.
    UnknownSystem,
    /// The store is full (its configured size limit).
    Full,
}

/// One identifier of a status-report group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusIdentifier {
    /// Identifier name (`main` is every group's default).
    pub name: String,
    /// Status: < 0 not ready.
    pub status: i32,
    /// Status text.
    pub details: Option<String>,
    /// Log reports, oldest first.
    pub reports: Vec<StatusReport>,
}

/// One status-report log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// Unix seconds.
    pub timestamp: i64,
    /// UTC offset at `timestamp`, seconds.
    pub offset: i32,
    /// The text.
    pub log: String,
}

/// A status-report group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusGroup {
    /// Group name.
    pub name: String,
    /// Identifiers in registration order.
    pub identifiers: Vec<StatusIdentifier>,
}

/// Which memory a dump command asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// One process's private memory (`mem_pkg_dump`).
    Private,
    /// Shared memory (`mem_shm_dump`).
    Shared,
    /// Restart-persistent memory (`mem_rpm_dump`).
    Persistent,
}

/// One subscriber of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// `transport:address` as subscribed.
    pub socket: String,
    /// Configured lifetime, seconds.
    pub expire: u32,
    /// Seconds left (≤ 0 = expired).
    pub ttl: i64,
}

/// An event with its subscribers (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSubscribers {
    /// Event name.
    pub name: String,
    /// Event id (publication index).
    pub id: u32,
    /// Live subscribers.
    pub subscribers: Vec<Subscriber>,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeError {
    /// Unknown event, unknown transport or a socket that does not parse.
    BadValue,
    /// The subscriber limit is reached.
    TooMany,
}

/// The error for a module name the host does not know.
pub fn no_such_module(name: &str) -> MiError {
    MiError::new(404, format!("module '{name}' is not declared"))
}

/// Event parameters as `raise_event` builds them.
#[derive(Debug, Clone, PartialEq)]
pub enum EventParams {
    /// No parameters.
    None,
    /// Unnamed string parameters.
    Unnamed(Vec<String>),
    /// Named parameters.
    Named(Vec<(String, EventValue)>),
}

/// The JSON-RPC notification subscribers receive.
pub fn notification(event: &str, params: &EventParams) -> String {
    use crate::json::{self, Value};
    let mut members = vec![
        ("jsonrpc", Value::str("2.0")),
        ("method", Value::str(event)),
    ];
    match params {
        EventParams::None => {}
        EventParams::Unnamed(items) => members.push((
            "params",
            Value::Array(items.iter().cloned().map(Value::String).collect()),
        )),
        EventParams::Named(pairs) => members.push((
            "params",
            Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            EventValue::Int(n) => Value::num(*n),
                            EventValue::Text(t) => Value::str(t.clone()),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
        )),
    }
    json::to_compact(&json::object(members))
}

/// The value of a named event parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventValue {
    /// An integer parameter.
    Int(i32),
    /// A string parameter (other JSON values arrive as their compact text).
    Text(String),
}

/// Why an event was not raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaiseError {
    /// The event is not published.
    NotRegistered,
    /// Nobody listens.
    NoSubscribers,
    /// Delivery could not be queued.
    Failed,
    /// The notification is over the size limit.
    TooLarge,
}

/// A command exported by a loaded module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleCommand {
    /// Unique command name.
    pub name: String,
    /// The module that exports it.
    pub module: String,
    /// Help text.
    pub help: Option<String>,
    /// Rejects positional parameters.
    pub named_only: bool,
    /// Alternative parameter sets, in matching order.
    pub recipes: Vec<Vec<String>>,
    /// The types the module gives its parameters (`integer`, `string`, `string-array`), by
    /// parameter name; a parameter not listed is untyped.
    pub param_types: Vec<(String, String)>,
}

impl ModuleCommand {
    /// The type of parameter `name`, as the module describes it.
    pub fn param_type(&self, name: &str) -> crate::openrpc::schema::ParamType {
        self.param_types
            .iter()
            .find(|(param, _)| param == name)
            .map_or(crate::openrpc::schema::ParamType::Any, |(_, kind)| {
                crate::openrpc::schema::ParamType::from_name(kind)
            })
    }
}

/// The limits a module runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleLimits {
    /// Wall-clock limit of one call, milliseconds.
    pub timeout_ms: u64,
    /// Linear-memory cap, bytes.
    pub max_memory: u64,
    /// WebAssembly stack cap, bytes.
    pub max_wasm_stack: u64,
    /// Largest result, bytes.
    pub max_reply: u64,
    /// Most instances running at once.
    pub max_instances: u32,
}

/// A module declared in the configuration, as `module_list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStatus {
    /// Configured name.
    pub name: String,
    /// `loaded`, `failed` or `unloaded`.
    pub state: String,
    /// Why the last load failed.
    pub error: Option<String>,
    /// The component file.
    pub path: String,
    /// SHA-256 of the loaded component, hex.
    pub sha256: Option<String>,
    /// The version the module declared.
    pub version: Option<String>,
    /// Its commands, in registration order.
    pub commands: Vec<String>,
    /// The capabilities granted.
    pub grants: Vec<String>,
    /// Its limits.
    pub limits: ModuleLimits,
    /// Instances alive (idle or busy).
    pub instances: u32,
}

/// Which names `which` lists: OpenSIPS 3.6's (the default), 4.0's, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhichNames {
    /// The 3.6 names, as OpenSIPS 3.6 lists them.
    #[default]
    V3_6,
    /// The 4.0 names (`core:ps`, `statistics:get`, `<module>:<name>`).
    V4_0,
    /// The 3.6 names, then the 4.0 names: what a client that checks names against `which`
    /// (opensips-cli) needs to call either form.
    Both,
}

/// Who runs the request being handled (`whoami`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerFacts {
    /// The transport it came over (`http`, `fifo`, …).
    pub transport: String,
    /// The role it runs as.
    pub role: String,
    /// Who its credentials name; `None` without credentials.
    pub identity: Option<String>,
    /// In front mode, the nodes its role may reach; `None` otherwise.
    pub nodes: Option<Vec<String>>,
}

/// Everything the core needs from its host.
pub trait Host {
    /// The current time and the start time.
    fn clock(&self) -> Clock;
    /// Build facts for `version`.
    fn build_info(&self) -> BuildInfo;
    /// The daemon's working directory, if it can be read.
    fn working_dir(&self) -> Option<String>;
    /// Who runs the request being handled; `None` where the host does not tell (the
    /// browser playground).
    fn caller(&self) -> Option<CallerFacts>;
    /// The daemon's command line, `argv[0]` first.
    fn arguments(&self) -> Vec<String>;
    /// The running processes, in `ID` order.
    fn processes(&self) -> Vec<Process>;
    /// Sets every process's level and the global level.
    fn set_log_level(&self, level: i32);
    /// Sets one process's level; false if no process has that OS id.
    fn set_process_log_level(&self, pid: i32, level: i32) -> bool;
    /// The script logging level.
    fn xlog_level(&self) -> i32;
    /// Sets the script logging level.
    fn set_xlog_level(&self, level: i32);
    /// A log consumer's state, `None` if unknown.
    fn log_consumer(&self, name: &str) -> Option<LogConsumer>;
    /// Sets a consumer's level filter; false if unknown.
    fn set_log_consumer_filter(&self, name: &str, level: i32) -> bool;
    /// Sets a consumer's mute state; false if unknown.
    fn set_log_consumer_muted(&self, name: &str, muted: i32) -> bool;
    /// Writes a line to the daemon's log at an OpenSIPS level.
    fn log(&self, level: i32, message: &str);
    /// Starts a graceful shutdown after the current reply is sent.
    fn shutdown(&self);
    /// Every visible statistic, groups and statistics in registration order.
    fn statistics(&self) -> Vec<Statistic>;
    /// Resets one counter (no effect on computed statistics).
    fn reset_statistic(&self, group: &str, name: &str);
    /// Resets every counter.
    fn reset_all_statistics(&self);
    /// Stores a value; `expire` 0 = never.
    fn cache_store(
        &self,
        system: &str,
        key: &str,
        value: &str,
        expire: u32,
    ) -> Result<(), CacheError>;
    /// Fetches a value; `Ok(None)` if absent or expired.
    fn cache_fetch(&self, system: &str, key: &str) -> Result<Option<String>, CacheError>;
    /// Removes a value (absent is fine).
    fn cache_remove(&self, system: &str, key: &str) -> Result<(), CacheError>;
    /// The live entries of `system` whose key matches `glob` ([`crate::glob::matches`]),
    /// as (key, value) sorted by key. A host that cannot list its cache knows no system.
    fn cache_fetch_matching(
        &self,
        _system: &str,
        _glob: &str,
    ) -> Result<Vec<(String, String)>, CacheError> {
        Err(CacheError::UnknownSystem)
    }
    /// The HTTP roots served, as (root, module), newest first; none without HTTP.
    fn http_roots(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Published event names, in id order.
    fn events(&self) -> Vec<String>;
    /// Events with live subscribers (expired ones purged first).
    fn subscribers(&self) -> Vec<EventSubscribers>;
    /// Adds or refreshes a subscription.
    fn subscribe(&self, event: &str, socket: &str, expire: u32) -> Result<(), SubscribeError>;
    /// Queues an event for delivery.
    fn raise_event(&self, event: &str, params: &EventParams) -> Result<(), RaiseError>;
    /// The status-report groups.
    fn status_groups(&self) -> Vec<StatusGroup>;
    /// Writes a memory summary to the log; `false` if `pid` names no process.
    fn memory_dump(&self, kind: MemoryKind, pid: Option<i32>, level: Option<i32>) -> bool;

    /// The module command called `name` (or `module:name`), if a loaded module exports it.
    /// A host without modules has none.
    fn module_command(&self, _name: &str) -> Option<ModuleCommand> {
        None
    }
    /// Every module command, modules in load order.
    fn module_commands(&self) -> Vec<ModuleCommand> {
        Vec::new()
    }
    /// The OpenSIPS 4.0 names (`<module>:<name>`) of the module commands, modules in load
    /// order; with `local`, only those whose 4.0 local name is `local`.
    /// [`Host::module_command`] finds each. By default a command's local name is its name.
    fn module_command_names(&self, local: Option<&str>) -> Vec<String> {
        self.module_commands()
            .into_iter()
            .filter(|c| local.is_none_or(|local| c.name == local))
            .map(|c| format!("{}:{}", c.module, c.name))
            .collect()
    }
    /// Which names `which` lists (the daemon's `core.which_names`).
    fn which_names(&self) -> WhichNames {
        WhichNames::V3_6
    }
    /// Runs a module command with the matched recipe's parameters as a JSON object; the
    /// result as JSON text, or the MI error to answer (module failures included).
    fn call_module(&self, _module: &str, _command: &str, _params: &str) -> Result<String, MiError> {
        Err(MiError::method_not_found())
    }
    /// The modules declared in the configuration.
    fn modules(&self) -> Vec<ModuleStatus> {
        Vec::new()
    }
    /// Loads a module declared in the configuration.
    fn load_module(&self, name: &str) -> Result<(), MiError> {
        Err(no_such_module(name))
    }
    /// Unloads a module; calls in flight finish first.
    fn unload_module(&self, name: &str) -> Result<(), MiError> {
        Err(no_such_module(name))
    }
    /// Reloads one module (or every loaded one) from its file and configuration.
    fn reload_modules(&self, name: Option<&str>) -> Result<(), MiError> {
        match name {
            Some(name) => Err(no_such_module(name)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_format() {
        let named = EventParams::Named(vec![
            ("ip".into(), EventValue::Text("10.0.0.1".into())),
            ("port".into(), EventValue::Int(5060)),
        ]);
        assert_eq!(
            notification("E_MY", &named),
            r#"{"jsonrpc":"2.0","method":"E_MY","params":{"ip":"10.0.0.1","port":5060}}"#
        );
        assert_eq!(
            notification("E_MY", &EventParams::None),
            r#"{"jsonrpc":"2.0","method":"E_MY"}"#
        );
        assert_eq!(
            notification("E_MY", &EventParams::Unnamed(vec!["a".into(), "5".into()])),
            r#"{"jsonrpc":"2.0","method":"E_MY","params":["a","5"]}"#
        );
    }
}
