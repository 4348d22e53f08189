//! Credentials for HTTP servers: `Authorization` values, marked sensitive so that hyper
//! never prints them, and URLs rid of their `user:password@`.

use base64::Engine as _;
use hyper::header::HeaderValue;

/// `Basic <base64(user:password)>`, marked sensitive.
pub fn basic(user: &str, password: Option<&str>) -> anyhow::Result<HeaderValue> {
    let pair = format!("{user}:{}", password.unwrap_or_default());
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    sensitive(&format!("Basic {encoded}"))
}

/// `Bearer <token>`, marked sensitive.
pub fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    sensitive(&format!("Bearer {token}"))
}

fn sensitive(text: &str) -> anyhow::Result<HeaderValue> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| anyhow::anyhow!("credentials with characters a header cannot hold"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A URL without its `user:password@`, and that user and password (percent-decoded).
/// The URL kept, shown and logged has none.
#[derive(Debug)]
pub struct Stripped {
    /// The URL without credentials.
    pub uri: hyper::Uri,
    /// The user it named.
    pub user: Option<String>,
    /// The password it named.
    pub password: Option<String>,
}

/// Takes the credentials out of `url`.
pub fn strip(url: &str) -> anyhow::Result<Stripped> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| anyhow::anyhow!("bad URL {:?}: {e}", without_userinfo(url)))?;
    let Some((userinfo, host)) = uri
        .authority()
        .and_then(|authority| authority.as_str().rsplit_once('@'))
    else {
        return Ok(Stripped {
            uri,
            user: None,
            password: None,
        });
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (percent_decoded(user)?, Some(percent_decoded(password)?)),
        None => (percent_decoded(userinfo)?, None),
    };
    let host: hyper::http::uri::Authority = host.parse()?;
    let mut parts = uri.into_parts();
    parts.authority = Some(host);
    Ok(Stripped {
        uri: hyper::Uri::from_parts(parts)?,
        user: Some(user),
        password,
    })
}

/// `url` as it may be shown in an error: anything before an `@` goes.
fn without_userinfo(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, rest))) => format!("{scheme}://…@{rest}"),
        _ => url.to_string(),
    }
}

/// `text` with its `%XX` escapes decoded.
fn percent_decoded(text: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| anyhow::anyhow!("url: a bad %-escape in its credentials"))?;
            bytes.push(hex);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("url: its credentials are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_become_one_sensitive_header() {
        let stripped = strip("http://mi:p%40ss%3Aw@127.0.0.1:8888/mi").unwrap();
        assert_eq!(stripped.uri.to_string(), "http://127.0.0.1:8888/mi");
        assert_eq!(
            (stripped.user.as_deref(), stripped.password.as_deref()),
            (Some("mi"), Some("p@ss:w"))
        );
        let header = basic("mi", stripped.password.as_deref()).unwrap();
        assert!(header.is_sensitive());
        assert_eq!(header, "Basic bWk6cEBzczp3");
        assert!(format!("{header:?}").contains("Sensitive"));
        let plain = strip("https://node/mi").unwrap();
        assert_eq!(
            (plain.uri.to_string(), plain.user, plain.password),
            ("https://node/mi".into(), None, None)
        );
        assert!(strip("http://mi:%zz@node/mi").is_err());
        let bad = strip("http://mi:secret@no de/mi").unwrap_err().to_string();
        assert!(!bad.contains("secret"), "{bad}");
        assert!(bearer("t\n").is_err());
    }
}
