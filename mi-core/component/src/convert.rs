//! mi-core's `Host` trait over the `miwa:mi/host` imports.

use crate::bindings::miwa::mi::host as wit;
use mi_core::host::{self as core, Host};
use mi_core::MiError;

/// The host reached through the component's imports.
pub struct ImportedHost;

fn cache_error(error: wit::CacheError) -> core::CacheError {
    match error {
        wit::CacheError::UnknownSystem => core::CacheError::UnknownSystem,
        wit::CacheError::Full => core::CacheError::Full,
    }
}

impl Host for ImportedHost {
    fn clock(&self) -> core::Clock {
        let c = wit::clock();
        core::Clock {
            now: c.now,
            now_offset: c.now_offset,
            started: c.started,
            started_offset: c.started_offset,
        }
    }

    fn build_info(&self) -> core::BuildInfo {
        let b = wit::build_info();
        core::BuildInfo {
            name: b.name,
            version: b.version,
            platform: b.platform,
            vcs: b.vcs,
            revision: b.revision,
        }
    }

    fn working_dir(&self) -> Option<String> {
        wit::working_dir()
    }

    fn caller(&self) -> Option<core::CallerFacts> {
        wit::caller().map(|c| core::CallerFacts {
            transport: c.transport,
            role: c.role,
            identity: c.identity,
            nodes: c.nodes,
        })
    }

    fn arguments(&self) -> Vec<String> {
        wit::arguments()
    }

    fn processes(&self) -> Vec<core::Process> {
        wit::processes()
            .into_iter()
            .map(|p| core::Process {
                id: p.id,
                pid: p.pid,
                kind: p.kind,
                log_level: p.log_level,
            })
            .collect()
    }

    fn set_log_level(&self, level: i32) {
        wit::set_log_level(level)
    }

    fn set_process_log_level(&self, pid: i32, level: i32) -> bool {
        wit::set_process_log_level(pid, level)
    }

    fn xlog_level(&self) -> i32 {
        wit::xlog_level()
    }

    fn set_xlog_level(&self, level: i32) {
        wit::set_xlog_level(level)
    }

    fn log_consumer(&self, name: &str) -> Option<core::LogConsumer> {
        wit::log_consumer(name).map(|c| core::LogConsumer {
            level_filter: c.level_filter,
            muted: c.muted,
        })
    }

    fn set_log_consumer_filter(&self, name: &str, level: i32) -> bool {
        wit::set_log_consumer_filter(name, level)
    }

    fn set_log_consumer_muted(&self, name: &str, muted: i32) -> bool {
        wit::set_log_consumer_muted(name, muted)
    }

    fn log(&self, level: i32, message: &str) {
        wit::log(level, message)
    }

    fn shutdown(&self) {
        wit::shutdown()
    }

    fn statistics(&self) -> Vec<core::Statistic> {
        let table = wit::statistics();
        let mut rest = table.names.as_str();
        let mut next = |len: u32| {
            let at = (len as usize).min(rest.len());
            let at = (0..=at)
                .rev()
                .find(|&i| rest.is_char_boundary(i))
                .unwrap_or(0);
            let (taken, left) = rest.split_at(at);
            rest = left;
            taken.to_string()
        };
        table
            .statistics
            .into_iter()
            .map(|s| core::Statistic {
                group: next(s.group_len),
                name: next(s.name_len),
                value: s.value,
                incremental: s.incremental,
            })
            .collect()
    }

    fn reset_statistic(&self, group: &str, name: &str) {
        wit::reset_statistic(group, name)
    }

    fn reset_all_statistics(&self) {
        wit::reset_all_statistics()
    }

    fn cache_store(
        &self,
        system: &str,
        key: &str,
        value: &str,
        expire: u32,
    ) -> Result<(), core::CacheError> {
        wit::cache_store(system, key, value, expire).map_err(cache_error)
    }

    fn cache_fetch(&self, system: &str, key: &str) -> Result<Option<String>, core::CacheError> {
        wit::cache_fetch(system, key).map_err(cache_error)
    }

    fn cache_remove(&self, system: &str, key: &str) -> Result<(), core::CacheError> {
        wit::cache_remove(system, key).map_err(cache_error)
    }

    fn cache_fetch_matching(
        &self,
        system: &str,
        glob: &str,
    ) -> Result<Vec<(String, String)>, core::CacheError> {
        wit::cache_fetch_matching(system, glob).map_err(cache_error)
    }

    fn http_roots(&self) -> Vec<(String, String)> {
        wit::http_roots()
    }

    fn events(&self) -> Vec<String> {
        wit::events()
    }

    fn subscribers(&self) -> Vec<core::EventSubscribers> {
        wit::subscribers()
            .into_iter()
            .map(|e| core::EventSubscribers {
                name: e.name,
                id: e.id,
                subscribers: e
                    .subscribers
                    .into_iter()
                    .map(|s| core::Subscriber {
                        socket: s.socket,
                        expire: s.expire,
                        ttl: s.ttl,
                    })
                    .collect(),
            })
            .collect()
    }

