//! Access control: which commands a caller's role may run. Patterns are globs (`*` matches
//! any run of characters) over the command name (`cache_*`) or over `module:command`
//! (`modules:*`, `core:kill`); a command is permitted when an `allow` pattern matches and no
//! `deny` pattern does.

use crate::error::MiError;

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

impl Access {
    fn matches(patterns: &[String], command: &str, module: &str) -> bool {
        let qualified = format!("{module}:{command}");
        patterns.iter().any(|pattern| {
            if pattern.contains(':') {
                glob(pattern, &qualified)
            } else {
                glob(pattern, command)
            }
        })
    }

    /// Whether the role may run `command` of `module`.
    pub fn permits(&self, command: &str, module: &str) -> bool {
        Self::matches(&self.allow, command, module) && !Self::matches(&self.deny, command, module)
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
        let error = access.refusal("kill");
        assert_eq!(
            (error.code, error.data.as_deref()),
            (403, Some("role 'ops' may not run 'kill'"))
        );
    }
}
