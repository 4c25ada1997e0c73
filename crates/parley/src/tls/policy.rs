//! The TLS policy of REQUIREMENTS.md T1–T4, as a rustls `ServerConfig`:
//! TLS 1.3 only (T1), X25519 the only group (T2), TLS_CHACHA20_POLY1305_SHA256 the only suite
//! (T3), and no OCSP stapling (T4: no OCSP response is ever configured). HSTS (T5) is an HTTP
//! header, set in `http::layers`.
//!
//! The certificate sits behind `ReloadableCert`, so a renewed certificate is served to new
//! connections without a restart.

use std::sync::{Arc, RwLock};

use anyhow::Result;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{cipher_suite, default_provider, kx_group};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::store::SiteCert;

/// The only primitives Parley's TLS may negotiate.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
        kx_groups: vec![kx_group::X25519],
        ..default_provider()
    }
}

pub fn server_config(resolver: Arc<ReloadableCert>) -> Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The served certificate, swappable at run time.
#[derive(Debug)]
pub struct ReloadableCert(RwLock<Arc<CertifiedKey>>);

impl ReloadableCert {
    pub fn new(cert: &SiteCert) -> Result<Self> {
        Ok(ReloadableCert(RwLock::new(certified_key(cert)?)))
    }

    pub fn replace(&self, cert: &SiteCert) -> Result<()> {
        let key = certified_key(cert)?;
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }
}

fn certified_key(cert: &SiteCert) -> Result<Arc<CertifiedKey>> {
    let key = provider()
        .key_provider
        .load_private_key(cert.key.clone_key())?;
    // No `ocsp` field is set: T4, no stapling.
    Ok(Arc::new(CertifiedKey::new(cert.chain.clone(), key)))
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}
