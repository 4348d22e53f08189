//! `tcp`: outgoing TCP connections to the `allowed_tcp` patterns (and the name lookups
//! they need). WASI's sockets are linked for every module; without the grant every
//! connection is refused.

use super::Capability;
use crate::grant::Grant;
use crate::settings::ModuleConfig;
use crate::wasi::{allow, Sandbox};
use std::sync::Arc;

/// The `tcp` capability.
pub struct Tcp;

impl Capability for Tcp {
    fn grant(&self) -> Grant {
        Grant::Tcp
    }

    fn prepare(&self, config: &ModuleConfig, sandbox: &mut Sandbox) {
        let patterns = config
            .allowed_tcp
            .iter()
            .filter_map(|p| allow::Pattern::parse(p))
            .collect();
        sandbox.tcp = Some(Arc::new(patterns));
    }
}
