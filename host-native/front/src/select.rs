//! Labels and selectors: a node carries labels (`site = "eu"`, `role = "edge"`, and
//! `version`, read from the node itself); `nodes_run` and `nodes_list` take a selector
//! such as `site=eu,role=edge` and keep the nodes every term of it matches.

use std::collections::BTreeMap;

/// The label a node's own version fills; a configuration cannot set it.
pub const VERSION: &str = "version";

/// The term that names nodes (`name=edge-*`): it matches the node's name, and is no label
/// a configuration can set.
pub const NAME: &str = "name";

/// Whether `name` may name a label: 1 to 63 of `A-Z a-z 0-9 _ . -`.
fn label_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `value` may be a label's value: 1 to 128 of `A-Z a-z 0-9 _ . - : /`.
fn label_value(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':' | b'/'))
}

/// What is wrong with `labels` of a configuration section, if anything.
pub fn problem(labels: &BTreeMap<String, String>) -> Option<String> {
    if labels.len() > 32 {
        return Some("labels: at most 32".into());
    }
    labels.iter().find_map(|(name, value)| {
        if name == VERSION {
            Some(format!("labels: `{VERSION}` is read from the node itself"))
        } else if name == NAME {
            Some(format!("labels: `{NAME}` is the node's name in selectors"))
        } else if !label_name(name) {
            Some(format!(
                "labels: `{name}` is not a label name (1 to 63 of A-Z a-z 0-9 _ . -)"
            ))
        } else if !label_value(value) {
            Some(format!(
                "labels: the value of `{name}` is not a label value (1 to 128 of A-Z a-z 0-9 _ . - : /)"
            ))
        } else {
            None
        }
    })
}

/// One term of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    label: String,
    /// A glob (`3.6.*`).
    value: String,
    /// `!=`: the label must be missing or not match.
    negated: bool,
}

/// A parsed selector: `name=value` and `name!=value` terms, comma-separated, all of which
/// must hold; values may be globs (`version=3.6.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    text: String,
    terms: Vec<Term>,
}

impl Selector {
    /// Reads `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim) {
            let (label, value, negated) = match term.split_once("!=") {
                Some((label, value)) => (label, value, true),
                None => match term.split_once('=') {
                    Some((label, value)) => (label, value, false),
                    None => return Err(format!("`{term}` is not name=value or name!=value")),
                },
            };
            let (label, value) = (label.trim(), value.trim());
            let glob_value = value.replace('*', "x");
            if !label_name(label) || !label_value(&glob_value) {
                return Err(format!("`{term}` is not name=value or name!=value"));
            }
            terms.push(Term {
                label: label.to_string(),
                value: value.to_string(),
                negated,
            });
        }
        if terms.len() > 32 {
            return Err("at most 32 terms".into());
        }
        Ok(Selector {
            text: text.to_string(),
            terms,
        })
    }

    /// Whether the node `name` with `labels` holds every term (`name=…` is held by its
    /// name).
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.terms.iter().all(|term| {
            let value = match term.label.as_str() {
                NAME => Some(name),
                label => labels.get(label).map(String::as_str),
            };
            let found = value.is_some_and(|value| mi_core::access::glob(&term.value, value));
            found != term.negated
        })
    }

    /// The selector as it was given.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The version in a node's answer to `version` (OpenSIPS: `OpenSIPS (3.6.8 (x86_64/linux))`)
/// or `core.version` (Kamailio: `kamailio 6.0.1 (x86_64/linux)`): its first `N.N` or
/// `N.N.N`.
pub fn version_in(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|run| run.trim_matches('.'))
        .find(|run| {
            let parts: Vec<&str> = run.split('.').collect();
            (2..=4).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty())
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_hold_every_term() {
        let node = labels(&[("site", "eu"), ("role", "edge"), ("version", "3.6.8")]);
        let matches = |text: &str| Selector::parse(text).unwrap().matches("edge1", &node);
        assert!(matches("site=eu"));
        assert!(matches("site=eu, role=edge"));
        assert!(matches("version=3.6.*"));
        assert!(matches("site!=us"));
        assert!(matches("zone!=a"), "a missing label is not equal");
        assert!(!matches("site=eu,role=core"));
        assert!(!matches("version=4.*"));
        assert!(!matches("site!=eu"));
        assert!(matches("name=edge1") && matches("name=edge*,site=eu"));
        assert!(!matches("name=core*") && matches("name!=core*"));
        assert!(
            problem(&labels(&[("name", "x")])).is_some(),
            "name is no label"
        );
        for bad in [
            "",
            "site",
            "=eu",
            "site=",
            "si te=eu",
            "site=e,u=",
            "a=b,,c=d",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_are_checked_and_versions_read() {
        assert_eq!(problem(&labels(&[("site", "eu"), ("rack", "a-1/2")])), None);
        assert!(problem(&labels(&[("version", "1")])).is_some());
        assert!(problem(&labels(&[("si te", "eu")])).is_some());
        assert!(problem(&labels(&[("site", "e,u")])).is_some());
        assert!(problem(&labels(&[("site", "")])).is_some());
        assert_eq!(
            version_in("OpenSIPS (3.6.8 (x86_64/linux))").as_deref(),
            Some("3.6.8")
        );
        assert_eq!(
            version_in("kamailio 6.0.1 (x86_64/linux)").as_deref(),
            Some("6.0.1")
        );
        assert_eq!(version_in("miwa 0.1.0").as_deref(), Some("0.1.0"));
        assert_eq!(version_in("no version here"), None);
    }
}