    fn subscribe(
        &self,
        event: &str,
        socket: &str,
        expire: u32,
    ) -> Result<(), core::SubscribeError> {
        wit::subscribe(event, socket, expire).map_err(|e| match e {
            wit::SubscribeError::BadValue => core::SubscribeError::BadValue,
            wit::SubscribeError::TooMany => core::SubscribeError::TooMany,
        })
    }

    fn raise_event(&self, event: &str, params: &core::EventParams) -> Result<(), core::RaiseError> {
        let params = match params {
            core::EventParams::None => wit::EventParams::None,
            core::EventParams::Unnamed(items) => wit::EventParams::Unnamed(items.clone()),
            core::EventParams::Named(members) => wit::EventParams::Named(
                members
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            core::EventValue::Int(n) => wit::EventValue::Int(*n),
                            core::EventValue::Text(t) => wit::EventValue::Text(t.clone()),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
        };
        wit::raise_event(event, &params).map_err(|e| match e {
            wit::RaiseError::NotRegistered => core::RaiseError::NotRegistered,
            wit::RaiseError::NoSubscribers => core::RaiseError::NoSubscribers,
            wit::RaiseError::Failed => core::RaiseError::Failed,
            wit::RaiseError::TooLarge => core::RaiseError::TooLarge,
        })
    }

    fn status_groups(&self) -> Vec<core::StatusGroup> {
        wit::status_groups()
            .into_iter()
            .map(|g| core::StatusGroup {
                name: g.name,
                identifiers: g
                    .identifiers
                    .into_iter()
                    .map(|i| core::StatusIdentifier {
                        name: i.name,
                        status: i.status,
                        details: i.details,
                        reports: i
                            .reports
                            .into_iter()
                            .map(|r| core::StatusReport {
                                timestamp: r.timestamp,
                                offset: r.offset,
                                log: r.log,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    fn memory_dump(&self, kind: core::MemoryKind, pid: Option<i32>, level: Option<i32>) -> bool {
        let kind = match kind {
            core::MemoryKind::Private => wit::MemoryKind::ProcessPrivate,
            core::MemoryKind::Shared => wit::MemoryKind::Shared,
            core::MemoryKind::Persistent => wit::MemoryKind::RestartPersistent,
        };
        wit::memory_dump(kind, pid, level)
    }

    fn module_command(&self, name: &str) -> Option<core::ModuleCommand> {
        wit::find_module_command(name).map(module_command)
    }

    fn module_command_names(&self, local: Option<&str>) -> Vec<String> {
        wit::module_command_names(local)
    }

    fn which_names(&self) -> core::WhichNames {
        match wit::which_names() {
            wit::NameForms::V36 => core::WhichNames::V3_6,
            wit::NameForms::V40 => core::WhichNames::V4_0,
            wit::NameForms::Both => core::WhichNames::Both,
        }
    }

    fn module_commands(&self) -> Vec<core::ModuleCommand> {
        wit::module_commands()
            .into_iter()
            .map(module_command)
            .collect()
    }

    fn call_module(&self, module: &str, command: &str, params: &str) -> Result<String, MiError> {
        wit::call_module(module, command, params).map_err(mi_error)
    }

    fn modules(&self) -> Vec<core::ModuleStatus> {
        wit::modules()
            .into_iter()
            .map(|m| core::ModuleStatus {
                name: m.name,
                state: m.state,
                error: m.error,
                path: m.path,
                sha256: m.sha256,
                version: m.version,
                commands: m.commands,
                grants: m.grants,
                limits: core::ModuleLimits {
                    timeout_ms: m.limits.timeout_ms,
                    max_memory: m.limits.max_memory,
                    max_wasm_stack: m.limits.max_wasm_stack,
                    max_reply: m.limits.max_reply,
                    max_instances: m.limits.max_instances,
                },
                instances: m.instances,
            })
            .collect()
    }

    fn load_module(&self, name: &str) -> Result<(), MiError> {
        wit::load_module(name).map_err(mi_error)
    }

    fn unload_module(&self, name: &str) -> Result<(), MiError> {
        wit::unload_module(name).map_err(mi_error)
    }

    fn reload_modules(&self, name: Option<&str>) -> Result<(), MiError> {
        wit::reload_modules(name).map_err(mi_error)
    }
}

fn module_command(c: wit::ModuleCommand) -> core::ModuleCommand {
    core::ModuleCommand {
        name: c.name,
        module: c.module,
        help: c.help,
        named_only: c.named_only,
        recipes: c.recipes,
        param_types: c.param_types,
    }
}

fn mi_error(e: wit::MiError) -> MiError {
    MiError {
        code: e.code,
        message: e.message,
        data: e.data,
    }
}
