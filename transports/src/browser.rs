//! What every HTTP route checks first, because the client may be a browser on a page
//! someone else wrote.
//!
//! - **`Host` names the daemon** (against DNS rebinding, where a page on
//!   `attacker.example` is made to resolve to the daemon's address): an IP address, with
//!   or without a port, `localhost`, or a name listed in `http.hosts`. Any other name is
//!   answered `421 Misdirected Request`. A request without `Host` (HTTP/1.0 scripts) passes.
//! - **The request is not cross-site**: `Sec-Fetch-Site: cross-site` or `same-site`, an
//!   `Origin` of `null`, or an `Origin` whose host and port differ from `Host`, is answered
//!   `403 Forbidden`. Clients that are not browsers send none of these headers.
//! - **Pages cannot be framed or sniffed**: the HTML page's and the playground's answers carry `X-Frame-Options: DENY`, a
//!   `Content-Security-Policy` with `frame-ancestors 'none'`, `X-Content-Type-Options:
//!   nosniff` and `Referrer-Policy: same-origin` (with `no-referrer`, a browser sends `Origin: null` on the page's own form).
//!
//! The HTML page's own defence against cross-site forms (a command that changes state runs
//! only on a `POST` carrying the page's form token) is in [`FormTokens`].

use hyper::header::{HeaderMap, HeaderValue, HOST, ORIGIN};
use sha2::{Digest, Sha256};

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Host` names something else than the daemon: `421`.
    ForeignHost,
    /// The request comes from another site's page: `403`.
    CrossSite,
}

/// The names the daemon answers to, besides IP addresses and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct HostNames {
    names: Vec<String>,
}

impl HostNames {
    /// The daemon answers to `names` (`http.hosts`: DNS names, matched ignoring case).
    pub fn new(names: &[String]) -> Self {
        HostNames {
            names: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether `name` is acceptable in `http.hosts`: a DNS name (letters, digits, `-` and
    /// `.`, no port, no wildcard).
    pub fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    }

    /// Whether the authority `host` (`name`, `name:port`, `[v6]:port`) names the daemon.
    fn names_daemon(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(rest) => {
                return rest
                    .split_once(']')
                    .is_some_and(|(v6, _)| v6.parse::<std::net::Ipv6Addr>().is_ok())
            }
            None => host.rsplit_once(':').map_or(host, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    host
                }
            }),
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name.parse::<std::net::Ipv4Addr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.contains(&name)
    }

    /// The verdict on a request with these headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        if host.is_some_and(|h| !self.names_daemon(h.trim()))
            || headers.get(HOST).is_some_and(|h| h.to_str().is_err())
        {
            return Err(Refusal::ForeignHost);
        }
        let fetch_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        if matches!(fetch_site.as_deref(), Some("cross-site" | "same-site")) {
            return Err(Refusal::CrossSite);
        }
        if let Some(origin) = headers.get(ORIGIN) {
            let origin_host = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .map(|(_, rest)| rest.trim_end_matches('/'));
            match (origin_host, host) {
                (Some(o), Some(h)) if o.eq_ignore_ascii_case(h.trim()) => {}
                _ => return Err(Refusal::CrossSite),
            }
        }
        Ok(())
    }
}

/// Adds the headers that keep an HTML answer from being framed, sniffed or leaking its
/// address.
pub fn protect_page(headers: &mut HeaderMap) {
    for (name, value) in [
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The HTML page's form tokens: one per identity (and node), derived from a secret the
/// daemon draws at start, so that a page on another site, which cannot read the daemon's
/// pages, cannot forge one.
pub struct FormTokens {
    secret: [u8; 32],
}

impl std::fmt::Debug for FormTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormTokens")
    }
}

impl FormTokens {
    /// Tokens under `secret` (random bytes, drawn once per daemon).
    pub fn new(secret: [u8; 32]) -> Self {
        FormTokens { secret }
    }

    /// The token of `identity` (`None`: a caller without credentials) on the page of
    /// `node`.
    pub fn token(&self, identity: Option<&str>, node: Option<&str>) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        for part in [identity, node] {
            let part = part.unwrap_or_default().as_bytes();
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `offered` is the token of `identity` on `node`'s page (compared in constant
    /// time).
    pub fn valid(&self, offered: Option<&str>, identity: Option<&str>, node: Option<&str>) -> bool {
        let expected = self.token(identity, node);
        offered.is_some_and(|offered| {
            offered.len() == expected.len()
                && offered
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_host_must_name_the_daemon() {
        let names = HostNames::new(&["mi.example.net".into()]);
        for host in [
            "127.0.0.1:8888",
            "127.0.0.1",
            "[::1]:8888",
            "localhost:8888",
            "LOCALHOST",
            "mi.example.net:443",
            "10.1.2.3:8888",
        ] {
            assert_eq!(names.check(&headers(&[("host", host)])), Ok(()), "{host}");
        }
        for host in [
            "attacker.example:8888",
            "attacker.example",
            "127.0.0.1.nip.io:8888",
            "mi.example.net.attacker.example",
            "[evil]:80",
        ] {
            assert_eq!(
                names.check(&headers(&[("host", host)])),
                Err(Refusal::ForeignHost),
                "{host}"
            );
        }
        assert_eq!(names.check(&HeaderMap::new()), Ok(()));
        assert!(
            HostNames::valid("mi.example.net")
                && !HostNames::valid("*.example.net")
                && !HostNames::valid("a:80")
        );
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let names = HostNames::default();
        let host = ("host", "127.0.0.1:8888");
        assert_eq!(
            names.check(&headers(&[host, ("origin", "http://127.0.0.1:8888")])),
            Ok(())
        );
        assert_eq!(
            names.check(&headers(&[host, ("sec-fetch-site", "same-origin")])),
            Ok(())
        );
        assert_eq!(
            names.check(&headers(&[host, ("sec-fetch-site", "none")])),
            Ok(())
        );
        for refused in [
            vec![host, ("origin", "http://attacker.example")],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "http://127.0.0.1:9999")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
        ] {
            assert_eq!(
                names.check(&headers(&refused)),
                Err(Refusal::CrossSite),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn form_tokens_belong_to_their_identity_and_node() {
        let tokens = FormTokens::new([7; 32]);
        let mine = tokens.token(Some("ops"), None);
        assert!(tokens.valid(Some(&mine), Some("ops"), None));
        assert!(!tokens.valid(Some(&mine), Some("other"), None));
        assert!(!tokens.valid(Some(&mine), Some("ops"), Some("edge1")));
        assert!(!tokens.valid(None, Some("ops"), None));
        assert!(!tokens.valid(Some(""), None, None));
        assert_ne!(FormTokens::new([8; 32]).token(Some("ops"), None), mine);
    }
}
