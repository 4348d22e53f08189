//! The FIFO request framing: `[whitespace] ':' reply_name ':' <one JSON value>`, several
//! requests back to back in one stream.

/// One framing step over the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete request; `used` bytes of the buffer belong to it.
    Request {
        /// The reply FIFO name (empty: no reply wanted).
        reply_name: &'a str,
        /// The JSON-RPC text.
        json: &'a [u8],
        /// Bytes consumed, leading whitespace included.
        used: usize,
    },
    /// The JSON value is not valid JSON; the request ends where the buffer ends.
    BadJson {
        /// The reply FIFO name, which was readable.
        reply_name: &'a str,
    },
    /// The bytes do not start a request (no `:`, a bad reply name): nothing can be
    /// answered; `used` bytes are skipped (a stray JSON value, the rest of a line, or a
    /// request with a bad reply name), so requests after them still get served.
    Garbage {
        /// Bytes to skip.
        used: usize,
    },
    /// More bytes are needed (nothing but whitespace, or a request still arriving).
    Incomplete,
}

/// Whether a reply name is acceptable: no `.`, `/` or `\`, valid UTF-8.
fn valid_name(name: &[u8]) -> bool {
    !name.iter().any(|b| matches!(b, b'.' | b'/' | b'\\')) && std::str::from_utf8(name).is_ok()
}

/// Frames the first request of `buffer`.
pub fn next_frame(buffer: &[u8]) -> Frame<'_> {
    let start = buffer
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    let Some(start) = start else {
        return Frame::Incomplete;
    };
    if buffer[start] != b':' {
        return match json_extent(&buffer[start..]) {
            Extent::Complete(len) => Frame::Garbage { used: start + len },
            Extent::Incomplete if matches!(buffer[start], b'{' | b'[' | b'"') => Frame::Incomplete,
            _ => {
                let line_end = buffer[start..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(buffer.len(), |i| start + i + 1);
                Frame::Garbage { used: line_end }
            }
        };
    }
    let Some(name_len) = buffer[start + 1..].iter().position(|&b| b == b':') else {
        return if buffer.len() - start > 1024 {
            Frame::Garbage { used: buffer.len() }
        } else {
            Frame::Incomplete
        };
    };
    let name = &buffer[start + 1..start + 1 + name_len];
    let json_start = start + 1 + name_len + 1;
    if !valid_name(name) {
        return match json_extent(&buffer[json_start..]) {
            Extent::Complete(len) => Frame::Garbage {
                used: json_start + len,
            },
            Extent::Incomplete => Frame::Incomplete,
            Extent::Invalid => Frame::Garbage { used: buffer.len() },
        };
    }
    let reply_name = std::str::from_utf8(name).unwrap_or_default();
    match json_extent(&buffer[json_start..]) {
        Extent::Complete(len) => Frame::Request {
            reply_name,
            json: &buffer[json_start..json_start + len],
            used: json_start + len,
        },
        Extent::Incomplete => Frame::Incomplete,
        Extent::Invalid => Frame::BadJson { reply_name },
    }
}

/// Where the first JSON value of a text ends.
#[derive(Debug, PartialEq, Eq)]
enum Extent {
    Complete(usize),
    Incomplete,
    Invalid,
}

/// Finds the end of the first JSON value without recursion: brackets are counted, strings
/// skipped; scalars end at the first byte that cannot continue them. Validation is left to
/// the core; this only has to find the boundary.
fn json_extent(text: &[u8]) -> Extent {
    let Some(start) = text.iter().position(|&b| b > b' ') else {
        return Extent::Incomplete;
    };
    match text[start] {
        b'{' | b'[' => {}
        b'"' => {
            return match string_end(&text[start..]) {
                Some(len) => Extent::Complete(start + len),
                None => Extent::Incomplete,
            }
        }
        b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
            let len = text[start..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')))
                .unwrap_or(text.len() - start);
            return if start + len == text.len() {
                Extent::Incomplete
            } else {
                Extent::Complete(start + len)
            };
        }
        _ => return Extent::Invalid,
    }
    let mut depth = 0usize;
    let mut i = start;
    while i < text.len() {
        match text[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Extent::Complete(i + 1);
                }
            }
            b'"' => match string_end(&text[i..]) {
                Some(len) => {
                    i += len;
                    continue;
                }
                None => return Extent::Incomplete,
            },
            _ => {}
        }
        i += 1;
    }
    Extent::Incomplete
}

/// The length of the string literal at the start of `text` (quotes included).
fn string_end(text: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_back_to_back_requests() {
        let stream = b"\n :r1:{\"a\":\"}\"}:r2:[1,[2]]  \n";
        let Frame::Request {
            reply_name,
            json,
            used,
        } = next_frame(stream)
        else {
            panic!()
        };
        assert_eq!((reply_name, json), ("r1", &b"{\"a\":\"}\"}"[..]));
        let Frame::Request {
            reply_name,
            json,
            used: second,
        } = next_frame(&stream[used..])
        else {
            panic!()
        };
        assert_eq!((reply_name, json), ("r2", &b"[1,[2]]"[..]));
        assert_eq!(next_frame(&stream[used + second..]), Frame::Incomplete);
    }

    #[test]
    fn partial_requests_wait_for_more() {
        assert_eq!(
            next_frame(b":reply:{\"jsonrpc\":\"2.0\""),
            Frame::Incomplete
        );
        assert_eq!(next_frame(b":reply"), Frame::Incomplete);
        assert_eq!(next_frame(b":r:{\"a\":\"x\\"), Frame::Incomplete);
        assert_eq!(next_frame(b""), Frame::Incomplete);
    }

    #[test]
    fn bad_input() {
        assert_eq!(next_frame(b"hello"), Frame::Garbage { used: 5 });
        assert_eq!(
            next_frame(b"hello:r:{}\n:r:{}"),
            Frame::Garbage { used: 11 }
        );
        assert_eq!(next_frame(b"{\"a\":1}:r:{}"), Frame::Garbage { used: 7 });
        assert_eq!(next_frame(b":a/b:{}:r:{}"), Frame::Garbage { used: 7 });
        assert_eq!(next_frame(b":a.b:{\"x\":1"), Frame::Incomplete);
        assert_eq!(next_frame(b":r:hello"), Frame::BadJson { reply_name: "r" });
        let empty_name = next_frame(b"::{}");
        assert_eq!(
            empty_name,
            Frame::Request {
                reply_name: "",
                json: b"{}",
                used: 4
            }
        );
        assert_eq!(
            next_frame(b":r:42 "),
            Frame::Request {
                reply_name: "r",
                json: b"42",
                used: 5
            }
        );
    }

    #[test]
    fn deep_nesting_needs_no_recursion() {
        let deep = format!(":r:{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(matches!(next_frame(deep.as_bytes()), Frame::Request { .. }));
    }
}
