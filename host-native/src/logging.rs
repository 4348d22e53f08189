//! Logging with `tracing`, filtered per process by the OpenSIPS log levels that `log_level`
//! changes at run time.

use crate::state::{processes, tracing_level};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the global subscriber: stderr, each event checked against the level of the
/// process (thread) emitting it, or the global level for unregistered threads.
pub fn init(global_level: Arc<AtomicI32>) {
    let filter = filter_fn(move |meta| {
        let level = processes::current()
            .map(|p| p.log_level.load(Ordering::Relaxed))
            .unwrap_or_else(|| global_level.load(Ordering::Relaxed));
        tracing_level(level).is_some_and(|max| *meta.level() <= max)
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
