//! A parser with the leniencies of OpenSIPS's cJSON fork.

use super::Value;

/// Why a text is not JSON. Every variant maps to JSON-RPC error -32700.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The text is not a JSON value (or ends inside one).
    Syntax,
    /// Arrays and objects are nested deeper than the configured limit.
    TooDeep,
}

/// Parses the first JSON value of `input`.
///
/// Returns the value and the number of bytes consumed (leading whitespace included), so a
/// caller can treat what follows as trailing data or as the next request. A NUL byte ends
/// the input, as it ends the C string cJSON reads. `max_depth` bounds array/object nesting.
pub fn parse(input: &[u8], max_depth: u32) -> Result<(Value, usize), ParseError> {
    let end = input.iter().position(|&b| b == 0).unwrap_or(input.len());
    let mut parser = Parser {
        text: &input[..end],
        pos: 0,
        depth_left: max_depth,
    };
    parser.skip_ws();
    let value = parser.value()?;
    Ok((value, parser.pos))
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    depth_left: u32,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn rest(&self) -> &[u8] {
        &self.text[self.pos..]
    }

    /// cJSON skips every byte up to and including the space character.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b) if b <= b' ') {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        let rest = self.rest();
        if rest.starts_with(b"null") {
            self.pos += 4;
            return Ok(Value::Null);
        }
        if rest.starts_with(b"false") {
            self.pos += 5;
            return Ok(Value::Bool(false));
        }
        if rest.starts_with(b"true") {
            self.pos += 4;
            return Ok(Value::Bool(true));
        }
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b'[') => self.nested(Self::array),
            Some(b'{') => self.nested(Self::object),
            _ => Err(ParseError::Syntax),
        }
    }

    fn nested(
        &mut self,
        parse: fn(&mut Self) -> Result<Value, ParseError>,
    ) -> Result<Value, ParseError> {
        if self.depth_left == 0 {
            return Err(ParseError::TooDeep);
        }
        self.depth_left -= 1;
        let value = parse(self);
        self.depth_left += 1;
        value
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        self.skip_ws();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(ParseError::Syntax),
            }
        }
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        self.skip_ws();
        let mut members = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(ParseError::Syntax);
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(ParseError::Syntax);
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(ParseError::Syntax),
            }
        }
    }

    /// A string: `\b \f \n \r \t \uXXXX` are decoded, any other escaped byte stands for
    /// itself, raw control characters are kept. `\u0000` and bad surrogates are errors.
    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let byte = self.peek().ok_or(ParseError::Syntax)?;
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = self.peek().ok_or(ParseError::Syntax)?;
                    self.pos += 1;
                    match escaped {
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let ch = self.unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
        Ok(match String::from_utf8(out) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or(ParseError::Syntax)?;
        let mut value = 0u32;
        for &d in digits {
            value = value * 16 + (d as char).to_digit(16).ok_or(ParseError::Syntax)?;
        }
        self.pos += 4;
        Ok(value)
    }

    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let first = self.hex4()?;
        let code = match first {
            0 | 0xDC00..=0xDFFF => return Err(ParseError::Syntax),
            0xD800..=0xDBFF => {
                if !self.rest().starts_with(b"\\u") {
                    return Err(ParseError::Syntax);
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(ParseError::Syntax);
                }
                0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF))
            }
            other => other,
        };
        char::from_u32(code).ok_or(ParseError::Syntax)
    }

    /// A number with C `strtod()` rules: decimal, hexadecimal (`0x1A`, `0x1.8p3`),
    /// `inf`/`infinity`/`nan` after a sign; out-of-range values become infinities.
    fn number(&mut self) -> Result<f64, ParseError> {
        let (value, used) = strtod(self.rest()).ok_or(ParseError::Syntax)?;
        self.pos += used;
        Ok(value)
    }
}

/// Parses the longest prefix of `text` that C `strtod()` accepts; `None` if there is none.
fn strtod(text: &[u8]) -> Option<(f64, usize)> {
    let mut pos = 0;
    let negative = match text.first() {
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(b'+') => {
            pos += 1;
            false
        }
        _ => false,
    };
    let body = &text[pos..];
    let (magnitude, used) = if starts_with_ci(body, b"0x")
        && body.get(2).is_some_and(u8::is_ascii_hexdigit)
        || starts_with_ci(body, b"0x")
            && body.get(2) == Some(&b'.')
            && body.get(3).is_some_and(u8::is_ascii_hexdigit)
    {
        hex_float(&body[2..]).map(|(v, n)| (v, n + 2))?
    } else if starts_with_ci(body, b"infinity") {
        (f64::INFINITY, 8)
    } else if starts_with_ci(body, b"inf") {
        (f64::INFINITY, 3)
    } else if starts_with_ci(body, b"nan") {
        let mut n = 3;
        if body.get(3) == Some(&b'(') {
            if let Some(close) = body[4..]
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
            {
                if body[4 + close] == b')' {
                    n = 4 + close + 1;
                }
            }
        }
        (f64::NAN, n)
    } else {
        decimal_float(body)?
    };
    Some((if negative { -magnitude } else { magnitude }, pos + used))
}

