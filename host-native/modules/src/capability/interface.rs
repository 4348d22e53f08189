//! `log`, `stats`, `cache`, `events` and `mi`: the `miwa:module` interfaces a module calls
//! the daemon through. Their host side is implemented once per version of the world
//! (`bindings/`), so one type serves the five.

use super::Capability;
use crate::bindings::{self, ModuleStoreData};
use crate::grant::Grant;
use wasmtime::component::Linker;

/// A `miwa:module` interface, opened by the grant of its name.
pub struct Interface(Grant);

/// `miwa:module/log`.
pub(crate) const LOG: Interface = Interface(Grant::Log);
/// `miwa:module/stats`.
pub(crate) const STATS: Interface = Interface(Grant::Stats);
/// `miwa:module/cache`.
pub(crate) const CACHE: Interface = Interface(Grant::Cache);
/// `miwa:module/events`.
pub const EVENTS: Interface = Interface(Grant::Events);
/// `miwa:module/mi`.
pub const MI: Interface = Interface(Grant::Mi);

impl Capability for Interface {
    fn grant(&self) -> Grant {
        self.0
    }

    fn owns(&self, import: &str) -> bool {
        import
            .strip_prefix("miwa:module/")
            .and_then(|rest| rest.split('@').next())
            .is_some_and(|interface| interface == self.0.name())
    }

    fn link(&self, linker: &mut Linker<ModuleStoreData>) -> wasmtime::Result<()> {
        bindings::link(linker, self.0)
    }
}
