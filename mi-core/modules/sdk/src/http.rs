//! Outgoing HTTP(S) for a module granted `http`, over `wasi:http/outgoing-handler`: only to
//! the operator's `allowed_outbound_hosts`; the daemon connects, bounds the wait by the
//! module's `io_timeout_ms` and the body by its `max_http_response`.
//!
//! ```ignore
//! let response = miwa_module::http::get("https://status.example.com/health")?;
//! if response.status == 200 { /* … */ }
//! ```

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// Redirects [`get`] follows (each one checked by the daemon as a new request).
pub const MAX_REDIRECTS: usize = 5;

/// Why a request failed: denied by the daemon, unreachable, malformed, cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError(pub String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<HttpError> for crate::MiError {
    fn from(error: HttpError) -> Self {
        crate::MiError::new(500, format!("http: {error}"))
    }
}

fn fail(what: impl std::fmt::Display) -> HttpError {
    HttpError(what.to_string())
}

/// A response, its body read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request to send with [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, …) to `url` (`http://host[:port]/path?query`
    /// or `https://…`).
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the response; redirects are not followed.
    pub fn send(&self) -> Result<Response, HttpError> {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .ok_or_else(|| fail(format!("not a URL: {}", self.url)))?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(fail(format!("unsupported scheme {other}"))),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest.as_bytes()[at] == b'/' => (&rest[..at], rest[at..].to_string()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_string()),
        };
        let fields = Fields::new();
        for (name, value) in &self.headers {
            fields
                .append(name, value.as_bytes())
                .map_err(|e| fail(format!("header {name}: {e:?}")))?;
        }
        let request = OutgoingRequest::new(fields);
        let method = match self.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        };
        request.set_method(&method).map_err(|()| fail("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| fail("scheme"))?;
        request
            .set_authority(Some(authority))
            .map_err(|()| fail(format!("authority {authority}")))?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|()| fail(format!("path {path}")))?;
        let outgoing = request.body().map_err(|()| fail("body taken"))?;
        if !self.body.is_empty() {
            let stream = outgoing.write().map_err(|()| fail("body stream taken"))?;
            for chunk in self.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| fail(format!("writing the body failed: {e:?}")))?;
            }
        }
        let pending =
            outgoing_handler::handle(request, None).map_err(|e| fail(format!("{e:?}")))?;
        OutgoingBody::finish(outgoing, None).map_err(|e| fail(format!("{e:?}")))?;
        pending.subscribe().block();
        let response = pending
            .get()
            .ok_or_else(|| fail("no response"))?
            .map_err(|()| fail("response taken"))?
            .map_err(|e| fail(format!("{e:?}")))?;
        let status = response.status();
        let headers = response.headers().entries().into_iter().collect::<Vec<_>>();
        let body = response.consume().map_err(|()| fail("body taken"))?;
        let stream = body.stream().map_err(|()| fail("body stream taken"))?;
        let mut bytes = Vec::new();
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(error)) => {
                    return Err(fail(format!(
                        "reading the body failed: {}",
                        error.to_debug_string()
                    )))
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body: bytes,
        })
    }
}

/// GETs `url`, following up to [`MAX_REDIRECTS`] redirects.
pub fn get(url: &str) -> Result<Response, HttpError> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let response = Request::new("GET", &url).send()?;
        match response.header("location") {
            Some(next) if (300..400).contains(&response.status) => url = absolute(&url, &next),
            _ => return Ok(response),
        }
    }
    Err(fail(format!("more than {MAX_REDIRECTS} redirects")))
}

/// `location` made absolute against `base` (a path-absolute `/x` keeps base's origin).
fn absolute(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|at| base[at + 3..].find('/').map(|slash| at + 3 + slash))
        .unwrap_or(base.len());
    format!(
        "{}/{}",
        &base[..origin_end],
        location.trim_start_matches('/')
    )
}
