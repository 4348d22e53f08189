//! XML-RPC (`mi_xmlrpc_ng`): a `methodCall` becomes a JSON-RPC request for the core, the
//! reply becomes a `methodResponse` with OpenSIPS's exact layout, faults and texts.
//!
//! Beyond OpenSIPS (documented improvements): `<boolean>`, `<double>` and untyped
//! `<value>text</value>` (a string, per the XML-RPC specification) are accepted. No DTD is
//! accepted (so no external entities and no entity expansion), and nesting is bounded.

use mi_core::json::{self, Value};
use quick_xml::events::Event;
use quick_xml::Reader;

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n";

/// An XML element of the call, names lower-cased (XML-RPC names are matched case-insensitively).
#[derive(Debug)]
struct Element {
    name: String,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }
}

/// Why a call could not be turned into a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// Not well-formed XML (or a DTD, or too deep): fault 32700.
    Parse,
    /// Well-formed but not a valid call (missing names, unsupported types): fault -32600.
    Invalid,
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// The lower-cased local name of an element.
fn element_name(start: &quick_xml::events::BytesStart<'_>) -> String {
    let local = start.local_name();
    let name: &str = local.as_ref();
    name.to_ascii_lowercase()
}

/// Nesting accepted in replies the client decodes (they come from the daemon).
const REPLY_DEPTH: usize = 1024;

/// Parses the document into its root element; nesting deeper than `max_depth` elements is
/// a parse error.
fn parse_document(body: &[u8], max_depth: usize) -> Result<Element, CallError> {
    let text = std::str::from_utf8(body).map_err(|_| CallError::Parse)?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|_| CallError::Parse)?;
        match event {
            Event::Start(start) => {
                if stack.len() >= max_depth || root.is_some() {
                    return Err(CallError::Parse);
                }
                let name = element_name(&start);
                stack.push(Element {
                    name,
                    children: Vec::new(),
                });
            }
            Event::Empty(start) => {
                let name = element_name(&start);
                let element = Element {
                    name,
                    children: Vec::new(),
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None if root.is_none() => root = Some(element),
                    None => return Err(CallError::Parse),
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or(CallError::Parse)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content().into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Text(content));
                } else if !content.trim().is_empty() {
                    return Err(CallError::Parse);
                }
            }
            Event::CData(c) => {
                let content = c.into_inner().into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Text(content));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch,
                    Ok(None) => named_entity(&r).ok_or(CallError::Parse)?,
                    Err(_) => return Err(CallError::Parse),
                };
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Text(resolved.to_string()));
                }
            }
            Event::DocType(_) => return Err(CallError::Parse),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CallError::Parse);
    }
    root.ok_or(CallError::Parse)
}

