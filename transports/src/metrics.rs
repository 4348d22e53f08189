//! `GET /metrics`: the statistics for scrapers (Prometheus text or OpenMetrics, as the
//! `Accept` header asks), `?node=<name>` for one node in front mode; and the charts the
//! HTML page's statistics view shows. What is scraped or charted is the dispatcher's
//! ([`Dispatcher::scrape`], [`Dispatcher::charts`]); this file only carries it.

use crate::Dispatcher;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The URL root of the exposition (`/metrics`).
pub const METRICS_ROOT: &str = "metrics";

/// The content type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The content type of OpenMetrics.
pub const OPENMETRICS_FORMAT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One scrape: who asks, for what, in which format.
#[derive(Debug, Clone, Copy)]
pub struct Scrape<'a> {
    /// The role the credentials were granted (`None`: the `http` transport's default).
    pub role: Option<&'a str>,
    /// `?node=<name>`: that node's statistics only.
    pub node: Option<&'a str>,
    /// OpenMetrics (else the Prometheus text format).
    pub openmetrics: bool,
}

/// Why a scrape gets no exposition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    /// This dispatcher exports no metrics: 404.
    #[error("no metrics are exported here")]
    NotServed,
    /// `?node=` names no node: 404.
    #[error("no node is named '{0}'")]
    UnknownNode(String),
    /// The role may not read statistics: 403.
    #[error("{0}")]
    Forbidden(String),
}

/// The future of [`Dispatcher::scrape`]: the exposition text.
pub type Scraping<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, ScrapeError>> + Send + 'a>>;

/// One chart of the statistics view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// Its spec (`group:name` globs, comma separated).
    pub spec: String,
    /// Picked by the user (else configured).
    pub picked: bool,
    /// The chart, an SVG document.
    pub svg: String,
}

/// The charts of the statistics view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartsView {
    /// Time between samples, milliseconds: how often the page refreshes them.
    pub interval_ms: u64,
    /// The configured charts, then the picked ones.
    pub charts: Vec<Chart>,
    /// Picks that are no chart spec, with the reason.
    pub refused: Vec<(String, String)>,
}

/// Whether `accept` prefers OpenMetrics: it names `application/openmetrics-text` with a
/// quality above zero.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        })
    })
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Answers a scrape of `query` (`node=<name>`) with `dispatcher`'s exposition.
pub async fn serve(
    dispatcher: &dyn Dispatcher,
    role: Option<&str>,
    query: Option<&str>,
    accept: Option<&str>,
) -> Response<Full<Bytes>> {
    let node = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "node")
            .map(|(_, value)| value.into_owned())
    });
    let openmetrics = wants_openmetrics(accept);
    let scrape = Scrape {
        role,
        node: node.as_deref(),
        openmetrics,
    };
    match dispatcher.scrape(scrape).await {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            let format = if openmetrics {
                OPENMETRICS_FORMAT
            } else {
                TEXT_FORMAT
            };
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(format));
            response
        }
        Err(error @ (ScrapeError::NotServed | ScrapeError::UnknownNode(_))) => {
            text(StatusCode::NOT_FOUND, format!("{error}\n"))
        }
        Err(error @ ScrapeError::Forbidden(_)) => text(StatusCode::FORBIDDEN, format!("{error}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(None));
    }
}
