//! A simulated OpenSIPS node: everything the core asks of a host, kept in memory and moved by
//! a simulated clock. Deterministic for a given seed and start time: statistics grow by
//! seeded amounts each simulated second, cache entries expire on the simulated clock, events
//! are "delivered" into a journal the page shows.
//!
//! Its modules are `mi_sim`'s simulated proxy (the same `miwa serve --simulate` runs); they
//! answer through the host's module-command seam, as miwa's WebAssembly modules do in the
//! daemon.

use mi_core::host::{
    notification, BuildInfo, CacheError, Clock, EventParams, EventSubscribers, Host, LogConsumer,
    MemoryKind, ModuleCommand, Process, RaiseError, Statistic, StatusGroup, StatusIdentifier,
    StatusReport, SubscribeError, Subscriber,
};
use mi_core::MiError;
use mi_sim::random::Rng;
use mi_sim::Proxy;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// OpenSIPS 3.6's core events, which the simulated node publishes before its modules'
/// ([`mi_sim::EVENTS`]).
const CORE_EVENTS: [&str; 6] = [
    "E_CORE_THRESHOLD",
    "E_CORE_SHM_THRESHOLD",
    "E_CORE_PKG_THRESHOLD",
    "E_CORE_PROC_AUTO_SCALE",
    "E_CORE_TCP_DISCONNECT",
    "E_CORE_SR_STATUS_CHANGED",
];

/// Every event the simulated node publishes, core first.
pub fn events() -> impl Iterator<Item = &'static str> {
    CORE_EVENTS.into_iter().chain(mi_sim::EVENTS)
}

/// Size limit of the simulated `local` cache (keys plus values), bytes.
pub const CACHE_LIMIT: usize = 1 << 20;

/// Most journal entries kept between two reads.
const JOURNAL_LIMIT: usize = 1000;

/// Something the page shows in its event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A notification "sent" to a subscriber.
    Event {
        /// The subscriber's socket.
        socket: String,
        /// The exact notification text.
        text: String,
    },
    /// A log line of the simulated node.
    Log(String),
}

struct SimProcess {
    pid: i32,
    kind: &'static str,
    level: i32,
}

/// A level of the node's own (memory, load), wandering within `low ..= high`; the
/// counters are the simulated proxy's.
struct SimStatistic {
    group: &'static str,
    name: &'static str,
    value: u64,
    low: u64,
    high: u64,
}

struct Subscription {
    event: usize,
    socket: String,
    expire: u32,
    since: i64,
}

