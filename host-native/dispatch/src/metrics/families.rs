//! How each statistic becomes a sample of a metric family: its family name, labels, type,
//! help and scale. The names are stable; `docs/metrics.md` lists them.
//!
//! Statistics that exist once per transport, command, event, subscriber, process, module or
//! node are one family each, with that thing as a label, instead of one name per thing.

use super::exposition::{Families, Kind};
use mi_core::host::Statistic;

/// Where a statistic's group comes from, beyond the fixed groups.
pub struct Context<'a> {
    /// Whether a group is a loaded module's.
    pub is_module: &'a dyn Fn(&str) -> bool,
    /// A process's type (`ps`'s `Type`), by process id.
    pub process_type: &'a dyn Fn(u32) -> Option<String>,
}

/// The type of a statistic: a counter when it resets (`incremental`), a gauge otherwise.
fn kind(stat: &Statistic) -> Kind {
    if stat.incremental {
        Kind::Counter
    } else {
        Kind::Gauge
    }
}

/// `name` with every character outside `[a-z0-9_]` as `_`, lower case (names and labels
/// stay snake case whatever a node calls its statistics).
pub(crate) fn sanitise(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    for reserved in ["_count", "_sum", "_bucket", "_total"] {
        if out.ends_with(reserved) {
            out.push_str("_value");
        }
    }
    out
}

/// Splits `name` into the thing it is about and one of `suffixes` (`http_requests` →
/// `http`, `requests`).
fn split_suffix<'n>(name: &'n str, suffixes: &[&'static str]) -> Option<(&'n str, &'static str)> {
    suffixes.iter().find_map(|suffix| {
        name.strip_suffix(suffix)
            .and_then(|rest| rest.strip_suffix('_'))
            .filter(|rest| !rest.is_empty())
            .map(|rest| (rest, *suffix))
    })
}

/// What group `upstreams` counts per node (front mode): statistic `<node>_<what>`, its
/// metric family (labelled `node`) and the family's help. `latency_us` is exposed in
/// seconds.
pub const UPSTREAM_STATISTICS: [(&str, &str, &str); 8] = [
    (
        "requests",
        "miwa_upstream_requests",
        "Requests forwarded to a node.",
    ),
    (
        "errors",
        "miwa_upstream_errors",
        "Forwarded requests that failed.",
    ),
    (
        "timeouts",
        "miwa_upstream_timeouts",
        "Forwarded requests that timed out.",
    ),
    (
        "latency_us",
        "miwa_upstream_latency_seconds",
        "A node's average reply time, seconds.",
    ),
    (
        "in_flight",
        "miwa_upstream_in_flight",
        "Requests waiting on a node.",
    ),
    (
        "up",
        "miwa_upstream_up",
        "Whether a node answers its probes (1) or not (0).",
    ),
    (
        "reloads_shared",
        "miwa_upstream_reloads_shared",
        "Guarded reloads that shared an identical call already on its way to a node.",
    ),
    (
        "reloads_refused",
        "miwa_upstream_reloads_refused",
        "Guarded reloads refused as too soon after the last one (429).",
    ),
];

/// Adds miwa's own statistics to `families`.
pub(crate) fn add_own(families: &mut Families, stats: &[Statistic], context: &Context<'_>) {
    for stat in stats {
        add_one(families, stat, context);
    }
}

