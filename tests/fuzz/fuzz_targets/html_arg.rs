//! Any text as the HTML interface's `arg` (JSON parameters, depth-limited): parsed or
//! refused, and what parses prints back to JSON. Printing follows cJSON, which is lossy for
//! large non-integral numbers (`%e` with six digits), so the check is that a second round
//! trip changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mi_core::json;

fuzz_target!(|data: &[u8]| {
    if let Ok((value, _)) = json::parse(data, 128) {
        let printed = json::to_compact(&value);
        let (again, _) = json::parse(printed.as_bytes(), 256).expect("printed JSON parses");
        let settled = json::to_compact(&again);
        let (third, _) = json::parse(settled.as_bytes(), 256).expect("reprinted JSON parses");
        assert_eq!(json::to_compact(&third), settled);
    }
});
