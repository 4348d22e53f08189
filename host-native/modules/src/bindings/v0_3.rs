//! The bindings of `miwa:module@0.3.0`: the 0.2.0 world plus `command.param-types`.

wasmtime::component::bindgen!({
    path: "../../mi-core/wit/module/v0.3.0",
    world: "module",
});

super::capabilities!();
