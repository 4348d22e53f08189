//! The miwa daemon's parts: configuration, host state, the wasmtime runtime of the core
//! component, the dispatcher the transports call, logging, metrics and charts, and the
//! `miwa call` client.

pub mod access;
pub mod audit;
pub mod config;
pub mod dispatch;
pub mod front;
pub mod logging;
pub mod metrics;
pub mod modules;
pub mod runtime;
pub mod state;