fn starts_with_ci(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn count_digits(text: &[u8], radix: u32) -> usize {
    text.iter()
        .take_while(|&&b| (b as char).is_digit(radix))
        .count()
}

fn decimal_float(text: &[u8]) -> Option<(f64, usize)> {
    let int_digits = count_digits(text, 10);
    let mut end = int_digits;
    let mut frac_digits = 0;
    if text.get(end) == Some(&b'.') {
        frac_digits = count_digits(&text[end + 1..], 10);
        if int_digits + frac_digits > 0 {
            end += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(text.get(end), Some(b'e' | b'E')) {
        let mut exp = end + 1;
        if matches!(text.get(exp), Some(b'+' | b'-')) {
            exp += 1;
        }
        let exp_digits = count_digits(&text[exp..], 10);
        if exp_digits > 0 {
            end = exp + exp_digits;
        }
    }
    let literal = std::str::from_utf8(&text[..end]).ok()?;
    let literal = literal.strip_suffix('.').unwrap_or(literal);
    literal.parse::<f64>().ok().map(|v| (v, end))
}

fn hex_float(text: &[u8]) -> Option<(f64, usize)> {
    let mut value = 0f64;
    let mut pos = 0;
    let mut exponent: i64 = 0;
    let int_digits = count_digits(text, 16);
    for &d in &text[..int_digits] {
        value = value * 16.0 + f64::from((d as char).to_digit(16)?);
    }
    pos += int_digits;
    if text.get(pos) == Some(&b'.') {
        let frac_digits = count_digits(&text[pos + 1..], 16);
        for &d in &text[pos + 1..pos + 1 + frac_digits] {
            value = value * 16.0 + f64::from((d as char).to_digit(16)?);
            exponent -= 4;
        }
        if int_digits + frac_digits > 0 {
            pos += 1 + frac_digits;
        }
    }
    if matches!(text.get(pos), Some(b'p' | b'P')) {
        let mut exp = pos + 1;
        let negative = match text.get(exp) {
            Some(b'-') => {
                exp += 1;
                true
            }
            Some(b'+') => {
                exp += 1;
                false
            }
            _ => false,
        };
        let digits = count_digits(&text[exp..], 10);
        if digits > 0 {
            let written: i64 = std::str::from_utf8(&text[exp..exp + digits])
                .ok()?
                .parse::<i64>()
                .unwrap_or(i64::MAX / 2);
            exponent += if negative { -written } else { written };
            pos = exp + digits;
        }
    }
    let scaled = value * 2f64.powi(exponent.clamp(-2000, 2000) as i32);
    Some((scaled, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        parse(text.as_bytes(), 64).expect("parses").0
    }

    #[test]
    fn numbers_follow_strtod() {
        assert_eq!(one("0x10"), Value::Number(16.0));
        assert_eq!(one("-0x1.8p1"), Value::Number(-3.0));
        assert_eq!(one("1e400"), Value::Number(f64::INFINITY));
        assert_eq!(one("1e3"), Value::Number(1000.0));
        assert_eq!(one("12."), Value::Number(12.0));
        assert_eq!(one("-infinity"), Value::Number(f64::NEG_INFINITY));
        assert!(matches!(one("-nan"), Value::Number(n) if n.is_nan()));
        let (value, used) = parse(b"5e+", 4).unwrap();
        assert_eq!((value, used), (Value::Number(5.0), 1));
        assert_eq!(parse(b"-", 4), Err(ParseError::Syntax));
        assert_eq!(parse(b"--5", 4), Err(ParseError::Syntax));
    }

    #[test]
    fn literals_match_by_prefix() {
        assert_eq!(parse(b"nullx", 4), Ok((Value::Null, 4)));
        assert_eq!(parse(b"truex", 4), Ok((Value::Bool(true), 4)));
        assert_eq!(parse(b"nul", 4), Err(ParseError::Syntax));
    }

    #[test]
    fn strings_decode_escapes_and_keep_raw_controls() {
        assert_eq!(one(r#""a\"b\u00e9\n""#), Value::str("a\"bé\n"));
        assert_eq!(one("\"tab\there\""), Value::str("tab\there"));
        assert_eq!(one(r#""\q\/""#), Value::str("q/"));
        assert_eq!(one(r#""\ud83d\ude00""#), Value::str("😀"));
        for bad in [
            r#""\u0000""#,
            r#""\udc00""#,
            r#""\ud83dx""#,
            r#""\u12g4""#,
            "\"open",
        ] {
            assert_eq!(parse(bad.as_bytes(), 4), Err(ParseError::Syntax), "{bad}");
        }
    }

    #[test]
    fn objects_keep_duplicates_and_order() {
        let value = one(r#"{"b":1,"a":2,"B":3}"#);
        assert_eq!(value.get_ci("b"), Some(&Value::Number(1.0)));
        assert_eq!(value.get_ci("A"), Some(&Value::Number(2.0)));
        match value {
            Value::Object(members) => assert_eq!(members.len(), 3),
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn structure_errors() {
        for bad in [
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{1:2}",
            "[1 2]",
            "",
            "   ",
            "hello",
        ] {
            assert_eq!(parse(bad.as_bytes(), 8), Err(ParseError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn trailing_bytes_and_nul_end_the_value() {
        assert_eq!(parse(b" {} xyz", 4).unwrap().1, 3);
        assert_eq!(parse(b"[1\0]", 4), Err(ParseError::Syntax));
    }

    #[test]
    fn depth_limit_is_enforced_at_its_edge() {
        assert!(parse(b"[[[]]]", 3).is_ok());
        assert_eq!(parse(b"[[[[]]]]", 3), Err(ParseError::TooDeep));
        assert!(parse(br#"{"a":{"b":1}}"#, 2).is_ok());
        assert_eq!(parse(br#"{"a":{"b":[]}}"#, 2), Err(ParseError::TooDeep));
    }
}
