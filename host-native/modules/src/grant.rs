//! What a module may be granted: the `grants` of `[modules.<name>]`, as a typed value.

use serde::Deserialize;
use std::fmt;

/// A capability a module can be granted. Deny by default: a module has none of them until
/// its configuration grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Grant {
    /// `miwa:module/log`: log lines, within `log_lines_per_second` and `log_bytes_per_second`.
    Log,
    /// `miwa:module/stats`: the module's own statistics group.
    Stats,
    /// `miwa:module/cache`: the `local` cache, under the module's own key prefix.
    Cache,
    /// `miwa:module/events`: raising the events the module declares.
    Events,
    /// `miwa:module/mi`: MI commands of `mi_allow`, `mi_depth` deep at most.
    Mi,
    /// WASI files: reading the `read_only_dirs`.
    Files,
    /// WASI sockets: TCP connections to the `allowed_tcp` addresses.
    Tcp,
    /// `wasi:http`: requests to the `allowed_outbound_hosts`.
    Http,
    /// The daemon calls the module's `tick` export every `tick_ms`.
    Tick,
}

impl Grant {
    /// Every grant, in the order the documentation lists them.
    pub const ALL: [Grant; 9] = [
        Grant::Log,
        Grant::Stats,
        Grant::Cache,
        Grant::Events,
        Grant::Mi,
        Grant::Files,
        Grant::Tcp,
        Grant::Http,
        Grant::Tick,
    ];

    /// Its name in `grants`.
    pub fn name(self) -> &'static str {
        match self {
            Grant::Log => "log",
            Grant::Stats => "stats",
            Grant::Cache => "cache",
            Grant::Events => "events",
            Grant::Mi => "mi",
            Grant::Files => "files",
            Grant::Tcp => "tcp",
            Grant::Http => "http",
            Grant::Tick => "tick",
        }
    }

    /// The grant called `name`.
    pub fn parse(name: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|grant| grant.name() == name)
    }

    /// Whether it opens a part of WASI that does I/O (`files`, `tcp`, `http`): such a
    /// module gets its own I/O runtime, and its calls may block the thread.
    pub(crate) fn does_io(self) -> bool {
        matches!(self, Grant::Files | Grant::Tcp | Grant::Http)
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Grant {
    type Error = String;

    fn try_from(name: String) -> Result<Grant, String> {
        Grant::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = Grant::ALL.iter().map(|g| g.name()).collect();
            format!(
                "unknown capability `{name}` in `grants` (known: {})",
                known.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Grant;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused_with_the_list() {
        for grant in Grant::ALL {
            assert_eq!(Grant::parse(grant.name()), Some(grant));
            assert_eq!(grant.to_string(), grant.name());
        }
        let refused = Grant::try_from("sockets".to_string()).unwrap_err();
        assert_eq!(
            refused,
            "unknown capability `sockets` in `grants` (known: log, stats, cache, events, mi, files, tcp, http, tick)"
        );
    }
}
