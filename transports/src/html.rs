//! The HTML interface (`mi_html`): browse commands by module, read their help and recipes,
//! run one with a form. Plain HTML and inline CSS, no external assets, every value escaped.
//!
//! URL scheme (as OpenSIPS): `/<root>`, `/<root>/<module>`, `/<root>/<module>/<command>`,
//! and `?arg=<JSON params>` (or a POSTed form field `arg`) to run the command.
//!
//! The statistics view — the page of `get_statistics` — also shows charts of the sampled
//! statistics, drawn by the server as SVG: the configured ones and those picked with
//! `?chart=<group:name globs>` (repeatable). It is the one page with a script, and the
//! page works without it: where scripts run, it fetches `?fragment=charts` (the charts
//! alone) each sampling interval and swaps them in.

use crate::{CommandInfo, Reply, Session, TransportKind};
use mi_core::json::{self, Value};
use mi_core::openrpc::schema::ParamType;
use std::fmt::Write;

/// The command whose page is the statistics view.
const STATISTICS_COMMAND: &str = "get_statistics";

/// Commands that only read: the page runs them on a plain `GET` (as OpenSIPS's mi_html
/// does, so that links to results work). Every other command changes the server's state,
/// or may, and runs only from the page's own form: a `POST` carrying its form token.
const READ_ONLY: [&str; 24] = [
    "which",
    "help",
    "uptime",
    "version",
    "pwd",
    "arg",
    "ps",
    "get_statistics",
    "list_statistics",
    "cache_fetch",
    "cache_fetch_chunk",
    "events_list",
    "subscribers_list",
    "list_tcp_conns",
    "sr_get_status",
    "sr_list_status",
    "sr_list_reports",
    "sr_list_identifiers",
    "httpd_list_root_path",
    "nodes_list",
    "module_list",
    "ul_dump",
    "ds_list",
    "dlg_list",
];

/// Whether the page may run `command` for this request.
fn may_run(command: &str, request: &PageRequest<'_>) -> bool {
    READ_ONLY.contains(&command) || (request.post_form && request.token_offered)
}

/// Shortest time between two refreshes of the charts by the page's script, milliseconds.
const MIN_REFRESH_MS: u64 = 1000;

/// The refresh script of the statistics view: fetches the charts alone and swaps them in,
/// counting its updates in `data-updates`.
const REFRESH_SCRIPT: &str = "(()=>{const s=document.getElementById('charts');if(!s||!window.fetch)return;const u=new URL(location.href);u.searchParams.delete('arg');u.searchParams.set('fragment','charts');setInterval(async()=>{try{const r=await fetch(u,{credentials:'same-origin'});if(!r.ok)return;const d=document.createElement('div');d.innerHTML=await r.text();const n=d.querySelector('#charts-list'),o=document.getElementById('charts-list');if(n&&o){o.replaceWith(n);s.dataset.updates=String((Number(s.dataset.updates)||0)+1);}}catch(e){}},Number(s.dataset.refresh)||5000);})();";

/// The chart part of a request: the picks (`chart=`), and whether only the charts are
/// wanted (`fragment=charts`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChartsRequest {
    /// Chart specs the user picked, in order.
    pub picks: Vec<String>,
    /// Answer the charts section alone.
    pub fragment: bool,
}

impl ChartsRequest {
    /// Reads `chart=` and `fragment=charts` from a query string.
    pub fn from_query(query: Option<&str>) -> Self {
        let mut out = ChartsRequest::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "chart"
                    if !value.trim().is_empty() && !out.picks.iter().any(|p| p == value.trim()) =>
                {
                    out.picks.push(value.trim().to_string());
                }
                "fragment" => out.fragment = value == "charts",
                _ => {}
            }
        }
        out
    }
}

/// One request to the HTML interface.
pub struct PageRequest<'a> {
    /// The path after the root, without the leading `/`.
    pub path: &'a str,
    /// The `arg` parameter, when present.
    pub arg: Option<&'a str>,
    /// The fields of a typed recipe form (`p.<name>=<text>`, `p.` stripped), used when
    /// `arg` is absent: each becomes a named parameter of its type.
    pub fields: &'a [(String, String)],
    /// Whether the form is POSTed (else GET).
    pub post_form: bool,
    /// The form token this caller's forms carry (see [`crate::browser::FormTokens`]).
    pub form_token: &'a str,
    /// Whether the request carried that token (a POST's `csrf` field).
    pub token_offered: bool,
    /// The charts asked for.
    pub charts: &'a ChartsRequest,
}

