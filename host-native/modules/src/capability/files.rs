//! `files`: reading the `read_only_dirs`, each preopened read-only at its own path. WASI's
//! filesystem is linked for every module; without the grant nothing is preopened, so
//! every open fails.

use super::Capability;
use crate::grant::Grant;
use crate::settings::ModuleConfig;
use crate::wasi::Sandbox;

/// The `files` capability.
pub(crate) struct Files;

impl Capability for Files {
    fn grant(&self) -> Grant {
        Grant::Files
    }

    fn prepare(&self, config: &ModuleConfig, sandbox: &mut Sandbox) {
        sandbox.read_only_dirs = config.read_only_dirs.clone();
    }
}
