//! The certificate files in `<data_dir>/tls`: made on first start, reused later, re-issued when
//! fewer than 30 days remain (or the domain or CA changed).
//!
//! | file       | what                                   | mode |
//! |------------|----------------------------------------|------|
//! | `ca.pem`   | the CA certificate (the one to trust)  | 0644 |
//! | `ca.key`   | the self-issued CA's key (never sent)  | 0600 |
//! | `site.pem` | the site certificate                   | 0644 |
//! | `site.key` | the site certificate's key             | 0600 |

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use super::certs::{self, RENEW_BEFORE};
use crate::core::config::{Config, TlsSource};

/// The certificate chain and key the TLS listener serves.
pub struct SiteCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub not_after: OffsetDateTime,
    /// The CA certificate file to trust, when Parley knows it.
    pub ca_file: Option<PathBuf>,
    /// Whether Parley issued this certificate (and so renews it).
    pub issued_here: bool,
}

/// Make sure a usable site certificate exists for the configured source and return it.
pub fn ensure_site_cert(config: &Config) -> Result<SiteCert> {
    let dir = config.tls_dir();
    match config.tls_source() {
        TlsSource::Files { cert, key } => load_files(&cert, &key),
        TlsSource::Ca { cert, key } => {
            create_private_dir(&dir)?;
            let ca_cert = read(&cert)?;
            let ca_key = read(&key)?;
            // Keep a copy of the CA certificate beside the site one (public data) so that
            // `parley healthcheck` and operators find what to trust in one place.
            write_file(&dir.join("ca.pem"), ca_cert.as_bytes(), 0o644)?;
            issue_if_needed(&dir, &ca_cert, &ca_key, &config.domain)
        }
        TlsSource::SelfIssued => {
            create_private_dir(&dir)?;
            let (ca_path, ca_key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
            if !ca_path.exists() || !ca_key_path.exists() {
                let ca = certs::new_ca(&config.domain)?;
                write_file(&ca_key_path, ca.key.as_bytes(), 0o600)?;
                write_file(&ca_path, ca.cert.as_bytes(), 0o644)?;
                tracing::info!(path = %ca_path.display(), domain = %config.domain,
                    "made a new name-constrained CA");
            }
            let ca_cert = read(&ca_path)?;
            let info = certs::inspect(&certs::pem_to_der(&ca_cert)?)?;
            if !info.permits(&config.domain) {
                bail!(
                    "the CA in {} is constrained to {} and cannot vouch for {}; move {} and {} \
                     away to make a new CA for this domain",
                    dir.display(),
                    info.permitted_dns.join(", "),
                    config.domain,
                    ca_path.display(),
                    ca_key_path.display()
                );
            }
            issue_if_needed(&dir, &ca_cert, &read(&ca_key_path)?, &config.domain)
        }
    }
}

fn issue_if_needed(dir: &Path, ca_cert: &str, ca_key: &str, domain: &str) -> Result<SiteCert> {
    let (site_path, key_path) = (dir.join("site.pem"), dir.join("site.key"));
    if site_path.exists()
        && key_path.exists()
        && let Some(reason) = reusable(&site_path, ca_cert, domain)?
    {
        tracing::info!(path = %site_path.display(), "{reason}");
        let mut cert = load_files(&site_path, &key_path)?;
        cert.ca_file = Some(dir.join("ca.pem"));
        cert.issued_here = true;
        return Ok(cert);
    }
    let site = certs::issue_site(ca_cert, ca_key, domain)?;
    write_file(&key_path, site.key.as_bytes(), 0o600)?;
    write_file(&site_path, site.cert.as_bytes(), 0o644)?;
    tracing::info!(path = %site_path.display(), %domain, "issued a new 90-day site certificate");
    let mut cert = load_files(&site_path, &key_path)?;
    cert.ca_file = Some(dir.join("ca.pem"));
    cert.issued_here = true;
    Ok(cert)
}

/// `Some(why)` when the existing site certificate can be served again.
fn reusable(site_path: &Path, ca_cert: &str, domain: &str) -> Result<Option<String>> {
    let Ok(site) = read(site_path).and_then(|p| certs::pem_to_der(&p)) else {
        return Ok(None);
    };
    let Ok(site) = certs::inspect(&site) else {
        return Ok(None);
    };
    let ca = certs::inspect(&certs::pem_to_der(ca_cert)?)?;
    let remaining = site.not_after - OffsetDateTime::now_utc();
    if site.issuer_der != ca.subject_der || site.dns_names != [domain] || remaining < RENEW_BEFORE {
        return Ok(None);
    }
    Ok(Some(format!(
        "reusing the site certificate ({} days left)",
        remaining.whole_days()
    )))
}

/// Read a certificate chain and private key in PEM form.
pub fn load_files(cert: &Path, key: &Path) -> Result<SiteCert> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    let Some(first) = chain.first() else {
        bail!("{} holds no certificate", cert.display());
    };
    let not_after = certs::inspect(first)?.not_after;
    if not_after < OffsetDateTime::now_utc() {
        bail!("the certificate in {} has expired", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    Ok(SiteCert {
        chain,
        key,
        not_after,
        ca_file: None,
        issued_here: false,
    })
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))
}

/// Write through a temporary file and rename, so a crash never leaves half a key behind.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