/// Encodes a query-string value.
fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The charts section of the statistics view at `action` (the page's own path).
fn charts_section(view: &crate::metrics::ChartsView, picks: &[String], action: &str) -> String {
    let refresh = view.interval_ms.max(MIN_REFRESH_MS);
    let mut out = format!(
        "<section class=\"charts\" id=\"charts\" data-refresh=\"{refresh}\" aria-labelledby=\"charts-title\"><h3 id=\"charts-title\">Charts</h3><p>Sampled by the daemon every {} ms; counters are drawn as rates per second.</p><div id=\"charts-list\">",
        view.interval_ms
    );
    for chart in &view.charts {
        out.push_str("<figure>");
        out.push_str(&chart.svg);
        if chart.picked {
            let others: Vec<String> = picks
                .iter()
                .filter(|p| **p != chart.spec)
                .map(|p| format!("chart={}", query_value(p)))
                .collect();
            let _ = write!(
                out,
                "<figcaption>Picked: <code>{}</code> <a href=\"{action}?{}\">remove</a></figcaption>",
                escape(&chart.spec),
                escape(&others.join("&"))
            );
        }
        out.push_str("</figure>");
    }
    out.push_str("</div>");
    for (spec, problem) in &view.refused {
        let _ = write!(
            out,
            "<p class=\"error\" role=\"alert\">Cannot chart <code>{}</code>: {}</p>",
            escape(spec),
            escape(problem)
        );
    }
    let _ = write!(out, "<form method=\"get\" action=\"{action}\">");
    for pick in picks {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"chart\" value=\"{}\">",
            escape(pick)
        );
    }
    out.push_str("<label for=\"chart\">Chart more statistics: <code>group:name</code> globs, comma separated (e.g. <code>events:*_raised</code>)</label><input id=\"chart\" name=\"chart\" autocomplete=\"off\" spellcheck=\"false\"><button type=\"submit\">Add chart</button></form></section>");
    out
}

/// What the HTML handler answers.
pub struct Page {
    /// HTTP status: 200, 406 (unknown module or command) or 500 (bad `arg`, no reply).
    pub status: u16,
    /// The document.
    pub body: String,
}