/// The extra unescaping OpenSIPS applies to `<string>` text after XML decoding.
fn unescape_again(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let decoded = tail.find(';').and_then(|end| {
            let name = &tail[1..end];
            let ch = match name.strip_prefix('#') {
                Some(num) => match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
                    None => num.parse::<u32>().ok().and_then(char::from_u32),
                },
                None => named_entity(name),
            }?;
            Some((ch, end + 1))
        });
        match decoded {
            Some((ch, used)) => {
                out.push(ch);
                rest = &tail[used..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Converts one `<value>`.
fn value_of(value: &Element) -> Result<Value, CallError> {
    let Some(typed) = value.elements().next() else {
        return Ok(Value::String(value.text()));
    };
    match typed.name.as_str() {
        "string" => {
            let text = typed.text();
            if text.is_empty() {
                return Err(CallError::Invalid);
            }
            Ok(Value::String(unescape_again(&text)))
        }
        "int" | "i4" => typed
            .text()
            .trim()
            .parse::<i32>()
            .map(Value::num)
            .map_err(|_| CallError::Invalid),
        "boolean" => match typed.text().trim() {
            "1" => Ok(Value::Bool(true)),
            "0" => Ok(Value::Bool(false)),
            _ => Err(CallError::Invalid),
        },
        "double" => typed
            .text()
            .trim()
            .parse::<f64>()
            .map(Value::Number)
            .map_err(|_| CallError::Invalid),
        "array" => {
            let data = typed.child("data").ok_or(CallError::Invalid)?;
            data.elements()
                .filter(|e| e.name == "value")
                .map(value_of)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        _ => Err(CallError::Invalid),
    }
}

/// A call turned into the pieces of a JSON-RPC request.
#[derive(Debug)]
pub struct Call {
    /// The command.
    pub method: String,
    /// `None`, or the params (array = positional, object = named); `Err` when they are
    /// not valid XML-RPC (answered -32600 unless the command is unknown).
    pub params: Result<Option<Value>, CallError>,
}

/// Parses an XML-RPC `methodCall`, at most `max_depth` elements deep.
pub fn parse_call(body: &[u8], max_depth: usize) -> Result<Call, CallError> {
    let root = parse_document(body, max_depth)?;
    if root.name != "methodcall" {
        return Err(CallError::Invalid);
    }
    let method = root.child("methodname").ok_or(CallError::Invalid)?.text();
    let params = match root.child("params") {
        None => Ok(None),
        Some(params) => call_params(params),
    };
    Ok(Call { method, params })
}

fn call_params(params: &Element) -> Result<Option<Value>, CallError> {
    let values: Vec<&Element> = params
        .elements()
        .filter(|p| p.name == "param")
        .map(|p| p.child("value").ok_or(CallError::Invalid))
        .collect::<Result<_, _>>()?;
    let Some(first) = values.first() else {
        return Ok(None);
    };
    if let Some(structure) = first.elements().next().filter(|e| e.name == "struct") {
        let members = structure
            .elements()
            .filter(|m| m.name == "member")
            .map(|m| {
                let name = m
                    .child("name")
                    .map(Element::text)
                    .filter(|n| !n.is_empty())
                    .ok_or(CallError::Invalid)?;
                let value = value_of(m.child("value").ok_or(CallError::Invalid)?)?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if members.is_empty() {
            return Err(CallError::Invalid);
        }
        return Ok(Some(Value::Object(members)));
    }
    values
        .into_iter()
        .map(value_of)
        .collect::<Result<Vec<_>, _>>()
        .map(|v| Some(Value::Array(v)))
}

/// The JSON-RPC request text for a call with valid params.
pub fn request_text(method: &str, params: Option<Value>) -> String {
    let mut members = vec![
        ("jsonrpc", Value::str("2.0")),
        ("method", Value::str(method)),
    ];
    if let Some(params) = params {
        members.push(("params", params));
    }
    members.push(("id", Value::num(1)));
    json::to_compact(&json::object(members))
}

fn escape(out: &mut String, text: &str) {
    crate::html::escape_into(out, text);
}

fn write_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Null => out.push_str("<nil/>"),
        Value::Bool(b) => out.push_str(if *b {
            "<boolean>1</boolean>"
        } else {
            "<boolean>0</boolean>"
        }),
        Value::Number(n) => {
            let int = Value::int_view(*n);
            if f64::from(int) == *n {
                out.push_str(&format!("<int>{int}</int>"));
            } else {
                out.push_str(&format!("<double>{n:.6}</double>"));
            }
        }
        Value::String(s) => {
            out.push_str("<string>");
            escape(out, s);
            out.push_str("</string>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Object(members) => {
            out.push_str("<struct>");
            for (name, item) in members {
                out.push_str("<member><name>");
                escape(out, name);
                out.push_str("</name>");
                write_value(out, item);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

/// A `methodResponse` carrying `result`.
pub fn success(result: &Value) -> String {
    let mut out = String::from(HEAD);
    out.push_str("<params><param>\r\n");
    write_value(&mut out, result);
    out.push_str("</param></params>\r\n</methodResponse>\r\n");
    out
}

/// A `methodResponse` fault for an MI error, with OpenSIPS's code and text mapping.
pub fn fault(code: i32, message: &str) -> String {
    let (code, text) = match code {
        -32700 => ("32700".to_string(), "parse error. not well formed"),
        -32600 => (
            "-32600".to_string(),
            "server error. invalid xml-rpc. not conforming to spec.",
        ),
        -32601 => (
            "-32601".to_string(),
            "server error. requested method not found",
        ),
        -32602 => (
            "-32602".to_string(),
            "server error. invalid method parameters",
        ),
        -32000 => ("-32000".to_string(), "server error"),
        other => ((other as u32).to_string(), message),
    };
    format!(
        "{HEAD}<fault><value>\r\n<struct>\r\n<member>\r\n<name>faultCode</name>\r\n<value><int>{code}</int></value>\r\n</member>\r\n<member>\r\n<name>faultString</name>\r\n<value><string>{text}</string></value>\r\n</member>\r\n</struct>\r\n</value>\r\n</fault>\r\n</methodResponse>\r\n"
    )
}

/// Converts the core's JSON-RPC reply into a `methodResponse`; `None` if it is not one.
pub fn response(reply: &str) -> Option<String> {
    let (value, _) = json::parse(reply.as_bytes(), 1024).ok()?;
    let Value::Object(members) = &value else {
        return None;
    };
    if let Some((_, error)) = members.iter().find(|(k, _)| k == "error") {
        let code = match error.get_ci("code") {
            Some(Value::Number(n)) => Value::int_view(*n),
            _ => 500,
        };
        let message = match error.get_ci("message") {
            Some(Value::String(m)) => m.as_str(),
            _ => "",
        };
        return Some(fault(code, message));
    }
    members
        .iter()
        .find(|(k, _)| k == "result")
        .map(|(_, result)| success(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(xml: &str) -> Result<Call, CallError> {
        parse_call(xml.as_bytes(), 64)
    }

    /// Requests at the deepest accepted nesting (1024) are parsed, converted and printed
    /// natively: that must fit well inside the 1 MiB the daemon's threads keep below the
    /// first WebAssembly level.
    #[test]
    fn the_deepest_accepted_requests_fit_half_a_mebibyte_of_stack() {
        let levels = (1024 - 5) / 3;
        let xml = format!(
            "<methodCall><methodName>m</methodName><params><param>{}<value><int>1</int></value>{}</param></params></methodCall>",
            "<value><array><data>".repeat(levels),
            "</data></array></value>".repeat(levels)
        );
        let json = format!("{}1{}", "[".repeat(1023), "]".repeat(1023));
        let parsed = std::thread::Builder::new()
            .stack_size(512 << 10)
            .spawn(move || {
                let call = parse_call(xml.as_bytes(), 1024).map_err(|e| format!("{e:?}"))?;
                let params = call.params.map_err(|e| format!("{e:?}"))?;
                let text = request_text(&call.method, params);
                let (value, _) =
                    mi_core::json::parse(json.as_bytes(), 1024).map_err(|e| format!("{e:?}"))?;
                Ok::<_, String>((text.len(), mi_core::json::to_compact(&value).len()))
            })
            .unwrap()
            .join()
            .unwrap();
        let (request, reply) = parsed.unwrap();
        assert!(request > 2 * levels, "{request}");
        assert_eq!(reply, 2047);
    }

    #[test]
    fn positional_named_and_typed_params() {
        let c = call("<methodCall><methodName>log_level</methodName><params><param><value><int>3</int></value></param><param><value><i4>-7</i4></value></param></params></methodCall>").unwrap();
        assert_eq!(c.method, "log_level");
        assert_eq!(
            c.params.unwrap(),
            Some(Value::Array(vec![Value::num(3), Value::num(-7)]))
        );
        let named = call("<methodCall><methodName>which</methodName><params><param><value><struct><member><name>command</name><value><string>ps</string></value></member></struct></value></param></params></methodCall>").unwrap();
        assert_eq!(
            named.params.unwrap(),
            Some(json::object([("command", Value::str("ps"))]))
        );
        let array = call("<METHODCALL><methodname>get_statistics</methodname><params><param><value><array><data><value><string>core:</string></value><value>untyped</value></data></array></value></param></params></METHODCALL>").unwrap();
        assert_eq!(
            array.params.unwrap(),
            Some(Value::Array(vec![Value::Array(vec![
                Value::str("core:"),
                Value::str("untyped")
            ])]))
        );
    }

    #[test]
    fn entities_and_the_extra_unescape() {
        let c = call("<methodCall><methodName>x</methodName><params><param><value><string>a&amp;lt;b &#65;</string></value></param></params></methodCall>").unwrap();
        assert_eq!(
            c.params.unwrap(),
            Some(Value::Array(vec![Value::str("a<b A")]))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            call("<methodCall><methodName>uptime</methodName>").unwrap_err(),
            CallError::Parse
        );
        assert_eq!(call(r#"{"jsonrpc":"2.0"}"#).unwrap_err(), CallError::Parse);
        assert_eq!(call("<!DOCTYPE x [<!ENTITY a \"b\">]><methodCall><methodName>&a;</methodName></methodCall>").unwrap_err(), CallError::Parse);
        assert_eq!(call("<other/>").unwrap_err(), CallError::Invalid);
        let nil = call("<methodCall><methodName>x</methodName><params><param><value><nil/></value></param></params></methodCall>").unwrap();
        assert_eq!(nil.params.unwrap_err(), CallError::Invalid);
        let empty = call(
            "<methodCall><methodName>x</methodName><params><param></param></params></methodCall>",
        )
        .unwrap();
        assert_eq!(empty.params.unwrap_err(), CallError::Invalid);
        let deep = |n: usize| {
            format!(
                "<methodCall>{}{}</methodCall>",
                "<a>".repeat(n),
                "</a>".repeat(n)
            )
        };
        assert_eq!(
            call(&deep(63)).unwrap_err(),
            CallError::Invalid,
            "64 levels parse (then lack a name)"
        );
        assert_eq!(
            call(&deep(64)).unwrap_err(),
            CallError::Parse,
            "65 levels do not"
        );
    }

    #[test]
    fn replies_match_the_recorded_layout() {
        let ok =
            response(r#"{"jsonrpc":"2.0","result":{"a":[1,4294967296,true,null,"<&>"]},"id":1}"#)
                .unwrap();
        assert_eq!(ok, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params><param>\r\n<value><struct><member><name>a</name><value><array><data><value><int>1</int></value><value><double>4294967296.000000</double></value><value><boolean>1</boolean></value><value><nil/></value><value><string>&lt;&amp;&gt;</string></value></data></array></value></member></struct></value></param></params>\r\n</methodResponse>\r\n");
        let fault_404 = response(
            r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown <MI> command"},"id":1}"#,
        )
        .unwrap();
        assert!(
            fault_404.contains("<value><int>404</int></value>")
                && fault_404.contains("<string>unknown <MI> command</string>")
        );
        assert!(fault(-5, "x").contains("<int>4294967291</int>"));
        assert!(fault(-32700, "").contains("<int>32700</int>"));
    }
}

fn write_param(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => {
            out.push_str("<value><string>");
            escape(out, s);
            out.push_str("</string></value>");
        }
        other => write_value(out, other),
    }
}

/// A `methodCall` for `method` with JSON-RPC-style params: an array gives positional
/// params, an object one `<struct>` of named params.
pub fn call_text(method: &str, params: Option<&Value>) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    escape(&mut out, method);
    out.push_str("</methodName><params>");
    match params {
        Some(Value::Array(items)) => {
            for item in items {
                out.push_str("<param>");
                write_param(&mut out, item);
                out.push_str("</param>");
            }
        }
        Some(object @ Value::Object(members)) if !members.is_empty() => {
            out.push_str("<param>");
            write_value(&mut out, object);
            out.push_str("</param>");
        }
        _ => {}
    }
    out.push_str("</params></methodCall>");
    out
}

fn decode_value(value: &Element) -> Result<Value, CallError> {
    let Some(typed) = value.elements().next() else {
        return Ok(Value::String(value.text()));
    };
    match typed.name.as_str() {
        "string" => Ok(Value::String(typed.text())),
        "int" | "i4" | "double" => typed
            .text()
            .trim()
            .parse::<f64>()
            .map(Value::Number)
            .map_err(|_| CallError::Invalid),
        "boolean" => Ok(Value::Bool(typed.text().trim() == "1")),
        "nil" => Ok(Value::Null),
        "array" => typed
            .child("data")
            .map(|data| {
                data.elements()
                    .filter(|e| e.name == "value")
                    .map(decode_value)
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or(Ok(Vec::new()))
            .map(Value::Array),
        "struct" => typed
            .elements()
            .filter(|m| m.name == "member")
            .map(|m| {
                let name = m
                    .child("name")
                    .map(Element::text)
                    .ok_or(CallError::Invalid)?;
                Ok((
                    name,
                    decode_value(m.child("value").ok_or(CallError::Invalid)?)?,
                ))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Object),
        _ => Err(CallError::Invalid),
    }
}

/// Decodes a `methodResponse` into the JSON-RPC reply it stands for
/// (`{"jsonrpc":"2.0","result":…}` or `{"jsonrpc":"2.0","error":{"code":…,"message":…}}`).
pub fn parse_response(body: &[u8]) -> Result<Value, CallError> {
    let root = parse_document(body, REPLY_DEPTH)?;
    if root.name != "methodresponse" {
        return Err(CallError::Invalid);
    }
    if let Some(fault) = root.child("fault") {
        let Value::Object(members) = decode_value(fault.child("value").ok_or(CallError::Invalid)?)?
        else {
            return Err(CallError::Invalid);
        };
        let find = |key: &str| {
            members
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)
        };
        let error = json::object([
            ("code", find("faultCode")),
            ("message", find("faultString")),
        ]);
        return Ok(json::object([
            ("jsonrpc", Value::str("2.0")),
            ("error", error),
        ]));
    }
    let value = root
        .child("params")
        .and_then(|p| p.child("param"))
        .and_then(|p| p.child("value"))
        .ok_or(CallError::Invalid)?;
    Ok(json::object([
        ("jsonrpc", Value::str("2.0")),
        ("result", decode_value(value)?),
    ]))
}

#[cfg(test)]
mod client_tests {
    use super::*;

    #[test]
    fn call_and_response_round_trip() {
        let params = Value::Array(vec![
            Value::str("a<b"),
            Value::num(4),
            Value::Array(vec![Value::str("core:")]),
        ]);
        let call = parse_call(call_text("get_statistics", Some(&params)).as_bytes(), 64).unwrap();
        assert_eq!(call.method, "get_statistics");
        assert_eq!(call.params.unwrap(), Some(params));
        let named = json::object([("level", Value::str("4"))]);
        assert_eq!(
            parse_call(call_text("log_level", Some(&named)).as_bytes(), 64)
                .unwrap()
                .params
                .unwrap(),
            Some(named)
        );
        let reply = parse_response(
            success(&json::object([(
                "a",
                Value::Array(vec![Value::num(1), Value::Null]),
            )]))
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            json::to_compact(&reply),
            r#"{"jsonrpc":"2.0","result":{"a":[1,null]}}"#
        );
        let fault = parse_response(fault(404, "unknown MI command").as_bytes()).unwrap();
        assert_eq!(
            json::to_compact(&fault),
            r#"{"jsonrpc":"2.0","error":{"code":404,"message":"unknown MI command"}}"#
        );
    }
}
