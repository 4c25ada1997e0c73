//! `parley healthcheck`: one HTTPS GET of `/api/health` over the same TLS policy, trusting the
//! CA Parley uses. Built in, so the Docker image needs no curl.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::core::Config;
use crate::tls::policy;

pub async fn run(
    config: &Config,
    url: Option<&str>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
) -> Result<()> {
    let ca_file = ca_file.unwrap_or_else(|| config.tls_dir().join("ca.pem"));
    let (host, connect, path) = match url {
        Some(url) => parse_url(url)?,
        None => {
            let ip = if config.listen.ip().is_unspecified() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                config.listen.ip()
            };
            (
                config.domain.clone(),
                std::net::SocketAddr::new(ip, config.listen.port()).to_string(),
                "/api/health".to_string(),
            )
        }
    };
    tokio::time::timeout(timeout, check(&host, &connect, &path, &ca_file))
        .await
        .context("timed out")?
}

fn parse_url(url: &str) -> Result<(String, String, String)> {
    let uri: axum::http::Uri = url.parse().context("not a URL")?;
    if uri.scheme_str() != Some("https") {
        bail!("the health check speaks only https");
    }
    let host = uri.host().context("the URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(443);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Ok((host.clone(), format!("{host}:{port}"), path.to_string()))
}

async fn check(host: &str, connect: &str, path: &str, ca_file: &PathBuf) -> Result<()> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .with_context(|| format!("cannot read the CA file {}", ca_file.display()))?
    {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(policy::provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(connect)
        .await
        .with_context(|| format!("cannot connect to {connect}"))?;
    let name = ServerName::try_from(host.to_string())?;
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .context("TLS handshake failed")?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.ok();
    let head = String::from_utf8_lossy(&response);
    let status = head.lines().next().unwrap_or_default();
    if status.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        bail!("unhealthy: {status}")
    }
}
