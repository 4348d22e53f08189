//! A deterministic in-memory host for the JSON-RPC tests.
//!
//! Compiled into several test binaries, each of which uses part of it.
#![allow(dead_code)]

use mi_core::host::*;
use mi_core::{Core, HandleOptions, Reply};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Fixed clock, two processes, a map cache, one event.
pub struct FakeHost {
    levels: RefCell<Vec<i32>>,
    cache: RefCell<BTreeMap<String, String>>,
    pub shutdowns: RefCell<u32>,
    /// Whether the fake module `echo` is loaded.
    pub with_module: bool,
    /// Whether `echo` also exports `list`, a local name the core's 4.0 names share.
    pub with_list: bool,
    /// The `(module, command, params)` of every module call.
    pub module_calls: RefCell<Vec<(String, String, String)>>,
    /// Whether `E_CORE_THRESHOLD` has a subscriber (so `raise_event` reads its params).
    pub subscribed: bool,
}

impl FakeHost {
    /// A host with the module `echo` loaded: `echo_params` (recipes `[a, b]` and `[c]`)
    /// answers the parameter object it got; `echo_raw` answers text that is not JSON.
    pub fn with_module() -> Self {
        Self::with_modules(false)
    }

    /// A host where `E_CORE_THRESHOLD` has a subscriber.
    pub fn subscribed() -> Self {
        FakeHost {
            subscribed: true,
            ..FakeHost::default()
        }
    }

    /// [`FakeHost::with_module`], `echo` also exporting `list` when `with_list`.
    pub fn with_modules(with_list: bool) -> Self {
        FakeHost {
            with_module: true,
            with_list,
            ..FakeHost::default()
        }
    }

    fn echo_commands(&self) -> Vec<ModuleCommand> {
        if !self.with_module {
            return Vec::new();
        }
        let command = |name: &str, recipes: Vec<Vec<String>>| ModuleCommand {
            name: name.into(),
            module: "echo".into(),
            help: Some(format!("{name} help")),
            named_only: false,
            recipes,
            param_types: Vec::new(),
        };
        let mut commands = vec![
            command(
                "echo_params",
                vec![vec!["a".into(), "b".into()], vec!["c".into()]],
            ),
            command("echo_raw", vec![vec![]]),
        ];
        if self.with_list {
            commands.push(command("list", vec![vec![]]));
        }
        commands
    }
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            levels: RefCell::new(vec![3, 3]),
            cache: RefCell::default(),
            shutdowns: RefCell::new(0),
            with_module: false,
            with_list: false,
            module_calls: RefCell::default(),
            subscribed: false,
        }
    }
}

const PIDS: [i32; 2] = [100, 101];

