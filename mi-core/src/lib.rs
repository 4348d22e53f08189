//! The miwa MI core: the OpenSIPS 3.6 Management Interface command registry, its JSON-RPC
//! layer and the core commands.
//!
//! Pure logic: no sockets, threads or clocks. Everything stateful is asked of a [`Host`].
//! It compiles natively (tests, benchmark baseline), as a wasm32-wasip2 component (what the
//! daemon runs, see `mi-core/component`) and for the browser (`host-wasm-web`).
//!
//! # Layout
//! - `registry`, `rpc`, `request`: the command registry, the JSON-RPC layer and the one
//!   reading of a request; `names`: the 3.6 and 4.0 names; `access`: role rules;
//! - `params`, `json`, `error`: parameters and recipes, the cJSON-compatible JSON, MI
//!   errors; `commands/`: the core commands; `host`: the `Host` trait they ask;
//!   `effects`: what each command does (reads, changes, destroys);
//! - `chart`, `openrpc` and the rest: what the HTML page and `rpc.discover` build on.
#![forbid(unsafe_code)]

pub mod access;
pub mod chart;
pub mod commands;
pub mod effects;
pub mod error;
pub mod glob;
pub mod host;
pub mod json;
pub mod markup;
pub mod names;
pub mod openrpc;
pub mod params;
pub mod registry;
pub mod request;
pub mod rpc;
pub mod script;
pub mod time;

pub use error::MiError;
pub use host::Host;
pub use registry::Registry;
pub use rpc::{handle, HandleOptions, Handled, Reply};

/// A ready core: the registry of all commands.
#[derive(Debug)]
pub struct Core {
    registry: Registry,
}

impl Default for Core {
    fn default() -> Self {
        Core {
            registry: commands::core_registry(),
        }
    }
}

impl Core {
    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Handles one JSON-RPC request text (see [`rpc::handle`]).
    pub fn handle(&self, host: &dyn Host, request: &[u8], options: HandleOptions) -> Handled {
        rpc::handle(&self.registry, host, request, options)
    }

    /// Handles a request for a caller limited by `access` (see [`rpc::handle_as`]).
    pub fn handle_as(
        &self,
        host: &dyn Host,
        request: &[u8],
        options: HandleOptions,
        access: Option<&access::Access>,
    ) -> Handled {
        rpc::handle_as(&self.registry, host, request, options, access)
    }
}
