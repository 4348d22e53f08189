//! The bindings of `miwa:module@0.1.0`: modules built before `tick` existed.

wasmtime::component::bindgen!({
    path: "../../mi-core/wit/module/v0.1.0",
    world: "module",
});

super::capabilities!();
