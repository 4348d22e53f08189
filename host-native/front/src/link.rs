//! A node's links, made from its section; the wire itself is [`miwa_client::Link`].
//!
//! Reply FIFOs and reply sockets are open to any writer ([`ReplyAccess::Anyone`]): the
//! node may run as another user, and a reply is only taken when it carries its request's
//! id.

use super::settings::{Dialect, UpstreamConfig};
use miwa_client::{credentials, Budget, Framing, HttpOptions, Link, ReplyAccess};
use std::path::Path;

/// The datagram link (`udp` or `unix`) of `config`, if it has one.
pub(crate) fn datagram(config: &UpstreamConfig) -> Option<Link> {
    if let Some(address) = &config.udp {
        return Some(Link::udp(address));
    }
    config
        .unix
        .as_ref()
        .map(|path| Link::unix(path, &config.reply_dir, ReplyAccess::Anyone))
}

/// The stream link (`fifo` or `url`) of `config`, if it has one; its replies are read
/// within `budget`.
pub(crate) fn stream(config: &UpstreamConfig, budget: &Budget) -> anyhow::Result<Option<Link>> {
    if let Some(path) = &config.fifo {
        let framing = match config.dialect {
            Dialect::Opensips => Framing::Opensips,
            Dialect::Kamailio => Framing::Kamailio,
        };
        let link = Link::fifo(path, &config.reply_dir, framing, ReplyAccess::Anyone);
        return Ok(Some(link.within(budget)));
    }
    let Some(url) = &config.url else {
        return Ok(None);
    };
    let stripped = credentials::strip(url)?;
    let password = match &config.password_file {
        Some(file) => Some(read_password(file)?),
        None => stripped.password,
    };
    let authorization = stripped
        .user
        .map(|user| credentials::basic(&user, password.as_deref()))
        .transpose()?;
    let link = Link::http(
        stripped.uri,
        HttpOptions {
            authorization,
            ca_file: config.cacert.clone(),
            max_request: config.http_request_limit(),
            ..HttpOptions::default()
        },
    )?;
    Ok(Some(link.within(budget)))
}

/// The first line of `file`: a password.
fn read_password(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("password_file: {}: {e}", file.display()))?;
    let line = text.lines().next().unwrap_or_default();
    anyhow::ensure!(
        !line.is_empty(),
        "password_file: {} holds no password",
        file.display()
    );
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_credentials_is_shown_without_them() {
        let config = UpstreamConfig {
            url: Some("http://mi:secret@node:1/mi".into()),
            ..UpstreamConfig::default()
        };
        let budget = transports::budget::ByteBudget::new(1 << 20);
        let link = stream(&config, &budget).unwrap().unwrap();
        assert_eq!(link.describe(), "http://node:1/mi");
        assert_eq!(
            link.max_request(),
            1024,
            "OpenSIPS httpd's receive_buf_size"
        );
    }
}
