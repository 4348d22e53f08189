//! What a command does to the server it runs on: it only reads, it changes things, or it
//! changes or stops them in a way that cannot be taken back. Kept beside the command tables
//! so that every listing (an AI agent's tool list above all) says the same; a
//! configuration can override it with its own globs ([`Effects::with_overrides`]).
//!
//! The classification goes by the command's name (its 3.6 name, a Kamailio RPC name or
//! an OpenSIPS 4.0 name), first by the exact names below, then by name patterns; a name
//! neither knows is [`Effect::Changes`]: never shown as read-only, and not refused as
//! destructive either.

use crate::glob;

/// What running a command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// It only reads: running it again changes nothing.
    ReadOnly,
    /// It changes the server's state (stores, sets, subscribes, loads).
    Changes,
    /// It removes, resets, reloads or stops something: what it undoes cannot be had back.
    Destructive,
}

impl Effect {
    /// `read_only`, `changes` or `destructive`.
    pub fn name(self) -> &'static str {
        match self {
            Effect::ReadOnly => "read_only",
            Effect::Changes => "changes",
            Effect::Destructive => "destructive",
        }
    }
}

/// Commands that only read, by name (OpenSIPS 3.6 and 4.0, Kamailio).
const READ_ONLY: &[&str] = &[
    "whoami",
    "ps",
    "pwd",
    "arg",
    "uptime",
    "version",
    "which",
    "help",
    "get_statistics",
    "list_statistics",
    "cache_fetch",
    "list_tcp_conns",
    "ul_dump",
    "ul_show_contact",
    "dlg_list",
    "dlg_list_ctx",
    "ds_list",
    "lb_list",
    "rtpengine_show",
    "subscribers_list",
    "events_list",
    "list_blacklists",
    "nodes_list",
    "statistics:get",
    "statistics:list",
    "cache:fetch",
    "tcp:list",
    "core:ps",
    "core:pwd",
    "core:arg",
    "core:uptime",
    "core:version",
    "core:which",
    "core:help",
    "system.listMethods",
    "system.methodHelp",
    "system.methodSignature",
    "core.version",
    "core.uptime",
    "core.ps",
    "core.psx",
    "core.info",
    "core.shmmem",
    "stats.get_statistics",
    "stats.fetch",
];

/// Name patterns of commands that only read.
const READ_ONLY_PATTERNS: &[&str] = &[
    "*_list", "list_*", "*_dump", "dump_*", "get_*", "*_get", "show_*", "*_show", "*:list*",
    "*:dump*", "*:get*", "*:show*", "*.list*", "*.dump*", "*.get*", "*.show*", "*.stats",
];

/// Commands that remove, reset, reload or stop something, by name.
const DESTRUCTIVE: &[&str] = &[
    "kill",
    "shutdown",
    "cache_remove",
    "ul_rm",
    "ul_rm_contact",
    "dlg_end_dlg",
    "dlg_terminate_dlg",
    "t_uac_cancel",
    "module_unload",
    "core:kill",
    "cache:remove",
    "core.kill",
    "core.shutdown",
];

/// Name patterns of commands that remove, reset, reload or stop something. They are
/// checked before the read-only patterns: `reset_statistics` resets, whatever it lists.
const DESTRUCTIVE_PATTERNS: &[&str] = &[
    "*reload*",
    "*reset*",
    "*_rm",
    "*_rm_*",
    "*remove*",
    "*delete*",
    "*flush*",
    "*clear*",
    "*purge*",
    "*_end_*",
    "*terminate*",
    "*.rm",
    "*.end*",
];

/// The classification in force: the built-in one, under a configuration's overrides.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    read_only: Vec<String>,
    destructive: Vec<String>,
}

impl Effects {
    /// The built-in classification, overridden by `read_only` and `destructive` globs
    /// (a name matching both is destructive).
    pub fn with_overrides(read_only: Vec<String>, destructive: Vec<String>) -> Self {
        Effects {
            read_only,
            destructive,
        }
    }

    /// What `name` does.
    pub fn of(&self, name: &str) -> Effect {
        let any = |patterns: &[String]| patterns.iter().any(|p| glob::matches(p, name));
        if any(&self.destructive) {
            Effect::Destructive
        } else if any(&self.read_only) {
            Effect::ReadOnly
        } else {
            built_in(name)
        }
    }
}

/// What `name` does, by the built-in tables alone.
pub fn built_in(name: &str) -> Effect {
    let any = |patterns: &[&str]| patterns.iter().any(|p| glob::matches(p, name));
    if DESTRUCTIVE.contains(&name) {
        Effect::Destructive
    } else if READ_ONLY.contains(&name) {
        Effect::ReadOnly
    } else if any(DESTRUCTIVE_PATTERNS) {
        Effect::Destructive
    } else if any(READ_ONLY_PATTERNS) {
        Effect::ReadOnly
    } else {
        Effect::Changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_classified_by_name_then_by_pattern() {
        for name in [
            "ps",
            "uptime",
            "get_statistics",
            "ul_dump",
            "dispatcher.list",
        ] {
            assert_eq!(built_in(name), Effect::ReadOnly, "{name}");
        }
        for name in [
            "kill",
            "reset_statistics",
            "reset_all_statistics",
            "dr_reload",
            "reload_routes",
            "dispatcher.reload",
            "cache_remove",
            "ul_rm",
            "dlg_end_dlg",
            "htable.flush",
            "statistics:reset",
        ] {
            assert_eq!(built_in(name), Effect::Destructive, "{name}");
        }
        for name in ["cache_store", "log_level", "event_subscribe", "module_load"] {
            assert_eq!(built_in(name), Effect::Changes, "{name}");
        }
    }

    #[test]
    fn overrides_win_and_destructive_wins_over_read_only() {
        let effects = Effects::with_overrides(
            vec!["cache_store".into(), "my_*".into()],
            vec!["my_purge*".into(), "ps".into()],
        );
        assert_eq!(effects.of("cache_store"), Effect::ReadOnly);
        assert_eq!(effects.of("my_report"), Effect::ReadOnly);
        assert_eq!(effects.of("my_purge_all"), Effect::Destructive);
        assert_eq!(effects.of("ps"), Effect::Destructive);
        assert_eq!(effects.of("kill"), Effect::Destructive);
        assert_eq!(effects.of("uptime"), Effect::ReadOnly);
    }
}
