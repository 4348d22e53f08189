//! The capabilities a module can be granted, each one type behind one trait.
//!
//! A module's load runs the hooks of every capability it is granted, in this order:
//!
//! 1. [`Capability::prepare`] while its sandbox is built: open this capability's part of
//!    it (preopened directories, allow-lists);
//! 2. [`Capability::link`] while its linker is built: link this capability's host
//!    functions;
//! 3. [`Capability::check`] once the component is pre-instantiated: refuse a module that
//!    cannot use the grant.
//!
//! The imports of a capability the module was not granted are linked as refusals
//! (`refusals.rs`), which ask [`Capability::owns`] whose an import is.
//!
//! - `interface`: `log`, `stats`, `cache`, `events`, `mi`, the `miwa:module` interfaces,
//!   whose host side lives with each version of the world in `bindings/`;
//! - `files`, `tcp`, `http`: the parts of WASI that do I/O;
//! - `tick`: the daemon calls the module's `tick` export.
//!
//! A new capability is a [`Grant`] variant, a file here, and its arm in [`of`]: the
//! compiler points at every `match` on grants that must learn of it.

mod files;
mod http;
mod interface;
mod tcp;
mod tick;

use crate::bindings::api::ApiPre;
use crate::bindings::ModuleStoreData;
use crate::grant::Grant;
use crate::loaded::LoadError;
use crate::settings::ModuleConfig;
use crate::wasi::Sandbox;
use wasmtime::component::Linker;

/// One capability a module can be granted.
pub(crate) trait Capability: Sync {
    /// The grant that opens it.
    fn grant(&self) -> Grant;

    /// Whether the component import `import` (`miwa:module/log@0.2.0`,
    /// `wasi:http/types@0.2.3`) is this capability's: refused, naming the grant, when the
    /// module was not granted it.
    fn owns(&self, _import: &str) -> bool {
        false
    }

    /// Whether the daemon links `import`, one of this capability's, for a module granted
    /// it (a version it provides).
    fn provides(&self, _import: &str) -> bool {
        true
    }

    /// Opens this capability's part of the sandbox of a module granted it.
    fn prepare(&self, _config: &ModuleConfig, _sandbox: &mut Sandbox) {}

    /// Links this capability's host functions for a module granted it.
    fn link(&self, _linker: &mut Linker<ModuleStoreData>) -> wasmtime::Result<()> {
        Ok(())
    }

    /// Refuses a module granted it that cannot use it (`world`: the version of the
    /// `miwa:module` world it exports).
    fn check(&self, _pre: &ApiPre, _world: &'static str) -> Result<(), LoadError> {
        Ok(())
    }
}

/// The capability `grant` opens.
pub fn of(grant: Grant) -> &'static dyn Capability {
    match grant {
        Grant::Log => &interface::LOG,
        Grant::Stats => &interface::STATS,
        Grant::Cache => &interface::CACHE,
        Grant::Events => &interface::EVENTS,
        Grant::Mi => &interface::MI,
        Grant::Files => &files::Files,
        Grant::Tcp => &tcp::Tcp,
        Grant::Http => &http::Http,
        Grant::Tick => &tick::Tick,
    }
}

/// The capability an import belongs to, if any.
pub fn owner(import: &str) -> Option<&'static dyn Capability> {
    Grant::ALL
        .into_iter()
        .map(of)
        .find(|capability| capability.owns(import))
}
