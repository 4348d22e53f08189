//! What a module imports but may not use. A toolchain often imports more than the module
//! calls (componentize-py imports the whole world; language runtimes import all of WASI),
//! so such imports do not refuse the load: each is linked as functions that fail the call
//! that reaches them, with a message naming the import and what would allow it.
//!
//! - a `miwa:module` capability that was not granted: "`miwa:module/cache@0.2.0#store`
//!   needs the cache grant";
//! - `wasi:http` without the `http` grant: "… needs the http grant";
//! - any other interface the daemon does not provide: "… is not available to modules".
//!
//! Resources of such interfaces are types nobody can make; the `wasi:io` ones keep their
//! real type, so that an interface using them still type-checks against the real `wasi:io`.

use crate::capability;
use crate::grant::Grant;
use crate::wasi;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceType};
use wasmtime::Engine;

/// The `miwa:module` interfaces every module has, granted or not.
pub(crate) const ALWAYS_LINKED: [&str; 2] = ["types", "diagnostics"];

/// Why an import is refused, or `None` if it is linked for real.
fn refusal(name: &str, grants: &[Grant]) -> Option<String> {
    let interface = name
        .strip_prefix("miwa:module/")
        .map(|rest| rest.split('@').next().unwrap_or_default());
    if interface.is_some_and(|interface| ALWAYS_LINKED.contains(&interface)) {
        return None;
    }
    if let Some(owner) = capability::owner(name) {
        let grant = owner.grant();
        return if !grants.contains(&grant) {
            Some(format!("needs the {grant} grant"))
        } else if owner.provides(name) {
            None
        } else {
            Some("is not available to modules".into())
        };
    }
    if wasi::linked(name, false) {
        return None;
    }
    Some("is not available to modules".into())
}

/// The `miwa:module` capabilities `component` imports that `grants` leaves out.
pub(crate) fn ungranted(engine: &Engine, component: &Component, grants: &[Grant]) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| {
            let interface = name.strip_prefix("miwa:module/")?.split('@').next()?;
            refusal(name, grants).map(|_| interface.to_string())
        })
        .collect()
}

/// Links every import of `component` that `grants` does not open as refusals.
pub fn link<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
    grants: &[Grant],
) -> wasmtime::Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        let Some(why) = refusal(name, grants) else {
            continue;
        };
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut defined = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{export} {why}");
                    defined.func_new(export, move |_, _, _, _| {
                        Err(wasmtime::Error::msg(what.clone()))
                    })?;
                }
                ComponentItem::Resource(_) => {
                    let ty = match export {
                        "pollable" => ResourceType::host::<wasmtime_wasi_io::poll::DynPollable>(),
                        "input-stream" => {
                            ResourceType::host::<wasmtime_wasi_io::streams::DynInputStream>()
                        }
                        "output-stream" => {
                            ResourceType::host::<wasmtime_wasi_io::streams::DynOutputStream>()
                        }
                        "error" => ResourceType::host::<wasmtime_wasi_io::streams::Error>(),
                        _ => ResourceType::host::<()>(),
                    };
                    defined.resource(export, ty, |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use crate::grant::Grant;

    fn grants(list: &[&str]) -> Vec<Grant> {
        list.iter().map(|g| Grant::parse(g).unwrap()).collect()
    }

    #[test]
    fn ungranted_capabilities_are_refused_by_name() {
        let none = grants(&[]);
        assert_eq!(refusal("miwa:module/types@0.2.0", &none), None);
        assert_eq!(refusal("miwa:module/diagnostics@0.1.0", &none), None);
        assert_eq!(
            refusal("miwa:module/cache@0.2.0", &none).as_deref(),
            Some("needs the cache grant")
        );
        assert_eq!(
            refusal("miwa:module/cache@0.2.0", &grants(&["cache"])),
            None
        );
    }

    #[test]
    fn wasi_is_linked_but_for_http_without_its_grant() {
        let none = grants(&[]);
        assert_eq!(refusal("wasi:cli/environment@0.2.6", &none), None);
        assert_eq!(
            refusal("wasi:http/outgoing-handler@0.2.6", &none).as_deref(),
            Some("needs the http grant")
        );
        assert_eq!(
            refusal("wasi:http/outgoing-handler@0.2.6", &grants(&["http"])),
            None
        );
        assert_eq!(
            refusal("wasi:keyvalue/store@0.2.0-draft", &none).as_deref(),
            Some("is not available to modules")
        );
        assert_eq!(
            refusal("wasi:cli/environment@0.3.0", &none).as_deref(),
            Some("is not available to modules")
        );
    }
}
