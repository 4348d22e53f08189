//! Where a client command goes: the transport and its address, credentials and node.

use anyhow::Context as _;
use miwa_client as client;
use std::path::PathBuf;

/// Which transport a client command uses, and where.
#[derive(clap::Args)]
pub struct Target {
    /// Transport: http, xmlrpc, ws, udp, unix or fifo.
    #[arg(long, short = 't', default_value = "http")]
    pub transport: TransportName,
    /// URL for http, xmlrpc and ws (default http://127.0.0.1:8888/mi, /RPC2 for xmlrpc,
    /// ws://127.0.0.1:8888/ws for ws; wss:// with HTTPS). Given again (or
    /// comma-separated), the next URLs are tried in order when nothing listens at one
    /// (fronts that stand in for each other).
    #[arg(long, env = "MIWA_URL", value_delimiter = ',')]
    pub url: Vec<String>,
    /// UDP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub udp: String,
    /// UNIX datagram socket.
    #[arg(long, default_value = "/tmp/miwa_mi.sock")]
    pub unix: PathBuf,
    /// Request FIFO.
    #[arg(long, default_value = "/tmp/opensips_fifo")]
    pub fifo: PathBuf,
    /// Directory for the reply FIFO (the daemon's `fifo.reply_dir`).
    #[arg(long, default_value = "/tmp/")]
    pub reply_dir: PathBuf,
    /// HTTP Basic user for http, xmlrpc and ws; the password comes from MIWA_PASSWORD.
    #[arg(long, env = "MIWA_USER")]
    pub user: Option<String>,
    /// Bearer token for http, xmlrpc and ws (prefer the MIWA_TOKEN environment variable:
    /// arguments are visible to other local users).
    #[arg(
        long,
        env = "MIWA_TOKEN",
        hide_env_values = true,
        conflicts_with = "user"
    )]
    pub token: Option<String>,
    /// PEM certificates to trust for https:// and wss:// URLs (default: the public web roots).
    #[arg(long, env = "MIWA_CACERT")]
    pub cacert: Option<PathBuf>,
    /// In front mode, the node to run on: over http and xmlrpc the URL gains `/<node>`;
    /// over ws too; over udp, unix and fifo the call is wrapped in `nodes_run`.
    #[arg(long)]
    pub node: Option<String>,
}

/// Where `--transport ws` and `miwa events` connect by default.
pub const DEFAULT_WS_URL: &str = "ws://127.0.0.1:8888/ws";

/// The transports a client command can use.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TransportName {
    Http,
    Xmlrpc,
    Ws,
    Udp,
    Unix,
    Fifo,
}

impl Target {
    /// Whether the node is a URL path on this transport (http, xmlrpc, ws) rather than a
    /// `nodes_run` wrapper (udp, unix, fifo).
    pub fn node_in_path(&self) -> bool {
        matches!(
            self.transport,
            TransportName::Http | TransportName::Xmlrpc | TransportName::Ws
        )
    }

    /// Where and how to send HTTP requests, with credentials (a `--user` password from
    /// MIWA_PASSWORD): to the first URL.
    pub fn http_target(&self, default_url: &str) -> anyhow::Result<client::HttpTarget> {
        Ok(self.http_targets(default_url)?.remove(0))
    }

    /// As [`Target::http_target`], one per URL, in order.
    fn http_targets(&self, default_url: &str) -> anyhow::Result<Vec<client::HttpTarget>> {
        let urls = match self.url.is_empty() {
            true => vec![default_url.to_string()],
            false => self.url.clone(),
        };
        urls.into_iter()
            .map(|url| self.http_target_at(url))
            .collect()
    }

    fn http_target_at(&self, url: String) -> anyhow::Result<client::HttpTarget> {
        let mut url = url;
        if let Some(node) = &self.node {
            url = format!("{}/{node}", url.trim_end_matches('/'));
        }
        let target = client::HttpTarget {
            url,
            authorization: None,
            ca_file: self.cacert.clone(),
        };
        let authorization = match (&self.user, &self.token) {
            (Some(user), _) => {
                let password = std::env::var("MIWA_PASSWORD").context(
                    "--user needs the password in the MIWA_PASSWORD environment variable",
                )?;
                Some(client::credentials::basic(user, Some(&password))?)
            }
            (None, Some(token)) => Some(client::credentials::bearer(token)?),
            (None, None) => None,
        };
        Ok(client::HttpTarget {
            authorization,
            ..target
        })
    }

    /// Where a client command sends its requests: one endpoint, or for http, xmlrpc and
    /// ws one per `--url`, tried in order.
    pub fn endpoint(self) -> anyhow::Result<client::Endpoints> {
        let each = |targets: Vec<client::HttpTarget>,
                    make: fn(client::HttpTarget) -> client::Endpoint| {
            client::Endpoints(targets.into_iter().map(make).collect())
        };
        Ok(match self.transport {
            TransportName::Http => each(
                self.http_targets("http://127.0.0.1:8888/mi")?,
                client::Endpoint::Http,
            ),
            TransportName::Xmlrpc => each(
                self.http_targets("http://127.0.0.1:8888/RPC2")?,
                client::Endpoint::Xmlrpc,
            ),
            TransportName::Ws => each(self.http_targets(DEFAULT_WS_URL)?, client::Endpoint::Ws),
            TransportName::Udp => client::Endpoints(vec![client::Endpoint::Udp(self.udp)]),
            TransportName::Unix => client::Endpoints(vec![client::Endpoint::Unix(self.unix)]),
            TransportName::Fifo => client::Endpoints(vec![client::Endpoint::Fifo {
                fifo: self.fifo,
                reply_dir: self.reply_dir,
            }]),
        })
    }
}
