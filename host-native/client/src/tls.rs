//! Streams to a server: plain TCP, or TLS trusting given certificates or the public web
//! roots.

use crate::link::LinkError;
use anyhow::{bail, Context as _};
use std::path::Path;

/// A byte stream to a server, over plain TCP or TLS.
pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A TLS client configuration trusting `ca_file`'s certificates, or the public web roots.
pub(crate) fn connector(ca_file: Option<&Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        client_config(ca_file)?,
    )))
}

/// The TLS client configuration of [`connector`], for another HTTP client.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for certificate in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                let certificate =
                    certificate.with_context(|| format!("bad PEM in {}", path.display()))?;
                roots
                    .add(certificate)
                    .with_context(|| format!("unusable certificate in {}", path.display()))?;
            }
            if roots.is_empty() {
                bail!("no certificate in {}", path.display());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A stream to `authority` (`host:port`), over TLS when `tls` is given (the host is the
/// server name it checks).
pub(crate) async fn open(
    authority: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<Box<dyn Io>, LinkError> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| LinkError::Unreachable(format!("{authority}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Box::new(stream));
    };
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .trim_matches(['[', ']']);
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| LinkError::Tls(format!("bad server name {host}: {e}")))?;
    let stream = tls
        .connect(name, stream)
        .await
        .map_err(|e| LinkError::Tls(format!("TLS handshake with {authority} failed: {e}")))?;
    Ok(Box::new(stream))
}
