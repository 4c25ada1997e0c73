//! The command line: `parley serve | cert ca | cert issue | healthcheck`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::core::config::{Config, LogFormat, validate_domain};
use crate::tls::{certs, store};

#[derive(Parser, Debug)]
#[command(name = "parley", version, about = "Parley: end-to-end encrypted chat")]
pub struct Cli {
    /// A TOML config file (keys as the `serve` flags, with underscores).
    #[arg(long, global = true, env = "PARLEY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Make certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Exit 0 when the server answers its health check (for Docker's HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
    /// Operator actions on accounts (uses the same configuration as `serve`).
    Admin(AdminArgs),
    /// Write sample CAPTCHA images named after their answers (scripts/captcha-ocr.sh).
    #[command(hide = true)]
    CaptchaSamples {
        /// Output directory
        #[arg(long)]
        out: PathBuf,
        /// How many images
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Draw the set from this seed (the same images every run); default: fresh randomness
        #[arg(long)]
        seed: Option<u64>,
    },
}

#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Data directory [default: ./parley-data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// sqlite:… or postgres://… [default: SQLite file in the data dir]
    #[arg(long)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Re-enable a user's factors disabled after 100 failed attempts (§5.2.2).
    Unlock {
        username: String,
        /// Only this factor: password, totp or recovery [default: all]
        #[arg(long)]
        factor: Option<String>,
    },
    /// Make a user change their password at the next sign-in (suspected compromise).
    RequirePasswordChange { username: String },
}

/// Flags of `serve`. Each overrides the config file and `PARLEY__<KEY>` environment variables.
#[derive(Args, Debug, Default, Serialize)]
pub struct ServeArgs {
    /// Data directory [default: ./parley-data]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address [default: 0.0.0.0:8443]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// The site's domain name [default: localhost]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Serve this PEM certificate chain (with --tls-key)
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Issue the site certificate from this CA certificate (with --ca-key)
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// The PEM private key of --ca-cert
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<PathBuf>,
    /// sqlite:… or postgres://… [default: SQLite file in the data dir]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Also listen for plain HTTP here, answering only with redirects to HTTPS
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_redirect: Option<SocketAddr>,
    /// Serve Prometheus metrics (GET /metrics, plain HTTP) here, e.g. 127.0.0.1:9464 [default: off]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log format: text or json [default: text]
    #[arg(long, value_parser = ["text", "json"])]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Make a P-384 CA whose critical name constraint permits only DOMAIN and its subdomains.
    Ca {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue the 90-day site certificate for DOMAIN from a CA (T6/T7 profile).
    Issue {
        #[arg(long)]
        ca_cert: PathBuf,
        #[arg(long)]
        ca_key: PathBuf,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// URL to check [default: https://<domain>:<listen port>/api/health, connecting to loopback]
    #[arg(long)]
    pub url: Option<String>,
    /// CA certificate to trust [default: <data dir>/tls/ca.pem]
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// The configuration for `serve` and `healthcheck`.
pub fn load_config(file: Option<&Path>, args: &ServeArgs) -> Result<Config> {
    Config::load(file, args).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

pub fn log_format(config: &Config) -> LogFormat {
    config.log_format
}

/// Run an admin command against the configured database.
pub async fn admin(config: Config, cmd: AdminCommand) -> Result<()> {
    use crate::service::accounts::{Accounts, Factor};
    let config = std::sync::Arc::new(config);
    let db = crate::db::Db::connect(&config).await?;
    let accounts = Accounts::new(config, db.clone(), crate::core::Clock::default())?;
    match cmd {
        AdminCommand::Unlock { username, factor } => {
            let factor = match factor.as_deref() {
                None => None,
                Some(f) => Some(Factor::parse(f).ok_or_else(|| {
                    anyhow::anyhow!("--factor must be password, totp or recovery")
                })?),
            };
            let name = accounts
                .admin_unlock(&username, factor)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "Unlocked {} for {name}.",
                factor.map_or("all factors", |f| f.as_str())
            );
        }
        AdminCommand::RequirePasswordChange { username } => {
            let (_, key) =
                Accounts::validate_username(&username).map_err(|e| anyhow::anyhow!("{e}"))?;
            let user = db
                .user_by_key(&key)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no such user: {username}"))?;
            db.set_must_change_password(&user.id).await?;
            println!(
                "{} must change their password at the next sign-in.",
                user.username
            );
        }
    }
    Ok(())
}

pub fn cert_ca(domain: &str, out: &Path) -> Result<()> {
    validate_domain(domain).map_err(anyhow::Error::msg)?;
    let (cert_path, key_path) = (out.join("ca.pem"), out.join("ca.key"));
    refuse_overwrite(&[&cert_path, &key_path])?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let ca = certs::new_ca(domain)?;
    store::write_file(&key_path, ca.key.as_bytes(), 0o600)?;
    store::write_file(&cert_path, ca.cert.as_bytes(), 0o644)?;
    println!(
        "Made a CA constrained to {domain}:\n  certificate: {}\n  private key: {} (keep it secret)",
        cert_path.display(),
        key_path.display()
    );
    Ok(())
}

pub fn cert_issue(ca_cert: &Path, ca_key: &Path, domain: &str, out: &Path) -> Result<()> {
    validate_domain(domain).map_err(anyhow::Error::msg)?;
    let (cert_path, key_path) = (out.join("site.pem"), out.join("site.key"));
    refuse_overwrite(&[&cert_path, &key_path])?;
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let site = certs::issue_site(&read(ca_cert)?, &read(ca_key)?, domain)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    store::write_file(&key_path, site.key.as_bytes(), 0o600)?;
    store::write_file(&cert_path, site.cert.as_bytes(), 0o644)?;
    println!(
        "Issued a 90-day certificate for {domain}:\n  certificate: {}\n  private key: {}",
        cert_path.display(),
        key_path.display()
    );
    Ok(())
}

fn refuse_overwrite(paths: &[&Path]) -> Result<()> {
    for p in paths {
        if p.exists() {
            bail!(
                "{} already exists; remove it first or choose another --out",
                p.display()
            );
        }
    }
    Ok(())
}

/// What `serve` prints once it listens: the URL and how to trust the CA.
pub fn banner(config: &Config, port: u16, ca_file: Option<&Path>, self_issued: bool) -> String {
    let url = format!("https://{}:{port}/", config.domain);
    let mut s = format!("Parley is listening on {url}\n");
    if let (Some(ca), true) = (ca_file, self_issued) {
        let ca = ca.canonicalize().unwrap_or_else(|_| ca.to_path_buf());
        let ca = ca.display();
        s.push_str(&format!(
            "\nBrowsers will warn until you trust Parley's own CA once. It is constrained to \
             {domain} and cannot vouch for any other site.\n\
             \x20 CA certificate: {ca}\n\
             \x20 Debian/Ubuntu:  sudo cp {ca} /usr/local/share/ca-certificates/parley.crt && sudo update-ca-certificates\n\
             \x20 Fedora/RHEL:    sudo cp {ca} /etc/pki/ca-trust/source/anchors/parley.pem && sudo update-ca-trust\n\
             \x20 macOS:          sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}\n\
             \x20 Windows:        certutil -addstore -f Root {ca}   (as Administrator)\n\
             \x20 Firefox:        Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import\n\
             \x20 Chrome/Chromium on Linux: Settings → Privacy and security → Security → Manage certificates → Authorities → Import\n\
             \x20                (Chrome on macOS and Windows uses the system store above)\n",
            domain = config.domain
        ));
    }
    s
}