fn add_one(families: &mut Families, stat: &Statistic, context: &Context<'_>) {
    let value = stat.value as f64;
    let group = stat.group.as_str();
    let name = stat.name.as_str();
    match group {
        "transports" => {
            if let Some((transport, what)) =
                split_suffix(name, &["requests", "errors", "rx_bytes", "tx_bytes"])
            {
                let (family, help) = match what {
                    "requests" => (
                        "miwa_transport_requests",
                        "Requests received, per transport.",
                    ),
                    "errors" => (
                        "miwa_transport_errors",
                        "Requests answered with an error, per transport.",
                    ),
                    "rx_bytes" => (
                        "miwa_transport_received_bytes",
                        "Request bytes received, per transport.",
                    ),
                    _ => (
                        "miwa_transport_sent_bytes",
                        "Reply bytes sent, per transport.",
                    ),
                };
                families.add(family, kind(stat), help, &[("transport", transport)], value);
                return;
            }
        }
        "commands" => {
            if let Some((command, what)) = split_suffix(name, &["calls", "errors"]) {
                let (family, help) = match what {
                    "calls" => ("miwa_command_calls", "Runs of an MI command."),
                    _ => (
                        "miwa_command_errors",
                        "Runs of an MI command that answered an error.",
                    ),
                };
                families.add(family, kind(stat), help, &[("command", command)], value);
                return;
            }
        }
        "events" => {
            if let Some((event, what)) = split_suffix(name, &["raised", "sent", "dropped"]) {
                let (family, help) = match what {
                    "raised" => ("miwa_event_raised", "Times an event was raised."),
                    "sent" => ("miwa_event_sent", "Notifications of an event delivered."),
                    _ => ("miwa_event_dropped", "Notifications of an event dropped."),
                };
                families.add(family, kind(stat), help, &[("event", event)], value);
                return;
            }
        }
        "event_subscribers" => {
            let parts = name
                .split_once('/')
                .and_then(|(event, rest)| rest.rsplit_once('/').map(|(s, what)| (event, s, what)));
            if let Some((event, subscriber, what)) = parts {
                let (family, help) = match what {
                    "sent" => (
                        "miwa_event_subscriber_sent",
                        "Notifications delivered to a subscriber.",
                    ),
                    "dropped" => (
                        "miwa_event_subscriber_dropped",
                        "Notifications dropped for a subscriber.",
                    ),
                    "queued" => (
                        "miwa_event_subscriber_queued",
                        "Notifications waiting for a subscriber.",
                    ),
                    "queued_bytes" => (
                        "miwa_event_subscriber_queued_bytes",
                        "Bytes of notifications waiting for a subscriber.",
                    ),
                    _ => ("", ""),
                };
                if !family.is_empty() {
                    let labels = [("event", event), ("subscriber", subscriber)];
                    families.add(family, kind(stat), help, &labels, value);
                    return;
                }
            }
        }
        "load" => {
            for (prefix, family, help) in [
                (
                    "load-proc-",
                    "miwa_process_load",
                    "A process's busy share, last second (percent).",
                ),
                (
                    "load1m-proc-",
                    "miwa_process_load_1m",
                    "A process's busy share, last minute (percent).",
                ),
                (
                    "load10m-proc-",
                    "miwa_process_load_10m",
                    "A process's busy share, last ten minutes (percent).",
                ),
            ] {
                if let Some(id) = name.strip_prefix(prefix).and_then(|id| id.parse().ok()) {
                    add_process(families, family, kind(stat), help, id, value, context);
                    return;
                }
            }
        }
        "pkmem" => {
            if let Some((id, what)) = name.split_once('-') {
                if let Ok(id) = id.parse() {
                    let family = format!("miwa_process_pkmem_{}_bytes", sanitise(what));
                    let help = "A worker's core instance memory (pkmem), bytes.";
                    add_process(families, &family, kind(stat), help, id, value, context);
                    return;
                }
            }
        }
        "shmem" => {
            let family = format!("miwa_shmem_{}_bytes", sanitise(name));
            let help = match name {
                "total_size" => "The machine's memory, bytes (shmem:total_size).",
                "max_used_size" => {
                    "The daemon's peak resident memory, bytes (shmem:max_used_size)."
                }
                "free_size" => "The machine's available memory, bytes (shmem:free_size).",
                "used_size" => "The daemon's data segment, bytes (shmem:used_size).",
                "real_used_size" => "The daemon's resident memory, bytes (shmem:real_used_size).",
                _ => "The daemon's memory and the machine's (shmem), bytes.",
            };
            families.add(&family, kind(stat), help, &[], value);
            return;
        }
        "upstreams" => {
            let suffixes = UPSTREAM_STATISTICS.map(|(what, _, _)| what);
            if let Some((node, what)) = split_suffix(name, &suffixes) {
                if let Some((_, family, help)) = UPSTREAM_STATISTICS.iter().find(|s| s.0 == what) {
                    let value = match what {
                        "latency_us" => value / 1e6,
                        _ => value,
                    };
                    families.add(family, kind(stat), help, &[("node", node)], value);
                    return;
                }
            }
        }
        _ if (context.is_module)(group) => {
            let (family, value) = match name {
                "io_wait_us" => ("miwa_module_io_wait_seconds".to_string(), value / 1e6),
                "memory_peak" => ("miwa_module_memory_peak_bytes".to_string(), value),
                other => (format!("miwa_module_{}", sanitise(other)), value),
            };
            let help = format!("Module statistic {name}, per WebAssembly module.");
            families.add(&family, kind(stat), &help, &[("module", group)], value);
            return;
        }
        _ => {}
    }
    let family = format!("miwa_{}_{}", sanitise(group), sanitise(name));
    let help = match (group, name) {
        ("core", "timestamp") => "Seconds since the daemon started (core:timestamp).".to_string(),
        ("load", "load") => {
            "Workers' average busy share, last second, percent (load:load).".to_string()
        }
        ("load", "load1m") => {
            "Workers' average busy share, last minute, percent (load:load1m).".to_string()
        }
        ("load", "load10m") => {
            "Workers' average busy share, last ten minutes, percent (load:load10m).".to_string()
        }
        ("load", "processes_number") => {
            "Processes listed by ps (load:processes_number).".to_string()
        }
        ("mi", "calls_running") => "MI requests running now (mi:calls_running).".to_string(),
        ("mi", "calls_peak") => "Most MI requests running at once (mi:calls_peak).".to_string(),
        ("mi", "calls_refused") => {
            "MI requests refused past core.max_concurrent_calls (mi:calls_refused).".to_string()
        }
        ("access", "auth_failures") => {
            "HTTP requests with wrong credentials (access:auth_failures).".to_string()
        }
        ("access", "auth_throttled") => {
            "HTTP requests refused while their address was throttled (access:auth_throttled)."
                .to_string()
        }
        ("audit", "lines") => "Audit log lines written (audit:lines).".to_string(),
        ("audit", "dropped") => "Audit log lines dropped (audit:dropped).".to_string(),
        _ => format!("Statistic {group}:{name}."),
    };
    families.add(&family, kind(stat), &help, &[], value);
}

