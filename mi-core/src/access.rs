//! Access control: which commands a caller's role may run. Patterns are globs (`*` matches
//! any run of characters) over the command name (`cache_*`) or over `module:command`
//! (`modules:*`, `core:kill`); a command is permitted when an `allow` pattern matches and no
//! `deny` pattern does.

use crate::error::MiError;
use crate::names::CommandName;

/// A caller's role and what it may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The role's name, for messages.
    pub role: String,
    /// Patterns of permitted commands.
    pub allow: Vec<String>,
    /// Patterns of refused commands (they win over `allow`).
    pub deny: Vec<String>,
}

/// Whether `text` matches `pattern` (see [`crate::glob::matches`]).
pub fn glob(pattern: &str, text: &str) -> bool {
    crate::glob::matches(pattern, text)
}

/// `whoami` (name, module): every role may run it unless a `deny` pattern names it.
const WHOAMI: (&str, &str) = ("whoami", "access");

impl Access {
    /// Whether the role may run `command` of `module` (registered names; its 4.0 name is
    /// the one OpenSIPS 4.0 gives it, see [`crate::names::name_4_0_of`]).
    pub fn permits(&self, command: &str, module: &str) -> bool {
        let name_4_0 = crate::names::name_4_0_of(command, module);
        self.permits_named(&CommandName {
            name: command,
            module,
            name_4_0: Some(&name_4_0),
        })
    }

    /// Whether the role may run `command`: an `allow` pattern names it under one of its
    /// names (`whoami` needs none: it tells the caller only about itself) and no `deny`
    /// pattern does (see [`CommandName::matches`]).
    pub fn permits_named(&self, command: &CommandName<'_>) -> bool {
        let always = (command.name, command.module) == WHOAMI;
        (always || self.allow.iter().any(|p| command.matches(p)))
            && !self.deny.iter().any(|p| command.matches(p))
    }

    /// The error for a refused command.
    pub fn refusal(&self, command: &str) -> MiError {
        MiError::with_data(
            403,
            "Forbidden",
            format!("role '{}' may not run '{command}'", self.role),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (pattern, text) in [
            ("*", "ps"),
            ("cache_*", "cache_fetch"),
            ("*_list", "events_list"),
            ("a*b*c", "aXbYc"),
            ("ps", "ps"),
            ("core:*", "core:ps"),
        ] {
            assert!(glob(pattern, text), "{pattern} {text}");
        }
        for (pattern, text) in [("cache_*", "ps"), ("ps", "pss"), ("a*b", "ac"), ("", "x")] {
            assert!(!glob(pattern, text), "{pattern} {text}");
        }
    }

    #[test]
    fn deny_wins_and_modules_are_addressed_with_a_colon() {
        let access = Access {
            role: "ops".into(),
            allow: vec!["*".into()],
            deny: vec!["kill".into(), "modules:*".into(), "log_level".into()],
        };
        assert!(access.permits("ps", "core"));
        assert!(!access.permits("kill", "core"));
        assert!(!access.permits("module_load", "modules"));
        assert!(!access.permits("log_level", "core"));
        let four = Access {
            role: "four".into(),
            allow: vec!["*".into()],
            deny: vec!["cache:store".into(), "evi:*".into()],
        };
        assert!(!four.permits("cache_store", "core"));
        assert!(!four.permits("raise_event", "core"));
        assert!(!four.permits("event_subscribe", "core"));
        assert!(four.permits("cache_fetch", "core"));
        let error = access.refusal("kill");
        assert_eq!(
            (error.code, error.data.as_deref()),
            (403, Some("role 'ops' may not run 'kill'"))
        );
    }
}
