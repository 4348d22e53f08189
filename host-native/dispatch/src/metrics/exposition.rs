//! Metric families and their text: the Prometheus text format 0.0.4, or OpenMetrics 1.0
//! when the scraper asks for it (`Accept: application/openmetrics-text`; the content types
//! are `transports::metrics`'s).

use indexmap::IndexMap;
use std::collections::HashSet;
use std::fmt::Write;

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (or back to zero when reset); its samples are named `<family>_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

#[derive(Debug)]
struct Family {
    kind: Kind,
    help: String,
    samples: Vec<(String, f64)>,
    labels_seen: HashSet<String>,
}

/// Metric families in the order their first sample came.
#[derive(Debug, Default)]
pub struct Families {
    families: IndexMap<String, Family>,
}

/// Appends `text` as a label value: `\`, `"` and line feeds escaped.
fn escape_label(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// `help` with `\` and line feeds escaped (both formats), and `"` too in OpenMetrics.
fn escape_help(help: &str, openmetrics: bool) -> String {
    let mut out = String::with_capacity(help.len());
    for ch in help.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if openmetrics => out.push_str("\\\""),
            other => out.push(other),
        }
    }
    out
}

fn write_value(out: &mut String, value: f64) {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

impl Families {
    /// Adds one sample of `family` (a sanitised name) with `labels`. A second sample with
    /// the same labels is dropped; a family given both types is a gauge.
    pub fn add(
        &mut self,
        family: &str,
        kind: Kind,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut text = String::new();
        if !labels.is_empty() {
            text.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(name);
                text.push_str("=\"");
                escape_label(&mut text, value);
                text.push('"');
            }
            text.push('}');
        }
        self.push(family, kind, help, text, value);
    }

    /// Adds a sample whose labels are already written (`{a="b"}`, or empty).
    fn push(&mut self, family: &str, kind: Kind, help: &str, labels: String, value: f64) {
        let entry = self
            .families
            .entry(family.to_string())
            .or_insert_with(|| Family {
                kind,
                help: help.to_string(),
                samples: Vec::new(),
                labels_seen: HashSet::new(),
            });
        if entry.kind != kind {
            entry.kind = Kind::Gauge;
        }
        if entry.labels_seen.insert(labels.clone()) {
            entry.samples.push((labels, value));
        }
    }

    /// Moves every family of `other` in after these.
    pub fn extend(&mut self, other: Families) {
        for (name, family) in other.families {
            for (labels, value) in family.samples {
                self.push(&name, family.kind, &family.help, labels, value);
            }
        }
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.families.values().map(|f| f.samples.len()).sum()
    }

    /// The exposition text, OpenMetrics (`# EOF` ended) or the Prometheus text format.
    pub fn text(&self, openmetrics: bool) -> String {
        let mut out = String::with_capacity(self.samples() * 64 + 16);
        for (name, family) in &self.families {
            let (type_name, sample_name) = match (family.kind, openmetrics) {
                (Kind::Counter, true) => (name.clone(), format!("{name}_total")),
                (Kind::Counter, false) => (format!("{name}_total"), format!("{name}_total")),
                (Kind::Gauge, _) => (name.clone(), name.clone()),
            };
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let help = escape_help(&family.help, openmetrics);
            let _ = writeln!(out, "# HELP {type_name} {help}");
            let _ = writeln!(out, "# TYPE {type_name} {kind}");
            for (labels, value) in &family.samples {
                out.push_str(&sample_name);
                out.push_str(labels);
                out.push(' ');
                write_value(&mut out, *value);
                out.push('\n');
            }
        }
        if openmetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats() {
        let mut families = Families::default();
        families.add(
            "m_calls",
            Kind::Counter,
            "Calls \"x\".",
            &[("c", "a\"b\\\n")],
            3.0,
        );
        families.add(
            "m_calls",
            Kind::Counter,
            "ignored",
            &[("c", "a\"b\\\n")],
            4.0,
        );
        families.add("m_level", Kind::Gauge, "Level.", &[], 0.5);
        assert_eq!(
            families.text(false),
            "# HELP m_calls_total Calls \"x\".\n# TYPE m_calls_total counter\nm_calls_total{c=\"a\\\"b\\\\\\n\"} 3\n# HELP m_level Level.\n# TYPE m_level gauge\nm_level 0.5\n"
        );
        assert_eq!(
            families.text(true),
            "# HELP m_calls Calls \\\"x\\\".\n# TYPE m_calls counter\nm_calls_total{c=\"a\\\"b\\\\\\n\"} 3\n# HELP m_level Level.\n# TYPE m_level gauge\nm_level 0.5\n# EOF\n"
        );
        families.add("m_level", Kind::Counter, "", &[("x", "1")], 1.0);
        assert!(families.text(false).contains("# TYPE m_level gauge"));
        assert_eq!(families.samples(), 3);
    }
}
