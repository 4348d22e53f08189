//! The playground's static files, served from a directory under `/playground/`.

use std::path::{Path, PathBuf};

/// The name under `/playground/` at which a daemon describes how the page reaches it.
pub const LIVE_FILE: &str = "live.json";

/// What `live.json` holds: the WebSocket path and where tickets are issued.
pub fn live_description() -> String {
    serde_json::json!({
        "ws": format!("/{}", crate::ws::WS_ROOT),
        "ticket": crate::ws::TICKET_PATH,
    })
    .to_string()
}

/// A response: status, content type, body.
pub struct StaticFile {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: Vec<u8>,
}

/// The page answered when the playground was not built.
fn not_built(dir: &Path) -> StaticFile {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Playground not built</title></head><body><h1>The playground is not built</h1><p>Build it with <code>make playground</code> (it writes <code>{}</code>), or point <code>[http] playground_dir</code> at a built copy.</p></body></html>\n",
        crate::html::escape(&dir.display().to_string())
    );
    StaticFile {
        status: 404,
        content_type: "text/html; charset=utf-8",
        body: body.into_bytes(),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Only plain relative names: letters, digits, `_`, `-`, `.`, at most one directory level,
/// no dot segments, no hidden files.
fn safe(name: &str) -> bool {
    let segments: Vec<&str> = name.split('/').collect();
    segments.len() <= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        })
}

/// Reads `name` (the path after `/playground/`; empty = `index.html`) from `dir`.
pub async fn serve(dir: &Path, name: &str) -> StaticFile {
    let name = if name.is_empty() { "index.html" } else { name };
    if !safe(name) {
        return StaticFile {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: b"not found\n".to_vec(),
        };
    }
    let path: PathBuf = dir.join(name);
    match tokio::fs::read(&path).await {
        Ok(body) => StaticFile {
            status: 200,
            content_type: content_type(name),
            body,
        },
        Err(_) if !dir.join("index.html").is_file() => not_built(dir),
        Err(_) => StaticFile {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: b"not found\n".to_vec(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_served() {
        for good in ["index.html", "pkg/host_wasm_web_bg.wasm", "playground.js"] {
            assert!(safe(good), "{good}");
        }
        for bad in [
            "../etc/passwd",
            "pkg/../../x",
            ".git/config",
            "a/b/c",
            "/abs",
            "x//y",
            "a b",
        ] {
            assert!(!safe(bad), "{bad}");
        }
        assert_eq!(content_type("x.wasm"), "application/wasm");
    }
}
