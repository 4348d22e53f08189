//! OpenSIPS 4.0 command names. 4.0 names every command `<module>:<name>` and keeps the 3.x
//! names as aliases; a bare name resolves when one command has it as its local name, and a
//! bare name that several commands share answers `-32001 Method ambiguous` with the
//! candidates (`mi/mi.c`, `lookup_mi_cmd` and `build_ambiguous_mi_cmd_resp`).
//!
//! Resolution order, for a name the core is called with:
//! 1. a 3.6 name of a core command (the fast path every 3.x client takes);
//! 2. with a `:`, a core command's 4.0 name, or its `<module>:<3.6 name>` alias; else a
//!    module command by the host's lookup (its 3.6 name or its 4.0 name);
//! 3. without a `:`, the 4.0 local names of the core's and the modules' commands: one
//!    match is that command, several are ambiguous; with none, a module command's 3.6 name.

use crate::error::MiError;
use crate::host::{Host, ModuleCommand};
use crate::registry::{Command, Registry};

/// The 4.0 name of each core command whose 4.0 name is not `<module>:<3.6 name>`
/// (`mi/mi_core.c`, `statistics.c`, `modules/httpd`, `modules/cachedb_local` in 4.0).
const CORE_4_0: [(&str, &str); 20] = [
    ("get_statistics", "statistics:get"),
    ("list_statistics", "statistics:list"),
    ("reset_statistics", "statistics:reset"),
    ("reset_all_statistics", "statistics:reset_all"),
    ("list_tcp_conns", "tcp:list"),
    ("mem_pkg_dump", "mem:pkg_dump"),
    ("mem_shm_dump", "mem:shm_dump"),
    ("mem_rpm_dump", "mem:rpm_dump"),
    ("cache_store", "cache:store"),
    ("cache_fetch", "cache:fetch"),
    ("cache_remove", "cache:remove"),
    ("sr_get_status", "status_report:get"),
    ("sr_list_status", "status_report:status"),
    ("sr_list_reports", "status_report:reports"),
    ("sr_list_identifiers", "status_report:identifiers"),
    ("event_subscribe", "evi:subscribe"),
    ("events_list", "evi:list"),
    ("subscribers_list", "evi:subscribers"),
    ("raise_event", "evi:raise"),
    ("httpd_list_root_path", "httpd:list_root_path"),
];

/// The 4.0 name of a core command that [`CORE_4_0`] does not rename.
const CACHE_FETCH_CHUNK: (&str, &str) = ("cache_fetch_chunk", "cachedb_local:fetch_chunk");

/// The OpenSIPS 4.0 name of core `command`, `<module>:<name>`.
pub fn core_name(command: &Command) -> String {
    CORE_4_0
        .iter()
        .chain(std::iter::once(&CACHE_FETCH_CHUNK))
        .find(|(old, _)| *old == command.name)
        .map(|(_, new)| new.to_string())
        .unwrap_or_else(|| format!("{}:{}", command.module, command.name))
}

/// The modules of the core's commands, whose 4.0 names [`CORE_4_0`] gives.
const CORE_MODULES: [&str; 3] = ["core", "cachedb_local", "httpd"];

/// The 4.0 name of the command registered as `name` by `module`: for the core's commands,
/// the name OpenSIPS 4.0 gives it (`statistics:get` for `get_statistics`); for any other
/// command, `<module>:<name>`.
pub fn name_4_0_of(name: &str, module: &str) -> String {
    if CORE_MODULES.contains(&module) {
        if let Some((_, new)) = CORE_4_0
            .iter()
            .chain(std::iter::once(&CACHE_FETCH_CHUNK))
            .find(|(old, _)| *old == name)
        {
            return new.to_string();
        }
    }
    format!("{module}:{name}")
}

