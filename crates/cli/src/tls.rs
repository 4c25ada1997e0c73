//! The client side of Parley's TLS policy (REQUIREMENTS.md T1–T3, the same primitives as the
//! server's `tls/policy.rs`): TLS 1.3 only, X25519 the only group, TLS_CHACHA20_POLY1305_SHA256
//! the only suite. The server is trusted through the system store, or — for a server with its
//! own CA (`parley serve` prints the path of `ca.pem`) — through `--ca-file` alone.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{cipher_suite, default_provider, kx_group};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The only primitives the client will negotiate.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
        kx_groups: vec![kx_group::X25519],
        ..default_provider()
    }
}

/// A client configuration trusting `ca_file` only, or the system's roots without one.
/// `alpn`: the protocols to offer (HTTP/2 and 1.1 for the API, 1.1 alone for the WebSocket).
pub fn client_config(ca_file: Option<&Path>, alpn: &[&[u8]]) -> Result<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
            if certs.is_empty() {
                bail!("{} holds no certificate", path.display());
            }
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("{} holds an unusable certificate", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system store may hold a certificate rustls cannot use; the others still work.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                bail!("no trusted certificates in the system store: pass --ca-file");
            }
        }
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("the TLS policy is not supported by this build")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