impl Host for FakeHost {
    fn clock(&self) -> Clock {
        Clock {
            now: 1_795_728_893,
            now_offset: 0,
            started: 1_795_728_821,
            started_offset: 0,
        }
    }
    fn build_info(&self) -> BuildInfo {
        BuildInfo {
            name: "miwa".into(),
            version: "0.1.0".into(),
            platform: "x86_64/linux".into(),
            vcs: "git".into(),
            revision: "abc".into(),
        }
    }
    fn working_dir(&self) -> Option<String> {
        Some("/".into())
    }
    fn caller(&self) -> Option<mi_core::host::CallerFacts> {
        None
    }
    fn arguments(&self) -> Vec<String> {
        vec!["miwa".into(), "serve".into()]
    }
    fn processes(&self) -> Vec<Process> {
        let levels = self.levels.borrow();
        vec![
            Process {
                id: 0,
                pid: PIDS[0],
                kind: "main".into(),
                log_level: levels[0],
            },
            Process {
                id: 1,
                pid: PIDS[1],
                kind: "MI worker".into(),
                log_level: levels[1],
            },
        ]
    }
    fn set_log_level(&self, level: i32) {
        self.levels.borrow_mut().iter_mut().for_each(|l| *l = level);
    }
    fn set_process_log_level(&self, pid: i32, level: i32) -> bool {
        match PIDS.iter().position(|p| *p == pid) {
            Some(i) => {
                self.levels.borrow_mut()[i] = level;
                true
            }
            None => false,
        }
    }
    fn xlog_level(&self) -> i32 {
        3
    }
    fn set_xlog_level(&self, _: i32) {}
    fn log_consumer(&self, name: &str) -> Option<LogConsumer> {
        (name == "syslog").then_some(LogConsumer {
            level_filter: 3,
            muted: 0,
        })
    }
    fn set_log_consumer_filter(&self, name: &str, _: i32) -> bool {
        name == "syslog"
    }
    fn set_log_consumer_muted(&self, name: &str, _: i32) -> bool {
        name == "syslog"
    }
    fn log(&self, _: i32, _: &str) {}
    fn shutdown(&self) {
        *self.shutdowns.borrow_mut() += 1;
    }
    fn statistics(&self) -> Vec<Statistic> {
        let stat = |group: &str, name: &str, value, incremental| Statistic {
            group: group.into(),
            name: name.into(),
            value,
            incremental,
        };
        vec![
            stat("shmem", "total_size", 4_294_967_296, false),
            stat("core", "timestamp", 72, false),
            stat("commands", "ps_calls", 5, true),
        ]
    }
    fn reset_statistic(&self, _: &str, _: &str) {}
    fn reset_all_statistics(&self) {}
    fn cache_store(&self, system: &str, key: &str, value: &str, _: u32) -> Result<(), CacheError> {
        if system != "local" {
            return Err(CacheError::UnknownSystem);
        }
        self.cache.borrow_mut().insert(key.into(), value.into());
        Ok(())
    }
    fn cache_fetch(&self, system: &str, key: &str) -> Result<Option<String>, CacheError> {
        if system != "local" {
            return Err(CacheError::UnknownSystem);
        }
        Ok(self.cache.borrow().get(key).cloned())
    }
    fn cache_remove(&self, system: &str, key: &str) -> Result<(), CacheError> {
        if system != "local" {
            return Err(CacheError::UnknownSystem);
        }
        self.cache.borrow_mut().remove(key);
        Ok(())
    }
    fn events(&self) -> Vec<String> {
        vec!["E_CORE_THRESHOLD".into()]
    }
    fn subscribers(&self) -> Vec<EventSubscribers> {
        if !self.subscribed {
            return Vec::new();
        }
        vec![EventSubscribers {
            name: "E_CORE_THRESHOLD".into(),
            id: 0,
            subscribers: vec![Subscriber {
                socket: "udp:127.0.0.1:9999".into(),
                expire: 60,
                ttl: 60,
            }],
        }]
    }
    fn subscribe(&self, _: &str, _: &str, _: u32) -> Result<(), SubscribeError> {
        Ok(())
    }
    fn raise_event(&self, _: &str, _: &EventParams) -> Result<(), RaiseError> {
        Ok(())
    }
    fn status_groups(&self) -> Vec<StatusGroup> {
        vec![StatusGroup {
            name: "core".into(),
            identifiers: vec![StatusIdentifier {
                name: "main".into(),
                status: 1,
                details: Some("running".into()),
                reports: Vec::new(),
            }],
        }]
    }
    fn memory_dump(&self, _: MemoryKind, pid: Option<i32>, _: Option<i32>) -> bool {
        pid.is_none_or(|p| PIDS.contains(&p))
    }
    fn module_command(&self, name: &str) -> Option<ModuleCommand> {
        let bare = name.strip_prefix("echo:").unwrap_or(name);
        self.echo_commands().into_iter().find(|c| c.name == bare)
    }
    fn module_commands(&self) -> Vec<ModuleCommand> {
        self.echo_commands()
    }
    fn call_module(
        &self,
        module: &str,
        command: &str,
        params: &str,
    ) -> Result<String, mi_core::MiError> {
        self.module_calls
            .borrow_mut()
            .push((module.into(), command.into(), params.into()));
        match command {
            "echo_raw" => Ok("{not json".into()),
            _ => Ok(params.into()),
        }
    }
}

/// The reply text a default core gives `request` on `host` (panics on no text).
pub fn reply_text(host: &FakeHost, request: &str) -> String {
    match Core::default()
        .handle(host, request.as_bytes(), HandleOptions::default())
        .reply
    {
        Reply::Text(text) => text,
        other => panic!("{request}: {other:?}"),
    }
}
