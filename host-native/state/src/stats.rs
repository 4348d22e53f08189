//! miwa's own counters: requests, errors and bytes per transport and per command.
//! Computed statistics (memory, load, timestamp) are read when asked, in `super::snapshot`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Counters of one transport.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// Requests received.
    pub requests: AtomicU64,
    /// Requests answered with an error (or not answerable).
    pub errors: AtomicU64,
    /// Request bytes received.
    pub rx_bytes: AtomicU64,
    /// Reply bytes sent.
    pub tx_bytes: AtomicU64,
}

impl TransportCounters {
    /// Counts one request of `received` bytes, answered with `sent` bytes, failed or not.
    pub fn record(&self, received: usize, sent: usize, failed: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.rx_bytes.fetch_add(received as u64, Ordering::Relaxed);
        self.tx_bytes.fetch_add(sent as u64, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn reset(&self) {
        for counter in [&self.requests, &self.errors, &self.rx_bytes, &self.tx_bytes] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Every transport's counters, held by a dispatcher so that counting a request takes no
/// lock.
pub struct TransportTable(Vec<(transports::TransportKind, Arc<TransportCounters>)>);

impl TransportTable {
    /// The counters of every transport in `counters`.
    pub fn new(counters: &Counters) -> Self {
        TransportTable(
            transports::TransportKind::ALL
                .iter()
                .map(|&kind| (kind, counters.transport(kind.name())))
                .collect(),
        )
    }

    /// The counters of `kind`.
    pub fn get(&self, kind: transports::TransportKind) -> &TransportCounters {
        self.0
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, counters)| counters.as_ref())
            .expect("every transport kind is in the table")
    }
}

/// Counters of one command.
#[derive(Debug, Default)]
pub(crate) struct CommandCounters {
    /// Times it ran.
    pub calls: AtomicU64,
    /// Times it answered an error.
    pub errors: AtomicU64,
}

/// Command counters in first-call order, with a name index.
#[derive(Debug, Default)]
struct CommandTable {
    list: Vec<(String, Arc<CommandCounters>)>,
    index: HashMap<String, usize>,
}

/// All counters, in registration order.
#[derive(Debug, Default)]
pub struct Counters {
    transports: RwLock<Vec<(&'static str, Arc<TransportCounters>)>>,
    commands: RwLock<CommandTable>,
}

/// One counter as `statistics()` lists it.
pub struct CounterValue {
    /// Group name.
    pub group: &'static str,
    /// Statistic name.
    pub name: String,
    /// Value.
    pub value: u64,
}

impl Counters {
    /// The counters of `transport`, created on first use.
    pub fn transport(&self, transport: &'static str) -> Arc<TransportCounters> {
        if let Some((_, c)) = read(&self.transports).iter().find(|(n, _)| *n == transport) {
            return c.clone();
        }
        let mut all = write(&self.transports);
        if let Some((_, c)) = all.iter().find(|(n, _)| *n == transport) {
            return c.clone();
        }
        let counters = Arc::new(TransportCounters::default());
        all.push((transport, counters.clone()));
        counters
    }

    /// Counts one run of `command`.
    pub fn count_command(&self, command: &str, failed: bool) {
        let counters = {
            let table = read(&self.commands);
            table.index.get(command).map(|&i| table.list[i].1.clone())
        };
        let counters = counters.unwrap_or_else(|| {
            let mut guard = write(&self.commands);
            let table = &mut *guard;
            let i = *table.index.entry(command.to_string()).or_insert_with(|| {
                table
                    .list
                    .push((command.to_string(), Arc::new(CommandCounters::default())));
                table.list.len() - 1
            });
            table.list[i].1.clone()
        });
        counters.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every counter: group `transports` (`<t>_requests`, `<t>_errors`, `<t>_rx_bytes`,
    /// `<t>_tx_bytes`) then group `commands` (`<cmd>_calls`, `<cmd>_errors`).
    pub fn values(&self) -> Vec<CounterValue> {
        let mut out = Vec::new();
        for (name, c) in read(&self.transports).iter() {
            for (suffix, counter) in [
                ("requests", &c.requests),
                ("errors", &c.errors),
                ("rx_bytes", &c.rx_bytes),
                ("tx_bytes", &c.tx_bytes),
            ] {
                out.push(CounterValue {
                    group: "transports",
                    name: format!("{name}_{suffix}"),
                    value: counter.load(Ordering::Relaxed),
                });
            }
        }
        for (name, c) in read(&self.commands).list.iter() {
            for (suffix, counter) in [("calls", &c.calls), ("errors", &c.errors)] {
                out.push(CounterValue {
                    group: "commands",
                    name: format!("{name}_{suffix}"),
                    value: counter.load(Ordering::Relaxed),
                });
            }
        }
        out
    }

    /// Resets one counter by group and name; false if there is no such counter.
    pub fn reset(&self, group: &str, name: &str) -> bool {
        match group {
            "transports" => read(&self.transports).iter().any(|(t, c)| {
                let hit = name.strip_prefix(t).and_then(|r| r.strip_prefix('_'));
                let counter = match hit {
                    Some("requests") => &c.requests,
                    Some("errors") => &c.errors,
                    Some("rx_bytes") => &c.rx_bytes,
                    Some("tx_bytes") => &c.tx_bytes,
                    _ => return false,
                };
                counter.store(0, Ordering::Relaxed);
                true
            }),
            "commands" => read(&self.commands).list.iter().any(|(cmd, c)| {
                let counter = match name.strip_prefix(cmd.as_str()) {
                    Some("_calls") => &c.calls,
                    Some("_errors") => &c.errors,
                    _ => return false,
                };
                counter.store(0, Ordering::Relaxed);
                true
            }),
            _ => false,
        }
    }

    /// Resets every counter.
    pub fn reset_all(&self) {
        for (_, c) in read(&self.transports).iter() {
            c.reset();
        }
        for (_, c) in read(&self.commands).list.iter() {
            c.calls.store(0, Ordering::Relaxed);
            c.errors.store(0, Ordering::Relaxed);
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