fn add_process(
    families: &mut Families,
    family: &str,
    kind: Kind,
    help: &str,
    id: u32,
    value: f64,
    context: &Context<'_>,
) {
    let id_text = id.to_string();
    let kind_text = (context.process_type)(id).unwrap_or_default();
    let labels = [("process", id_text.as_str()), ("type", kind_text.as_str())];
    families.add(family, kind, help, &labels, value);
}

/// Adds a node's statistics: `<dialect>_<group>_<name>{node="…"}`, a counter where the
/// node lists the statistic as incremental.
pub fn add_node(families: &mut Families, dialect: &str, node: &str, stats: &[Statistic]) {
    for stat in stats {
        let family = format!(
            "{dialect}_{}_{}",
            sanitise(&stat.group),
            sanitise(&stat.name)
        );
        let help = format!(
            "{dialect} statistic {}:{}, per node.",
            stat.group, stat.name
        );
        families.add(
            &family,
            kind(stat),
            &help,
            &[("node", node)],
            stat.value as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn things_become_labels_of_one_family() {
        let stats = [
            Statistic::new("transports", "http_requests", 7, true),
            Statistic::new("transports", "fifo_requests", 2, true),
            Statistic::new("commands", "get_statistics_calls", 3, true),
            Statistic::new("commands", "foo_errors_errors", 1, true),
            Statistic::new(
                "event_subscribers",
                "E_X/unix:/tmp/a/b.sock/queued",
                4,
                false,
            ),
            Statistic::new("load", "load-proc-2", 5, false),
            Statistic::new("pkmem", "2-used_size", 1024, false),
            Statistic::new("upstreams", "my_node_latency_us", 1500, false),
            Statistic::new("upstreams", "my_node_reloads_refused", 2, true),
            Statistic::new("health", "io_wait_us", 2_000_000, true),
            Statistic::new("core", "timestamp", 9, false),
        ];
        let context = Context {
            is_module: &|g| g == "health",
            process_type: &|id| (id == 2).then(|| "HTTPD".to_string()),
        };
        let mut families = Families::default();
        add_own(&mut families, &stats, &context);
        let text = families.text(false);
        for line in [
            "miwa_transport_requests_total{transport=\"http\"} 7",
            "miwa_transport_requests_total{transport=\"fifo\"} 2",
            "miwa_command_calls_total{command=\"get_statistics\"} 3",
            "miwa_command_errors_total{command=\"foo_errors\"} 1",
            "miwa_event_subscriber_queued{event=\"E_X\",subscriber=\"unix:/tmp/a/b.sock\"} 4",
            "miwa_process_load{process=\"2\",type=\"HTTPD\"} 5",
            "miwa_process_pkmem_used_size_bytes{process=\"2\",type=\"HTTPD\"} 1024",
            "miwa_upstream_latency_seconds{node=\"my_node\"} 0.0015",
            "miwa_upstream_reloads_refused_total{node=\"my_node\"} 2",
            "miwa_module_io_wait_seconds_total{module=\"health\"} 2",
            "miwa_core_timestamp 9",
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line} in\n{text}");
        }
        assert_eq!(
            text.matches("# TYPE miwa_transport_requests_total").count(),
            1
        );
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitise("bad_URIs-rcvd"), "bad_uris_rcvd");
        assert_eq!(sanitise("reply_count"), "reply_count_value");
    }
}
