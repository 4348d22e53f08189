//! Any line through the mi_script command-string parser (used by `miwa script` and modules'
//! `mi()`): a parsed call always becomes a JSON-RPC request the core can read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Some(call) = mi_core::script::parse_line(&line) {
        let request = call.request(1);
        assert!(mi_core::json::parse(request.as_bytes(), 1024).is_ok());
    }
});