struct State {
    rng: Rng,
    started: i64,
    now: i64,
    processes: Vec<SimProcess>,
    xlog_level: i32,
    consumers: Vec<(&'static str, LogConsumer)>,
    statistics: Vec<SimStatistic>,
    cache: BTreeMap<String, (String, Option<i64>)>,
    subscriptions: Vec<Subscription>,
    status: Vec<StatusGroup>,
    journal: Vec<Entry>,
    stopped: bool,
    proxy: Proxy,
}

/// The simulated node.
pub struct Simulation {
    state: RefCell<State>,
    /// The simulated modules' commands, built once.
    commands: Vec<ModuleCommand>,
}

const PROCESSES: [&str; 8] = [
    "attendant",
    "HTTPD 127.0.0.1:8888",
    "MI FIFO",
    "MI Datagram 127.0.0.1:8080",
    "time_keeper",
    "timer",
    "SIP receiver udp:127.0.0.1:5060",
    "SIP receiver udp:127.0.0.1:5060",
];

fn statistics() -> Vec<SimStatistic> {
    let level = |group, name, low, high| SimStatistic {
        group,
        name,
        value: low,
        low,
        high,
    };
    vec![
        level("shmem", "total_size", 33_554_432, 33_554_432),
        level("shmem", "used_size", 2_400_000, 2_900_000),
        level("shmem", "real_used_size", 2_900_000, 3_400_000),
        level("shmem", "max_used_size", 3_400_000, 3_400_000),
        level("shmem", "free_size", 30_100_000, 30_600_000),
        level("shmem", "fragments", 40, 90),
        level("load", "load", 0, 35),
        level("load", "load1m", 5, 25),
        level("load", "load10m", 8, 18),
        level(
            "load",
            "processes_number",
            PROCESSES.len() as u64,
            PROCESSES.len() as u64,
        ),
    ]
}

fn identifier(name: &str, status: i32, details: &str, at: i64) -> StatusIdentifier {
    StatusIdentifier {
        name: name.to_string(),
        status,
        details: Some(details.to_string()),
        reports: vec![StatusReport {
            timestamp: at,
            offset: 0,
            log: details.to_string(),
        }],
    }
}

impl Simulation {
    /// A node started at `started` (Unix seconds), its randomness seeded with `seed`.
    pub fn new(seed: u32, started: i64) -> Self {
        let processes = PROCESSES
            .iter()
            .enumerate()
            .map(|(i, kind)| SimProcess {
                pid: 2100 + i as i32 * 3,
                kind,
                level: 3,
            })
            .collect();
        let group = |name: &str, identifiers| StatusGroup {
            name: name.to_string(),
            identifiers,
        };
        let status = vec![
            group("core", vec![identifier("main", 1, "running", started)]),
            group(
                "mi_http",
                vec![identifier(
                    "main",
                    1,
                    "serving http://127.0.0.1:8888/mi",
                    started,
                )],
            ),
            group(
                "mi_fifo",
                vec![identifier("main", 1, "serving /tmp/opensips_fifo", started)],
            ),
        ];
        let consumer = LogConsumer {
            level_filter: 4,
            muted: 0,
        };
        Simulation {
            state: RefCell::new(State {
                rng: Rng::new(seed),
                started,
                now: started,
                processes,
                xlog_level: 3,
                consumers: vec![
                    ("stderror", consumer),
                    ("syslog", consumer),
                    ("event", consumer),
                ],
                statistics: statistics(),
                cache: BTreeMap::new(),
                subscriptions: Vec::new(),
                status,
                journal: Vec::new(),
                stopped: false,
                proxy: Proxy::new(seed, started),
            }),
            commands: Proxy::commands(),
        }
    }

    /// Moves the clock `seconds` forward: counters grow, levels wander.
    pub fn advance(&self, seconds: u32) {
        let mut state = self.state.borrow_mut();
        for _ in 0..seconds.min(86_400) {
            let State {
                rng,
                statistics,
                now,
                proxy,
                ..
            } = &mut *state;
            *now += 1;
            for statistic in statistics.iter_mut() {
                statistic.value = rng.range(statistic.low, statistic.high);
            }
            let raised = proxy.advance_to(*now);
            for (event, params) in raised {
                Self::deliver(&mut state, event, &params);
            }
        }
    }

    /// The simulated time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.state.borrow().now
    }

    /// Whether `kill` stopped the node.
    pub fn stopped(&self) -> bool {
        self.state.borrow().stopped
    }

    /// The journal entries since the last call.
    pub fn take_journal(&self) -> Vec<Entry> {
        std::mem::take(&mut self.state.borrow_mut().journal)
    }

    fn note(state: &mut State, entry: Entry) {
        if state.journal.len() < JOURNAL_LIMIT {
            state.journal.push(entry);
        }
    }

    /// Notes `event` for each of its live subscribers; false if it has none.
    fn deliver(state: &mut State, event: &str, params: &EventParams) -> bool {
        let Some(id) = events().position(|e| e == event) else {
            return false;
        };
        Self::live_subscriptions(state);
        let sockets: Vec<String> = state
            .subscriptions
            .iter()
            .filter(|s| s.event == id)
            .map(|s| s.socket.clone())
            .collect();
        let text = notification(event, params);
        for socket in &sockets {
            Self::note(
                state,
                Entry::Event {
                    socket: socket.clone(),
                    text: text.clone(),
                },
            );
        }
        !sockets.is_empty()
    }

    fn live_subscriptions(state: &mut State) {
        let now = state.now;
        state
            .subscriptions
            .retain(|s| now - s.since <= i64::from(s.expire));
    }
}

fn valid_socket(socket: &str) -> bool {
    match socket.split_once(':') {
        Some(("udp", address)) => address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()),
        Some(("unix", path)) => !path.is_empty(),
        _ => false,
    }
}

