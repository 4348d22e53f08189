//! Any bytes as an XML-RPC call: parsed or refused, never a panic, and an accepted call
//! becomes a JSON-RPC request the core can read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = transports::xmlrpc::parse_call(data, 64) {
        if let Ok(params) = call.params {
            let text = transports::xmlrpc::request_text(&call.method, params);
            assert!(mi_core::json::parse(text.as_bytes(), 1024).is_ok());
        }
    }
});
