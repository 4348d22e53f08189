//! `http`: `wasi:http/outgoing-handler` requests to the `allowed_outbound_hosts` patterns.
//! `wasi:http` is linked only for a module granted it; without the grant its imports are
//! refusals naming the grant.

use super::Capability;
use crate::bindings::ModuleStoreData;
use crate::grant::Grant;
use crate::settings::ModuleConfig;
use crate::wasi::{self, Sandbox};
use std::sync::Arc;
use wasmtime::component::Linker;

/// The `http` capability.
pub struct Http;

impl Capability for Http {
    fn grant(&self) -> Grant {
        Grant::Http
    }

    fn owns(&self, import: &str) -> bool {
        import.starts_with("wasi:http/")
    }

    fn provides(&self, import: &str) -> bool {
        wasi::linked(import, true)
    }

    fn prepare(&self, config: &ModuleConfig, sandbox: &mut Sandbox) {
        let patterns = config
            .allowed_outbound_hosts
            .iter()
            .filter_map(|p| wasi::http::UrlPattern::parse(p))
            .collect();
        sandbox.http = Arc::new(patterns);
    }

    fn link(&self, linker: &mut Linker<ModuleStoreData>) -> wasmtime::Result<()> {
        wasi::add_http_to_linker(linker)
    }
}