pub use mi_core::markup::{escape, escape_into};

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1f24;background:#f6f8fa}\
header{background:#0b3d62;color:#fff;padding:1rem 1.5rem}header h1{margin:0;font-size:1.4rem}header p{margin:.25rem 0 0;color:#d6e4f0}\
nav ul{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;margin:0;padding:.75rem 1.5rem;background:#e8eef4}\
nav a,.commands a{color:#0b3d62}nav a[aria-current]{font-weight:700;text-decoration:none}\
main{display:grid;grid-template-columns:minmax(12rem,16rem) 1fr;gap:1.5rem;padding:1.5rem;max-width:72rem}\
@media (max-width:40rem){main{grid-template-columns:1fr}}\
.commands ul{list-style:none;margin:0;padding:0}.commands li{padding:.15rem 0}\
section.command,section.result{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:1rem 1.25rem;margin-bottom:1rem}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}.param-type{font-weight:normal;color:#57606a}fieldset{border:1px solid #d0d7de;border-radius:4px;margin:.75rem 0}input{width:100%;box-sizing:border-box;font:inherit;padding:.4rem;border:1px solid #8c959f;border-radius:4px}\
button{margin-top:.5rem;font:inherit;padding:.4rem 1rem;background:#0b3d62;color:#fff;border:0;border-radius:4px;cursor:pointer}\
button:focus,input:focus,a:focus{outline:3px solid #f0b400;outline-offset:2px}\
pre{background:#f6f8fa;padding:.75rem;overflow:auto;tab-size:2;white-space:pre-wrap}\
.error{border-color:#cf222e}.error h3{color:#a40e26}code{background:#eef1f4;padding:0 .25rem;border-radius:3px}\
footer{padding:1rem 1.5rem;color:#57606a;font-size:.875rem}\
section.charts{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:1rem 1.25rem;margin-bottom:1rem}\
section.charts figure{margin:0 0 1rem}section.charts svg{max-width:100%;height:auto;border:1px solid #eaeef2}";

fn modules(commands: &[CommandInfo]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in commands {
        if !out.contains(&c.module.as_str()) {
            out.push(&c.module);
        }
    }
    out
}

fn recipe_text(names: &[String]) -> String {
    if names.is_empty() {
        return "no parameters".into();
    }
    let positional = names
        .iter()
        .map(|n| format!("\"<{n}>\""))
        .collect::<Vec<_>>()
        .join(", ");
    let named = names
        .iter()
        .map(|n| format!("\"{n}\": …"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("[{positional}]  or  {{{named}}}")
}

/// The parameter types of `command`, from the caller's OpenRPC document (`rpc.discover`).
/// None on a node's page: there the document costs a request to the node per command.
fn param_kinds(session: &Session<'_>, command: &str) -> Vec<(String, ParamType)> {
    if session.node().is_some() {
        return Vec::new();
    }
    let request = br#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#;
    let text = match session.dispatch(TransportKind::Html, request, false) {
        Reply::Text(text) => text,
        _ => return Vec::new(),
    };
    let Ok((reply, _)) = json::parse(text.as_bytes(), 64) else {
        return Vec::new();
    };
    let methods = match reply.get_ci("result").and_then(|r| r.get_ci("methods")) {
        Some(Value::Array(methods)) => methods,
        _ => return Vec::new(),
    };
    let Some(Value::Array(params)) = methods
        .iter()
        .find(|m| m.get_ci("name") == Some(&Value::str(command)))
        .and_then(|m| m.get_ci("params"))
    else {
        return Vec::new();
    };
    params
        .iter()
        .filter_map(|p| match (p.get_ci("name"), p.get_ci("schema")) {
            (Some(Value::String(name)), Some(schema)) => {
                Some((name.clone(), ParamType::of_schema(schema)))
            }
            _ => None,
        })
        .collect()
}

/// The type of parameter `name` among `kinds` (untyped when not listed).
fn kind_of(kinds: &[(String, ParamType)], name: &str) -> ParamType {
    kinds
        .iter()
        .find(|(n, _)| n == name)
        .map_or(ParamType::Any, |(_, kind)| *kind)
}

/// A form for one recipe: a field per parameter, typed (a number field for an integer),
/// labelled with its type; `fields` (the last submission) fill it again.
#[allow(clippy::too_many_arguments)]
fn recipe_form(
    action: &str,
    method: &str,
    token: &str,
    index: usize,
    recipe: &[String],
    kinds: &[(String, ParamType)],
    fields: &[(String, String)],
    command: &str,
) -> String {
    let mut form = format!(
        "<form method=\"{method}\" action=\"{action}\" class=\"recipe-form\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><fieldset><legend>Recipe: {}</legend>",
        escape(token),
        escape(&recipe.join(", "))
    );
    for name in recipe {
        let kind = kind_of(kinds, name);
        let id = format!("r{index}-{}", encode(name));
        let (input, hint) = match kind {
            ParamType::Integer => ("type=\"number\" step=\"1\"", "integer"),
            ParamType::String => ("type=\"text\"", "string"),
            ParamType::StringArray => ("type=\"text\"", "values separated by spaces"),
            ParamType::EventParams => (
                "type=\"text\"",
                "a JSON array, or a string of a JSON object",
            ),
            ParamType::Any => ("type=\"text\"", "text, a number or JSON"),
        };
        let value = fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str());
        let _ = write!(
            form,
            "<label for=\"{id}\">{} <span class=\"param-type\">({hint})</span></label><input id=\"{id}\" name=\"p.{}\" {input} data-type=\"{}\" value=\"{}\" required autocomplete=\"off\" spellcheck=\"false\">",
            escape(name),
            escape(name),
            kind.name(),
            escape(value)
        );
    }
    let _ = write!(
        form,
        "<button type=\"submit\">Run {} with {}</button></fieldset></form>",
        escape(command),
        escape(&recipe.join(", "))
    );
    form
}

/// One run of a command: the JSON-RPC reply parsed, or why there is none.
enum Outcome {
    Result(Value),
    Error(Value),
}

fn run(session: &Session<'_>, command: &str, arg: &str, max_depth: u32) -> Result<Outcome, String> {
    let mut members = vec![
        ("jsonrpc", Value::str("2.0")),
        ("method", Value::str(command)),
    ];
    if !arg.trim().is_empty() {
        let (params, _) = json::parse(arg.as_bytes(), max_depth).map_err(|_| {
            "the arg parameter is not valid JSON (or nested too deeply)".to_string()
        })?;
        members.push(("params", params));
    }
    members.push(("id", Value::num(1)));
    let request = json::to_compact(&json::object(members));
    let text = match session.dispatch(TransportKind::Html, request.as_bytes(), false) {
        Reply::Text(text) | Reply::ParseError(text) => text,
        Reply::Nothing | Reply::Unprintable => return Err("the command produced no reply".into()),
    };
    let (reply, _) =
        json::parse(text.as_bytes(), 1024).map_err(|_| "the reply is not JSON".to_string())?;
    let Value::Object(members) = reply else {
        return Err("the reply is not an object".into());
    };
    for (key, value) in members {
        match key.as_str() {
            "result" => return Ok(Outcome::Result(value)),
            "error" => return Ok(Outcome::Error(value)),
            _ => {}
        }
    }
    Err("the reply has neither result nor error".into())
}

/// A value of the reply as the page shows it (cJSON's pretty layout).
fn show(value: &Value) -> String {
    escape(&json::to_pretty(value))
}

fn server_line(session: &Session<'_>) -> String {
    let ask = |method: &str, key: &str| match run(session, method, "", 1) {
        Ok(Outcome::Result(v)) => match v.get_ci(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    match (ask("version", "Server"), ask("uptime", "Up since")) {
        (Some(server), Some(since)) => format!(
            "{} is running since <time>{}</time>",
            escape(&server),
            escape(&since)
        ),
        (Some(server), None) => escape(&server),
        _ => String::new(),
    }
}

fn document(title: &str, session: &Session<'_>, nav: &str, main: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta http-equiv=\"Cache-Control\" content=\"no-cache\"><title>{}</title><style>{STYLE}</style></head><body><header><h1>Management Interface</h1><p>{}</p></header>{nav}<main>{main}</main><footer>miwa — OpenSIPS-compatible Management Interface</footer></body></html>\n",
        escape(title),
        server_line(session)
    )
}

/// Renders the page `request` asks for.
pub fn page(root: &str, request: &PageRequest<'_>, max_depth: u32, session: &Session<'_>) -> Page {
    let PageRequest {
        path,
        arg,
        fields,
        charts,
        form_token,
        ..
    } = *request;
    let commands = session.commands(TransportKind::Html);
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let module = segments.next();
    let command = segments.next();
    let modules = modules(&commands);
    if module.is_some_and(|m| !modules.contains(&m))
        || command.is_some_and(|c| {
            !commands
                .iter()
                .any(|x| Some(x.module.as_str()) == module && x.name == c)
        })
    {
        return Page { status: 406, body: "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title></head><body><p>Unable to parse URL: unknown module or command.</p></body></html>\n".into() };
    }
    let mut nav = String::from("<nav aria-label=\"Modules\"><ul>");
    for m in &modules {
        let current = if Some(*m) == module {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            nav,
            "<li><a href=\"/{root}/{}\"{current}>{}</a></li>",
            encode(m),
            escape(m)
        );
    }
    nav.push_str("</ul></nav>");
    let mut main = String::new();
    match module {
        None => {
            main.push_str("<section class=\"commands\"><h2>Modules</h2><p>Pick a module above to see its commands.</p>");
            if let Some(stats) = commands.iter().find(|c| c.name == STATISTICS_COMMAND) {
                let _ = write!(
                    main,
                    "<p>Statistics, with charts of the last minutes: <a href=\"/{root}/{}/{}\">{}</a>.</p>",
                    encode(&stats.module),
                    encode(&stats.name),
                    escape(&stats.name)
                );
            }
            main.push_str("</section>");
        }
        Some(m) => {
            let _ = write!(main, "<section class=\"commands\" aria-labelledby=\"commands-title\"><h2 id=\"commands-title\">{} commands</h2><ul>", escape(m));
            for c in commands.iter().filter(|c| c.module == m) {
                let current = if Some(c.name.as_str()) == command {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                let _ = write!(
                    main,
                    "<li><a href=\"/{root}/{}/{}\"{current}>{}</a></li>",
                    encode(m),
                    encode(&c.name),
                    escape(&c.name)
                );
            }
            main.push_str("</ul></section>");
        }
    }
    let Some(info) = command.and_then(|c| {
        commands
            .iter()
            .find(|x| x.name == c && Some(x.module.as_str()) == module)
    }) else {
        let body = document("Management Interface", session, &nav, &main);
        return Page { status: 200, body };
    };
    let mut detail = format!("<div><section class=\"command\" aria-labelledby=\"command-title\"><h2 id=\"command-title\">{}</h2>", escape(&info.name));
    if let Some(help) = &info.help {
        let _ = write!(detail, "<p>{}</p>", escape(help));
    }
    detail.push_str("<h3>Recipes</h3><ul>");
    for recipe in &info.recipes {
        let _ = write!(
            detail,
            "<li><code>{}</code></li>",
            escape(&recipe_text(recipe))
        );
    }
    let action = format!("/{root}/{}/{}", encode(&info.module), encode(&info.name));
    let view = (info.name == STATISTICS_COMMAND)
        .then(|| session.charts(&charts.picks))
        .flatten();
    if charts.fragment {
        return match &view {
            Some(view) => Page {
                status: 200,
                body: charts_section(view, &charts.picks, &action),
            },
            None => Page {
                status: 404,
                body: String::new(),
            },
        };
    }
    let method = "post";
    let kinds = param_kinds(session, &info.name);
    let built;
    let arg = match arg {
        Some(arg) => Some(arg),
        None if !fields.is_empty() => {
            built = json::to_compact(&Value::Object(
                fields
                    .iter()
                    .map(|(name, text)| (name.clone(), kind_of(&kinds, name).value_of_field(text)))
                    .collect(),
            ));
            Some(built.as_str())
        }
        None => None,
    };
    detail.push_str("</ul>");
    for (index, recipe) in info.recipes.iter().enumerate() {
        if !recipe.is_empty() {
            detail.push_str(&recipe_form(
                &action, method, form_token, index, recipe, &kinds, fields, &info.name,
            ));
        }
    }
    let _ = write!(
        detail,
        "<form method=\"{method}\" action=\"/{root}/{}/{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label for=\"arg\">Parameters as JSON: an array (positional) or an object (named); empty for none</label><input id=\"arg\" name=\"arg\" value=\"{}\" autocomplete=\"off\" spellcheck=\"false\"><button type=\"submit\">Run {}</button></form></section>",
        encode(&info.module),
        encode(&info.name),
        escape(form_token),
        escape(arg.unwrap_or("")),
        escape(&info.name)
    );
    if let Some(view) = &view {
        detail.push_str(&charts_section(view, &charts.picks, &action));
    }
    let mut status = 200;
    if arg.is_some() && !may_run(&info.name, request) {
        status = 403;
        let _ = write!(
            detail,
            "<section class=\"result error\" aria-live=\"polite\"><h3>Not run</h3><p>{} may change the server's state: it runs only from this page's own form (a POST carrying the page's form token), never from a link or another site's page.</p></section>",
            escape(&info.name)
        );
    } else if let Some(arg) = arg {
        match run(session, &info.name, arg, max_depth) {
            Ok(Outcome::Result(value)) => {
                let _ = write!(detail, "<section class=\"result\" aria-live=\"polite\"><h3>Result</h3><pre>{}</pre></section>", show(&value));
            }
            Ok(Outcome::Error(error)) => {
                let field = |k: &str| {
                    error.get_ci(k).map(|v| match v {
                        Value::String(s) => escape(s),
                        other => escape(&json::to_compact(other)),
                    })
                };
                let _ = write!(
                    detail,
                    "<section class=\"result error\" aria-live=\"polite\"><h3>Error {}: {}</h3>{}<pre>{}</pre></section>",
                    field("code").unwrap_or_default(),
                    field("message").unwrap_or_default(),
                    field("data").map(|d| format!("<p>{d}</p>")).unwrap_or_default(),
                    show(&error)
                );
            }
            Err(problem) => {
                status = 500;
                let _ = write!(detail, "<section class=\"result error\" aria-live=\"polite\"><h3>Cannot run {}</h3><p>{}</p></section>", escape(&info.name), escape(&problem));
            }
        }
    }
    detail.push_str("</div>");
    if view.is_some() {
        let _ = write!(detail, "<script>{REFRESH_SCRIPT}</script>");
    }
    main.push_str(&detail);
    Page {
        status,
        body: document(
            &format!("{} — Management Interface", info.name),
            session,
            &nav,
            &main,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(encode("get_statistics"), "get_statistics");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(
            recipe_text(&["level".into(), "pid".into()]),
            r#"["<level>", "<pid>"]  or  {"level": …, "pid": …}"#
        );
    }
}
