//! Any byte stream through the FIFO framer: every step consumes bytes or waits, never
//! reads past the buffer, and framed requests lie inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transports::fifo::framing::{next_frame, Frame};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    loop {
        match next_frame(rest) {
            Frame::Request { json, used, .. } => {
                assert!(used > 0 && used <= rest.len() && json.len() <= used);
                rest = &rest[used..];
            }
            Frame::Garbage { used } => {
                assert!(used > 0 && used <= rest.len());
                rest = &rest[used..];
            }
            Frame::BadJson { .. } | Frame::Incomplete => break,
        }
    }
});
