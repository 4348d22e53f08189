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
    /// ws://127.0.0.1:8888/ws for ws; wss:// with HTTPS).
    #[arg(long, env = "MIWA_URL")]
    pub url: Option<String>,
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
    /// MIWA_PASSWORD).
    pub fn http_target(&self, default_url: &str) -> anyhow::Result<client::HttpTarget> {
        let mut url = self.url.clone().unwrap_or_else(|| default_url.into());
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

    pub fn endpoint(self) -> anyhow::Result<client::Endpoint> {
        Ok(match self.transport {
            TransportName::Http => {
                client::Endpoint::Http(self.http_target("http://127.0.0.1:8888/mi")?)
            }
            TransportName::Xmlrpc => {
                client::Endpoint::Xmlrpc(self.http_target("http://127.0.0.1:8888/RPC2")?)
            }
            TransportName::Ws => client::Endpoint::Ws(self.http_target(DEFAULT_WS_URL)?),
            TransportName::Udp => client::Endpoint::Udp(self.udp),
            TransportName::Unix => client::Endpoint::Unix(self.unix),
            TransportName::Fifo => client::Endpoint::Fifo {
                fifo: self.fifo,
                reply_dir: self.reply_dir,
            },
        })
    }
}