/// The OpenSIPS module commands whose 4.0 names miwa knows, as (module, 3.6 name, 4.0
/// name within the module; 4.0 calls the command `<module>:<name>` and keeps the 3.6 name
/// as an alias, `modules/*/…` `mi_cmds` in 4.0): the commands of the modules `mi-sim`
/// simulates. Front mode reads an OpenSIPS 3.x node's command list with it; the simulator
/// registers its commands under it.
pub const MODULE_COMMANDS_4_0: [(&str, &str, &str); 30] = [
    ("usrloc", "ul_rm", "rm"),
    ("usrloc", "ul_rm_contact", "rm_contact"),
    ("usrloc", "ul_dump", "dump"),
    ("usrloc", "ul_flush", "flush"),
    ("usrloc", "ul_show_contact", "show_contact"),
    ("dispatcher", "ds_set_state", "set_state"),
    ("dispatcher", "ds_list", "list"),
    ("dispatcher", "ds_reload", "reload"),
    ("dialog", "dlg_list", "list"),
    ("dialog", "dlg_end_dlg", "end_dlg"),
    ("dialog", "profile_get_size", "profile_get_size"),
    ("drouting", "dr_reload", "reload"),
    ("drouting", "dr_gw_status", "gw_status"),
    ("drouting", "dr_carrier_status", "carrier_status"),
    ("load_balancer", "lb_reload", "reload"),
    ("load_balancer", "lb_resize", "resize"),
    ("load_balancer", "lb_list", "list"),
    ("load_balancer", "lb_status", "status"),
    ("rtpengine", "rtpengine_enable", "enable"),
    ("rtpengine", "rtpengine_show", "show"),
    ("rtpengine", "rtpengine_reload", "reload"),
    ("rtpengine", "teardown", "teardown"),
    ("clusterer", "clusterer_reload", "reload"),
    ("clusterer", "clusterer_set_status", "set_status"),
    ("clusterer", "clusterer_list", "list"),
    ("clusterer", "clusterer_list_cap", "list_cap"),
    ("tm", "t_uac_dlg", "uac_dlg"),
    ("tm", "t_uac_cancel", "uac_cancel"),
    ("tm", "t_hash", "hash"),
    ("tm", "t_reply", "reply"),
];

/// The (module, 4.0 local name) of the OpenSIPS module command `name` (its 3.6 name), when
/// [`MODULE_COMMANDS_4_0`] has it.
pub fn module_command_4_0(name: &str) -> Option<(&'static str, &'static str)> {
    MODULE_COMMANDS_4_0
        .iter()
        .find(|(_, old, _)| *old == name)
        .map(|(module, _, local)| (*module, *local))
}

/// A command as access rules and redaction patterns see it: one command, whichever of
/// its names a caller wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandName<'a> {
    /// Its registered (3.6) name: `get_statistics`.
    pub name: &'a str,
    /// Its module as registered (`core`), or the node it runs on.
    pub module: &'a str,
    /// Its 4.0 name (`statistics:get`), when known.
    pub name_4_0: Option<&'a str>,
}

impl CommandName<'_> {
    /// Whether the glob `pattern` names this command. A pattern with a `:` is matched
    /// against `<module>:<name>`, the 4.0 name and `<module>:<4.0 name>` (`core:cache_store`,
    /// `cache:store`, `edge1:cache:store`); one without, against the name and the 4.0
    /// local name (`cache_store`, `store`).
    pub fn matches(&self, pattern: &str) -> bool {
        self.matches_any([pattern])
    }

    /// Whether any of `patterns` names this command (see [`CommandName::matches`]); the
    /// qualified forms are built once for all of them.
    pub fn matches_any<'p>(&self, patterns: impl IntoIterator<Item = &'p str>) -> bool {
        let glob = crate::glob::matches;
        let qualified = format!("{}:{}", self.module, self.name);
        let qualified_4_0 = self.name_4_0.map(|full| format!("{}:{full}", self.module));
        let local_4_0 = self.name_4_0.map(local_part);
        patterns.into_iter().any(|pattern| {
            if pattern.contains(':') {
                glob(pattern, &qualified)
                    || self.name_4_0.is_some_and(|full| glob(pattern, full))
                    || qualified_4_0.as_deref().is_some_and(|q| glob(pattern, q))
            } else {
                glob(pattern, self.name) || local_4_0.is_some_and(|local| glob(pattern, local))
            }
        })
    }
}

