//! Logging with `tracing`, filtered per process by the OpenSIPS log levels that `log_level`
//! changes at run time.

use crate::events::on_delivery_thread;
use crate::{processes, tracing_level, HostState};
use mi_core::host::LogConsumer;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Weak};
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The log consumers `log_level_filter` and `log_mute_state` address, in OpenSIPS's order.
pub(crate) const CONSUMERS: [&str; 3] = ["stderror", "syslog", "event"];

/// Level filter and mute state of each log consumer, shared by the MI commands and the
/// log filter. miwa writes its log to standard error (`stderror`); `syslog` and `event`
/// keep their settings for the consumers that read them.
#[derive(Debug)]
pub struct LogConsumers {
    filters: [AtomicI32; 3],
    muted: [AtomicI32; 3],
}

impl LogConsumers {
    /// The initial level filter of every consumer: 4 (DBG), so the process log levels alone
    /// decide until a filter is set.
    pub(crate) const DEFAULT_FILTER: i32 = 4;

    /// Every consumer unmuted, filtering at `level`.
    pub fn new(level: i32) -> Self {
        LogConsumers {
            filters: std::array::from_fn(|_| AtomicI32::new(level)),
            muted: std::array::from_fn(|_| AtomicI32::new(0)),
        }
    }

    fn index(name: &str) -> Option<usize> {
        CONSUMERS.iter().position(|c| *c == name)
    }

    /// The state of consumer `name`.
    pub fn get(&self, name: &str) -> Option<LogConsumer> {
        let i = Self::index(name)?;
        Some(LogConsumer {
            level_filter: self.filters[i].load(Ordering::Relaxed),
            muted: self.muted[i].load(Ordering::Relaxed),
        })
    }

    /// Sets the level filter of `name`; false if there is no such consumer.
    pub(crate) fn set_filter(&self, name: &str, level: i32) -> bool {
        Self::index(name)
            .map(|i| self.filters[i].store(level, Ordering::Relaxed))
            .is_some()
    }

    /// Sets the mute state of `name`; false if there is no such consumer.
    pub(crate) fn set_muted(&self, name: &str, muted: i32) -> bool {
        Self::index(name)
            .map(|i| self.muted[i].store(muted, Ordering::Relaxed))
            .is_some()
    }

    /// Whether consumer `index` takes a line of OpenSIPS level `level`.
    fn takes(&self, index: usize, level: i32) -> bool {
        self.muted[index].load(Ordering::Relaxed) == 0
            && level <= self.filters[index].load(Ordering::Relaxed)
    }
}

/// The OpenSIPS level of a `tracing` level.
fn opensips_level(level: &tracing::Level) -> i32 {
    match *level {
        tracing::Level::ERROR => -1,
        tracing::Level::WARN => 1,
        tracing::Level::INFO => 3,
        tracing::Level::DEBUG => 4,
        _ => 5,
    }
}

thread_local! {
    /// Set while a log line is being raised as `E_CORE_LOG`, so raising cannot recurse.
    static RAISING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The message text of a log line.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

/// The `event` log consumer: lines it takes are raised as `E_CORE_LOG`.
struct EventConsumer {
    state: Weak<HostState>,
}

impl<S: tracing::Subscriber> Layer<S> for EventConsumer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if RAISING.get() || on_delivery_thread() {
            return;
        }
        let Some(state) = self.state.upgrade().filter(|s| s.log_events_wanted()) else {
            return;
        };
        let mut message = Message(String::new());
        event.record(&mut message);
        RAISING.set(true);
        state.raise_log(opensips_level(event.metadata().level()), &message.0);
        RAISING.set(false);
    }
}

/// Whether a line at `meta`'s level passes the emitting process's log level (the global
/// level for unregistered threads) and consumer `index`'s filter and mute state. Checked at
/// every line, never cached per call site, since levels change at run time.
fn passes(
    meta: &tracing::Metadata<'_>,
    global_level: &AtomicI32,
    consumers: &LogConsumers,
    index: usize,
) -> bool {
    let level = processes::current()
        .map(|p| p.log_level.load(Ordering::Relaxed))
        .unwrap_or_else(|| global_level.load(Ordering::Relaxed));
    tracing_level(level).is_some_and(|max| *meta.level() <= max)
        && consumers.takes(index, opensips_level(meta.level()))
}

/// Installs the global subscriber: standard error (the `stderror` consumer) and `E_CORE_LOG`
/// (the `event` consumer), each line checked against the process's log level and the
/// consumer's filter and mute state.
pub fn init(global_level: Arc<AtomicI32>, consumers: Arc<LogConsumers>, state: Weak<HostState>) {
    let (level, stderr_consumers) = (global_level.clone(), consumers.clone());
    let stderr_filter =
        dynamic_filter_fn(move |meta, _| passes(meta, &level, &stderr_consumers, 0));
    let event_filter = dynamic_filter_fn(move |meta, _| passes(meta, &global_level, &consumers, 2));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_filter(stderr_filter);
    let events = EventConsumer { state }.with_filter(event_filter);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(events)
        .try_init();
}
