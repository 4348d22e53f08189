//! Logging with `tracing`, filtered per process by the OpenSIPS log levels that `log_level`
//! changes at run time.

use crate::state::{processes, tracing_level};
use mi_core::host::LogConsumer;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use tracing_subscriber::filter::dynamic_filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The log consumers `log_level_filter` and `log_mute_state` address, in OpenSIPS's order.
pub const CONSUMERS: [&str; 3] = ["stderror", "syslog", "event"];

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
    pub const DEFAULT_FILTER: i32 = 4;

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
    pub fn set_filter(&self, name: &str, level: i32) -> bool {
        Self::index(name)
            .map(|i| self.filters[i].store(level, Ordering::Relaxed))
            .is_some()
    }

    /// Sets the mute state of `name`; false if there is no such consumer.
    pub fn set_muted(&self, name: &str, muted: i32) -> bool {
        Self::index(name)
            .map(|i| self.muted[i].store(muted, Ordering::Relaxed))
            .is_some()
    }

    /// Whether standard error takes a line of OpenSIPS level `level`.
    fn stderr_takes(&self, level: i32) -> bool {
        self.muted[0].load(Ordering::Relaxed) == 0
            && level <= self.filters[0].load(Ordering::Relaxed)
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

/// Installs the global subscriber: standard error, each event checked (at every event, never
/// cached per call site, since levels change at run time) against the level of
/// the process (thread) emitting it (the global level for unregistered threads) and the
/// `stderror` consumer's filter and mute state.
pub fn init(global_level: Arc<AtomicI32>, consumers: Arc<LogConsumers>) {
    let filter = dynamic_filter_fn(move |meta, _| {
        let level = processes::current()
            .map(|p| p.log_level.load(Ordering::Relaxed))
            .unwrap_or_else(|| global_level.load(Ordering::Relaxed));
        tracing_level(level).is_some_and(|max| *meta.level() <= max)
            && consumers.stderr_takes(opensips_level(meta.level()))
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
