//! Any bytes as a JSON-RPC request (or batch) to the core, on the playground's simulated
//! host: the core must answer (or stay silent) without panicking or overflowing its stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mi_core::{Core, HandleOptions, Reply};

fuzz_target!(|data: &[u8]| {
    let host = host_wasm_web::sim::Simulation::new(1, 1_800_000_000);
    let handled = Core::default().handle(&host, data, HandleOptions::default());
    if let Reply::Text(text) | Reply::ParseError(text) = handled.reply {
        assert!(mi_core::json::parse(text.as_bytes(), 1024).is_ok(), "a reply is JSON");
    }
});
