//! mi-core as a WebAssembly component of the `miwa:mi/core` world.
//!
//! The `Host` trait of mi-core is implemented with the WIT imports; the `engine` export
//! hands requests to the core; `arena` is the allocator, which starts over between calls. Built for `wasm32-wasip2` only (by `host-native/runtime/build.rs`).
#![cfg(target_arch = "wasm32")]

mod arena;
mod convert;

use mi_core::{Core, HandleOptions, Reply};
use std::sync::OnceLock;

/// Generated bindings of the `core` world; the glue wit-bindgen emits needs `unsafe`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "core",
    });

    use super::Component;
    export!(Component);
}

use bindings::exports::miwa::mi::engine;

/// Every allocation of the instance: a per-call arena (see [`arena`]).
#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

/// The registry, built once per instance, outside the per-call arena.
fn core() -> &'static Core {
    static CORE: OnceLock<Core> = OnceLock::new();
    CORE.get_or_init(|| arena::persistent(&ALLOCATOR, Core::default))
}

struct Component;

impl engine::Guest for Component {
    fn commands() -> Vec<engine::CommandInfo> {
        core()
            .registry()
            .commands()
            .iter()
            .map(|c| engine::CommandInfo {
                name: c.name.to_string(),
                module: c.module.to_string(),
                help: c.help.map(str::to_string),
                named_only: c.named_only,
                recipes: c
                    .recipe_names()
                    .into_iter()
                    .map(|r| r.into_iter().map(str::to_string).collect())
                    .collect(),
            })
            .collect()
    }

    fn handle(request: Vec<u8>, options: engine::HandleOptions) -> engine::Handled {
        let access = options.access.map(|a| mi_core::access::Access {
            role: a.role,
            allow: a.allow,
            deny: a.deny,
        });
        let handled = core().handle_as(
            &convert::ImportedHost,
            &request,
            HandleOptions {
                pretty: options.pretty,
                max_depth: options.max_depth,
            },
            access.as_ref(),
        );
        engine::Handled {
            reply: match handled.reply {
                Reply::Text(text) => engine::Reply::Text(text),
                Reply::ParseError(text) => engine::Reply::ParseError(text),
                Reply::Nothing => engine::Reply::Nothing,
                Reply::Unprintable => engine::Reply::Unprintable,
            },
            calls: handled
                .calls
                .into_iter()
                .map(|c| engine::CallRecord {
                    member: c.member,
                    command: c.command,
                    module: c.module,
                    error: c.error,
                })
                .collect(),
        }
    }
}