impl Host for Simulation {
    fn clock(&self) -> Clock {
        let state = self.state.borrow();
        Clock {
            now: state.now,
            now_offset: 0,
            started: state.started,
            started_offset: 0,
        }
    }

    fn build_info(&self) -> BuildInfo {
        BuildInfo {
            name: "miwa".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            platform: "wasm32/browser".into(),
            vcs: "git".into(),
            revision: "playground".into(),
        }
    }

    fn working_dir(&self) -> Option<String> {
        Some("/".into())
    }

    fn caller(&self) -> Option<mi_core::host::CallerFacts> {
        // The playground's page is its only caller, with every command.
        Some(mi_core::host::CallerFacts {
            transport: "playground".into(),
            role: "full".into(),
            identity: None,
            nodes: None,
        })
    }

    fn arguments(&self) -> Vec<String> {
        vec!["miwa".into(), "serve".into(), "--playground".into()]
    }

    fn processes(&self) -> Vec<Process> {
        self.state
            .borrow()
            .processes
            .iter()
            .enumerate()
            .map(|(id, p)| Process {
                id: id as u32,
                pid: p.pid,
                kind: p.kind.to_string(),
                log_level: p.level,
            })
            .collect()
    }

    fn set_log_level(&self, level: i32) {
        for process in &mut self.state.borrow_mut().processes {
            process.level = level;
        }
    }

    fn set_process_log_level(&self, pid: i32, level: i32) -> bool {
        let mut state = self.state.borrow_mut();
        match state.processes.iter_mut().find(|p| p.pid == pid) {
            Some(process) => {
                process.level = level;
                true
            }
            None => false,
        }
    }

    fn xlog_level(&self) -> i32 {
        self.state.borrow().xlog_level
    }

    fn set_xlog_level(&self, level: i32) {
        self.state.borrow_mut().xlog_level = level;
    }

    fn log_consumer(&self, name: &str) -> Option<LogConsumer> {
        self.state
            .borrow()
            .consumers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
    }

