//! The bindings of `miwa:module@0.2.0`: the 0.1.0 world plus `module-api.tick`.

wasmtime::component::bindgen!({
    path: "../../mi-core/wit/module/v0.2.0",
    world: "module",
});

super::capabilities!();
