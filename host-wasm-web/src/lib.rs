//! The MI core for the browser: mi-core behind a simulated host, exported with
//! wasm-bindgen for the playground. Not built yet: this crate reserves its place in the
//! workspace until the playground is implemented.