    fn set_log_consumer_filter(&self, name: &str, level: i32) -> bool {
        let mut state = self.state.borrow_mut();
        match state.consumers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, consumer)) => {
                consumer.level_filter = level;
                true
            }
            None => false,
        }
    }

    fn set_log_consumer_muted(&self, name: &str, muted: i32) -> bool {
        let mut state = self.state.borrow_mut();
        match state.consumers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, consumer)) => {
                consumer.muted = muted;
                true
            }
            None => false,
        }
    }

    fn log(&self, level: i32, message: &str) {
        let mut state = self.state.borrow_mut();
        Self::note(&mut state, Entry::Log(format!("[level {level}] {message}")));
    }

    fn shutdown(&self) {
        let mut state = self.state.borrow_mut();
        state.stopped = true;
        Self::note(
            &mut state,
            Entry::Log("kill: the simulated node stopped (reset it to start again)".into()),
        );
    }

    /// OpenSIPS's order: memory, the SIP counters (`core:`, `sl:`), load, then the
    /// modules'.
    fn statistics(&self) -> Vec<Statistic> {
        let state = self.state.borrow();
        let own = state
            .statistics
            .iter()
            .map(|s| Statistic::new(s.group, s.name, s.value, false));
        let (memory, load): (Vec<_>, Vec<_>) = own.partition(|s| s.group == "shmem");
        let (counters, modules): (Vec<_>, Vec<_>) = state
            .proxy
            .statistics()
            .into_iter()
            .partition(|s| s.group == "core" || s.group == "sl");
        memory
            .into_iter()
            .chain(counters)
            .chain(load)
            .chain(modules)
            .collect()
    }

    /// The node's own statistics are levels, which do not reset: only the proxy's
    /// counters do.
    fn reset_statistic(&self, group: &str, name: &str) {
        self.state.borrow_mut().proxy.reset_statistic(group, name);
    }

    fn reset_all_statistics(&self) {
        self.state.borrow_mut().proxy.reset_all_statistics();
    }

    fn cache_store(
        &self,
        system: &str,
        key: &str,
        value: &str,
        expire: u32,
    ) -> Result<(), CacheError> {
        if system != "local" {
            return Err(CacheError::UnknownSystem);
        }
        let mut state = self.state.borrow_mut();
        let now = state.now;
        state
            .cache
            .retain(|_, (_, until)| until.is_none_or(|t| t > now));
        let used: usize = state
            .cache
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, (v, _))| k.len() + v.len())
            .sum();
        if used + key.len() + value.len() > CACHE_LIMIT {
            return Err(CacheError::Full);
        }
        let until = (expire > 0).then(|| now + i64::from(expire));
        state
            .cache
            .insert(key.to_string(), (value.to_string(), until));
        Ok(())
    }

    fn cache_fetch(&self, system: &str, key: &str) -> Result<Option<String>, CacheError> {
        if system != "local" {
            return Err(CacheError::UnknownSystem);
        }
        let state = self.state.borrow();
        Ok(state
            .cache
            .get(key)
            .filter(|(_, until)| until.is_none_or(|t| t > state.now))
            .map(|(v, _)| v.clone()))
    }

    fn cache_remove(&self, system: &str, key: &str) -> Result<(), CacheError> {
        if system != "local" {
            return Err(CacheError::UnknownSystem);
        }
        self.state.borrow_mut().cache.remove(key);
        Ok(())
    }

    fn cache_fetch_matching(
        &self,
        system: &str,
        glob: &str,
    ) -> Result<Vec<(String, String)>, CacheError> {
        if system != "local" {
            return Err(CacheError::UnknownSystem);
        }
        let state = self.state.borrow();
        Ok(state
            .cache
            .iter()
            .filter(|(key, (_, until))| {
                until.is_none_or(|t| t > state.now) && mi_core::glob::matches(glob, key)
            })
            .map(|(key, (value, _))| (key.clone(), value.clone()))
            .collect())
    }

    fn http_roots(&self) -> Vec<(String, String)> {
        [
            ("html", "mi_html"),
            ("RPC2", "mi_xmlrpc_ng"),
            ("mi", "mi_http"),
        ]
        .into_iter()
        .map(|(root, module)| (root.to_string(), module.to_string()))
        .collect()
    }

    fn events(&self) -> Vec<String> {
        events().map(str::to_string).collect()
    }

    fn subscribers(&self) -> Vec<EventSubscribers> {
        let mut state = self.state.borrow_mut();
        Self::live_subscriptions(&mut state);
        let now = state.now;
        events()
            .enumerate()
            .filter_map(|(id, name)| {
                let subscribers: Vec<Subscriber> = state
                    .subscriptions
                    .iter()
                    .filter(|s| s.event == id)
                    .map(|s| Subscriber {
                        socket: s.socket.clone(),
                        expire: s.expire,
                        ttl: i64::from(s.expire) - (now - s.since),
                    })
                    .collect();
                (!subscribers.is_empty()).then(|| EventSubscribers {
                    name: name.to_string(),
                    id: id as u32,
                    subscribers,
                })
            })
            .collect()
    }

    fn subscribe(&self, event: &str, socket: &str, expire: u32) -> Result<(), SubscribeError> {
        let id = events()
            .position(|e| e == event)
            .ok_or(SubscribeError::BadValue)?;
        if !valid_socket(socket) {
            return Err(SubscribeError::BadValue);
        }
        let mut state = self.state.borrow_mut();
        let now = state.now;
        Self::live_subscriptions(&mut state);
        match state
            .subscriptions
            .iter_mut()
            .find(|s| s.event == id && s.socket == socket)
        {
            Some(existing) => {
                existing.expire = expire;
                existing.since = now;
            }
            None => state.subscriptions.insert(
                0,
                Subscription {
                    event: id,
                    socket: socket.to_string(),
                    expire,
                    since: now,
                },
            ),
        }
        Ok(())
    }

    fn raise_event(&self, event: &str, params: &EventParams) -> Result<(), RaiseError> {
        if !events().any(|e| e == event) {
            return Err(RaiseError::NotRegistered);
        }
        match Self::deliver(&mut self.state.borrow_mut(), event, params) {
            true => Ok(()),
            false => Err(RaiseError::NoSubscribers),
        }
    }

    fn module_command(&self, name: &str) -> Option<ModuleCommand> {
        mi_sim::find_command(&self.commands, name).cloned()
    }

    fn module_commands(&self) -> Vec<ModuleCommand> {
        self.commands.clone()
    }

    fn module_command_names(&self, local: Option<&str>) -> Vec<String> {
        mi_sim::names_4_0(&self.commands, local)
    }

    fn call_module(&self, module: &str, command: &str, params: &str) -> Result<String, MiError> {
        let mut state = self.state.borrow_mut();
        let (result, raised) = state.proxy.call(module, command, params)?;
        for (event, params) in raised {
            Self::deliver(&mut state, event, &params);
        }
        Ok(result)
    }

    fn status_groups(&self) -> Vec<StatusGroup> {
        self.state.borrow().status.clone()
    }

    fn memory_dump(&self, kind: MemoryKind, pid: Option<i32>, level: Option<i32>) -> bool {
        let mut state = self.state.borrow_mut();
        if let Some(pid) = pid {
            if !state.processes.iter().any(|p| p.pid == pid) {
                return false;
            }
        }
        let what = match kind {
            MemoryKind::Private => "private (pkg)",
            MemoryKind::Shared => "shared (shm)",
            MemoryKind::Persistent => "restart-persistent (rpm)",
        };
        let level = level.unwrap_or(state.processes.first().map_or(3, |p| p.level));
        Self::note(
            &mut state,
            Entry::Log(format!(
                "[level {level}] memory dump of {what} memory{}: 312 fragments, 1843200 bytes in use (simulated)",
                pid.map(|p| format!(" of process {p}")).unwrap_or_default()
            )),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow_and_levels_wander_with_the_clock() {
        let sim = Simulation::new(1, 1_800_000_000);
        let before = sim.statistics();
        sim.advance(10);
        let after = sim.statistics();
        let value = |list: &[Statistic], name: &str| {
            list.iter()
                .find(|s| s.name == name)
                .map(|s| s.value)
                .unwrap()
        };
        assert!(value(&after, "rcv_requests") > value(&before, "rcv_requests"));
        assert_eq!(value(&after, "timestamp"), 10);
        assert_eq!(sim.now(), 1_800_000_010);
    }

    #[test]
    fn cache_entries_expire_on_the_simulated_clock() {
        let sim = Simulation::new(1, 0);
        sim.cache_store("local", "k", "v", 5).unwrap();
        assert_eq!(sim.cache_fetch("local", "k"), Ok(Some("v".into())));
        sim.advance(5);
        assert_eq!(sim.cache_fetch("local", "k"), Ok(None));
        assert_eq!(
            sim.cache_fetch("redis", "k"),
            Err(CacheError::UnknownSystem)
        );
        let big = "x".repeat(CACHE_LIMIT);
        assert_eq!(
            sim.cache_store("local", "b", &big, 0),
            Err(CacheError::Full)
        );
    }

    #[test]
    fn raised_events_reach_the_journal_until_the_subscription_expires() {
        let sim = Simulation::new(1, 0);
        assert_eq!(
            sim.subscribe("E_CORE_THRESHOLD", "tcp:1.2.3.4:5", 10),
            Err(SubscribeError::BadValue)
        );
        sim.subscribe("E_CORE_THRESHOLD", "udp:127.0.0.1:9999", 10)
            .unwrap();
        sim.raise_event("E_CORE_THRESHOLD", &EventParams::Unnamed(vec!["a".into()]))
            .unwrap();
        assert_eq!(
            sim.take_journal(),
            vec![Entry::Event {
                socket: "udp:127.0.0.1:9999".into(),
                text: r#"{"jsonrpc":"2.0","method":"E_CORE_THRESHOLD","params":["a"]}"#.into()
            }]
        );
        sim.advance(11);
        assert_eq!(
            sim.raise_event("E_CORE_THRESHOLD", &EventParams::None),
            Err(RaiseError::NoSubscribers)
        );
    }
}
