//! The cJSON printer: compact (the default on every transport) and pretty.

use super::Value;
use std::fmt::Write;

/// Prints `value` the way OpenSIPS does by default: no whitespace, no trailing newline.
pub fn to_compact(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_compact(&mut out, value);
    out
}

/// Prints `value` in cJSON's pretty form (TAB indentation, inline arrays).
pub fn to_pretty(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_pretty(&mut out, value, 0);
    out
}

/// Appends the compact form of `value` to `out`.
pub fn write_compact(out: &mut String, value: &Value) {
    write_compact_as::<false>(out, value);
}

/// Appends `value` in compact form with numbers written exactly (the shortest text that
/// reads back as the same `double`; infinities as `1e999`), for requests the daemon passes
/// on: cJSON's printer keeps six decimals, which would change a forwarded parameter.
pub fn write_exact(out: &mut String, value: &Value) {
    write_compact_as::<true>(out, value);
}

/// The compact form; numbers as cJSON writes them, or `EXACT`ly.
fn write_compact_as<const EXACT: bool>(out: &mut String, value: &Value) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact_as::<EXACT>(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_compact_as::<EXACT>(out, item);
            }
            out.push('}');
        }
        Value::Number(n) if EXACT => write_exact_number(out, *n),
        scalar => write_scalar(out, scalar),
    }
}

fn write_exact_number(out: &mut String, number: f64) {
    if number == 0.0 {
        out.push('0');
    } else if number.is_nan() {
        out.push_str("null");
    } else if number.is_infinite() {
        out.push_str(if number > 0.0 { "1e999" } else { "-1e999" });
    } else if number.fract() == 0.0 && number.abs() < 1e18 {
        push_int(out, number as i64);
    } else {
        let _ = write!(out, "{number:?}");
    }
}

/// Appends the pretty form of `value`, nested `depth` levels deep, to `out`.
pub fn write_pretty(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_pretty(out, item, depth + 1);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push_str("{\n");
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                push_tabs(out, depth + 1);
                write_string(out, key);
                out.push_str(":\t");
                write_pretty(out, item, depth + 1);
            }
            if !members.is_empty() {
                out.push('\n');
            }
            push_tabs(out, depth);
            out.push('}');
        }
        scalar => write_scalar(out, scalar),
    }
}

/// Appends the decimal text of `n` without the formatting machinery (hot: every number of
/// every reply goes through here).
pub fn push_int(out: &mut String, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

fn push_tabs(out: &mut String, count: usize) {
    out.extend(std::iter::repeat_n('\t', count));
}

fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, *number),
        Value::String(text) => write_string(out, text),
        Value::Array(_) | Value::Object(_) => unreachable!("containers are printed by the callers"),
    }
}

