//! Charts of statistics over time, shared by the daemon's HTML page and the playground.
//!
//! - `history`: the bounded ring buffer of samples, one series per statistic a chart
//!   watches, and the lines a chart draws from it (counters as rates per second).
//! - `svg`: one chart drawn as a self-contained SVG document, no script needed.
//!
//! A chart is named by a *spec*: one or more `group:name` globs separated by commas
//! (`transports:*_requests`, `load:load,load:load1m`); every statistic either glob matches
//! is a line of it.

mod history;
mod svg;

pub use history::{History, Line};
pub use svg::render;

/// Longest accepted chart spec, bytes.
pub const MAX_SPEC: usize = 256;

/// The charts shown when nobody picked any: requests and errors per transport, calls per
/// command, worker load, memory.
pub const DEFAULT_SPECS: [&str; 5] = [
    "transports:*_requests",
    "transports:*_errors",
    "commands:*_calls",
    "load:load-proc-*",
    "shmem:real_used_size,shmem:used_size",
];

/// Why a chart spec cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSpec(pub String);

impl std::fmt::Display for BadSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadSpec {}

/// The globs of a chart spec, each `group:name` (either side may hold `*` and `?`).
pub fn parse_spec(spec: &str) -> Result<Vec<(String, String)>, BadSpec> {
    if spec.len() > MAX_SPEC {
        return Err(BadSpec(format!(
            "a chart is at most {MAX_SPEC} bytes of globs"
        )));
    }
    let globs: Vec<(String, String)> = spec
        .split(',')
        .map(str::trim)
        .filter(|glob| !glob.is_empty())
        .map(|glob| match glob.split_once(':') {
            Some((group, name)) if !group.is_empty() && !name.is_empty() => {
                Ok((group.to_string(), name.to_string()))
            }
            _ => Err(BadSpec(format!(
                "`{glob}` is not a group:name glob (e.g. transports:*_requests)"
            ))),
        })
        .collect::<Result<_, _>>()?;
    if globs.is_empty() {
        return Err(BadSpec("a chart needs at least one group:name glob".into()));
    }
    Ok(globs)
}

/// Whether statistic `group:name` is one of `globs`.
pub fn selects(globs: &[(String, String)], group: &str, name: &str) -> bool {
    globs
        .iter()
        .any(|(g, n)| crate::glob::matches(g, group) && crate::glob::matches(n, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_globs_of_group_and_name() {
        let globs = parse_spec("transports:*_requests, load:load").unwrap();
        assert!(selects(&globs, "transports", "http_requests"));
        assert!(selects(&globs, "load", "load"));
        assert!(!selects(&globs, "load", "load1m"));
        assert!(parse_spec("nocolon").is_err());
        assert!(parse_spec(":x").is_err());
        assert!(parse_spec(" , ").is_err());
        assert!(parse_spec(&format!("a:{}", "b".repeat(MAX_SPEC - 2))).is_ok());
        assert!(parse_spec(&format!("a:{}", "b".repeat(MAX_SPEC - 1))).is_err());
        for spec in DEFAULT_SPECS {
            assert!(parse_spec(spec).is_ok(), "{spec}");
        }
    }
}