/// The local part of a 4.0 name (`get` of `statistics:get`).
pub fn local_part(name: &str) -> &str {
    name.split_once(':').map_or(name, |(_, local)| local)
}

/// What a method name resolves to.
#[derive(Debug)]
pub enum Resolved<'a> {
    /// A core command.
    Core(&'a Command),
    /// A command of a loaded module (or, behind the daemon, a simulated one).
    Module(ModuleCommand),
    /// A bare name several commands share: their 4.0 names, core first.
    Ambiguous(Vec<String>),
    /// No command has this name.
    Unknown,
}

/// Resolves `name` (a 3.6 name, a 4.0 name or a bare 4.0 local name).
pub fn resolve<'a>(registry: &'a Registry, host: &dyn Host, name: &str) -> Resolved<'a> {
    if let Some(command) = registry.find_exact(name) {
        return Resolved::Core(command);
    }
    if name.contains(':') {
        if let Some(command) = registry.find(name) {
            return Resolved::Core(command);
        }
        return host
            .module_command(name)
            .map_or(Resolved::Unknown, Resolved::Module);
    }
    let core = registry.by_local_name(name);
    let modules = host.module_command_names(Some(name));
    match (core.as_slice(), modules.as_slice()) {
        ([command], []) => Resolved::Core(command),
        ([], [only]) => host
            .module_command(only)
            .map_or(Resolved::Unknown, Resolved::Module),
        ([], []) => host
            .module_command(name)
            .map_or(Resolved::Unknown, Resolved::Module),
        _ => Resolved::Ambiguous(
            core.iter()
                .map(|c| registry.name_4_0(c).to_string())
                .chain(modules.iter().cloned())
                .collect(),
        ),
    }
}

/// The error of an ambiguous name: `-32001 Method ambiguous`, the candidates in `data`
/// as 4.0 words them (`supported names: statistics:list, tcp:list, evi:list`).
pub fn ambiguous(candidates: &[String]) -> MiError {
    MiError::with_data(
        -32001,
        "Method ambiguous",
        format!("supported names: {}", candidates.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::core_registry;

    #[test]
    fn a_pattern_names_a_command_under_either_name() {
        let cache_store = CommandName {
            name: "cache_store",
            module: "core",
            name_4_0: Some("cache:store"),
        };
        for pattern in [
            "cache_store",
            "cache_*",
            "store",
            "core:cache_store",
            "cache:store",
            "cache:*",
            "*:store",
            "core:cache:store",
            "*",
        ] {
            assert!(cache_store.matches(pattern), "{pattern}");
        }
        for pattern in ["cache:fetch", "evi:*", "core:store", "cache_fetch", "stor"] {
            assert!(!cache_store.matches(pattern), "{pattern}");
        }
        assert_eq!(name_4_0_of("cache_store", "core"), "cache:store");
        assert_eq!(name_4_0_of("ps", "core"), "core:ps");
        assert_eq!(
            name_4_0_of("cache_store", "mymodule"),
            "mymodule:cache_store"
        );
        let on_node = CommandName {
            name: "cache_store",
            module: "edge1",
            name_4_0: Some("cache:store"),
        };
        assert!(on_node.matches("edge1:cache_store") && on_node.matches("edge1:cache:store"));
        assert!(!on_node.matches("edge2:*"));
    }

    #[test]
    fn every_core_command_has_its_4_0_name() {
        let registry = core_registry();
        let names: Vec<String> = registry.commands().iter().map(core_name).collect();
        for expected in [
            "core:uptime",
            "core:ps",
            "core:help",
            "core:log_level_filter",
            "statistics:get",
            "statistics:reset_all",
            "tcp:list",
            "mem:rpm_dump",
            "cache:remove",
            "status_report:identifiers",
            "evi:subscribers",
            "httpd:list_root_path",
            "cachedb_local:fetch_chunk",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "4.0 names are unique: {names:?}");
    }

    #[test]
    fn the_local_part_is_after_the_module() {
        assert_eq!(local_part("statistics:get"), "get");
        assert_eq!(local_part("ps"), "ps");
    }
}