/// cJSON's number rules: integers in the `i32` range as `%d`, other integral values below
/// 1e60 as `%.0f`, tiny or huge values as `%e`, the rest as `%f`; NaN and infinities as `null`.
fn write_number(out: &mut String, number: f64) {
    if number == 0.0 {
        out.push('0');
    } else if !number.is_finite() {
        out.push_str("null");
    } else if (f64::from(Value::int_view(number)) - number).abs() <= f64::EPSILON
        && number <= f64::from(i32::MAX)
        && number >= f64::from(i32::MIN)
    {
        push_int(out, i64::from(Value::int_view(number)));
    } else if (number.floor() - number).abs() <= f64::EPSILON && number.abs() < 1.0e60 {
        let _ = write!(out, "{number:.0}");
    } else if number.abs() < 1.0e-6 || number.abs() > 1.0e9 {
        let text = format!("{number:.6e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    } else {
        let _ = write!(out, "{number:.6}");
    }
}

/// cJSON string escaping: `"` `\` and the named control escapes, other bytes below 0x20 as
/// `\u00xx`; everything else (including `/` and non-ASCII) raw. A NUL ends the string.
fn write_string(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push('"');
    let mut plain_from = 0;
    while let Some(offset) = first_to_escape(&bytes[plain_from..]) {
        let at = plain_from + offset;
        out.push_str(&text[plain_from..at]);
        let escape = match bytes[at] {
            0 => {
                out.push('"');
                return;
            }
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            byte => {
                let _ = write!(out, "\\u{byte:04x}");
                ""
            }
        };
        out.push_str(escape);
        plain_from = at + 1;
    }
    out.push_str(&text[plain_from..]);
    out.push('"');
}

/// Where the first byte that needs escaping (below 0x20, `"` or `\`) is. Scans eight
/// bytes at a time: most strings have none, and WebAssembly has no wider compare to lean on.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // A lane is flagged if its byte is below 0x20, or zero after the XOR; a byte with
        // its high bit set is never flagged (`!x`), so non-ASCII text passes as plain.
        let flagged =
            (x.wrapping_sub(ONES * 0x20) | quote.wrapping_sub(ONES) | backslash.wrapping_sub(ONES))
                & !x
                & HIGHS;
        if flagged != 0 {
            if let Some(i) = word.iter().position(|&b| needs_escape(b)) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| needs_escape(b))
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::object;

    #[test]
    fn every_byte_is_escaped_at_every_offset_of_the_eight_byte_scan() {
        for byte in 0u8..=0x7f {
            for at in 0..20 {
                let mut text = "abcdefghijklmnopqrst".to_string();
                text.replace_range(at..at + 1, &char::from(byte).to_string());
                let mut fast = String::new();
                write_string(&mut fast, &text);
                let mut slow = String::from('"');
                for (i, b) in text.bytes().enumerate() {
                    match b {
                        0 => break,
                        b'"' => slow.push_str("\\\""),
                        b'\\' => slow.push_str("\\\\"),
                        0x08 => slow.push_str("\\b"),
                        0x0c => slow.push_str("\\f"),
                        b'\n' => slow.push_str("\\n"),
                        b'\r' => slow.push_str("\\r"),
                        b'\t' => slow.push_str("\\t"),
                        b if b < 0x20 => slow.push_str(&format!("\\u{b:04x}")),
                        _ => slow.push_str(&text[i..i + 1]),
                    }
                }
                slow.push('"');
                assert_eq!(fast, slow, "byte {byte:#04x} at {at}");
            }
        }
        let mut out = String::new();
        write_string(&mut out, "ünïcødé text, long enough for two words: «»");
        assert_eq!(out, "\"ünïcødé text, long enough for two words: «»\"");
    }

    fn num(number: f64) -> String {
        to_compact(&Value::Number(number))
    }

    /// Found by the `html_arg` fuzz target: cJSON prints large non-integral numbers with six
    /// significant digits, so one round trip may change a number; a second changes nothing.
    #[test]
    fn number_round_trips_settle_after_one() {
        let (value, _) = crate::json::parse(b"11111111111111.2", 8).unwrap();
        let printed = to_compact(&value);
        assert_eq!(printed, "1.111111e+13");
        let (again, _) = crate::json::parse(printed.as_bytes(), 8).unwrap();
        let settled = to_compact(&again);
        assert_eq!(settled, "11111110000000");
        let (third, _) = crate::json::parse(settled.as_bytes(), 8).unwrap();
        assert_eq!(to_compact(&third), settled);
    }

    #[test]
    fn numbers_print_like_cjson() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(-3.0), "-3");
        assert_eq!(num(123.0), "123");
        assert_eq!(num(2147483647.0), "2147483647");
        assert_eq!(num(4294967296.0), "4294967296");
        assert_eq!(num(-4294967296.0), "-4294967296");
        assert_eq!(num(1.0e-7), "1.000000e-07");
        assert_eq!(num(1.5e60), "1.500000e+60");
        assert_eq!(num(1234567890.5), "1.234568e+09");
        assert_eq!(num(0.5), "0.500000");
        assert_eq!(num(3.25), "3.250000");
        assert_eq!(num(f64::NAN), "null");
        assert_eq!(num(f64::INFINITY), "null");
    }

    #[test]
    fn integers_print_without_fmt() {
        for n in [0i64, 7, -7, 10, 2147483647, -2147483648, i64::MIN, i64::MAX] {
            let mut out = String::new();
            push_int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn strings_escape_like_cjson() {
        let printed = to_compact(&Value::str("a\"b\\c/\u{1}\u{7f}é\n\t\r\u{8}\u{c}"));
        assert_eq!(printed, "\"a\\\"b\\\\c/\\u0001\u{7f}é\\n\\t\\r\\b\\f\"");
        assert_eq!(to_compact(&Value::str("cut\0here")), "\"cut\"");
        assert_eq!(to_compact(&Value::str("a\n\0\"b")), "\"a\\n\"");
    }

    #[test]
    fn compact_has_no_whitespace() {
        let value = object([
            (
                "a",
                Value::Array(vec![Value::num(1), Value::Null, Value::Bool(true)]),
            ),
            ("b", object::<&str>([])),
        ]);
        assert_eq!(to_compact(&value), r#"{"a":[1,null,true],"b":{}}"#);
    }

    #[test]
    fn pretty_matches_the_documented_layout() {
        let value = object([
            ("jsonrpc", Value::str("2.0")),
            (
                "result",
                Value::Array(vec![
                    Value::str("x"),
                    Value::Array(vec![Value::num(1), Value::num(2)]),
                    object([("k", Value::str("v"))]),
                ]),
            ),
            ("empty", object::<&str>([])),
            ("id", Value::num(2)),
        ]);
        let expected = "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t[\"x\", [1, 2], {\n\t\t\t\"k\":\t\"v\"\n\t\t}],\n\t\"empty\":\t{\n\t},\n\t\"id\":\t2\n}";
        assert_eq!(to_pretty(&value), expected);
    }
}
